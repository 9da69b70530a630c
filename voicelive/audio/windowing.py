"""Cut the stream in the ring buffer into overlapping analysis windows.

Window ends lie on a fixed grid of the stream's absolute sample clock — ``k * hop`` for
k = 1, 2, ... — and a window covers ``[max(0, end - window), end)``. Only the clock decides
where windows fall, so the same audio gives the same windows whatever block size it arrived in.
At the very start of a stream the windows are shorter than ``window`` (they begin at sample 0);
windows shorter than ``min_window`` are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voicelive import SAMPLE_RATE
from voicelive.audio.ringbuffer import RingBuffer, RingOverrun
from voicelive.units import s_to_samples, samples_to_s

__all__ = ["Window", "Windower"]


@dataclass(frozen=True)
class Window:
    """One analysis window.

    Attributes
    ----------
    wave : np.ndarray
        Read-only float32 view ``(end_sample - start_sample,)`` into the ring buffer; valid until the
        writer overwrites it (the pipeline analyses a window before writing more audio). Copy it to
        keep it.
    start_sample, end_sample : int
        Absolute sample indices in the stream; ``end_sample`` is exclusive.
    index : int
        Position on the window grid: ``end_sample == index * hop``.
    lost_samples : int
        Samples lost to a ring-buffer overrun just before this window (0 normally).
    sr : int
        Sample rate.
    """

    wave: np.ndarray
    start_sample: int
    end_sample: int
    index: int
    lost_samples: int = 0
    sr: int = SAMPLE_RATE

    @property
    def start_s(self) -> float:
        return samples_to_s(self.start_sample, self.sr)

    @property
    def end_s(self) -> float:
        """Stream time of the window's end in seconds: the time stamp of its verdict."""
        return samples_to_s(self.end_sample, self.sr)

    @property
    def duration_s(self) -> float:
        return samples_to_s(self.end_sample - self.start_sample, self.sr)


class Windower:
    """Yields the windows that the samples in ``ring`` complete, in order.

    Parameters
    ----------
    ring : RingBuffer
        Audio ring; its capacity must hold at least one window.
    window_s, hop_s : float
        Window length and spacing.
    min_window_s : float
        Shorter start-of-stream windows are skipped.
    sr : int
        Sample rate.

    Notes
    -----
    The windower is the ring's reader and keeps its own position (the next window end). If the
    writer has run so far ahead that a window's samples are gone, the windower skips to the first
    window that is still complete, counts the loss in :attr:`overruns` / :attr:`lost_samples` and
    marks that window's ``lost_samples``.
    """

    def __init__(self, ring: RingBuffer, *, window_s: float = 2.0, hop_s: float = 0.5,
                 min_window_s: float = 0.5, sr: int = SAMPLE_RATE) -> None:
        self.ring = ring
        self.sr = int(sr)
        self.window_n = s_to_samples(window_s, self.sr)
        self.hop_n = s_to_samples(hop_s, self.sr)
        self.min_n = s_to_samples(min_window_s, self.sr)
        if self.hop_n < 1 or self.window_n < self.hop_n:
            raise ValueError(f"window ({self.window_n} samples) must be at least one hop ({self.hop_n}) long")
        if ring.capacity < self.window_n:
            raise ValueError(f"ring buffer of {ring.capacity} samples cannot hold a {self.window_n}-sample window")
        self._next_index = 1
        while self._next_index * self.hop_n < self.min_n:
            self._next_index += 1
        self.windows = 0
        self.overruns = 0
        self.lost_samples = 0

    @property
    def next_end(self) -> int:
        """Absolute end sample of the next window."""
        return self._next_index * self.hop_n

    def pending(self) -> int:
        """Number of windows the ring already holds the end of."""
        return max(0, self.ring.written // self.hop_n - self._next_index + 1)

    def pop(self) -> Window | None:
        """The next complete window, or None when the ring does not reach its end yet."""
        end = self.next_end
        written = self.ring.written
        if end > written:
            return None
        start = max(0, end - self.window_n)
        lost = 0
        try:
            wave = self.ring.read(start, end - start)
        except RingOverrun as exc:
            # skip to the first grid window whose samples are all still held
            oldest = exc.oldest
            k = max(self._next_index, -(-(oldest + self.window_n) // self.hop_n))
            if k * self.hop_n > written:
                # nothing complete left: resume at the first window that can still be complete
                self._next_index = k
                self.overruns += 1
                self.lost_samples += max(0, oldest - start)
                return None
            new_end = k * self.hop_n
            new_start = new_end - self.window_n
            lost = new_start - start
            self.overruns += 1
            self.lost_samples += lost
            self._next_index = k
            start, end = new_start, new_end
            wave = self.ring.read(start, end - start)
        window = Window(wave=wave, start_sample=start, end_sample=end, index=self._next_index,
                        lost_samples=lost, sr=self.sr)
        self._next_index += 1
        self.windows += 1
        return window

    def pop_all(self) -> list[Window]:
        """All windows that are complete now, oldest first.

        Each window's ``wave`` is a view into the ring: use them before writing more audio."""
        out = []
        while (w := self.pop()) is not None:
            out.append(w)
        return out
