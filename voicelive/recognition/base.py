"""The one interface every recognition backend implements.

A backend turns enrollment audio into speaker models and scores a waveform against each enrolled
speaker (higher = more likely). Scores are *raw*: calibration into "probability this is a registered
speaker" and the accept threshold live in :mod:`voicelive.recognition.calibration`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Mapping, Sequence

import numpy as np

from voicelive.errors import ConfigError, NotEnrolledError, UnknownSpeakerError

ClipsBySpeaker = Mapping[str, Sequence[np.ndarray]]


class Backend(ABC):
    """Base class of recognition backends.

    Subclasses set ``name`` and ``incremental`` (True when :meth:`add_speaker` and
    :meth:`remove_speaker` do not retrain the other speakers) and implement the abstract methods.
    State for saving is a flat ``dict[str, np.ndarray]`` plus a JSON-able ``params`` dict.
    """

    name: str = "base"
    incremental: bool = False
    has_embedding: bool = False
    feature_config: Mapping[str, Any] = {}

    def __init__(self) -> None:
        self._speakers: list[str] = []

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

    # -- training -------------------------------------------------------------------------
    def enroll(self, clips_by_speaker: ClipsBySpeaker) -> None:
        """Build models for all given speakers from scratch."""
        clips = {k: list(v) for k, v in clips_by_speaker.items() if len(v)}
        if not clips:
            raise ConfigError("enrollment needs at least one speaker with at least one clip")
        self._fit(clips)

    @abstractmethod
    def _fit(self, clips_by_speaker: dict[str, list[np.ndarray]]) -> None: ...

    def add_speaker(self, name: str, clips: Sequence[np.ndarray]) -> None:
        """Add (or replace) one speaker. Incremental backends touch nobody else."""
        if not len(clips):
            raise ConfigError(f"speaker '{name}' needs at least one clip")
        self._add(name, list(clips))

    @abstractmethod
    def _add(self, name: str, clips: list[np.ndarray]) -> None: ...

    def remove_speaker(self, name: str) -> None:
        self._require_known(name)
        self._remove(name)

    @abstractmethod
    def _remove(self, name: str) -> None: ...

    # -- scoring --------------------------------------------------------------------------
    @abstractmethod
    def score(self, wave: np.ndarray) -> dict[str, float]:
        """Raw score per enrolled speaker for one mono 16 kHz float32 waveform."""

    def score_matrix(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        """Scores of many waveforms, shape ``(n_waves, n_speakers)`` in ``self.speakers`` order."""
        out = np.empty((len(waves), len(self._speakers)), dtype=np.float64)
        for i, w in enumerate(waves):
            s = self.score(w)
            out[i] = [s[k] for k in self._speakers]
        return out

    def embed(self, wave: np.ndarray) -> np.ndarray:
        """Fixed-size embedding of a waveform (only where ``has_embedding``)."""
        raise NotImplementedError(f"backend '{self.name}' has no embedding")

    # -- persistence ----------------------------------------------------------------------
    @abstractmethod
    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and JSON-able params that fully describe the enrolled model."""

    @abstractmethod
    def set_state(self, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> None: ...
