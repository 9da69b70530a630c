"""Many small arrays stored as a few big ones.

A model of a large roster holds tens of thousands of small arrays (clip features, calibration
windows, per-speaker statistics). Stored one ``.npz`` member each, reading and writing them is
dominated by per-member overhead (zip directory entries, ``.npy`` headers): seconds at 1000
speakers. :func:`pack` concatenates a list of arrays into one flat buffer per dtype plus an index
of offsets and shapes; :func:`unpack` returns views into those buffers.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from voicelive.errors import ModelError

MAX_NDIM = 3
_INDEX_COLS = 3 + MAX_NDIM          # dtype id, offset, ndim, shape[0..MAX_NDIM)


def pack(prefix: str, items: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """``{prefix/index, prefix/data.<dtype>...}`` holding ``items`` (each at most 3-D) in order."""
    items = [np.asarray(a) for a in items]
    dtypes = sorted({a.dtype.name for a in items})
    index = np.zeros((len(items), _INDEX_COLS), dtype=np.int64)
    chunks: dict[str, list[np.ndarray]] = {d: [] for d in dtypes}
    offsets = {d: 0 for d in dtypes}
    for i, a in enumerate(items):
        if a.ndim > MAX_NDIM:
            raise ValueError(f"pack: arrays of at most {MAX_NDIM} dimensions, got shape {a.shape}")
        d = a.dtype.name
        index[i, :3] = (dtypes.index(d), offsets[d], a.ndim)
        index[i, 3:3 + a.ndim] = a.shape
        chunks[d].append(a.ravel())
        offsets[d] += a.size
    out = {f"{prefix}/index": index,
           f"{prefix}/dtypes": np.frombuffer(",".join(dtypes).encode(), dtype=np.uint8)}
    for d in dtypes:
        out[f"{prefix}/data.{d}"] = np.concatenate(chunks[d]) if chunks[d] else np.zeros(0, dtype=d)
    return out


def is_packed(arrays: Mapping[str, np.ndarray], prefix: str) -> bool:
    return f"{prefix}/index" in arrays


def unpack(arrays: Mapping[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    """The list :func:`pack` stored under ``prefix`` (views into the shared buffers)."""
    try:
        index = np.asarray(arrays[f"{prefix}/index"])
        dtypes = np.asarray(arrays[f"{prefix}/dtypes"], dtype=np.uint8).tobytes().decode()
        data = [np.asarray(arrays[f"{prefix}/data.{d}"]) for d in dtypes.split(",")] if dtypes else []
        out = []
        for row in index:
            dt, off, ndim = (int(v) for v in row[:3])
            shape = tuple(int(v) for v in row[3:3 + ndim])
            n = int(np.prod(shape)) if shape else 1
            buf = data[dt]
            if off + n > buf.size:
                raise ValueError("index points past the data")
            out.append(buf[off:off + n].reshape(shape))
        return out
    except (KeyError, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise ModelError(f"packed arrays '{prefix}' are damaged ({exc}); re-enroll or restore a backup") from exc
