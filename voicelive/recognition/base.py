"""The one interface every recognition backend implements.

A backend turns audio into features (:meth:`Backend.extract`), builds speaker models from the
features of enrollment clips, and scores features against each enrolled speaker (higher = more
likely). The split lets the benchmark and the calibration reuse features instead of recomputing
them. Scores are *raw*; calibration (what a score means, where to put the accept threshold) lives
in :mod:`voicelive.recognition.calibration`.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from typing import Any, Mapping, Sequence

import numpy as np

from voicelive.audio.io import validate_wave
from voicelive.errors import ConfigError, NotEnrolledError, UnknownSpeakerError

ClipsBySpeaker = Mapping[str, Sequence[np.ndarray]]
Features = Any  # whatever a backend's extract() returns: a vector, a frame matrix, an embedding


class Backend(ABC):
    """Base class of recognition backends.

    Subclasses set ``name``, ``incremental`` (True when adding/removing a speaker does not retrain
    the others), ``has_embedding``, and implement ``extract``, ``_fit``, ``_add``, ``_remove``,
    ``score_features`` and the state methods. State for saving = ``dict[str, np.ndarray]`` plus a
    JSON-able ``params`` dict.
    """

    name: str = "base"
    incremental: bool = False
    has_embedding: bool = False
    min_speakers: int = 1

    def __init__(self) -> None:
        self._speakers: list[str] = []

    # -- identity of the features (goes into model cards and feature caches) -----------------
    @property
    @abstractmethod
    def feature_hash(self) -> str:
        """Hash of everything that changes the numbers :meth:`extract` returns."""

    # -- roster ---------------------------------------------------------------------------
    @property
    def speakers(self) -> list[str]:
        return list(self._speakers)

    def _require_enrolled(self) -> None:
        if not self._speakers:
            raise NotEnrolledError("no speakers are enrolled yet; run `voicelive enroll NAME FILE...` first")

    def _require_known(self, name: str) -> None:
        if name not in self._speakers:
            known = ", ".join(self._speakers) or "none"
            raise UnknownSpeakerError(f"unknown speaker '{name}' (enrolled: {known}); "
                                      "see `voicelive speakers list`")

    # -- features -------------------------------------------------------------------------
    @abstractmethod
    def extract(self, wave: np.ndarray) -> Features:
        """Features of one mono 16 kHz float32 waveform."""

    # -- training -------------------------------------------------------------------------
    def enroll(self, clips_by_speaker: ClipsBySpeaker) -> None:
        """Build models for all given speakers from scratch (waveforms)."""
        self.enroll_features({k: [self.extract(validate_wave(w, what=f"clip of '{k}'")) for w in v]
                              for k, v in clips_by_speaker.items()})

    def enroll_features(self, feats_by_speaker: Mapping[str, Sequence[Features]]) -> None:
        feats = {k: list(v) for k, v in feats_by_speaker.items() if len(v)}
        if not feats:
            raise ConfigError("enrollment needs at least one speaker with at least one clip")
        if len(feats) < self.min_speakers:
            raise ConfigError(f"backend '{self.name}' needs at least {self.min_speakers} speakers, "
                              f"got {len(feats)}; enroll more people or use the default backend")
        self._fit(feats)

    @abstractmethod
    def _fit(self, feats_by_speaker: dict[str, list[Features]]) -> None: ...

    def add_speaker(self, name: str, clips: Sequence[np.ndarray]) -> None:
        """Add (or replace) one speaker from waveforms."""
        self.add_speaker_features(name, [self.extract(validate_wave(w, what=f"clip of '{name}'")) for w in clips])

    def add_speaker_features(self, name: str, feats: Sequence[Features]) -> None:
        if not len(feats):
            raise ConfigError(f"speaker '{name}' needs at least one clip")
        self._add(name, list(feats))

    @abstractmethod
    def _add(self, name: str, feats: list[Features]) -> None: ...

    def remove_speaker(self, name: str) -> None:
        self._require_known(name)
        self._remove(name)

    @abstractmethod
    def _remove(self, name: str) -> None: ...

    # -- scoring --------------------------------------------------------------------------
    @abstractmethod
    def score_features(self, feats: Features) -> np.ndarray:
        """Raw scores ``(n_speakers,)`` in ``self.speakers`` order."""

    def score(self, wave: np.ndarray) -> dict[str, float]:
        """Raw score per enrolled speaker for one waveform."""
        self._require_enrolled()
        s = self.score_features(self.extract(validate_wave(wave)))
        return dict(zip(self._speakers, (float(v) for v in s)))

    def embed(self, wave: np.ndarray) -> np.ndarray:
        """Fixed-size embedding of a waveform (only where ``has_embedding``)."""
        raise NotImplementedError(f"backend '{self.name}' has no embedding")

    def speech_seconds(self, feats: Features) -> float | None:
        """Seconds of speech behind ``feats`` when this backend's features tell (else None). The
        calibration uses it to set the accept threshold by how much speech a trial holds."""
        return None

    def embed_features(self, feats: Features) -> np.ndarray:
        raise NotImplementedError(f"backend '{self.name}' has no embedding")

    # -- cross-validated scores for calibration ---------------------------------------------
    def cross_val_scores(self, feats_by_speaker: Mapping[str, Sequence[Features]],
                         folds: Mapping[str, Sequence[int]],
                         trials: Sequence[tuple[str, int, Features]]) -> tuple[np.ndarray, list[str]]:
        """Score calibration trials so that no trial meets a model that was trained on its audio.

        ``folds[speaker][i]`` is the fold of that speaker's i-th enrollment clip; each trial is
        ``(speaker, fold, features)`` and was cut from that speaker's clips of that fold. Returns
        ``(scores (n_trials, n_speakers), speakers)`` with speakers sorted; NaN where a model could
        not be built without the trial's fold. The default refits a fresh copy of this backend once
        per fold on every clip outside it (so shared parts such as a UBM never see the held-out
        audio); backends whose models are independent per speaker override it with something cheaper.
        """
        speakers = sorted(feats_by_speaker)
        scores = np.full((len(trials), len(speakers)), np.nan)
        for f in sorted({t[1] for t in trials}):
            train = {s: [x for x, ff in zip(feats_by_speaker[s], folds[s]) if ff != f] for s in speakers}
            train = {k: v for k, v in train.items() if v}
            if len(train) < self.min_speakers:
                continue
            model = self.fresh()
            model.enroll_features(train)
            order = [model.speakers.index(s) if s in model.speakers else -1 for s in speakers]
            for row, (_, tf, x) in enumerate(trials):
                if tf == f:
                    raw = model.score_features(x)
                    scores[row] = [raw[j] if j >= 0 else np.nan for j in order]
        return scores, speakers

    def cross_val_target_scores(self, feats_by_speaker: Mapping[str, Sequence[Features]],
                                folds: Mapping[str, Sequence[int]],
                                trials: Sequence[tuple[str, int, Features]]) -> np.ndarray:
        """Each trial's held-out score against its OWN speaker only ``(n_trials,)``, under the same
        rules as :meth:`cross_val_scores` (which it defaults to). Large rosters score most
        calibration trials this way and only a sample against everyone."""
        if not trials:
            return np.zeros(0)
        scores, speakers = self.cross_val_scores(feats_by_speaker, folds, trials)
        col = {s: j for j, s in enumerate(speakers)}
        return scores[np.arange(len(trials)), [col[t[0]] for t in trials]]

    def independent_cv(self) -> bool:
        """Whether a speaker's held-out scores (:meth:`cross_val_target_scores` of its own trials)
        depend on that speaker's features alone, so they can be computed once when it is enrolled
        and kept while others come and go. False by default (the k-fold refits see everyone)."""
        return False

    def speaker_arrays(self, name: str) -> list[np.ndarray]:
        """The per-speaker bulk of :meth:`get_state` (saved with the speaker's features in a model
        shard, see :mod:`voicelive.recognition.model_io`). None by default."""
        return []

    def get_shared_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """:meth:`get_state` without what :meth:`speaker_arrays` returns."""
        return self.get_state()

    def set_shared_state(self, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any],
                         speaker_arrays: Mapping[str, Sequence[np.ndarray]]) -> None:
        """Inverse of :meth:`get_shared_state` plus :meth:`speaker_arrays` of every speaker."""
        self.set_state(arrays, params)

    def fresh(self) -> "Backend":
        """An untrained copy with the same options (shares read-only resources such as weights)."""
        clone = copy.copy(self)
        clone._reset()
        return clone

    def _reset(self) -> None:
        self._speakers = []

    # -- persistence ----------------------------------------------------------------------
    @abstractmethod
    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and JSON-able params that fully describe the enrolled model."""

    @abstractmethod
    def set_state(self, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> None: ...
