"""Model shards: immutable, content-addressed files holding the bulk of a saved model.

A model of a large roster is mostly per-speaker data kept for recalibration (clip and window
features, GMM-UBM statistics): hundreds of MB at 1000 speakers, of which an enrollment changes one
speaker's few hundred kB. So that data lives in *shards* next to the model file, written once and
never modified; a model file names the shards it uses, and saving a model writes a shard only for
speakers whose data changed since the shard they came from (see :mod:`voicelive.recognition.model_io`).

File format (little-endian): the 8-byte magic ``VLSHARD1``, the header length as uint64, a UTF-8
JSON header ``{"arrays": [[name, dtype, shape, offset], ...], "meta": {...}}``, then the raw arrays,
each starting at a multiple of :data:`ALIGN` bytes. The file name is the SHA-256 of the whole
content (first :data:`NAME_HEX` hex digits) + :data:`SUFFIX`, so a name always means the same
bytes and :func:`verify_shard` can check one without any other record. Reading maps the file
(``mmap``): arrays are read-only views, and only the pages a caller touches are read.

Writes go to a temporary file (mode 0600) that is fsynced and moved into place with ``os.replace``;
the caller fsyncs the directory (:func:`voicelive.paths.sync_dir`) before any model file that names the shard is
made active, so a crash leaves either no shard or a complete one, never a model pointing at a
missing or partial shard.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import uuid
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from voicelive.errors import ModelError, ModelMissingError

MAGIC = b"VLSHARD1"
ALIGN = 64
SUFFIX = ".vls"
NAME_HEX = 32
SHARD_DIR = "shards"
"""Shards live in this folder next to the model files that use them."""
TMP_PREFIX = ".tmp-"


def _pad(n: int) -> int:
    return (-n) % ALIGN


def write_shard(folder: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> str:
    """Write ``arrays`` (and the JSON-able ``meta``) as a shard in ``folder``; returns its file name.

    The file is complete and fsynced when this returns; the folder itself is not fsynced (call
    :func:`voicelive.paths.sync_dir` once after writing several shards).
    """
    folder = Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    items = [(str(k), np.asarray(v, order="C")) for k, v in arrays.items()]  # (ascontiguousarray makes 0-d 1-d)
    entries, offset = [], 0
    for name, a in items:
        if a.dtype.hasobject:
            raise ValueError(f"shard array '{name}' has dtype object; only plain numbers can be stored")
        entries.append([name, a.dtype.str, list(a.shape), offset])
        offset += a.nbytes + _pad(a.nbytes)
    header = json.dumps({"arrays": entries, "meta": dict(meta)}, sort_keys=True).encode()
    header += b" " * _pad(len(MAGIC) + 8 + len(header))
    h = hashlib.sha256()
    tmp = folder / f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}{SUFFIX}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            def put(buf) -> None:
                h.update(buf)
                fh.write(buf)

            put(MAGIC + len(header).to_bytes(8, "little") + header)
            for _, a in items:
                put(a.reshape(-1).view(np.uint8).data)
                put(b"\0" * _pad(a.nbytes))
            fh.flush()
            os.fsync(fh.fileno())
        name = h.hexdigest()[:NAME_HEX] + SUFFIX
        os.replace(tmp, folder / name)   # same name = same bytes (and it heals a damaged copy)
    finally:
        tmp.unlink(missing_ok=True)
    return name


def read_shard(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``(arrays, meta)`` of a shard; the arrays are read-only views of the memory-mapped file."""
    path = Path(path)
    if not path.is_file():
        raise ModelMissingError(f"model shard {path} is missing; activate an older model version or run "
                                "`voicelive train` to rebuild the model from the roster")
    try:
        with open(path, "rb") as fh:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)   # stays valid after close
        if len(mm) < len(MAGIC) + 8 or mm[:len(MAGIC)] != MAGIC:
            raise ValueError("not a shard file")
        start = len(MAGIC) + 8
        n_header = int.from_bytes(mm[len(MAGIC):start], "little")
        header = json.loads(mm[start:start + n_header].decode())
        base = start + n_header
        arrays = {}
        for name, dtype, shape, offset in header["arrays"]:
            dt = np.dtype(dtype)
            count = int(np.prod(shape, dtype=np.int64))
            lo = base + int(offset)
            if lo + count * dt.itemsize > len(mm):
                raise ValueError(f"array '{name}' runs past the end of the file")
            arrays[name] = np.frombuffer(mm, dtype=dt, count=count, offset=lo).reshape(tuple(shape))
        return arrays, header["meta"]
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ModelError(f"model shard {path} is damaged ({exc}); activate an older model version or run "
                         "`voicelive train` to rebuild the model from the roster") from exc


def verify_shard(path: str | os.PathLike) -> None:
    """Check a shard's content against its name (the SHA-256 of its bytes)."""
    path = Path(path)
    if not path.is_file():
        raise ModelMissingError(f"model shard {path} is missing; run `voicelive train` again")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest()[:NAME_HEX] + SUFFIX != path.name:
        raise ModelError(f"model shard {path} does not match its checksum (corrupt); run `voicelive train` again")
