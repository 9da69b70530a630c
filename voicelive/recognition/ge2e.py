"""GE2E embedding backend: Resemblyzer's pretrained speaker encoder (numpy port) + cosine scoring.

Features of a clip = its 256-d GE2E utterance embedding (:class:`GE2EEncoder.embed_utterance`).
A speaker model = the L2-normalised mean of the speaker's clip embeddings; the raw score of a clip
against a speaker = cosine similarity of the clip's embedding to that centroid (in [-1, 1]; in
practice [0, 1], the embeddings are non-negative). Adding or removing a speaker touches no other
centroid, and the leave-one-clip-out scores needed for calibration are exact and cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Mapping, Sequence

import numpy as np

from voicelive.audio.io import validate_wave
from voicelive.errors import ConfigError, ModelError
from voicelive.recognition.base import Backend
from voicelive.recognition.ge2e_encoder import EMBEDDING_SIZE, GE2EEncoder

GE2E_FEATURES_VERSION = 1
"""Bump when anything changes the embeddings this backend computes (front end, slicing, network)."""


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


class GE2EBackend(Backend):
    """Cosine scoring against per-speaker GE2E centroids.

    Parameters
    ----------
    encoder
        A loaded :class:`GE2EEncoder` to share (it is read-only and thread-safe); loaded from
        ``models_dir`` when omitted.
    models_dir
        Where the weights are when no encoder is given (default: the models cache).
    rate, min_coverage
        Partial-utterance placement for :meth:`GE2EEncoder.embed_utterance` (Resemblyzer's defaults).

    Raises
    ------
    ModelMissingError
        No encoder given and the weights are not on disk (run ``voicelive setup-models``).
    """

    name = "ge2e"
    incremental = True
    has_embedding = True

    def __init__(self, encoder: GE2EEncoder | None = None, *, models_dir: str | os.PathLike | None = None,
                 rate: float = 1.3, min_coverage: float = 0.75) -> None:
        super().__init__()
        GE2EEncoder.compute_partial_slices(16_000, rate=rate, min_coverage=min_coverage)  # validates
        self.encoder = encoder if encoder is not None else GE2EEncoder(models_dir=models_dir)
        self.rate = float(rate)
        self.min_coverage = float(min_coverage)
        self._reset()

    @property
    def weights_sha256(self) -> str:
        return self.encoder.weights_sha256

    @property
    def feature_hash(self) -> str:
        blob = json.dumps({"kind": "ge2e", "version": GE2E_FEATURES_VERSION, "sr": self.encoder.sr,
                           "weights": self.weights_sha256, "rate": self.rate,
                           "min_coverage": self.min_coverage}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def _reset(self) -> None:
        super()._reset()
        self._centroids = np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
        self._counts = np.zeros(0, dtype=np.int64)

    # -- features ----------------------------------------------------------------------------
    def extract(self, wave: np.ndarray) -> np.ndarray:
        """GE2E embedding ``(256,)`` float32 of one 16 kHz waveform (any length >= 1 sample)."""
        return self.encoder.embed_utterance(wave, rate=self.rate, min_coverage=self.min_coverage)

    def embed(self, wave: np.ndarray) -> np.ndarray:
        return self.extract(validate_wave(wave))

    def embed_features(self, feats: np.ndarray) -> np.ndarray:
        return np.asarray(feats, dtype=np.float32)

    @staticmethod
    def _check_feats(name: str, feats: Sequence[np.ndarray]) -> np.ndarray:
        arr = np.asarray([np.asarray(f, dtype=np.float64).reshape(-1) for f in feats])
        if arr.ndim != 2 or arr.shape[1] != EMBEDDING_SIZE:
            raise ConfigError(f"speaker '{name}': GE2E features must be {EMBEDDING_SIZE}-d embeddings, "
                              f"got shape {arr.shape[1:]}")
        return arr

    @classmethod
    def _centroid(cls, name: str, feats: Sequence[np.ndarray]) -> np.ndarray:
        return _unit(cls._check_feats(name, feats).mean(axis=0)).astype(np.float32)

    # -- training ----------------------------------------------------------------------------
    def _fit(self, feats_by_speaker: dict[str, list[np.ndarray]]) -> None:
        names = list(feats_by_speaker)
        cents = np.stack([self._centroid(n, feats_by_speaker[n]) for n in names])
        counts = np.array([len(feats_by_speaker[n]) for n in names], dtype=np.int64)
        self._speakers, self._centroids, self._counts = names, cents, counts

    def _add(self, name: str, feats: list[np.ndarray]) -> None:
        cent = self._centroid(name, feats)
        cents, counts = self._centroids.copy(), self._counts.copy()
        if name in self._speakers:  # replace this speaker only
            i = self._speakers.index(name)
            cents[i], counts[i] = cent, len(feats)
            speakers = list(self._speakers)
        else:
            cents = np.concatenate([cents, cent[None]])
            counts = np.append(counts, len(feats))
            speakers = [*self._speakers, name]
        self._speakers, self._centroids, self._counts = speakers, cents, counts

    def _remove(self, name: str) -> None:
        i = self._speakers.index(name)
        self._speakers = [s for s in self._speakers if s != name]
        self._centroids = np.delete(self._centroids, i, axis=0)
        self._counts = np.delete(self._counts, i)

    # -- scoring -----------------------------------------------------------------------------
    def score_features(self, feats: np.ndarray) -> np.ndarray:
        """Cosine similarity ``(n_speakers,)`` of one embedding (or ``(n, n_speakers)`` of a stack)."""
        self._require_enrolled()
        e = np.asarray(feats, dtype=np.float64)
        if e.shape[-1] != EMBEDDING_SIZE:
            raise ConfigError(f"GE2E scores need {EMBEDDING_SIZE}-d embeddings, got shape {e.shape}")
        norm = np.linalg.norm(e, axis=-1, keepdims=True)
        e = e / np.where(norm > 0, norm, 1.0)
        return e @ self._centroids.T.astype(np.float64)

    def cross_val_scores(self, feats_by_speaker: Mapping[str, Sequence[np.ndarray]],
                         folds: Mapping[str, Sequence[int]],
                         trials: Sequence[tuple[str, int, np.ndarray]]) -> tuple[np.ndarray, list[str]]:
        """Exact and cheap: a trial scores against its own speaker's centroid built without the
        clips of its fold (NaN when nothing is left) and against the other speakers' full centroids
        (speaker models are independent, so nothing else saw the trial's audio)."""
        speakers = sorted(feats_by_speaker)
        if not trials:
            return np.zeros((0, len(speakers))), speakers
        E = self._unit_rows(trials)
        full = np.stack([_unit(self._check_feats(s, feats_by_speaker[s]).mean(axis=0)) for s in speakers])
        out = E @ full.T                                               # (n_trials, S), one product
        col = {s: j for j, s in enumerate(speakers)}
        own_col = np.array([col[s] for s, _, _ in trials])
        out[np.arange(len(trials)), own_col] = self._held_out_own(feats_by_speaker, folds, trials, E)
        return out, speakers

    def independent_cv(self) -> bool:
        return True

    def cross_val_target_scores(self, feats_by_speaker, folds, trials) -> np.ndarray:
        if not trials:
            return np.zeros(0)
        return self._held_out_own(feats_by_speaker, folds, trials, self._unit_rows(trials))

    @staticmethod
    def _unit_rows(trials) -> np.ndarray:
        E = np.stack([np.asarray(x, dtype=np.float64).reshape(-1) for _, _, x in trials])
        return E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)

    def _held_out_own(self, feats_by_speaker, folds, trials, E: np.ndarray) -> np.ndarray:
        """Cosine of each unit trial embedding (rows of ``E``) with its own speaker's centroid built
        without the trial's fold (NaN when nothing is left)."""
        keys = sorted({(s, f) for s, f, _ in trials})
        held = np.full((len(keys), EMBEDDING_SIZE), np.nan)
        embs: dict[str, np.ndarray] = {}
        for i, (s, f) in enumerate(keys):
            if s not in embs:
                embs[s] = self._check_feats(s, feats_by_speaker[s])
            keep = embs[s][np.asarray(folds[s]) != f]
            if keep.shape[0]:
                held[i] = _unit(keep.mean(axis=0))
        pos = {k: i for i, k in enumerate(keys)}
        idx = np.array([pos[(s, f)] for s, f, _ in trials])
        return np.einsum("ij,ij->i", E, held[idx])

    # -- persistence -------------------------------------------------------------------------
    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {"centroids": self._centroids.astype(np.float32), "counts": self._counts.astype(np.int64)}
        params = {"speakers": list(self._speakers), "weights_sha256": self.weights_sha256,
                  "rate": self.rate, "min_coverage": self.min_coverage, "feature_hash": self.feature_hash}
        return arrays, params

    def set_state(self, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> None:
        sha = params.get("weights_sha256")
        if sha != self.weights_sha256:
            raise ModelError(f"this GE2E model was built with other encoder weights (sha256 {sha}, loaded: "
                             f"{self.weights_sha256}); retrain with `voicelive train`")
        speakers = [str(s) for s in params.get("speakers", [])]
        try:
            cents = np.asarray(arrays["centroids"], dtype=np.float32)
            counts = np.asarray(arrays["counts"], dtype=np.int64)
        except KeyError as exc:
            raise ModelError(f"GE2E model state lacks '{exc.args[0]}'; the model file is damaged") from None
        if cents.shape != (len(speakers), EMBEDDING_SIZE) or counts.shape != (len(speakers),):
            raise ModelError(f"GE2E model state has centroids {cents.shape} and counts {counts.shape} for "
                             f"{len(speakers)} speakers; the model file is damaged")
        if len(set(speakers)) != len(speakers):
            raise ModelError("GE2E model state names a speaker twice; the model file is damaged")
        self.rate = float(params.get("rate", self.rate))
        self.min_coverage = float(params.get("min_coverage", self.min_coverage))
        self._speakers, self._centroids, self._counts = speakers, cents.copy(), counts.copy()

    @property
    def clip_counts(self) -> dict[str, int]:
        """Number of enrollment clips behind each speaker's centroid."""
        return {s: int(c) for s, c in zip(self._speakers, self._counts)}
