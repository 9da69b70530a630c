"""The recognition engine as the rest of the product sees it: one or more backends, calibrated and
fused, answering "is this person registered, and who is it?".

``Recognizer`` implements the pipeline's ``WindowScorer`` protocol: ``speakers``, ``threshold`` and
``score_window(wave) -> {speaker: calibrated score in [0, 1]}``.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from voicelive import SAMPLE_RATE, __version__
from voicelive.audio.io import validate_wave
from voicelive.errors import ConfigError, NotEnrolledError
from voicelive.recognition.base import Backend, ClipsBySpeaker, Features
from voicelive.recognition.calibration import Calibrator
from voicelive.recognition.registry import DEFAULT_BACKEND, make_backends
from voicelive.recognition.shards import SHARD_DIR

DEFAULT_TARGET_FAR = 0.01
DECISIVE_FAR_RATIO = 0.3
"""A single window may name its speaker at once (see :attr:`Recognizer.decisive_threshold`) when its
score passes the threshold for this fraction of the target false-accept rate."""
MIN_REAL_COHORT = 8
"""With fewer enrolled speakers than this, calibration adds pseudo-impostors (see below)."""
PSEUDO_SHIFTS = (0.68, 0.78, 1.28, 1.45)
"""Resampling factors that turn an enrolled voice into a clearly different one (pitch and formants
move together, like a shorter or longer vocal tract): the impostor cohort of a tiny roster."""
MAX_PSEUDO_CLIPS = 3
PSEUDO_MAX_S = 3.0
N_FOLDS = 5
CAL_WINDOW_S = 2.0
"""Calibration trials are also cut as live-sized windows from held-out enrollment speech, so the
threshold fits what the live pipeline scores (2-s windows), not only whole clips."""
CAL_HOP_S = 1.0
CAL_GAP_S = 0.3
MAX_CAL_WINDOWS = 16
DURATION_AWARE_THRESHOLD = True
"""Judge each trial by a threshold for its amount of speech (calibration step 5), when a member's
features tell how much speech they hold (the GMM-UBM's do)."""


def pseudo_impostors(clips: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Voices made from (up to :data:`MAX_PSEUDO_CLIPS` of) one speaker's ``clips`` by shifting pitch and formants (see :data:`PSEUDO_SHIFTS`)."""
    from voicelive.audio.io import resample

    out = []
    for w in list(clips)[:MAX_PSEUDO_CLIPS]:
        w = w[:int(PSEUDO_MAX_S * SAMPLE_RATE)]
        for f in PSEUDO_SHIFTS:
            out.append(resample(w, SAMPLE_RATE, int(round(SAMPLE_RATE * f))))
    return out


def assign_folds(name: str, n_clips: int) -> list[int]:
    """Deterministic fold of each of a speaker's clips (2..N_FOLDS folds; one fold for one clip)."""
    if n_clips <= 1:
        return [0] * n_clips
    k = max(2, min(N_FOLDS, n_clips))
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return [int(f) for f in rng.permutation(np.arange(n_clips) % k)]


MAX_FULL_ROSTER_TRIALS = 4_000
"""Calibration trials scored against the whole roster (a stratified sample once there are more);
the rest are scored against their own speaker only. Per-model cohorts then keep ~this many impostor
scores whatever the roster size, and calibration grows with trials + roster, not trials x roster."""
MAX_FULL_ROSTER_PAIRS = 1_000_000
"""Beyond ``MAX_FULL_ROSTER_TRIALS x 250`` speakers, fewer trials are scored against everyone, so
trial x model pairs stay under this (at 1000 speakers: 1000 trials, still ~1000 impostor scores per model)."""
MIN_FULL_ROSTER_TRIALS = 1_000


def full_roster_budget(n_speakers: int) -> int:
    """How many calibration trials are scored against all ``n_speakers`` models."""
    by_pairs = MAX_FULL_ROSTER_PAIRS // max(1, n_speakers)
    return int(min(MAX_FULL_ROSTER_TRIALS, max(MIN_FULL_ROSTER_TRIALS, by_pairs)))


def full_roster_rows(trial_speakers: Sequence[str], max_rows: int = MAX_FULL_ROSTER_TRIALS
                     ) -> tuple[list[int], list[int]]:
    """Split trial indices into (scored against everyone, scored against their own speaker only):
    all of them in the first list up to ``max_rows``; beyond, an equal seeded share per speaker."""
    n = len(trial_speakers)
    if n <= max_rows:
        return list(range(n)), []
    by_spk: dict[str, list[int]] = {}
    for i, s in enumerate(trial_speakers):
        by_spk.setdefault(s, []).append(i)
    per = max(1, max_rows // len(by_spk))
    full: list[int] = []
    for s, rows in by_spk.items():
        rng = np.random.default_rng(zlib.crc32(s.encode()))
        full += sorted(rng.permutation(rows)[:per].tolist())
    chosen = set(full)
    return sorted(full), [i for i in range(n) if i not in chosen]


def calibration_windows(clips: Sequence[np.ndarray], folds: Sequence[int]) -> list[tuple[int, np.ndarray]]:
    """Live-like windows per fold: the fold's clips joined with short pauses, cut into
    :data:`CAL_WINDOW_S` windows every :data:`CAL_HOP_S` (a shorter join is used whole)."""
    win, hop = int(CAL_WINDOW_S * SAMPLE_RATE), int(CAL_HOP_S * SAMPLE_RATE)
    gap = np.zeros(int(CAL_GAP_S * SAMPLE_RATE), dtype=np.float32)
    out: list[tuple[int, np.ndarray]] = []
    for f in sorted(set(folds)):
        parts = []
        for w, ff in zip(clips, folds):
            if ff == f:
                parts += [np.asarray(w, dtype=np.float32), gap]
        stream = np.concatenate(parts[:-1])
        if stream.size <= win:
            out.append((f, stream))
        else:
            out += [(f, stream[i:i + win]) for i in range(0, stream.size - win + 1, hop)]
    if len(out) > MAX_CAL_WINDOWS:
        keep = np.linspace(0, len(out) - 1, MAX_CAL_WINDOWS).round().astype(int)
        out = [out[i] for i in keep]
    return out


@dataclass(frozen=True)
class Identification:
    """Answer for one waveform."""

    speaker: str | None          # None = unknown (no enrolled speaker passes the threshold)
    score: float                 # calibrated score of the best candidate, in [0, 1]
    threshold: float             # calibrated accept threshold in force
    candidates: tuple[tuple[str, float], ...]  # best first

    @property
    def best(self) -> str:
        return self.candidates[0][0]


class Recognizer:
    """Backends + calibration. Build with :meth:`create`, then :meth:`enroll`."""

    def __init__(self, backends: Sequence[Backend], *, name: str = DEFAULT_BACKEND,
                 target_far: float = DEFAULT_TARGET_FAR) -> None:
        if not backends:
            raise ConfigError("a recognizer needs at least one backend")
        self.backends = list(backends)
        self.name = name
        self.target_far = float(target_far)
        self.calibrator: Calibrator | None = None
        self._feats: list[dict[str, list[Features]]] = [{} for _ in self.backends]
        self._folds: dict[str, list[int]] = {}
        self._windows: list[list[tuple[str, int, Features]]] = [[] for _ in self.backends]  # calibration windows
        # pseudo-impostor trials (source speaker, fold of the source clip, features)
        self._pseudo: list[list[tuple[str, int, Features]]] = [[] for _ in self.backends]
        self._speakers: list[str] = []
        # per backend: speaker -> held-out scores of that speaker's trials (clips, then windows)
        # against its own model; only for backends with independent_cv() (see _own_scores)
        self._own: list[dict[str, np.ndarray]] = [{} for _ in self.backends]
        # speaker -> name of the model shard holding its features as saved (see model_io); a
        # speaker whose features or statistics changed since is not in it and goes to a new shard
        self._shard_of: dict[str, str] = {}
        self._threshold_logit = 0.0
        self._decisive_logit = 0.0
        self.timings: dict[str, float] = {}
        self.set_target_far(target_far)

    @classmethod
    def create(cls, backend: str = DEFAULT_BACKEND, *, target_far: float = DEFAULT_TARGET_FAR) -> "Recognizer":
        return cls(make_backends(backend), name=backend, target_far=target_far)

    # -- roster -----------------------------------------------------------------------------
    @property
    def speakers(self) -> list[str]:
        return list(self._speakers)

    @property
    def incremental(self) -> bool:
        return all(b.incremental for b in self.backends)

    def extract(self, wave: np.ndarray) -> list[Features]:
        """Features of one waveform for every backend."""
        w = validate_wave(wave)
        return [b.extract(w) for b in self.backends]

    def enroll(self, clips_by_speaker: ClipsBySpeaker) -> None:
        """Build all speaker models from scratch and calibrate."""
        t0 = time.perf_counter()
        clips = {k: [validate_wave(w, what=f"clip of '{k}'") for w in v] for k, v in clips_by_speaker.items() if len(v)}
        feats = [{k: [b.extract(w) for w in v] for k, v in clips.items()} for b in self.backends]
        self.timings["extract_s"] = time.perf_counter() - t0
        self.enroll_features(feats, clips_by_speaker=clips)

    def enroll_features(self, feats_per_backend: Sequence[Mapping[str, Sequence[Features]]], *,
                        clips_by_speaker: ClipsBySpeaker | None = None) -> None:
        """Build from precomputed clip features. ``clips_by_speaker`` (the same clips' audio) adds
        live-sized calibration windows and, for tiny rosters, pseudo-impostors."""
        t0 = time.perf_counter()
        self._feats = [{k: list(v) for k, v in f.items()} for f in feats_per_backend]
        self._speakers = sorted(self._feats[0])
        self._folds = {s: assign_folds(s, len(self._feats[0][s])) for s in self._speakers}
        self._windows = [[] for _ in self.backends]
        self._pseudo = [[] for _ in self.backends]
        self._forget_all()
        if clips_by_speaker is not None:
            for s in self._speakers:
                self._add_windows(s, clips_by_speaker[s])
            if len(self._speakers) < MIN_REAL_COHORT:
                for s in self._speakers:
                    self._add_pseudo(s, clips_by_speaker[s])
        for b, f in zip(self.backends, self._feats):
            b.enroll_features(f)
        self.timings["train_s"] = time.perf_counter() - t0
        self._calibrate()

    def _add_windows(self, name: str, clips: Sequence[np.ndarray]) -> None:
        wins = calibration_windows(clips, self._folds[name])
        for bi, b in enumerate(self.backends):
            self._windows[bi] = [t for t in self._windows[bi] if t[0] != name]
            self._windows[bi] += [(name, f, b.extract(w)) for f, w in wins]

    def _add_pseudo(self, name: str, clips: Sequence[np.ndarray]) -> None:
        """Pseudo-impostors from ``name``'s clips, tagged with the source clip's fold so they are
        scored only against models that never saw that clip (else they look too close)."""
        folds = self._folds[name]
        for bi, b in enumerate(self.backends):
            self._pseudo[bi] = [t for t in self._pseudo[bi] if t[0] != name]
        for ci, w in enumerate(list(clips)[:MAX_PSEUDO_CLIPS]):
            for shifted in pseudo_impostors([w]):
                for bi, b in enumerate(self.backends):
                    self._pseudo[bi].append((name, folds[ci], b.extract(shifted)))

    def add_speaker(self, name: str, clips: Sequence[np.ndarray]) -> None:
        """Add or replace one speaker: incremental backends touch nobody else; calibration is refreshed."""
        clips = [validate_wave(w, what=f"clip of '{name}'") for w in clips]
        feats = [[b.extract(w) for w in clips] for b in self.backends]
        self.add_speaker_features(name, feats, clips=clips)

    def add_speaker_features(self, name: str, feats_per_backend: Sequence[Sequence[Features]], *,
                             clips: Sequence[np.ndarray] | None = None) -> None:
        t0 = time.perf_counter()
        self._forget(name)
        for bi, (b, store, f) in enumerate(zip(self.backends, self._feats, feats_per_backend)):
            store[name] = list(f)
            refit = getattr(b, "needs_refit_on_add", lambda: False)()
            if b.speakers and not refit:
                b.add_speaker_features(name, list(f))
            else:
                b.enroll_features(store)
                self._forget_all(bi)  # a refit (new UBM) changes every speaker's statistics and scores
        self._speakers = sorted(self._feats[0])
        self._folds[name] = assign_folds(name, len(self._feats[0][name]))
        if clips is not None:
            self._add_windows(name, clips)
            if len(self._speakers) < MIN_REAL_COHORT:
                self._add_pseudo(name, clips)
        else:
            self._windows = [[t for t in w if t[0] != name] for w in self._windows]
            self._pseudo = [[t for t in p if t[0] != name] for p in self._pseudo]
        self.timings["train_s"] = time.perf_counter() - t0
        self._calibrate()

    def ensure_pseudo_impostors(self, clips_of: Callable[[str], Sequence[np.ndarray]]) -> bool:
        """While the roster is small, give every enrolled speaker voice-shifted copies (from
        ``clips_of(name)``, the same clips in the same order as enrolled) and recalibrate.

        Copies are made only from audio the recognizer is given, so speakers enrolled while the
        roster had 8 or more people have none; when removals bring it below that, this adds them.
        Returns whether anything was added."""
        if not self.small_roster:
            return False
        have = {t[0] for t in self._pseudo[0]}
        missing = [s for s in self._speakers if s not in have]
        for s in missing:
            self._add_pseudo(s, [validate_wave(w, what=f"clip of '{s}'") for w in clips_of(s)])
        if missing:
            self._calibrate()
        return bool(missing)

    def remove_speaker(self, name: str) -> None:
        if name not in self._speakers:
            from voicelive.errors import UnknownSpeakerError
            raise UnknownSpeakerError(f"unknown speaker '{name}' (enrolled: {', '.join(self._speakers) or 'none'}); "
                                      "see `voicelive speakers list`")
        for b, store in zip(self.backends, self._feats):
            del store[name]
            if store:
                b.remove_speaker(name)
            else:
                b._reset()
        self._forget(name)
        self._folds.pop(name, None)
        self._windows = [[t for t in w if t[0] != name] for w in self._windows]
        self._pseudo = [[t for t in p if t[0] != name] for p in self._pseudo]
        self._speakers = sorted(self._feats[0])
        if self._speakers:
            self._calibrate()
        else:
            self.calibrator = None

    def _forget(self, name: str) -> None:
        """``name``'s data changed (or is gone): drop its cached held-out scores and its shard."""
        for own in self._own:
            own.pop(name, None)
        self._shard_of.pop(name, None)

    def _forget_all(self, backend_index: int | None = None) -> None:
        """Every speaker's data changed (a backend refit): drop all cached scores and shards."""
        for bi in range(len(self.backends)):
            if backend_index is None or bi == backend_index:
                self._own[bi] = {}
        self._shard_of = {}

    def _compact_trials(self) -> None:
        """Let backends shrink the features kept for recalibration (see ``compact_features``)."""
        for bi, b in enumerate(self.backends):
            compact = getattr(b, "compact_features", None)
            if compact is None:
                continue
            changed: set[str] = set()

            def keep(s: str, x: Features) -> Features:
                y = compact(x)
                if y is not x:
                    changed.add(s)
                return y

            self._feats[bi] = {s: [keep(s, x) for x in v] for s, v in self._feats[bi].items()}
            self._windows[bi] = [(s, f, keep(s, x)) for s, f, x in self._windows[bi]]
            self._pseudo[bi] = [(s, f, keep(s, x)) for s, f, x in self._pseudo[bi]]
            for s in changed:
                self._forget(s)

    def _trials(self, bi: int, speakers: Sequence[str] | None = None) -> list[tuple[str, int, Features]]:
        """Calibration trials of backend ``bi``: every enrollment clip (speakers in order), then the
        calibration windows (in their stored order); only those of ``speakers`` if given."""
        spk = self._speakers if speakers is None else list(speakers)
        trials = [(s, self._folds[s][i], x) for s in spk for i, x in enumerate(self._feats[bi][s])]
        keep = None if speakers is None else set(spk)
        trials += [t for t in self._windows[bi] if keep is None or t[0] in keep]
        return trials

    def _own_scores(self, bi: int, trials: Sequence[tuple[str, int, Features]], rows: Sequence[int]) -> np.ndarray:
        """Held-out scores of ``trials[rows]`` against their own speaker's model.

        A backend whose held-out scores of a speaker depend on that speaker's data alone
        (``independent_cv()``: GE2E; the GMM-UBM once its UBM is final) has them computed once per
        speaker, when it is enrolled, and cached (saved with the model): an update then scores only
        the new speaker's trials instead of every trial of the roster. Each row is scored by the same
        code on the same data as in one batch (a BLAS product of another shape can change the last
        bits: ≤ 1e-12 on the calibrated logits, see docs/BENCHMARKS.md)."""
        b = self.backends[bi]
        if not getattr(b, "independent_cv", lambda: False)():
            self._own[bi] = {}
            return b.cross_val_target_scores(self._feats[bi], self._folds, [trials[i] for i in rows])
        cache = self._own[bi]
        missing = [s for s in self._speakers if s not in cache]
        if missing:
            by_spk: dict[str, list[tuple[str, int, Features]]] = {s: [] for s in missing}
            for t in self._trials(bi, missing):   # each speaker's clips, then its windows
                by_spk[t[0]].append(t)
            for s in missing:
                cache[s] = np.asarray(b.cross_val_target_scores(self._feats[bi], self._folds, by_spk[s]),
                                      dtype=np.float64)
        # every cached score in one vector (speakers in order), and each trial's place in it: its
        # speaker's offset + its position among that speaker's trials (clips, then windows)
        pos = {s: k for k, s in enumerate(self._speakers)}
        codes = np.fromiter((pos[t[0]] for t in trials), dtype=np.int64, count=len(trials))
        flat = np.concatenate([cache[s] for s in self._speakers]) if self._speakers else np.zeros(0)
        offsets = np.concatenate([[0], np.cumsum([len(cache[s]) for s in self._speakers])[:-1]]).astype(np.int64)
        order = np.argsort(codes, kind="stable")
        starts = np.searchsorted(codes[order], codes[order])      # first sorted index of each code
        local = np.empty(len(trials), dtype=np.int64)
        local[order] = np.arange(len(trials)) - starts
        rows = np.asarray(rows, dtype=np.int64)
        return flat[offsets[codes[rows]] + local[rows]]

    def _calibrate(self) -> None:
        t0 = time.perf_counter()
        self._compact_trials()
        spk = self._speakers
        use_pseudo = self.uses_pseudo_impostors
        cvs, labels, own_scores, own_labels, speech_s = [], None, [], None, None
        dur_bi = self._duration_backend()
        split: dict[tuple[str, ...], tuple[list[int], list[int]]] = {}   # the same for every backend
        for bi, b in enumerate(self.backends):
            trials = self._trials(bi)
            key = tuple(t[0] for t in trials)
            if key not in split:
                split[key] = full_roster_rows(key, full_roster_budget(len(spk)))
            full_rows, own_rows = split[key]
            full = [trials[i] for i in full_rows]
            n_real = len(full)
            if use_pseudo:
                full += self._pseudo[bi]
            sc, names = b.cross_val_scores(self._feats[bi], self._folds, full)
            if bi == dur_bi:
                speech_s = np.array([b.speech_seconds(t[2]) for t in full], dtype=np.float64)
            col = {n: j for j, n in enumerate(names)}
            labels = np.array([col[t[0]] if i < n_real else -1 for i, t in enumerate(full)])
            cvs.append(sc)
            own_scores.append(self._own_scores(bi, trials, own_rows))
            own_labels = np.array([col[trials[i][0]] for i in own_rows], dtype=int)
        self.calibrator = Calibrator().fit(cvs, labels, spk, extra_targets=(own_scores, own_labels),
                                           speech_s=speech_s)
        self._set_thresholds()
        self.timings["calibrate_s"] = time.perf_counter() - t0

    @property
    def uses_pseudo_impostors(self) -> bool:
        """Whether the calibration's strangers include voice-shifted copies of the enrolled people
        (only while fewer than :data:`MIN_REAL_COHORT` are enrolled; see :meth:`ensure_pseudo_impostors`)."""
        return len(self._speakers) < MIN_REAL_COHORT and bool(self._pseudo) and all(self._pseudo)

    @property
    def impostors(self) -> str:
        """Who stands in for strangers in the calibration, in words (model card, `voicelive train`)."""
        return "the other enrolled speakers" + (
            " and pitch/formant-shifted copies of them" if self.uses_pseudo_impostors else "")

    @property
    def small_roster(self) -> bool:
        """Fewer than :data:`MIN_REAL_COHORT` people enrolled: too few voices to know how close a
        stranger can come, so the threshold is less certain than its target suggests."""
        return 0 < len(self._speakers) < MIN_REAL_COHORT

    def _duration_backend(self) -> int | None:
        """Index of the first member whose features tell their speech seconds (None: none does, or
        :data:`DURATION_AWARE_THRESHOLD` is off)."""
        if not DURATION_AWARE_THRESHOLD:
            return None
        for bi, b in enumerate(self.backends):
            if type(b).speech_seconds is not Backend.speech_seconds:
                return bi
        return None

    def speech_seconds(self, feats: Sequence[Features]) -> float | None:
        """Seconds of speech behind one waveform's features (None if no member tells)."""
        bi = self._duration_backend()
        return None if bi is None else self.backends[bi].speech_seconds(feats[bi])

    def set_target_far(self, target_far: float) -> None:
        if not 0.0 < target_far < 1.0:
            raise ConfigError(f"target false-accept rate must be between 0 and 1 (e.g. 0.01), got {target_far}")
        self.target_far = float(target_far)
        if self.calibrator is not None:
            self._set_thresholds()

    def _set_thresholds(self) -> None:
        self._threshold_logit = self.calibrator.threshold_logit(self.target_far)
        self._decisive_logit = max(self._threshold_logit,
                                   self.calibrator.threshold_logit(self.target_far * DECISIVE_FAR_RATIO))

    # -- scoring ----------------------------------------------------------------------------
    def _require(self) -> Calibrator:
        if not self._speakers or self.calibrator is None:
            raise NotEnrolledError("no speakers are enrolled yet; run `voicelive enroll NAME FILE...` first")
        return self.calibrator

    def raw_scores(self, feats: Sequence[Features]) -> np.ndarray:
        """``(B, S)`` raw scores in ``self.speakers`` order."""
        rows = []
        for b, f in zip(self.backends, feats):
            s = b.score_features(f)
            names = b.speakers
            if names == self._speakers:
                order = slice(None)
            else:   # a dict, not list.index per speaker: O(S), not O(S^2), at 1000 speakers
                pos = {n: i for i, n in enumerate(names)}
                order = [pos[n] for n in self._speakers]
            rows.append(np.asarray(s, dtype=np.float64)[order])
        return np.stack(rows)

    def logits_features(self, feats: Sequence[Features]) -> np.ndarray:
        """Fused log-odds per enrolled speaker ``(S,)``, shifted for the amount of speech heard
        (calibration step 5) so that one threshold, :attr:`threshold_logit`, fits every length."""
        cal = self._require()
        lg = cal.logits(self.raw_scores(feats))
        if cal.duration_aware:
            lg = lg - cal.duration_offset(self.speech_seconds(feats))
        return lg

    def logits(self, wave: np.ndarray) -> np.ndarray:
        self._require()
        return self.logits_features(self.extract(wave))

    @property
    def threshold_logit(self) -> float:
        return self._threshold_logit

    @property
    def threshold(self) -> float:
        """Calibrated accept threshold in [0, 1] for :attr:`target_far`."""
        return float(1.0 / (1.0 + np.exp(-self._threshold_logit)))

    @property
    def decisive_threshold(self) -> float:
        """A stricter threshold in [0, 1]: the one for a :data:`DECISIVE_FAR_RATIO` times lower
        false-accept rate. The live decision names a speaker from a single window whose own score
        passes it, instead of waiting for several agreeing windows."""
        return float(1.0 / (1.0 + np.exp(-self._decisive_logit)))

    def score_window(self, wave: np.ndarray) -> dict[str, float]:
        """Calibrated score in [0, 1] per enrolled speaker (the pipeline's scorer protocol)."""
        lg = self.logits(wave)
        return {s: float(1.0 / (1.0 + np.exp(-v))) for s, v in zip(self._speakers, lg)}

    def identify(self, wave: np.ndarray, *, top: int = 3) -> Identification:
        return self.identify_logits(self.logits(wave), top=top)

    def identify_logits(self, logits: np.ndarray, *, top: int = 3) -> Identification:
        probs = 1.0 / (1.0 + np.exp(-np.asarray(logits)))
        order = np.argsort(-probs)
        cands = tuple((self._speakers[i], float(probs[i])) for i in order[:top])
        best = int(order[0])
        accepted = logits[best] > self._threshold_logit
        return Identification(speaker=self._speakers[best] if accepted else None, score=float(probs[best]),
                              threshold=self.threshold, candidates=cands)

    def threshold_report(self) -> dict[str, dict[str, float]]:
        """The product's threshold beside the reference study's methods, all chosen on the same
        cross-validated enrollment trials, as calibrated scores in [0, 1] with the trials' TPR/FPR."""
        from voicelive.decision import thresholds as T

        cal = self._require()
        pos, neg = cal.target_logits, cal.nontarget_logits
        out = {}
        if pos.size and neg.size:
            for c in (T.fbeta_threshold(pos, neg, beta=0.5), T.tpr_at_fpr_threshold(pos, neg, max_fpr=0.01),
                      T.eer_threshold(pos, neg)):
                out[c.method] = {"threshold": float(cal.to_probability(c.threshold)), "tpr": c.tpr, "fpr": c.fpr}
        t = self._threshold_logit
        out[f"target FAR={self.target_far:g} (product)"] = {
            "threshold": self.threshold, "tpr": float(np.mean(pos > t)) if pos.size else float("nan"),
            "fpr": float(np.mean(neg > t)) if neg.size else float("nan")}
        return out

    def embed(self, wave: np.ndarray) -> np.ndarray:
        for b in self.backends:
            if b.has_embedding:
                return b.embed(validate_wave(wave))
        raise ConfigError(f"backend '{self.name}' has no embedding; use --backend ge2e")

    # -- description ------------------------------------------------------------------------
    def card(self) -> dict[str, Any]:
        cal = self._require()
        return {
            "format": 1,
            "app_version": __version__,
            "backend": self.name,
            "sample_rate": SAMPLE_RATE,
            "members": [{"name": b.name, "feature_hash": b.feature_hash, "incremental": b.incremental}
                        for b in self.backends],
            "retrain_on_roster_change": not self.incremental,
            "speakers": self.speakers,
            "enrollment": {s: {"clips": len(self._feats[0][s])} for s in self._speakers},
            "calibration": {
                "method": "cv scores, per-model z-norm, logistic fusion, Gaussian/empirical tail of impostor maxima"
                          + (", shifted by speech seconds" if cal.duration_aware else ""),
                "target_far": self.target_far,
                "threshold": self.threshold,
                # one live window past this names its speaker at once (DECISIVE_FAR_RATIO x target_far)
                "decisive_threshold": self.decisive_threshold,
                "fusion_weights": [float(w) for w in cal.weights],
                "logit_shift_by_speech_seconds": ({f"{d:g}s": round(-cal.duration_offset(d), 3)
                                                   for d in (0.5, 1.0, 2.0, 4.0)} if cal.duration_aware else None),
                "impostors": self.impostors,
                "n_target_trials": int(cal.target_logits.size),
                "n_nontarget_trials": int(max(cal.n_nontarget, cal.nontarget_logits.size)),
            },
            "thresholds": self.threshold_report(),
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            # files beside the model file that it needs (its shards; see model_io.write_shards)
            "files": [f"{SHARD_DIR}/{n}" for n in sorted(set(self._shard_of.values()))],
        }

    def save(self, path: str | Path) -> Path:
        from voicelive.recognition.model_io import save_recognizer

        return save_recognizer(self, path)


def load_recognizer(model_dir: str | Path | None = None) -> Recognizer:
    """The active enrolled model of a model directory (default: under the user data dir)."""
    from voicelive.recognition.model_io import load_recognizer as _load

    return _load(model_dir)
