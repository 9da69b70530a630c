"""Speech gate for analysis windows: adaptive energy + spectral voice activity detection.

Each window is cut into short frames (25 ms every 10 ms) and one power spectrum per frame is
computed. A *noise spectrum* is tracked across windows by minimum statistics: every window
proposes the mean spectrum of its quietest frames (by speech-band energy); the tracked noise
falls to a lower proposal at once and rises at most ``noise_rise_db_per_s`` (so a voice that
never pauses is not learnt as noise, while a fan that was switched on is, within seconds).

A frame is speech when all three hold:

* **energy**: its speech-band energy exceeds the tracked noise by ``snr_db``;
* **spectrum**: its noise-whitened spectrum (frame power / noise power, per bin) is *not flat*.
  Stationary noise of any colour whitens to a flat, exponentially scattered spectrum (spectral
  flatness ~0.56); voiced speech, with its harmonics and formants, whitens to a peaky one. This
  rejects noise bursts, clicks and slow noise-level changes that pass the energy test;
* **level**: its band level is above ``min_level_dbfs``.

A window whose band energy hardly varies (10th to 90th percentile of its frames within
``min_dynamics_db``) holds a steady sound — hum, a fan, a new noise level — and no speech, which
modulates at the syllable rate; the tracked noise jumps straight to it. A window is speech when at
least ``min_speech_fraction`` of its frames are. The gate's state
changes only from window to window, so it gives the same answers whatever block size the audio
arrived in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from voicelive import SAMPLE_RATE
from voicelive.config import VadConfig
from voicelive.units import s_to_samples

__all__ = ["VadResult", "SpeechGate", "level_dbfs"]

_TINY = 1e-20
LEVEL_FLOOR_DBFS = -120.0


def level_dbfs(wave: np.ndarray) -> float:
    """RMS level in dB relative to full scale (a full-scale square wave is 0 dBFS); -120 for silence."""
    a = np.asarray(wave, dtype=np.float32)
    if a.size == 0:
        return LEVEL_FLOOR_DBFS
    ms = float(np.dot(a, a)) / a.size
    return max(LEVEL_FLOOR_DBFS, 10.0 * np.log10(ms + 1e-30))


@dataclass(frozen=True)
class VadResult:
    """What the gate found in one window.

    Attributes
    ----------
    level_dbfs : float
        RMS level of the whole window.
    speech_fraction : float
        Fraction of frames judged speech, in [0, 1].
    is_speech : bool
        ``speech_fraction >= min_speech_fraction``.
    noise_dbfs : float
        Tracked noise level in the speech band.
    span : tuple[int, int]
        Sample range ``[start, end)`` inside the window to score: the speech part (first to last
        speech frame, padded, at least ``min_scored_s`` long) when ``trim_to_speech``, else the
        whole window.
    n_frames : int
        Frames analysed.
    """

    level_dbfs: float
    speech_fraction: float
    is_speech: bool
    noise_dbfs: float
    span: tuple[int, int]
    n_frames: int


class SpeechGate:
    """Adaptive speech/non-speech decision per analysis window.

    Parameters
    ----------
    config : VadConfig
        Thresholds and frame sizes.
    sr : int
        Sample rate of the windows.
    """

    def __init__(self, config: VadConfig | None = None, *, sr: int = SAMPLE_RATE) -> None:
        self.config = config or VadConfig()
        self.sr = int(sr)
        c = self.config
        self.frame_n = s_to_samples(c.frame_s, self.sr)
        self.hop_n = max(1, s_to_samples(c.frame_hop_s, self.sr))
        self.n_fft = 1 << max(0, int(np.ceil(np.log2(self.frame_n))))
        self._win = np.hanning(self.frame_n + 2)[1:-1].astype(np.float32)
        # one-sided power normalised so that summing all bins gives the frame's mean square
        scale = np.full(self.n_fft // 2 + 1, 2.0)
        scale[0] = 1.0
        if self.n_fft % 2 == 0:
            scale[-1] = 1.0
        self._scale = (scale / (self.n_fft * float(np.sum(self._win.astype(np.float64) ** 2)))).astype(np.float32)
        freqs = np.fft.rfftfreq(self.n_fft, 1.0 / self.sr)
        lo, hi = c.band_hz
        self._band = slice(int(np.searchsorted(freqs, lo)), int(np.searchsorted(freqs, hi, side="right")))
        n_band = self._band.stop - self._band.start
        self._floor_bin = 10.0 ** (c.noise_floor_dbfs / 10.0) / n_band
        self._noise: np.ndarray | None = None  # tracked noise power per band bin
        self._last_t: float | None = None

    def reset(self) -> None:
        """Forget the tracked noise (e.g. after switching microphones)."""
        self._noise = None
        self._last_t = None

    @property
    def noise_dbfs(self) -> float | None:
        """Tracked noise level in the speech band, or None before the first window."""
        if self._noise is None:
            return None
        return float(10.0 * np.log10(float(self._noise.sum()) + _TINY))

    # ---------------------------------------------------------------------------------------
    def _band_power(self, wave: np.ndarray) -> np.ndarray:
        """``(n_frames, n_band_bins)`` power spectra of the frames of ``wave``."""
        x = np.asarray(wave, dtype=np.float32)
        if x.size < self.frame_n:
            x = np.concatenate([x, np.zeros(self.frame_n - x.size, dtype=np.float32)])
        frames = np.lib.stride_tricks.sliding_window_view(x, self.frame_n)[::self.hop_n]
        spec = scipy.fft.rfft(frames * self._win, n=self.n_fft, axis=1)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32) * self._scale
        return power[:, self._band]

    def analyse(self, wave: np.ndarray, *, t_s: float | None = None) -> VadResult:
        """Judge one window and update the tracked noise.

        Parameters
        ----------
        wave : np.ndarray
            Mono float32 ``(n,)`` window (any length; typically 2 s).
        t_s : float, optional
            Stream time of the window's end; the allowed noise rise is measured from the previous
            window's ``t_s`` (default: the window's duration).

        Returns
        -------
        VadResult
        """
        c = self.config
        wave = np.asarray(wave, dtype=np.float32)
        n = wave.size
        level = level_dbfs(wave)
        if n == 0:
            return VadResult(level, 0.0, False, self.noise_dbfs or c.noise_floor_dbfs, (0, 0), 0)
        power = self._band_power(wave)                      # (T, B)
        band_power = power.sum(axis=1, dtype=np.float64)    # (T,)
        band_db = 10.0 * np.log10(band_power + _TINY)

        # --- track the noise spectrum (minimum statistics on the band level) -----------------
        if t_s is not None and self._last_t is not None:
            dt = max(0.0, float(t_s) - self._last_t)
        else:
            dt = n / self.sr
        if t_s is not None:
            self._last_t = float(t_s)
        q_lo, q_hi = np.percentile(band_db, [c.noise_percentile, 100.0 - c.noise_percentile])
        stationary = bool(q_hi - q_lo < c.min_dynamics_db)
        if stationary:
            # a steady sound (hum, fan, new noise level): not speech, and it *is* the noise now
            proposal = power.mean(axis=0, dtype=np.float64)
        else:
            proposal = power[band_db <= q_lo].mean(axis=0, dtype=np.float64)
        proposal = np.maximum(proposal, self._floor_bin)
        if self._noise is None or stationary:
            self._noise = proposal
        else:
            rise = 10.0 ** (c.noise_rise_db_per_s * dt / 10.0)
            if proposal.sum() <= self._noise.sum() * rise:
                self._noise = proposal
            else:
                self._noise = self._noise * rise
        noise = self._noise
        noise_db = float(10.0 * np.log10(noise.sum()))

        # --- per-frame decision ----------------------------------------------------------------
        loud = (band_db - noise_db > c.snr_db) & (band_db > c.min_level_dbfs)
        if stationary:
            loud[:] = False
        speech = np.zeros_like(loud)
        if loud.any():
            ratio = power[loud] / noise.astype(np.float32)
            log_r = np.log(ratio + _TINY)
            flatness = np.exp(log_r.mean(axis=1)) / (ratio.mean(axis=1) + _TINY)
            speech[loud] = flatness < c.max_flatness
        n_frames = int(speech.size)
        fraction = float(speech.mean()) if n_frames else 0.0
        is_speech = bool(fraction >= c.min_speech_fraction and speech.any())
        span = self._span(speech, n) if (is_speech and c.trim_to_speech) else (0, n)
        return VadResult(level_dbfs=level, speech_fraction=fraction, is_speech=is_speech,
                         noise_dbfs=noise_db, span=span, n_frames=n_frames)

    def _span(self, speech: np.ndarray, n: int) -> tuple[int, int]:
        c = self.config
        idx = np.flatnonzero(speech)
        pad = s_to_samples(c.pad_s, self.sr)
        start = max(0, int(idx[0]) * self.hop_n - pad)
        end = min(n, int(idx[-1]) * self.hop_n + self.frame_n + pad)
        min_n = min(n, s_to_samples(c.min_scored_s, self.sr))
        if end - start < min_n:
            start = max(0, end - min_n)
            end = start + min_n
        return int(start), int(end)
