"""Synthetic speakers and noise for tests: deterministic, no files, no network.

A speaker is a source-filter voice: a glottal pulse train (Rosenberg pulses, differentiated for
lip radiation) at the speaker's own f0 with jitter and shimmer, plus breath noise, sent through
the speaker's formant resonators (vowel formants scaled by the speaker's vocal-tract length).
Speech is a string of syllables (a vowel each, an intonation contour, sometimes a fricative onset)
separated by short gaps and, every few syllables, a pause.

Everything is a pure function of its arguments: the speaker's voice of ``speaker_id``, the
utterance of ``seed``.

Public API::

    speaker_params(speaker_id) -> SpeakerParams
    synth_speaker_wave(speaker_id, seconds, *, seed, sr=16000, level_dbfs=-20.0, pauses=True) -> (n,) float32
    synth_silence(seconds, *, sr=16000) -> (n,) float32 zeros
    synth_noise(seconds, *, seed, color="white", level_dbfs=-40.0, sr=16000) -> (n,) float32
    mix_at_snr(signal, noise, snr_db) -> (n,) float32
    active_level_dbfs(wave, *, sr=16000) -> float
    estimate_f0(wave, *, sr=16000) -> float | None
    F0Scorer(speakers: dict[str, int], *, threshold=0.5)   # a WindowScorer keyed on f0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal

SR = 16_000
_GOLDEN = 0.6180339887498949
_SILVER = 0.4142135623730950

# Reference formant frequencies (Hz) of an adult male vocal tract, F1..F4 (Peterson & Barney style).
_VOWELS = {
    "a": (730.0, 1090.0, 2440.0, 3400.0),
    "i": (270.0, 2290.0, 3010.0, 3700.0),
    "u": (300.0, 870.0, 2240.0, 3400.0),
    "e": (530.0, 1840.0, 2480.0, 3500.0),
    "o": (570.0, 840.0, 2410.0, 3400.0),
    "ae": (660.0, 1720.0, 2410.0, 3400.0),
    "er": (490.0, 1350.0, 1690.0, 3300.0),
}
_VOWEL_NAMES = tuple(_VOWELS)
_BANDWIDTHS = (70.0, 90.0, 130.0, 170.0)


@dataclass(frozen=True)
class SpeakerParams:
    """The fixed voice of one synthetic speaker."""

    speaker_id: int
    f0_hz: float            # mean fundamental frequency
    formant_scale: float    # 1.0 = reference adult male tract; >1 = shorter tract, higher formants
    jitter: float           # relative std of pitch periods
    shimmer: float          # relative std of pulse amplitudes
    breath: float           # breath-noise amplitude relative to the glottal source
    open_quotient: float    # fraction of each period the glottis is open (spectral tilt)
    f0_range: float         # relative depth of the intonation contour


def speaker_params(speaker_id: int) -> SpeakerParams:
    """Voice parameters of ``speaker_id`` (any int >= 0). Ids spread f0 over 95-250 Hz in a
    low-discrepancy order, so any few consecutive ids sound clearly different."""
    sid = int(speaker_id)
    if sid < 0:
        raise ValueError(f"speaker_id must be >= 0, got {speaker_id}")
    u = (0.5 + sid * _GOLDEN) % 1.0
    v = (0.3 + sid * _SILVER) % 1.0
    rng = np.random.default_rng(10_007 + sid)
    f0 = 95.0 * (250.0 / 95.0) ** u
    return SpeakerParams(
        speaker_id=sid,
        f0_hz=float(f0),
        formant_scale=float(0.9 + 0.28 * (0.6 * u + 0.4 * v)),
        jitter=float(rng.uniform(0.004, 0.012)),
        shimmer=float(rng.uniform(0.02, 0.06)),
        breath=float(rng.uniform(0.02, 0.08)),
        open_quotient=float(rng.uniform(0.45, 0.75)),
        f0_range=float(rng.uniform(0.06, 0.16)),
    )


# ---------------------------------------------------------------------------------------------
def _glottal_source(f0_contour: np.ndarray, p: SpeakerParams, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Differentiated Rosenberg pulse train following ``f0_contour`` (Hz per sample) plus breath noise."""
    n = f0_contour.size
    t_end = n / sr
    # pulse instants: each period 1/f0 at its start, with jitter
    times = [float(rng.uniform(0.0, 1.0 / f0_contour[0]))]
    periods = []
    while times[-1] < t_end:
        i = min(n - 1, int(times[-1] * sr))
        period = (1.0 / f0_contour[i]) * (1.0 + p.jitter * rng.standard_normal())
        period = max(period, 0.5 / f0_contour[i])
        periods.append(period)
        times.append(times[-1] + period)
    t_p = np.asarray(times[:-1])
    per = np.asarray(periods)
    amp = np.clip(1.0 + p.shimmer * rng.standard_normal(per.size), 0.5, 1.5)
    t = np.arange(n) / sr
    k = np.searchsorted(t_p, t, side="right") - 1
    before = k < 0
    k = np.clip(k, 0, per.size - 1)
    phase = (t - t_p[k]) / per[k]
    oq = p.open_quotient
    p1, p2 = 0.66 * oq, 0.34 * oq
    g = np.where(phase < p1, 0.5 * (1.0 - np.cos(np.pi * phase / p1)),
                 np.where(phase < p1 + p2, np.cos(0.5 * np.pi * (phase - p1) / p2), 0.0))
    g = g * amp[k]
    g[before] = 0.0
    src = np.diff(g, prepend=0.0) * (sr / (2.0 * np.pi * float(np.mean(f0_contour))))
    # breath: aspiration noise, stronger while the glottis is open
    noise = rng.standard_normal(n)
    noise = np.diff(noise, prepend=0.0) * 0.5
    src = src + p.breath * noise * (0.3 + 0.7 * g)
    return src


def _formant_sos(formants: tuple[float, ...], sr: int) -> np.ndarray:
    """Cascade of two-pole resonators (unity gain at DC) as second-order sections."""
    sos = []
    for f, bw in zip(formants, _BANDWIDTHS):
        if f >= 0.45 * sr:
            continue
        r = np.exp(-np.pi * bw / sr)
        c = 2.0 * r * np.cos(2.0 * np.pi * f / sr)
        gain = 1.0 - c + r * r
        sos.append([gain, 0.0, 0.0, 1.0, -c, r * r])
    return np.asarray(sos)


def _envelope(n: int, attack: int, release: int) -> np.ndarray:
    env = np.ones(n)
    a = min(attack, n // 2)
    r = min(release, n - a)
    if a:
        env[:a] = 0.5 * (1.0 - np.cos(np.pi * np.arange(a) / a))
    if r:
        env[n - r:] = 0.5 * (1.0 + np.cos(np.pi * np.arange(r) / r))
    return env


def synth_speaker_wave(speaker_id: int, seconds: float, *, seed: int, sr: int = SR,
                       level_dbfs: float = -20.0, pauses: bool = True) -> np.ndarray:
    """``seconds`` of speech-like audio in the voice of ``speaker_id``.

    Parameters
    ----------
    speaker_id : int
        Whose voice (see :func:`speaker_params`).
    seconds : float
        Length; the result has exactly ``round(seconds * sr)`` samples.
    seed : int
        Which "utterance": syllables, vowels, intonation, noise.
    level_dbfs : float
        Active speech level (RMS over the voiced parts) in dBFS.
    pauses : bool
        Insert 150-400 ms pauses every few syllables (short gaps between syllables always remain).

    Returns
    -------
    np.ndarray
        float32 ``(n,)`` in [-1, 1].
    """
    p = speaker_params(speaker_id)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, p.speaker_id, 4242])
    n = int(round(float(seconds) * sr))
    out = np.zeros(n)
    active = np.zeros(n, dtype=bool)
    cursor = int(rng.uniform(0.0, 0.03) * sr)
    syllables_to_pause = int(rng.integers(3, 6))
    phrase_pos = 0
    while cursor < n:
        dur = int(rng.uniform(0.12, 0.30) * sr)
        seg_n = min(dur, n - cursor)
        if seg_n < int(0.02 * sr):
            break
        # intonation: declination over the phrase + a rise/fall inside the syllable
        base = p.f0_hz * (1.0 + p.f0_range * (0.6 - 0.25 * phrase_pos)) * (1.0 + 0.03 * rng.standard_normal())
        shape = np.linspace(-1.0, 1.0, seg_n) * rng.uniform(-1.0, 1.0) * p.f0_range * 0.5
        f0 = np.clip(base * (1.0 + shape), 60.0, 400.0)
        vowel = _VOWELS[_VOWEL_NAMES[int(rng.integers(len(_VOWEL_NAMES)))]]
        formants = tuple(f * p.formant_scale * (1.0 + 0.04 * rng.standard_normal()) for f in vowel)
        tail = int(0.03 * sr)
        src = np.concatenate([_glottal_source(f0, p, rng, sr) * _envelope(seg_n, int(0.02 * sr), int(0.04 * sr)),
                              np.zeros(tail)])
        voiced = scipy.signal.sosfilt(_formant_sos(formants, sr), src)
        if rng.random() < 0.35:  # fricative onset: band-passed noise just before the vowel
            fr_n = int(rng.uniform(0.04, 0.08) * sr)
            fr = rng.standard_normal(fr_n + tail)
            lo = rng.uniform(2500.0, 4000.0)
            sos = scipy.signal.butter(2, [lo, min(lo + 2500.0, 0.45 * sr)], btype="band", fs=sr, output="sos")
            fr = scipy.signal.sosfilt(sos, fr)[:fr_n] * _envelope(fr_n, fr_n // 4, fr_n // 3)
            fr *= 0.15 * np.sqrt(np.mean(voiced ** 2) / (np.mean(fr ** 2) + 1e-12))
            start = max(0, cursor - fr_n)
            out[start:cursor] += fr[fr_n - (cursor - start):]
        end = min(n, cursor + voiced.size)
        out[cursor:end] += voiced[:end - cursor]
        active[cursor:cursor + seg_n] = True
        cursor += seg_n + int(rng.uniform(0.03, 0.10) * sr)
        phrase_pos += 1
        syllables_to_pause -= 1
        if pauses and syllables_to_pause <= 0:
            cursor += int(rng.uniform(0.15, 0.40) * sr)
            syllables_to_pause = int(rng.integers(3, 6))
            phrase_pos = 0
    if active.any():
        rms = float(np.sqrt(np.mean(out[active] ** 2)))
        if rms > 0:
            out *= 10.0 ** (level_dbfs / 20.0) / rms
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def synth_silence(seconds: float, *, sr: int = SR) -> np.ndarray:
    """Digital silence: ``round(seconds * sr)`` zeros, float32."""
    return np.zeros(int(round(float(seconds) * sr)), dtype=np.float32)


def synth_noise(seconds: float, *, seed: int, color: str = "white", level_dbfs: float = -40.0,
                sr: int = SR) -> np.ndarray:
    """Stationary Gaussian noise with power spectrum ~ 1/f^alpha: ``white`` (0), ``pink`` (1),
    ``brown`` (2), at RMS ``level_dbfs``."""
    alphas = {"white": 0.0, "pink": 1.0, "brown": 2.0}
    if color not in alphas:
        raise ValueError(f"color must be one of {sorted(alphas)}, got {color!r}")
    n = int(round(float(seconds) * sr))
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 777])
    x = rng.standard_normal(n)
    if alphas[color]:
        spec = np.fft.rfft(x)
        f = np.fft.rfftfreq(n, 1.0 / sr)
        f[0] = f[1] if n > 1 else 1.0
        spec *= f ** (-alphas[color] / 2.0)
        x = np.fft.irfft(spec, n)
    x *= 10.0 ** (level_dbfs / 20.0) / (np.sqrt(np.mean(x ** 2)) + 1e-20)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def active_level_dbfs(wave: np.ndarray, *, sr: int = SR) -> float:
    """Active speech level: RMS over 20-ms frames within 40 dB of the loudest frame."""
    x = np.asarray(wave, dtype=np.float64)
    fn = int(0.02 * sr)
    m = x.size // fn
    if m == 0:
        return float(10 * np.log10(np.mean(x ** 2) + 1e-20))
    e = np.mean(x[:m * fn].reshape(m, fn) ** 2, axis=1)
    db = 10 * np.log10(e + 1e-20)
    keep = db > db.max() - 40.0
    return float(10 * np.log10(np.mean(e[keep]) + 1e-20))


def mix_at_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``signal + g * noise`` with ``g`` chosen so the signal's active level is ``snr_db`` above the
    noise's RMS level. ``noise`` must be at least as long as ``signal``."""
    s = np.asarray(signal, dtype=np.float64)
    nz = np.asarray(noise, dtype=np.float64)[:s.size]
    if nz.size < s.size:
        raise ValueError(f"noise ({nz.size} samples) is shorter than the signal ({s.size})")
    noise_db = 10 * np.log10(np.mean(nz ** 2) + 1e-20)
    gain = 10.0 ** ((active_level_dbfs(s) - snr_db - noise_db) / 20.0)
    return np.clip(s + gain * nz, -1.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------
def estimate_f0(wave: np.ndarray, *, sr: int = SR, fmin: float = 70.0, fmax: float = 400.0) -> float | None:
    """Median f0 (Hz) over clearly voiced 40-ms frames by normalised autocorrelation; None if none."""
    x = np.asarray(wave, dtype=np.float64)
    fn, hop = int(0.04 * sr), int(0.02 * sr)
    lo, hi = int(sr / fmax), int(sr / fmin)
    if x.size < fn:
        return None
    frames = np.lib.stride_tricks.sliding_window_view(x, fn)[::hop]
    energy = np.sum(frames ** 2, axis=1)
    keep = energy > 0.1 * energy.max() if energy.max() > 0 else np.zeros(len(frames), bool)
    f0s = []
    nfft = 1 << int(np.ceil(np.log2(2 * fn)))
    win = np.hanning(fn)
    for fr in frames[keep]:
        fr = (fr - fr.mean()) * win
        spec = np.fft.rfft(fr, nfft)
        ac = np.fft.irfft(np.abs(spec) ** 2, nfft)[:hi + 2]
        if ac[0] <= 0:
            continue
        ac = ac / ac[0]
        lag = lo + int(np.argmax(ac[lo:hi + 1]))
        if ac[lag] > 0.4:
            f0s.append(sr / lag)
    return float(np.median(f0s)) if f0s else None


F0_MEDIAN_RATIO = 1.04
"""Median f0 that :func:`estimate_f0` measures on a speaker's speech, relative to its nominal f0
(the intonation contour starts above the nominal f0)."""


class F0Scorer:
    """A fake :class:`voicelive.pipeline.WindowScorer` that knows synthetic speakers by their f0.

    ``score_window`` estimates the window's median f0 and scores each enrolled speaker by how
    close (in log frequency) it is to that speaker's typical measured f0 (``F0_MEDIAN_RATIO`` times
    its nominal f0): 1.0 on the spot, 0.5 about 6 % away, 0.1 at 11 %. Use speakers whose f0
    differ by 15 % or more (see :func:`speaker_params`).

    Parameters
    ----------
    speakers : dict[str, int]
        Name -> synthetic speaker id.
    threshold : float
        Accept threshold reported to the pipeline.
    """

    def __init__(self, speakers: dict[str, int], *, threshold: float = 0.5, width: float = 0.05) -> None:
        self._ids = dict(speakers)
        self.speakers = list(self._ids)
        self.threshold = float(threshold)
        self.width = float(width)
        self.calls = 0

    def score_window(self, wave: np.ndarray) -> dict[str, float]:
        self.calls += 1
        f0 = estimate_f0(wave)
        if f0 is None:
            return {name: 0.0 for name in self.speakers}
        out = {}
        for name, sid in self._ids.items():
            d = np.log(f0 / (F0_MEDIAN_RATIO * speaker_params(sid).f0_hz)) / self.width
            out[name] = float(np.exp(-0.5 * d * d))
        return out
