"""Many small arrays stored as a few big ones.

A model of a large roster holds tens of thousands of small arrays (clip features, calibration
windows, per-speaker statistics). Stored one ``.npz`` member each, reading and writing them is
dominated by per-member overhead (zip directory entries, ``.npy`` headers): seconds at 1000
speakers. :func:`pack` concatenates a list of arrays into one flat buffer per dtype plus an index
of offsets and shapes; :func:`unpack` returns views into those buffers.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from voicelive.errors import ModelError

MAX_NDIM = 3
_INDEX_COLS = 3 + MAX_NDIM          # dtype id, offset, ndim, shape[0..MAX_NDIM)


def pack(prefix: str, items: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """``{prefix/index, prefix/data.<dtype>...}`` holding ``items`` (each at most 3-D) in order."""
    items = [np.asarray(a) for a in items]
    kinds: dict[np.dtype, int] = {}
    rows = []
    chunks: list[list[np.ndarray]] = []
    offsets: list[int] = []
    for a in items:
        if a.ndim > MAX_NDIM:
            raise ValueError(f"pack: arrays of at most {MAX_NDIM} dimensions, got shape {a.shape}")
        k = kinds.get(a.dtype)
        if k is None:
            k = kinds[a.dtype] = len(kinds)
            chunks.append([])
            offsets.append(0)
        rows.append((k, offsets[k], a.ndim) + a.shape + (0,) * (MAX_NDIM - a.ndim))
        chunks[k].append(a.ravel())
        offsets[k] += a.size
    index = np.array(rows, dtype=np.int64).reshape(len(rows), _INDEX_COLS)
    names = [d.name for d in kinds]
    out = {f"{prefix}/index": index,
           f"{prefix}/dtypes": np.frombuffer(",".join(names).encode(), dtype=np.uint8)}
    for k, d in enumerate(names):
        out[f"{prefix}/data.{d}"] = np.concatenate(chunks[k])
    return out


def is_packed(arrays: Mapping[str, np.ndarray], prefix: str) -> bool:
    return f"{prefix}/index" in arrays


def unpack(arrays: Mapping[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    """The list :func:`pack` stored under ``prefix`` (views into the shared buffers)."""
    try:
        index = np.asarray(arrays[f"{prefix}/index"])
        dtypes = np.asarray(arrays[f"{prefix}/dtypes"], dtype=np.uint8).tobytes().decode()
        data = [np.asarray(arrays[f"{prefix}/data.{d}"]) for d in dtypes.split(",")] if dtypes else []
        out: list[np.ndarray] = []
        rows = index.tolist()
        i = 0
        while i < len(rows):
            dt, off, ndim, *dims = rows[i]
            shape = tuple(dims[:ndim])
            n = math.prod(shape)
            # a run of same-shaped arrays stored back to back (the usual case: one speaker's
            # embeddings, every clip's statistics) is cut from one reshaped block: much faster
            # than slicing them one by one, and the same views
            j = i + 1
            while j < len(rows) and rows[j][:3] == [dt, off + (j - i) * n, ndim] and tuple(rows[j][3:3 + ndim]) == shape:
                j += 1
            buf = data[dt]
            if off < 0 or off + (j - i) * n > buf.size:
                raise ValueError("index points past the data")
            if j - i > 1 and n > 0 and ndim > 0:
                out += list(buf[off:off + (j - i) * n].reshape((j - i,) + shape))
            else:
                out += [buf[off:off + n].reshape(shape) for _ in range(j - i)]
            i = j
        return out
    except (KeyError, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise ModelError(f"packed arrays '{prefix}' are damaged ({exc}); re-enroll or restore a backup") from exc
