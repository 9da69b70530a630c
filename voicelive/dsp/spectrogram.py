"""Display spectrogram: log-power columns for new audio only, on a fixed frequency axis.

Every audio sample is transformed once: :meth:`SpectrogramColumns.push` takes the newest block and
returns the columns it completes. Column ``c`` is the Hann-windowed spectrum of the ``n_fft``
samples that end at sample ``(c + 1) * hop`` of the stream (zeros before the stream started), so
the columns do not depend on how the audio was cut into blocks.

Values are power in dB relative to full scale, normalised so that the bins of a column sum to the
frame's mean square (white noise at -40 dBFS shows ~-64 dB per bin with ``n_fft = 512``; a full
scale sine ~-6 dB at its peak). Use fixed display levels such as :data:`DEFAULT_LEVELS_DB`.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from voicelive import SAMPLE_RATE
from voicelive.units import s_to_samples

__all__ = ["SpectrogramColumns", "DEFAULT_LEVELS_DB"]

DEFAULT_LEVELS_DB = (-110.0, -20.0)
"""Suggested fixed colour levels (dB) for drawing the columns."""


class SpectrogramColumns:
    """Streaming short-time power spectrum in dB, one column per ``hop_s``.

    Parameters
    ----------
    sr : int
        Sample rate of the input.
    n_fft : int
        FFT size; the frequency axis has ``n_fft // 2 + 1`` bins from 0 to ``sr / 2``.
    hop_s : float
        Time between columns.
    db_floor : float
        Values are clipped below this.
    """

    def __init__(self, *, sr: int = SAMPLE_RATE, n_fft: int = 512, hop_s: float = 0.016,
                 db_floor: float = -140.0) -> None:
        self.sr = int(sr)
        self.n_fft = int(n_fft)
        self.hop = max(1, s_to_samples(hop_s, self.sr))
        if self.hop > self.n_fft:
            raise ValueError(f"spectrogram hop ({self.hop} samples) must not exceed n_fft ({self.n_fft})")
        self.db_floor = float(db_floor)
        self.freqs_hz = np.fft.rfftfreq(self.n_fft, 1.0 / self.sr).astype(np.float32)
        self.freqs_hz.flags.writeable = False
        self._win = np.hanning(self.n_fft + 2)[1:-1].astype(np.float32)
        scale = np.full(self.n_fft // 2 + 1, 2.0)
        scale[0] = 1.0
        if self.n_fft % 2 == 0:
            scale[-1] = 1.0
        self._scale = (scale / (self.n_fft * float(np.sum(self._win.astype(np.float64) ** 2)))).astype(np.float32)
        self.reset()

    @property
    def n_freq(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def hop_s(self) -> float:
        return self.hop / self.sr

    @property
    def columns_done(self) -> int:
        """Columns produced since the start (or :meth:`reset`): the absolute index of the next one."""
        return self._done

    def reset(self) -> None:
        self._buf = np.zeros(self.n_fft - self.hop, dtype=np.float32)  # history before the next column
        self._done = 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Add new samples; return the columns they complete.

        Returns
        -------
        np.ndarray
            float32 ``(n_new_columns, n_freq)``, C-contiguous (one row per column, time going
            down the rows), in dB, clipped at ``db_floor``.
        """
        x = np.asarray(samples, dtype=np.float32)
        buf = np.concatenate([self._buf, x]) if x.size else self._buf
        n_cols = (buf.size - (self.n_fft - self.hop)) // self.hop
        if n_cols <= 0:
            self._buf = buf
            return np.empty((0, self.n_freq), dtype=np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(buf, self.n_fft)[::self.hop][:n_cols]
        spec = scipy.fft.rfft(frames * self._win, axis=1)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32) * self._scale
        cols = 10.0 * np.log10(power + 1e-30, dtype=np.float32)
        np.maximum(cols, self.db_floor, out=cols)
        self._buf = buf[n_cols * self.hop:].copy()
        self._done += n_cols
        return np.ascontiguousarray(cols, dtype=np.float32)
