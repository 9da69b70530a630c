"""Per-clip quality checks for enrollment: is this recording good enough to learn a voice from?

:func:`assess_clip` measures a clip and gives one verdict with a message the user can act on:

=====================  =======================================================================
``ok``                 usable
``no_voice``           no voiced speech found (silence, noise, clicks)
``too_quiet``          speech far below a normal recording level
``clipping``           the signal hit the converter's limits (flat-topped peaks)
``too_noisy``          estimated signal-to-noise ratio too low
``too_short``          not enough net speech in the clip
``inconsistent_speaker``  the voice does not match the previous accepted clips
=====================  =======================================================================

Checks run in that order and the first failure is the verdict (a noisy clip is reported as noisy,
not as short, because fixing the noise is what helps).

How it measures (40 ms frames every 10 ms, at 16 kHz):

* **Noise spectrum** by minimum statistics: per frequency bin, the 10th percentile of the frame
  periodograms over the clip, divided by that percentile's expected fraction of the mean for
  noise (-ln 0.9 for an exponentially distributed periodogram bin). Speech moves across bins and
  pauses between words, so each bin sees noise alone in well over 10 % of the frames.
* **Speech frames**: energy above the noise by :data:`SPEECH_OVER_NOISE_DB`, within
  :data:`SPEECH_RANGE_DB` of the loud frames and above :data:`ABS_FLOOR_DBFS`.
  **Voiced frames**: speech frames whose normalised autocorrelation peaks above
  :data:`VOICED_PERIODICITY_MIN` at a pitch lag (60–400 Hz). Noise bursts and clicks pass the
  energy test but are not periodic.
* **SNR** = (mean speech-frame power - noise power) / noise power.
* **Clipping**: samples in runs of at least two at the clip's own extreme value (a rail), for
  rails at :data:`CLIP_MIN_LEVEL` or above. Smooth peaks of real speech almost never repeat
  the same extreme sample value twice in a row; converter clipping does for many samples.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from voicelive import SAMPLE_RATE
from voicelive.audio.io import resample, validate_wave
from voicelive.errors import AudioError
from voicelive.units import s_to_samples, samples_to_s

__all__ = ["ClipQuality", "VERDICTS", "assess_clip", "speaker_similarity"]

VERDICTS = ("ok", "no_voice", "too_quiet", "clipping", "too_noisy", "too_short", "inconsistent_speaker")

# -- thresholds (why each value) -----------------------------------------------------------------

MIN_SPEECH_S = 1.5
"""Net speech one clip needs. Below ~1.5 s a clip's embedding/statistics are dominated by what
was said rather than who said it; a normal sentence has 2–4 s of speech."""

NO_VOICE_MIN_S = 0.1
"""Less voiced speech than this (shorter than one vowel) means nobody spoke: a click, a noise
burst, a fan. Noise of any colour, modulated noise and clicks measure 0.00-0.03 s; one spoken
digit 0.1-0.3 s (that clip is then reported ``too_short``, which is the useful message)."""

TOO_QUIET_DBFS = -40.0
"""Active speech level below which the clip is too quiet. Close-talking speech lands at about
-30..-15 dBFS; at -40 the speaker is far away or the gain is down, and the microphone's own noise
(typically -70..-60 dBFS) is within 20–30 dB."""

CLIP_MIN_LEVEL = 0.25
"""Only rails at or above this absolute level (-12 dBFS) are taken as clipping: low-level audio
quantised to a few steps repeats its extreme value without being clipped."""

CLIP_TOLERANCE = 2.0 / 32768.0
"""Samples within two 16-bit steps of the rail count as on it (int16 rails are ±32767/32768)."""

CLIPPED_FRACTION_MAX = 0.001
"""More than 0.1 % of samples on a rail (16 per second) is audible, sustained clipping that
distorts the spectrum the models learn; a few clipped peaks are harmless."""

MIN_SNR_DB = 15.0
"""Estimated SNR below which the clip is too noisy. Speaker-ID error rates climb steeply below
10–15 dB SNR, and a model enrolled on noise learns the noise."""

MAX_SNR_DB = 100.0
"""Cap of the reported SNR (digital silence in the pauses would give infinity)."""

MIN_SPEAKER_SIMILARITY = 0.6
"""Cosine to the mean of the previous clips' embeddings below which the clip is flagged as a
different voice. Meant to catch a clear outlier (someone else spoke): the same speaker's clips
typically score 0.75–0.9 against their centroid with d-vector embeddings, different speakers
lower. Pass ``min_similarity`` for an embedding with another scale."""

SPEECH_OVER_NOISE_DB = 6.0
"""A frame is speech only when its energy is 6 dB (4x) above the estimated noise power."""

SPEECH_RANGE_DB = 35.0
"""...and within 35 dB of the loud (95th-percentile) frames: quieter frames are pauses and decay
tails even when the noise floor is far lower (clean or digital recordings)."""

ABS_FLOOR_DBFS = -70.0
"""...and above -70 dBFS: nothing quieter is speech in any real recording."""

VOICED_PERIODICITY_MIN = 0.5
"""Normalised autocorrelation peak of a voiced frame. White noise peaks near 0.1–0.2 over the
pitch lags of a 40 ms frame; voiced speech 0.7–0.95, still above 0.5 at 5 dB SNR."""

FRAME_S = 0.040   # two periods of a 50 Hz voice, enough for the pitch autocorrelation
HOP_S = 0.010
PITCH_MIN_HZ = 60.0
PITCH_MAX_HZ = 400.0
NOISE_PERCENTILE = 10.0
LEVEL_FLOOR_DBFS = -120.0
_TINY = 1e-20


@dataclass(frozen=True)
class ClipQuality:
    """What :func:`assess_clip` found.

    Attributes
    ----------
    verdict : str
        One of :data:`VERDICTS`.
    message : str
        One sentence for the user: what is wrong and what to do.
    speech_s : float
        Net speech (seconds of speech frames).
    level_dbfs : float
        Active level: RMS over the speech frames (whole clip when there are none), dB relative to
        a full-scale square wave; -120 for digital silence.
    peak_dbfs : float
        Largest absolute sample, dBFS.
    clipped_fraction : float
        Fraction of samples on a clipping rail, in [0, 1].
    snr_db : float or None
        Estimated speech-to-noise ratio; None when there is no speech to measure.
    similarity : float or None
        Cosine to the previous clips' mean embedding; None when not checked.
    duration_s : float
        Length of the clip.
    voiced_s : float
        Seconds of voiced (periodic) speech frames, part of ``speech_s``.
    embedding : np.ndarray or None
        The clip's embedding when ``embed`` was called (keep it as a reference for the next clip).
    """

    verdict: str
    message: str
    speech_s: float
    level_dbfs: float
    peak_dbfs: float
    clipped_fraction: float
    snr_db: float | None
    similarity: float | None = None
    duration_s: float = 0.0
    voiced_s: float = 0.0
    embedding: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able metrics (without the embedding), as stored with the clip."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "embedding"}
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()}


def _db(power: float) -> float:
    return max(LEVEL_FLOOR_DBFS, 10.0 * math.log10(power + _TINY))


def _clipped_fraction(x: np.ndarray) -> float:
    """Fraction of samples in runs (>= 2) at the positive or negative rail."""
    if x.size < 2:
        return 0.0
    on = np.zeros(x.size, dtype=bool)
    hi, lo = float(x.max()), float(x.min())
    if hi >= CLIP_MIN_LEVEL:
        on |= x >= hi - CLIP_TOLERANCE
    if -lo >= CLIP_MIN_LEVEL:
        on |= x <= lo + CLIP_TOLERANCE
    if not on.any():
        return 0.0
    pair = on[1:] & on[:-1]
    in_run = np.zeros(x.size, dtype=bool)
    in_run[1:] |= pair
    in_run[:-1] |= pair
    return float(np.count_nonzero(in_run)) / x.size


def _frame_analysis(x: np.ndarray, sr: int) -> dict[str, np.ndarray | float]:
    """Frame powers (raw and windowed), noise estimate, periodicity per frame."""
    fn, hop = s_to_samples(FRAME_S, sr), s_to_samples(HOP_S, sr)
    frames = np.lib.stride_tricks.sliding_window_view(x, fn)[::hop]
    frames = frames - frames.mean(axis=1, keepdims=True)
    raw_power = np.mean(frames ** 2, axis=1)

    # Periodogram scaled so that its sum over bins is the windowed mean square of the frame.
    win = np.hanning(fn + 2)[1:-1]
    nfft = 1 << int(math.ceil(math.log2(fn)))
    spec = np.abs(np.fft.rfft(frames * win, nfft, axis=1)) ** 2
    spec[:, 1:-1] *= 2.0
    spec /= nfft * float(np.sum(win ** 2))
    frame_power = spec.sum(axis=1)
    q = NOISE_PERCENTILE / 100.0
    noise_psd = np.percentile(spec, NOISE_PERCENTILE, axis=0) / (-math.log(1.0 - q))
    noise_power = float(noise_psd.sum())

    # Normalised autocorrelation (unbiased) at pitch lags, from a zero-padded FFT.
    nfft_ac = 1 << int(math.ceil(math.log2(2 * fn)))
    ac = np.fft.irfft(np.abs(np.fft.rfft(frames, nfft_ac, axis=1)) ** 2, nfft_ac, axis=1)
    lo = max(1, int(sr / PITCH_MAX_HZ))
    hi = min(fn - fn // 4, int(math.ceil(sr / PITCH_MIN_HZ)))
    lags = np.arange(lo, hi + 1)
    r = ac[:, lo:hi + 1] / (ac[:, :1] + _TINY) * (fn / (fn - lags))
    periodicity = r.max(axis=1)
    return {"raw_power": raw_power, "frame_power": frame_power, "noise_power": noise_power,
            "periodicity": periodicity, "hop": hop}


def speaker_similarity(embedding: np.ndarray, reference_embeddings: Sequence[np.ndarray] | np.ndarray) -> float:
    """Cosine between ``embedding`` and the (re-normalised) mean of ``reference_embeddings``."""
    e = np.asarray(embedding, dtype=np.float64).ravel()
    refs = np.atleast_2d(np.asarray(reference_embeddings, dtype=np.float64))
    if refs.shape[1] != e.size:
        raise AudioError(f"embedding has {e.size} values but the references have {refs.shape[1]}; "
                         "use the same embedding for every clip")
    refs = refs / (np.linalg.norm(refs, axis=1, keepdims=True) + _TINY)
    centroid = refs.mean(axis=0)
    return float(np.dot(e, centroid) / (np.linalg.norm(e) * np.linalg.norm(centroid) + _TINY))


def assess_clip(wave: np.ndarray, sr: int = SAMPLE_RATE, *, min_speech_s: float = MIN_SPEECH_S,
                reference_embeddings: Sequence[np.ndarray] | np.ndarray | None = None,
                embed: Callable[[np.ndarray], np.ndarray] | None = None,
                min_similarity: float = MIN_SPEAKER_SIMILARITY,
                min_snr_db: float = MIN_SNR_DB) -> ClipQuality:
    """Measure one enrollment clip and judge whether it is usable.

    Parameters
    ----------
    wave : np.ndarray, shape (n,)
        Mono audio in [-1, 1] (float, or int PCM which is scaled).
    sr : int
        Sample rate of ``wave``; resampled to 16 kHz when different.
    min_speech_s : float
        Net speech the clip needs (``too_short`` below).
    reference_embeddings : sequence of np.ndarray (d,), or array (k, d), optional
        Embeddings of the speaker's previously accepted clips.
    embed : callable, optional
        ``embed(wave) -> (d,)`` L2-normalised embedding (16 kHz wave). With
        ``reference_embeddings`` it enables the ``inconsistent_speaker`` check; alone it still
        fills ``ClipQuality.embedding`` for the next clip.
    min_similarity : float
        Cosine to the references' mean below which the clip is ``inconsistent_speaker``.
    min_snr_db : float
        Estimated SNR below which the clip is ``too_noisy``.

    Returns
    -------
    ClipQuality

    Raises
    ------
    AudioError
        The wave is not mono or holds NaN/inf samples.
    """
    a = np.asarray(wave)
    if a.ndim == 1 and a.size == 0:
        return ClipQuality("too_short", "The clip is empty; record again and speak a whole sentence.",
                           0.0, LEVEL_FLOOR_DBFS, LEVEL_FLOOR_DBFS, 0.0, None)
    x32 = validate_wave(a, what="enrollment clip", allow_silent=True)
    if sr != SAMPLE_RATE:
        x32 = resample(x32, sr, SAMPLE_RATE)
    sr = SAMPLE_RATE
    x = x32.astype(np.float64)
    duration_s = samples_to_s(x.size, sr)
    peak = float(np.max(np.abs(x)))
    peak_dbfs = max(LEVEL_FLOOR_DBFS, 20.0 * math.log10(peak + _TINY))
    clipped = _clipped_fraction(x)

    if x.size < s_to_samples(FRAME_S, sr):
        return ClipQuality("too_short", f"The clip lasts only {duration_s:.2f} s; speak a whole sentence.",
                           0.0, _db(float(np.mean(x ** 2))), peak_dbfs, clipped, None, duration_s=duration_s)

    fa = _frame_analysis(x, sr)
    frame_db = 10.0 * np.log10(fa["frame_power"] + _TINY)
    noise_power = float(fa["noise_power"])
    loud_db = float(np.percentile(frame_db, 95))
    threshold_db = max(10.0 * math.log10(noise_power + _TINY) + SPEECH_OVER_NOISE_DB,
                       loud_db - SPEECH_RANGE_DB, ABS_FLOOR_DBFS)
    speech = frame_db > threshold_db
    voiced = speech & (fa["periodicity"] >= VOICED_PERIODICITY_MIN)
    hop_s = samples_to_s(int(fa["hop"]), sr)
    speech_s = float(np.count_nonzero(speech)) * hop_s
    voiced_s = float(np.count_nonzero(voiced)) * hop_s
    raw = fa["raw_power"]
    level_dbfs = _db(float(np.mean(raw[speech])) if speech.any() else float(np.mean(x ** 2)))
    snr_db: float | None = None
    if speech.any():
        speech_power = float(np.mean(fa["frame_power"][speech]))
        if noise_power <= _TINY:
            snr_db = MAX_SNR_DB
        else:
            snr_db = float(min(MAX_SNR_DB, 10.0 * math.log10(max(speech_power - noise_power, _TINY) / noise_power)))

    def result(verdict: str, message: str, similarity: float | None = None,
               embedding: np.ndarray | None = None) -> ClipQuality:
        return ClipQuality(verdict, message, speech_s, level_dbfs, peak_dbfs, clipped, snr_db,
                           similarity, duration_s, voiced_s, embedding)

    if voiced_s < NO_VOICE_MIN_S:
        return result("no_voice", "No voice found; speak closer to the microphone and check that the "
                                  "right input device is selected.")
    if level_dbfs < TOO_QUIET_DBFS:
        return result("too_quiet", f"Too quiet (speech at {level_dbfs:.0f} dBFS, needs {TOO_QUIET_DBFS:.0f}); "
                                   "move closer to the microphone or raise its input gain.")
    if clipped > CLIPPED_FRACTION_MAX:
        return result("clipping", f"Too loud: {100 * clipped:.1f} % of the samples are clipped; move back a "
                                  "little or lower the input gain.")
    if snr_db is not None and snr_db < min_snr_db:
        return result("too_noisy", f"Too much background noise (SNR about {snr_db:.0f} dB, needs "
                                   f"{min_snr_db:.0f} dB); find a quieter place or move closer to the microphone.")
    if speech_s < min_speech_s:
        return result("too_short", f"Only {speech_s:.1f} s of speech (needs {min_speech_s:.1f} s); "
                                   "say a whole sentence without stopping.")
    embedding = None
    similarity = None
    if embed is not None:
        embedding = np.asarray(embed(x32), dtype=np.float64).ravel()
        if not np.all(np.isfinite(embedding)):
            raise AudioError("the embedding of this clip contains NaN/inf; the embedding model is broken")
        refs = reference_embeddings
        if refs is not None and len(refs) > 0:
            similarity = speaker_similarity(embedding, refs)
            if similarity < min_similarity:
                return result("inconsistent_speaker",
                              f"This voice does not match the previous clips (similarity {similarity:.2f}, "
                              f"needs {min_similarity:.2f}); the same person must speak every clip.",
                              similarity, embedding)
    return result("ok", f"Good: {speech_s:.1f} s of clear speech.", similarity, embedding)
