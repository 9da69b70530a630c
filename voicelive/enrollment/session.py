"""Guided enrollment: record a person speaking prompts, cut the speech into clips, judge each clip,
and — only when asked to finish — add the speaker to the roster and the active model.

:class:`EnrollmentSession` is Qt-free; the GUI wizard and ``voicelive enroll NAME --mic`` drive the
same object. The audio worker pushes blocks with :meth:`EnrollmentSession.feed` (any block size,
mono float32 at ``sr``); the GUI thread reads plain attributes (``progress``, ``current_prompt``,
``level_dbfs``, ``speaking``, ``feedback``) to draw.

How clips are cut (10-ms frames, the same whatever block size the audio arrives in):

* A frame is *speech* when its level exceeds the tracked noise by :data:`SPEECH_OVER_NOISE_DB`
  and is above :data:`MIN_LEVEL_DBFS`. The noise is tracked by minimum statistics: the quietest
  100-ms chunk of the last :data:`NOISE_MEMORY_S` seconds.
* A clip ends at a pause of :data:`PAUSE_S` once it holds :data:`MIN_CLIP_S` of speech span, or at
  a pause of :data:`LONG_PAUSE_S` whatever its length (the person stopped: a short clip is then
  reported ``too_short``). A clip that reaches :data:`MAX_CLIP_S` without such a pause is cut at
  its longest short gap (or at once). Blips under :data:`MIN_BLIP_S` (a click, a cough) are dropped
  without feedback.
* At the cut the clip's bounds are re-judged with the noise estimate of that moment (so the
  first second of a recording, before the noise is known, is trimmed correctly) and padded by
  :data:`PAD_S`.

Each clip is judged by :func:`voicelive.enrollment.quality.assess_clip` (no voice, too quiet,
clipping, too noisy, too short, inconsistent speaker against the embeddings of the clips accepted
so far). Accepted clips stay in memory: nothing touches the store before :meth:`finish`, so a crash
or a cancel during recording leaves the roster and the model exactly as they were. ``finish``
writes the clips in one transaction and updates the active model with
:func:`voicelive.enrollment.model_update.sync_model` (incremental backends add the speaker without
retraining anyone else; the new model version is activated atomically).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from voicelive import SAMPLE_RATE
from voicelive.audio.io import resample, validate_wave
from voicelive.enrollment.quality import MIN_SPEAKER_SIMILARITY, ClipQuality, assess_clip
from voicelive.errors import AudioError, ConfigError, ModelMissingError, VoiceliveError
from voicelive.units import s_to_samples, samples_to_s

__all__ = [
    "ClipFeedback",
    "EnrollmentResult",
    "EnrollmentSession",
    "load_prompts",
    "similar_speakers",
    "PROMPTS_PATH",
]

log = logging.getLogger(__name__)

# -- clip cutting (why each value) ----------------------------------------------------------------

FRAME_S = 0.010
"""Frame (and hop) of the speech/pause decision: fine enough to find the gaps between words."""

NOISE_CHUNK_FRAMES = 10
"""Noise is estimated on 100-ms chunks: a 10-ms frame of noise is too variable to take its minimum."""

NOISE_MEMORY_S = 5.0
"""The quietest chunk of the last 5 s is the noise. Speech has a gap of 100 ms (a stop, a breath)
within any few seconds, so speech is never taken for noise; a noise that starts (a fan) is learnt
within 5 s."""

NOISE_FLOOR_DBFS = -90.0
"""Lowest noise level assumed (digital silence would otherwise make any sound speech)."""

SPEECH_OVER_NOISE_DB = 6.0
"""A frame 6 dB (4x power) above the noise is speech for cutting purposes. Lenient on purpose:
speech in noise must still become a clip, so that the quality check can say *too noisy* instead of
the session staying silent."""

MIN_LEVEL_DBFS = -60.0
"""Frames quieter than this are never speech; quiet speech (-50 dBFS) still forms a clip and is
then reported *too quiet*."""

PAUSE_S = 0.4
"""A pause this long ends a clip that is long enough: longer than the gaps between words, shorter
than the pause between two read sentences."""

LONG_PAUSE_S = 1.2
"""A pause this long ends any clip (the person stopped talking); a short one is reported."""

MIN_CLIP_S = 2.0
"""Shortest clip (speech span, without padding) used for enrollment."""

MAX_CLIP_S = 8.0
"""Longest clip: longer monologues are cut at their longest gap."""

MIN_CUT_GAP_S = 0.05
"""A forced cut prefers a gap at least this long; without one it cuts mid-speech."""

MIN_BLIP_S = 0.25
"""Pending speech with less than this many speech frames is a click or a cough: dropped silently."""

PAD_S = 0.15
"""Silence kept before and after the speech of a clip (word onsets and decays)."""

DEFAULT_TARGET_SPEECH_S = 25.0
"""Net speech to collect: 20-30 s gives text-independent models and calibration enough material;
at a normal pace it takes well under a minute."""

PROMPTS_PATH = Path(__file__).resolve().parents[2] / "assets" / "prompts.txt"
"""The prompts that ship with the source tree (one sentence a line)."""

_FALLBACK_PROMPTS = (
    "Please read this sentence aloud at your normal pace and volume.",
    "Tell me what you had for breakfast this morning and where you ate it.",
    "Describe the room you are in: the walls, the windows and the furniture.",
    "Count slowly from one to twenty, then back down to ten.",
)

_TINY = 1e-12


def load_prompts(path: str | Path | None = None) -> list[str]:
    """Prompts from a text file (one a line; ``#`` comments and blank lines skipped).

    With no ``path`` the bundled ``assets/prompts.txt`` is used, or a few built-in sentences when
    that file is not installed. Raises :class:`ConfigError` when an explicit file is missing or
    holds no prompt.
    """
    p = Path(path) if path is not None else PROMPTS_PATH
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        if path is None:
            log.info("prompts file %s not found (%s); using built-in prompts", p, exc)
            return list(_FALLBACK_PROMPTS)
        raise ConfigError(f"cannot read prompts file {p}: {exc}") from exc
    prompts = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not prompts:
        if path is None:
            return list(_FALLBACK_PROMPTS)
        raise ConfigError(f"prompts file {p} holds no sentence; write one prompt per line")
    return prompts


def similar_speakers(rec: Any, name: str, waves: Sequence[np.ndarray]) -> list[tuple[str, float]]:
    """Other enrolled speakers whose calibrated score on ``waves`` (averaged over the clips) passes
    the recognizer's threshold: a possible duplicate enrollment of the same person. Best first."""
    others = [s for s in rec.speakers if s != name]
    if not others or not len(waves):
        return []
    names = rec.speakers
    per_wave = [rec.score_window(w) for w in waves]   # one scoring per clip, all speakers at once
    scores = np.mean([[sc[s] for s in names] for sc in per_wave], axis=0)
    close = [(s, float(p)) for s, p in zip(names, scores) if s != name and p > rec.threshold]
    return sorted(close, key=lambda t: -t[1])


# -- results --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClipFeedback:
    """The verdict on one clip cut from the recording.

    Attributes
    ----------
    verdict : str
        ``ok``, ``too_short``, ``no_voice``, ``too_quiet``, ``clipping``, ``too_noisy`` or
        ``inconsistent_speaker``.
    message : str
        One sentence for the person: what was wrong and what to do.
    speech_s : float
        Net speech in the clip.
    progress : float
        Session progress in [0, 1] after this clip.
    clip_index : int
        0-based number of the clip in this session (counting refused clips too).
    duration_s : float
        Length of the clip.
    quality : ClipQuality or None
        The full measurement (level, SNR, clipping, similarity).
    """

    verdict: str
    message: str
    speech_s: float
    progress: float
    clip_index: int
    duration_s: float = 0.0
    quality: ClipQuality | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


@dataclass(frozen=True)
class EnrollmentResult:
    """What :meth:`EnrollmentSession.finish` did.

    Attributes
    ----------
    speaker : str
        The enrolled name.
    clips_used : int
        Clips of this session written to the store.
    speech_s : float
        Net speech in those clips.
    model_version : int or None
        The model version now active.
    update_s : float
        Seconds from the end of recording to an active updated model (store write + model update).
    similar_to : list of (name, score)
        Other enrolled speakers whose calibrated score on the new clips passes the threshold: a
        possible duplicate enrollment. Empty normally.
    speakers : tuple of str
        The model's roster after the update.
    threshold : float or None
        The model's calibrated accept threshold.
    added_to_existing : bool
        True when the clips were added to (or replaced those of) a speaker already in the roster.
    recognizer : Recognizer or None
        The updated model, e.g. for ``Pipeline.set_scorer``.
    """

    speaker: str
    clips_used: int
    speech_s: float
    model_version: int | None
    update_s: float
    similar_to: list[tuple[str, float]] = field(default_factory=list)
    speakers: tuple[str, ...] = ()
    threshold: float | None = None
    added_to_existing: bool = False
    recognizer: Any = field(default=None, repr=False, compare=False)


@dataclass
class _Clip:
    wave: np.ndarray
    quality: ClipQuality


class _Tape:
    """Audio from an absolute sample position on, grown by appending and cut from the front."""

    def __init__(self) -> None:
        self._buf = np.zeros(1 << 16, dtype=np.float32)
        self.start = 0   # absolute index of _buf[0]
        self._n = 0

    @property
    def end(self) -> int:
        return self.start + self._n

    def append(self, x: np.ndarray) -> None:
        need = self._n + x.size
        if need > self._buf.size:
            grown = np.zeros(max(need, 2 * self._buf.size), dtype=np.float32)
            grown[:self._n] = self._buf[:self._n]
            self._buf = grown
        self._buf[self._n:need] = x
        self._n = need

    def slice(self, a: int, b: int) -> np.ndarray:
        a, b = max(a, self.start), min(b, self.end)
        return self._buf[a - self.start:max(a, b) - self.start].copy()

    def drop_before(self, pos: int) -> None:
        k = min(pos, self.end) - self.start
        if k > 0:
            self._buf[:self._n - k] = self._buf[k:self._n]
            self._n -= k
            self.start += k


# -- the session ----------------------------------------------------------------------------------

class EnrollmentSession:
    """Record, cut, judge and finally store one person's enrollment speech.

    Parameters
    ----------
    name : str
        The speaker's display name (checked at once).
    store : voicelive.store.Store
        The roster; only read before :meth:`finish`.
    target_speech_s : float
        Net speech of accepted clips that makes ``progress`` 1.
    prompts : sequence of str, optional
        Sentences to read (default: ``assets/prompts.txt``); ``current_prompt`` moves on after
        every accepted clip and cycles.
    backend : str, optional
        Backend of a new model (default: the active model's, else the product default).
    replace : bool
        For a speaker already enrolled: drop the old clips (re-enrollment) instead of adding to them.
    embed : callable, optional
        ``embed(wave (n,) float32 16 kHz) -> (d,)`` embedding for the speaker-consistency check;
        default: the GE2E encoder when its weights are installed (else the check is skipped).
    sr : int
        Sample rate of the blocks given to :meth:`feed` (clips are stored at 16 kHz).
    check_speaker : bool
        Run the speaker-consistency check at all.
    min_similarity : float
        Cosine to the accepted clips' mean embedding below which a clip is ``inconsistent_speaker``.
    device_name : str, optional
        Recorded with the clips (which microphone).

    Notes
    -----
    Threads: :meth:`feed`, :meth:`flush`, :meth:`finish` and :meth:`cancel` may be called from
    different threads (they are serialised by a lock); the read-only attributes are plain values
    replaced atomically, safe to read from any thread without waiting for a clip being judged.
    """

    def __init__(self, name: str, *, store: Any, target_speech_s: float = DEFAULT_TARGET_SPEECH_S,
                 prompts: Sequence[str] | None = None, backend: str | None = None, replace: bool = False,
                 embed: Callable[[np.ndarray], np.ndarray] | None = None, sr: int = SAMPLE_RATE,
                 check_speaker: bool = True, min_similarity: float = MIN_SPEAKER_SIMILARITY,
                 device_name: str | None = None) -> None:
        from voicelive.store import clean_name

        self.name = clean_name(name)
        self.store = store
        if isinstance(target_speech_s, bool) or not isinstance(target_speech_s, (int, float)) \
                or not math.isfinite(target_speech_s) or not 1.0 <= target_speech_s <= 600.0:
            raise ConfigError(f"target_speech_s = {target_speech_s!r} is out of range; allowed: 1 to 600 s "
                              f"(default {DEFAULT_TARGET_SPEECH_S:g})")
        if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or not 8000 <= sr <= 192_000:
            raise ConfigError(f"sr = {sr!r} is not a usable sample rate; give 8000 to 192000 Hz (normally 16000)")
        if backend is not None:
            from voicelive.recognition.registry import BACKEND_NAMES
            if backend not in BACKEND_NAMES:
                raise ConfigError(f"unknown backend '{backend}'; choose one of: {', '.join(BACKEND_NAMES)}")
        self.target_speech_s = float(target_speech_s)
        self.prompts = [str(p) for p in (prompts if prompts is not None else load_prompts())]
        if not self.prompts:
            raise ConfigError("prompts must hold at least one sentence (or pass None for the defaults)")
        self.backend = backend
        self.replace = bool(replace)
        self.sr = int(sr)
        self.check_speaker = bool(check_speaker)
        self.min_similarity = float(min_similarity)
        self.device_name = device_name
        self._embed = embed
        self._embed_loaded = embed is not None or not check_speaker

        self._lock = threading.RLock()
        self._hop = s_to_samples(FRAME_S, self.sr)
        self._pause_f = int(round(PAUSE_S / FRAME_S))
        self._long_pause_f = int(round(LONG_PAUSE_S / FRAME_S))
        self._min_clip_f = int(round(MIN_CLIP_S / FRAME_S))
        self._max_clip_f = int(round(MAX_CLIP_S / FRAME_S))
        self._min_gap_f = max(1, int(round(MIN_CUT_GAP_S / FRAME_S)))
        self._blip_f = int(round(MIN_BLIP_S / FRAME_S))
        self._pad_f = int(round(PAD_S / FRAME_S))

        self._tape = _Tape()
        self._fdb: list[float] = []     # level (dB) of each frame from _fdb_start on
        self._fdb_start = 0
        self._next_frame = 0            # first frame not analysed yet
        self._floor_frame = 0           # frames before this belong to an earlier clip
        self._chunks: deque[float] = deque(maxlen=max(1, int(round(NOISE_MEMORY_S / (FRAME_S * NOISE_CHUNK_FRAMES)))))
        self._chunk_acc = 0.0
        self._chunk_n = 0
        self._start_f: int | None = None   # first speech frame of the pending clip
        self._last_f = -1                  # last speech frame of the pending clip
        self._count_f = 0                  # speech frames in the pending clip

        self._clips: list[_Clip] = []
        self._refs: list[np.ndarray] | None = None
        self._n_cut = 0
        self._prompt_i = 0
        self._state = "recording"          # recording | finishing | finished | cancelled
        self._stored = False               # finish() committed the clips
        self._existing: bool | None = None  # the speaker was in the roster before finish()

        # read from other threads: plain values, each replaced in one assignment
        self.progress = 0.0
        self.accepted_speech_s = 0.0
        self.level_dbfs = -120.0
        self.speaking = False
        self.current_prompt = self.prompts[0]
        self._feedback: tuple[ClipFeedback, ...] = ()

    # -- read-only state ------------------------------------------------------------------------
    @property
    def feedback(self) -> list[ClipFeedback]:
        """Feedback on every clip so far, oldest first (a copy)."""
        return list(self._feedback)

    @property
    def done(self) -> bool:
        """Enough speech has been accepted (``progress >= 1``)."""
        return self.progress >= 1.0

    @property
    def clips_accepted(self) -> int:
        return len(self._clips)

    @property
    def noise_dbfs(self) -> float:
        """Current noise estimate (10-ms frame level)."""
        return self._noise_db()

    @property
    def cancelled(self) -> bool:
        return self._state == "cancelled"

    @property
    def finished(self) -> bool:
        return self._state == "finished"

    # -- embedding ------------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Load the default embedding model now (it is loaded on the first clip otherwise) and
        import what the model update in :meth:`finish` uses (scikit-learn's logistic regression
        for the calibration: ~0.8 s the first time in a process), so that the time from the last
        clip to the updated model is spent on the update, not on imports. Call it before recording."""
        with self._lock:
            self._embedder()
        import sklearn.linear_model  # noqa: F401  (imported by Calibrator.fit)

    def _embedder(self) -> Callable[[np.ndarray], np.ndarray] | None:
        if not self._embed_loaded:
            self._embed_loaded = True
            try:
                from voicelive.recognition.ge2e import GE2EBackend

                self._embed = GE2EBackend().embed
            except ModelMissingError as exc:
                log.warning("enrollment without the speaker-consistency check: %s", exc)
                self._embed = None
        return self._embed if self.check_speaker else None

    def _references(self, embed: Callable[[np.ndarray], np.ndarray]) -> list[np.ndarray]:
        """Embeddings the next clip must match: this session's accepted clips, or — when more audio
        is added to an enrolled speaker — that speaker's latest stored clips."""
        if self._refs is None:
            self._refs = []
            if not self.replace:
                try:
                    if self.store.has_speaker(self.name):
                        for w in self.store.clips(self.name)[-5:]:
                            self._refs.append(np.asarray(embed(w), dtype=np.float64).ravel())
                except VoiceliveError as exc:
                    log.warning("cannot read the stored clips of '%s' for the consistency check: %s",
                                self.name, exc)
        return self._refs

    # -- frame analysis -------------------------------------------------------------------------
    def _noise_db(self) -> float:
        return max(min(self._chunks), NOISE_FLOOR_DBFS) if self._chunks else NOISE_FLOOR_DBFS

    def _threshold_db(self) -> float:
        return max(self._noise_db() + SPEECH_OVER_NOISE_DB, MIN_LEVEL_DBFS)

    def _frame_db(self, f: int) -> float:
        return self._fdb[f - self._fdb_start]

    def _speech_flags(self, a: int, b: int) -> np.ndarray:
        """Speech decision of frames ``[a, b)`` with the current noise estimate."""
        dbs = np.asarray(self._fdb[a - self._fdb_start:b - self._fdb_start])
        return dbs > self._threshold_db()

    def _forget_before(self, frame: int) -> None:
        """Drop audio and frame levels before ``frame`` (no longer needed)."""
        frame = min(frame, self._next_frame)
        self._tape.drop_before(frame * self._hop)
        k = frame - self._fdb_start
        if k > 0:
            del self._fdb[:k]
            self._fdb_start = frame

    def feed(self, block: np.ndarray) -> list[ClipFeedback]:
        """Push audio; returns the feedback of any clips this block completed.

        Parameters
        ----------
        block : np.ndarray, shape (n,)
            Mono float32 samples in [-1, 1] at ``sr``; any length (0 is fine).

        Returns
        -------
        list of ClipFeedback
            Usually empty; one entry per clip cut and judged during this call.

        Raises
        ------
        AudioError
            The block is not mono or holds NaN/inf.
        """
        x = validate_wave(block, what="enrollment audio block", allow_silent=True, min_samples=0)
        with self._lock:
            if self._state != "recording" or self._stored:
                if self._state == "cancelled":
                    self._clips = []
                return []
            if x.size:
                self.level_dbfs = float(max(-120.0, 10.0 * math.log10(float(np.dot(x, x)) / x.size + _TINY)))
            self._tape.append(x)
            out: list[ClipFeedback] = []
            n_new = self._tape.end // self._hop - self._next_frame
            if n_new <= 0:
                return out
            seg = self._tape.slice(self._next_frame * self._hop, (self._next_frame + n_new) * self._hop)
            frames = seg.reshape(n_new, self._hop).astype(np.float64)
            power = np.mean(frames * frames, axis=1)
            dbs = 10.0 * np.log10(power + _TINY)
            for p, db in zip(power, dbs):
                self._step(float(p), float(db), out)
                if self._state != "recording":
                    break
            return out

    def _step(self, power: float, db: float, out: list[ClipFeedback]) -> None:
        f = self._next_frame
        self._next_frame += 1
        self._fdb.append(db)
        self._chunk_acc += power
        self._chunk_n += 1
        if self._chunk_n == NOISE_CHUNK_FRAMES:
            self._chunks.append(10.0 * math.log10(self._chunk_acc / NOISE_CHUNK_FRAMES + _TINY))
            self._chunk_acc, self._chunk_n = 0.0, 0
        if db > self._threshold_db():
            if self._start_f is None:
                self._start_f = f
            self._last_f = f
            self._count_f += 1
        if self._start_f is None:
            self.speaking = False
            self._forget_before(max(self._floor_frame, f + 1 - self._pad_f))
            return
        gap = f - self._last_f
        span = self._last_f + 1 - self._start_f
        self.speaking = gap < self._pause_f
        if gap >= self._pause_f and (span >= self._min_clip_f or gap >= self._long_pause_f):
            self._cut(self._start_f, self._last_f + 1, padded_end=True, out=out)
        elif f + 1 - self._start_f >= self._max_clip_f:
            self._forced_cut(f, out)

    def _forced_cut(self, f: int, out: list[ClipFeedback]) -> None:
        """The pending clip reached MAX_CLIP_S: cut at its longest gap after MIN_CLIP_S, else here."""
        s = self._start_f
        assert s is not None
        lo, hi = s + self._min_clip_f, f + 1
        flags = self._speech_flags(lo, hi)
        best_len, best_mid = 0, hi
        run = 0
        for i, sp in enumerate(flags):
            run = 0 if sp else run + 1
            if run >= best_len and run > 0:
                best_len, best_mid = run, lo + i + 1 - (run + 1) // 2
        cut = best_mid if best_len >= self._min_gap_f else hi
        self._cut(s, cut, padded_end=False, out=out)

    def _cut(self, start_f: int, end_f: int, *, padded_end: bool, out: list[ClipFeedback]) -> None:
        """Cut frames ``[start_f, end_f)`` (re-judged and padded) into a clip, judge it, and carry on
        with whatever speech follows ``end_f``."""
        flags = self._speech_flags(start_f, end_f)
        idx = np.flatnonzero(flags)
        consumed = end_f + (self._pad_f if padded_end else 0)
        consumed = min(consumed, self._next_frame)
        if idx.size >= self._blip_f:
            s, e = start_f + int(idx[0]), start_f + int(idx[-1]) + 1
            if not padded_end:
                e = end_f
            a = max(self._floor_frame, s - self._pad_f) * self._hop
            b = min(consumed, e + (self._pad_f if padded_end else 0)) * self._hop
            self._judge(self._tape.slice(a, b), (e - s) * FRAME_S, out)
        # whatever follows the cut starts a new pending clip
        self._floor_frame = consumed
        self._start_f, self._last_f, self._count_f = None, -1, 0
        if consumed < self._next_frame:
            rest = np.flatnonzero(self._speech_flags(consumed, self._next_frame))
            if rest.size:
                self._start_f = consumed + int(rest[0])
                self._last_f = consumed + int(rest[-1])
                self._count_f = int(rest.size)
        keep = self._start_f - self._pad_f if self._start_f is not None else self._next_frame - self._pad_f
        self._forget_before(max(consumed, keep))
        self.speaking = self._start_f is not None and self._next_frame - 1 - self._last_f < self._pause_f

    def _judge(self, wave: np.ndarray, span_s: float, out: list[ClipFeedback]) -> None:
        if self.sr != SAMPLE_RATE:
            wave = resample(wave, self.sr, SAMPLE_RATE)
        index = self._n_cut
        self._n_cut += 1
        embed = self._embedder() if span_s >= MIN_CLIP_S else None
        refs = self._references(embed) if embed is not None else None
        q = assess_clip(wave, SAMPLE_RATE, embed=embed, reference_embeddings=refs,
                        min_similarity=self.min_similarity)
        verdict, message = q.verdict, q.message
        if q.ok and span_s < MIN_CLIP_S:
            verdict = "too_short"
            message = (f"That clip lasts only {span_s:.1f} s (needs {MIN_CLIP_S:.0f} s); read the whole "
                       "sentence without stopping.")
        if verdict == "ok" and self._state == "recording":
            self._clips.append(_Clip(wave, q))
            if q.embedding is not None and refs is not None:
                refs.append(np.asarray(q.embedding, dtype=np.float64))
            self.accepted_speech_s = self.accepted_speech_s + q.speech_s
            self.progress = min(1.0, self.accepted_speech_s / self.target_speech_s)
            self._prompt_i += 1
            self.current_prompt = self.prompts[self._prompt_i % len(self.prompts)]
        fb = ClipFeedback(verdict=verdict, message=message, speech_s=float(q.speech_s),
                          progress=float(self.progress), clip_index=index,
                          duration_s=samples_to_s(wave.size, SAMPLE_RATE), quality=q)
        self._feedback = self._feedback + (fb,)
        log.debug("enrollment clip %d of '%s': %s (%.1f s speech)", index, self.name, verdict, q.speech_s)
        out.append(fb)

    def flush(self) -> list[ClipFeedback]:
        """End of recording: cut and judge whatever speech is pending (padding it with what audio
        there is). Returns that clip's feedback (empty when nothing was pending)."""
        out: list[ClipFeedback] = []
        with self._lock:
            if self._state != "recording" or self._start_f is None:
                return out
            end = self._last_f + 1
            self._cut(self._start_f, end, padded_end=True, out=out)
            self.speaking = False
        return out

    # -- ending ---------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Abandon the session: nothing is stored, later audio is ignored, :meth:`finish` refuses.
        Returns at once even while a clip is being judged on another thread."""
        if self._state in ("finishing", "finished"):
            return  # too late: the clips are being (or have been) stored
        self._state = "cancelled"
        if self._lock.acquire(blocking=False):
            try:
                self._clips = []
                self._tape = _Tape()
                self._fdb = []
            finally:
                self._lock.release()
        self.speaking = False

    def finish(self) -> EnrollmentResult:
        """Judge any pending speech, store the accepted clips and update the active model.

        The clips go into the store in one transaction (a new speaker with all clips, or the clips
        added to — with ``replace``, substituted for — an enrolled speaker's); then
        :func:`~voicelive.enrollment.model_update.sync_model` updates and atomically activates
        the model. If the model update fails, the clips stay stored and calling ``finish`` again
        retries only the update.

        Returns
        -------
        EnrollmentResult

        Raises
        ------
        VoiceliveError
            The session was cancelled or already finished.
        AudioError
            No clip was accepted (nothing is written).
        """
        from voicelive.enrollment.model_update import sync_model

        with self._lock:
            if self._state == "cancelled":
                raise VoiceliveError(f"the enrollment of '{self.name}' was cancelled; nothing was saved. "
                                     "Start a new session to enroll again")
            if self._state != "recording":
                raise VoiceliveError(f"the enrollment of '{self.name}' is already {self._state}; "
                                     "start a new session to record more")
            if not self._stored:
                self.flush()
                if not self._clips:
                    refused = [fb.verdict for fb in self._feedback]
                    why = (f"all {len(refused)} clip(s) were refused ({', '.join(sorted(set(refused)))})"
                           if refused else "no speech was heard")
                    raise AudioError(f"no usable clip was recorded for '{self.name}': {why}; nothing was "
                                     "saved. Read the prompts aloud in a quiet place, close to the microphone")
            self._state = "finishing"
            clips = list(self._clips)
        waves = [c.wave for c in clips]
        try:
            t0 = time.perf_counter()
            if not self._stored:
                self._existing = bool(self.store.has_speaker(self.name))
                qualities = [c.quality.to_dict() for c in clips]
                if self._existing:
                    self.store.add_clips(self.name, waves, replace=self.replace, device=self.device_name,
                                         qualities=qualities)
                else:
                    self.store.add_speaker_with_clips(self.name, waves, device=self.device_name,
                                                      qualities=qualities)
                self._stored = True
            res = sync_model(self.store, backend=self.backend)
            update_s = time.perf_counter() - t0
        except BaseException:
            with self._lock:
                self._state = "recording"   # the clips are in the store whole or not at all
            raise
        rec = res.recognizer
        close = similar_speakers(rec, self.name, waves) if rec is not None else []
        with self._lock:
            self._state = "finished"
            self._clips = []
        result = EnrollmentResult(
            speaker=self.name, clips_used=len(waves), speech_s=float(sum(c.quality.speech_s for c in clips)),
            model_version=res.version_id, update_s=update_s, similar_to=close,
            speakers=tuple(rec.speakers) if rec is not None else (),
            threshold=float(rec.threshold) if rec is not None else None,
            added_to_existing=bool(self._existing), recognizer=rec)
        log.info("enrolled '%s': %d clips, %.1f s speech, model v%s in %.2f s", self.name, result.clips_used,
                 result.speech_s, result.model_version, update_s)
        return result
