"""Fixed-capacity ring buffer with an absolute sample counter and contiguous reads.

Every frame is written twice, at ``i`` and ``i + capacity`` of a ``2 * capacity`` array, so the
last ``capacity`` frames can always be read as one slice — a window is a view, never a
concatenation. Frames are addressed by their absolute index in the stream (``0`` = first frame
ever written); the buffer keeps the newest ``capacity`` of them.

Concurrency: one writer and one reader. The writer only moves :attr:`RingBuffer.written` forward
after the data is in place; a reader in another thread takes a view and, when done with it,
confirms with :meth:`RingBuffer.intact` that the writer did not overwrite it meanwhile.

Overrun (a reader asking for frames that were already overwritten) is never silent: the read
raises :class:`RingOverrun` telling how many frames were lost, and :attr:`RingBuffer.overruns`
and :attr:`RingBuffer.lost_frames` count it.
"""

from __future__ import annotations

import numpy as np

from voicelive.errors import VoiceliveError

__all__ = ["RingBuffer", "RingOverrun"]


class RingOverrun(VoiceliveError, LookupError):
    """Frames a reader wanted were overwritten before it read them.

    Attributes
    ----------
    lost : int
        Frames lost between what the reader asked for and the oldest frame still held.
    oldest : int
        Absolute index of the oldest frame still in the buffer.
    """

    def __init__(self, lost: int, oldest: int) -> None:
        super().__init__(f"ring buffer overrun: {lost} frames were overwritten before they were read "
                         f"(the consumer fell behind); oldest frame held is {oldest}")
        self.lost = int(lost)
        self.oldest = int(oldest)


class RingBuffer:
    """Ring buffer of ``capacity`` frames (float32 samples, or rows of ``frame_shape``).

    Parameters
    ----------
    capacity : int
        Frames held; any read of up to ``capacity`` frames is one contiguous slice.
    frame_shape : tuple of int, optional
        Shape of one frame; ``()`` (default) for audio samples, ``(n_freq,)`` for spectrogram
        columns.
    dtype : numpy dtype, optional
        float32 by default.
    """

    def __init__(self, capacity: int, *, frame_shape: tuple[int, ...] = (), dtype=np.float32) -> None:
        capacity = int(capacity)
        if capacity < 1:
            raise ValueError(f"ring buffer capacity must be at least 1 frame, got {capacity}")
        self.capacity = capacity
        self.frame_shape = tuple(int(s) for s in frame_shape)
        self._buf = np.zeros((2 * capacity, *self.frame_shape), dtype=dtype)
        self._written = 0
        self._claimed = 0  # end of the write in progress (>= _written); readers check against it
        self.overruns = 0
        """Number of reads that found their frames already overwritten."""
        self.lost_frames = 0
        """Frames reported lost by those reads (summed)."""

    # -- state ----------------------------------------------------------------------------
    @property
    def written(self) -> int:
        """Absolute index one past the newest frame (= frames ever written)."""
        return self._written

    @property
    def oldest(self) -> int:
        """Absolute index of the oldest frame still held."""
        return max(0, self._written - self.capacity)

    def intact(self, start: int) -> bool:
        """True while frame ``start`` (and all after it) has not been overwritten.

        A reader in another thread calls this after using a view from :meth:`read`."""
        return start >= self._claimed - self.capacity

    # -- writing --------------------------------------------------------------------------
    def write(self, frames: np.ndarray) -> int:
        """Append frames; returns the new :attr:`written`.

        A block longer than ``capacity`` keeps only its last ``capacity`` frames (the counter
        still advances by the whole block, so readers see the loss as an overrun).
        """
        data = np.asarray(frames, dtype=self._buf.dtype)
        if data.shape[1:] != self.frame_shape:
            raise ValueError(f"ring buffer frames must have shape (n, {', '.join(map(str, self.frame_shape))}) "
                             f"-> got {data.shape}")
        n = data.shape[0]
        if n == 0:
            return self._written
        cap = self.capacity
        end = self._written + n
        if n > cap:
            data = data[n - cap:]
            n = cap
        pos = (end - n) % cap
        buf = self._buf
        self._claimed = end
        # one slice of length n starting at pos lies inside [0, 2*cap)
        buf[pos:pos + n] = data
        first = min(n, cap - pos)          # part that landed in the lower half -> mirror up
        if first > 0:
            buf[pos + cap:pos + cap + first] = data[:first]
        if n > first:                      # part that landed in the upper half -> mirror down
            buf[0:n - first] = data[first:]
        self._written = end
        return end

    # -- reading --------------------------------------------------------------------------
    def read(self, start: int, n: int) -> np.ndarray:
        """Read-only view of frames ``[start, start + n)`` (absolute indices), one contiguous slice.

        Raises
        ------
        RingOverrun
            ``start`` is older than :attr:`oldest`: those frames were overwritten.
        ValueError
            ``n`` exceeds the capacity or the frames have not been written yet.
        """
        start = int(start)
        n = int(n)
        if n < 0 or n > self.capacity:
            raise ValueError(f"can read 0 to {self.capacity} frames at once, asked for {n}")
        if start < 0 or start + n > self._written:
            raise ValueError(f"frames [{start}, {start + n}) are not available yet "
                             f"(written: {self._written})")
        oldest = self.oldest
        if start < oldest:
            lost = oldest - start
            self.overruns += 1
            self.lost_frames += lost
            raise RingOverrun(lost, oldest)
        pos = start % self.capacity
        view = self._buf[pos:pos + n]
        view = view.view()
        view.flags.writeable = False
        return view

    def tail(self, n: int) -> np.ndarray:
        """View of the newest ``min(n, available)`` frames."""
        n = min(int(n), self._written, self.capacity)
        return self.read(self._written - n, n)
