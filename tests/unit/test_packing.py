"""Packed storage of many small arrays (model files of large rosters)."""

import numpy as np
import pytest

from voicelive.errors import ModelError
from voicelive.recognition.packing import is_packed, pack, unpack


def test_round_trip_keeps_order_dtypes_and_shapes():
    rng = np.random.default_rng(0)
    items = [rng.normal(size=(7, 3)).astype(np.float16), rng.normal(size=256).astype(np.float32),
             np.arange(5, dtype=np.int64), rng.normal(size=(2, 4, 3)), np.float32(3.5) * np.ones(()),
             np.zeros((0, 39), dtype=np.float16)]
    arrays = pack("x", items)
    assert is_packed(arrays, "x") and not is_packed(arrays, "y")
    assert len(arrays) == 2 + len({a.dtype for a in items})     # a few members, not one per item
    back = unpack(arrays, "x")
    assert len(back) == len(items)
    for a, b in zip(items, back):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_empty_list_round_trips():
    assert unpack(pack("e", []), "e") == []


def test_damaged_index_is_a_model_error():
    arrays = pack("x", [np.ones(4, dtype=np.float32)])
    arrays["x/index"] = arrays["x/index"].copy()
    arrays["x/index"][0, 1] = 100          # offset past the data
    with pytest.raises(ModelError, match="damaged"):
        unpack(arrays, "x")
    del arrays["x/dtypes"]
    with pytest.raises(ModelError):
        unpack(arrays, "x")


def test_runs_of_same_shaped_arrays_unpack_as_separate_views():
    """Back-to-back arrays of one shape come back from one reshaped block (fast path); mixed with
    other shapes, dtypes and scalars, every item is still itself."""
    rng = np.random.default_rng(1)
    items = ([rng.normal(size=256).astype(np.float32) for _ in range(5)] + [np.ones(()), np.ones(())]
             + [rng.normal(size=(3, 4)) for _ in range(3)] + [rng.normal(size=256).astype(np.float32)]
             + [np.zeros((0, 4)), np.zeros((0, 4))])
    back = unpack(pack("r", items), "r")
    assert len(back) == len(items)
    for a, b in zip(items, back):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    assert not np.shares_memory(back[0], back[1])
