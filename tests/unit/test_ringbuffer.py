"""Ring buffer: contiguous reads across the wrap, absolute indices, overrun reported (not wrapped)."""

import numpy as np
import pytest

from voicelive.audio.ringbuffer import RingBuffer, RingOverrun


def test_reads_across_the_wrap_are_one_contiguous_view():
    ring = RingBuffer(10)
    ring.write(np.arange(7, dtype=np.float32))
    ring.write(np.arange(7, 14, dtype=np.float32))  # wraps: positions 7..9 then 0..3
    assert ring.written == 14 and ring.oldest == 4
    view = ring.read(4, 10)
    np.testing.assert_array_equal(view, np.arange(4, 14))
    assert np.shares_memory(view, ring._buf)  # a slice of the buffer, not a concatenated copy
    assert view.base is not None and not view.flags.writeable


@pytest.mark.parametrize("block", [1, 3, 7, 10, 13, 64])
def test_any_window_matches_the_stream_for_any_block_size(block):
    rng = np.random.default_rng(block)
    stream = rng.standard_normal(500).astype(np.float32)
    ring = RingBuffer(32)
    for i in range(0, stream.size, block):
        ring.write(stream[i:i + block])
        for n in (1, 5, 32):
            start = ring.written - n
            if start >= ring.oldest:
                np.testing.assert_array_equal(ring.read(start, n), stream[start:start + n])
    np.testing.assert_array_equal(ring.tail(32), stream[-32:])


def test_overrun_is_detected_counted_and_tells_the_reader_how_much_was_lost():
    ring = RingBuffer(8)
    ring.write(np.zeros(20, dtype=np.float32))
    with pytest.raises(RingOverrun) as info:
        ring.read(5, 4)
    assert info.value.lost == 12 - 5 and info.value.oldest == 12
    assert ring.overruns == 1 and ring.lost_frames == 7
    np.testing.assert_array_equal(ring.read(12, 8), np.zeros(8))  # what is still held reads fine


def test_block_longer_than_capacity_keeps_its_end_and_advances_the_counter():
    ring = RingBuffer(5)
    ring.write(np.arange(12, dtype=np.float32))
    assert ring.written == 12
    np.testing.assert_array_equal(ring.read(7, 5), np.arange(7, 12))
    with pytest.raises(RingOverrun):
        ring.read(6, 1)


def test_bad_reads_are_refused():
    ring = RingBuffer(4)
    ring.write(np.ones(3, dtype=np.float32))
    with pytest.raises(ValueError, match="not available yet"):
        ring.read(1, 3)
    with pytest.raises(ValueError, match="0 to 4"):
        ring.read(0, 5)
    with pytest.raises(ValueError):
        RingBuffer(0)


def test_intact_tells_a_reader_whether_its_view_survived():
    ring = RingBuffer(4)
    ring.write(np.arange(4, dtype=np.float32))
    start = 0
    view = ring.read(start, 4)
    assert ring.intact(start)
    ring.write(np.array([9.0], dtype=np.float32))
    assert not ring.intact(start)          # frame 0 was overwritten while the view was held
    assert view[0] == 9.0                  # the held view now shows new data: that is why intact() exists
    assert ring.intact(1)


def test_frames_of_any_shape_for_spectrogram_columns():
    ring = RingBuffer(3, frame_shape=(2,))
    ring.write(np.arange(10, dtype=np.float32).reshape(5, 2))
    np.testing.assert_array_equal(ring.tail(3), np.arange(4, 10).reshape(3, 2))
    with pytest.raises(ValueError, match="shape"):
        ring.write(np.zeros((2, 3), dtype=np.float32))
