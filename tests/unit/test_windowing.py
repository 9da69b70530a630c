"""Windower: grid-aligned window ends, start-of-stream windows, block-size invariance, overrun skip."""

import numpy as np
import pytest

from voicelive.audio.ringbuffer import RingBuffer
from voicelive.audio.windowing import Windower

SR = 16_000


def _windows(stream, block, *, window_s=2.0, hop_s=0.5, min_window_s=0.5, capacity=SR * 4):
    ring = RingBuffer(capacity)
    win = Windower(ring, window_s=window_s, hop_s=hop_s, min_window_s=min_window_s, sr=SR)
    out = []
    for i in range(0, stream.size, block):
        ring.write(stream[i:i + block])
        for w in win.pop_all():
            out.append((w.start_sample, w.end_sample, w.index, w.wave.copy()))
    return out, win


def test_window_timing_on_the_hop_grid():
    stream = np.arange(5 * SR, dtype=np.float32)
    out, win = _windows(stream, 1024)
    ends = [e for _, e, _, _ in out]
    assert ends == [int(SR * t) for t in np.arange(0.5, 5.0001, 0.5)]
    starts = [s for s, _, _, _ in out]
    assert starts[:4] == [0, 0, 0, 0]                       # shorter windows until 2 s have arrived
    assert starts[4:] == [e - 2 * SR for e in ends[4:]]     # then 2.0-s windows
    for s, e, _, wave in out:
        np.testing.assert_array_equal(wave, stream[s:e])    # the right samples
    assert win.windows == len(out) and win.overruns == 0


def test_min_window_skips_very_short_start_windows_and_end_s_is_stream_time():
    ring = RingBuffer(SR * 4)
    win = Windower(ring, window_s=2.0, hop_s=0.3, min_window_s=1.0, sr=SR)
    ring.write(np.zeros(int(1.85 * SR), dtype=np.float32))
    ws = win.pop_all()
    assert [round(w.end_s, 3) for w in ws] == [1.2, 1.5, 1.8]
    assert ws[-1].duration_s == pytest.approx(1.8) and ws[-1].start_s == 0.0
    assert win.next_end == int(round(2.1 * SR)) and win.pop() is None


@pytest.mark.parametrize("hop_s", [0.5, 0.25, 0.3])
def test_same_windows_whatever_the_block_size(hop_s):
    rng = np.random.default_rng(1)
    stream = rng.standard_normal(int(6.3 * SR)).astype(np.float32)
    ref, _ = _windows(stream, 1024, hop_s=hop_s)
    for block in (160, 777, 4096, 1, 16_001):  # (blocks > ring - window would overrun; the pipeline splits them)
        got, _ = _windows(stream, block, hop_s=hop_s)
        assert [(s, e, k) for s, e, k, _ in got] == [(s, e, k) for s, e, k, _ in ref], block
        for (_, _, _, a), (_, _, _, b) in zip(got, ref):
            np.testing.assert_array_equal(a, b)


def test_overrun_skips_to_the_first_complete_window_and_says_so():
    ring = RingBuffer(int(2.5 * SR))
    win = Windower(ring, window_s=2.0, hop_s=0.5, sr=SR)
    ring.write(np.zeros(SR, dtype=np.float32))
    assert len(win.pop_all()) == 2                      # 0.5 s and 1.0 s windows
    ring.write(np.zeros(5 * SR, dtype=np.float32))      # reader stalled: 5 s arrive at once
    ws = win.pop_all()
    assert win.overruns == 1 and win.lost_samples > 0 and ring.overruns == 1
    assert ws[0].lost_samples == win.lost_samples
    assert ws[0].start_sample >= ring.oldest
    assert ws[-1].end_sample == 6 * SR
    assert all(b.end_sample - a.end_sample == SR // 2 for a, b in zip(ws, ws[1:]))


def test_ring_must_hold_a_window():
    with pytest.raises(ValueError, match="cannot hold"):
        Windower(RingBuffer(SR), window_s=2.0, hop_s=0.5, sr=SR)
