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
        if index.ndim != 2 or index.shape[1] != _INDEX_COLS:
            raise ValueError(f"index has shape {index.shape}")
        dt, off, nd, dims = index[:, 0], index[:, 1], index[:, 2], index[:, 3:]
        if len(index) and (dt.min() < 0 or dt.max() >= len(data) or nd.min() < 0 or nd.max() > MAX_NDIM):
            raise ValueError("index names an unknown dtype or rank")
        sizes = np.where(np.arange(MAX_NDIM)[None, :] < nd[:, None], dims, 1).prod(axis=1)
        ends = np.array([b.size for b in data], dtype=np.int64)[dt] if len(index) else np.zeros(0, np.int64)
        if np.any(off < 0) or np.any(sizes < 0) or np.any(off + sizes > ends):
            raise ValueError("index points past the data")
        # runs of same-shaped arrays stored back to back (the usual case: every embedding, every
        # clip's statistics) are cut from one reshaped block: the same views, without a Python
        # step per array
        same = np.zeros(len(index), dtype=bool)
        same[1:] = ((dt[1:] == dt[:-1]) & (nd[1:] == nd[:-1]) & (dims[1:] == dims[:-1]).all(axis=1)
                    & (off[1:] == off[:-1] + sizes[:-1]))
        starts = np.flatnonzero(~same).tolist() + [len(index)]
        out: list[np.ndarray] = []
        for a, b in zip(starts[:-1], starts[1:]):
            k, o, n, rank = int(dt[a]), int(off[a]), int(sizes[a]), int(nd[a])
            shape = tuple(int(x) for x in dims[a, :rank])
            buf = data[k]
            if b - a > 1 and n > 0 and rank > 0:
                out += list(buf[o:o + (b - a) * n].reshape((b - a,) + shape))
            else:
                out += [buf[o + i * n:o + (i + 1) * n].reshape(shape) for i in range(b - a)]
        return out
    except (KeyError, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise ModelError(f"packed arrays '{prefix}' are damaged ({exc}); re-enroll or restore a backup") from exc
