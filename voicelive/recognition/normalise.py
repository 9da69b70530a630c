"""Test-side score normalisation for the GE2E embedding backend (adaptive t-norm).

A channel (a telephone band, a laptop microphone, noise, a room) moves an utterance's embedding:
its cosine to *every* speaker centroid changes, and by an amount that depends on the utterance.
Adaptive t-norm measures that per test utterance: how close the utterance comes to voices that are
certainly not the claimed speaker — the :data:`TOP_N` most similar enrollment clips of the *other*
enrolled speakers — and scores the claim relative to them::

    score_s(x) = (cos(x, c_s) − mean_topN cos(x, e_j)) / sd_topN cos(x, e_j),   j ∉ speaker s

The per-model z-norm of :mod:`voicelive.recognition.calibration` still follows (so together this is
an s-norm). The cohort is the roster's own enrollment clips, so nothing outside enrollment data is
needed; cross-validated calibration scores leave the trial's own fold out of the cohort, as a
live test utterance is never part of it.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from voicelive.recognition.ge2e import GE2EBackend

TOP_N = 10
"""Cohort clips (most similar first) behind each test utterance's statistics."""
MIN_SD = 0.02
"""Floor of the cohort spread (cosine units), so a tiny or uniform cohort cannot blow scores up."""


class TNormGE2EBackend(GE2EBackend):
    """:class:`GE2EBackend` whose scores are adaptively t-normalised against the other enrolled
    speakers' clips. Same features (embeddings), same model state plus the clip embeddings."""

    name = "ge2e"

    def __init__(self, *args, top_n: int = TOP_N, scale: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.top_n = int(top_n)
        self.scale = bool(scale)

    def _reset(self) -> None:
        super()._reset()
        self._clips: dict[str, np.ndarray] = {}

    def _set_clips(self, name: str, feats: Sequence[np.ndarray]) -> None:
        e = self._check_feats(name, feats)
        self._clips[name] = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)

    def _fit(self, feats_by_speaker: dict[str, list[np.ndarray]]) -> None:
        super()._fit(feats_by_speaker)
        self._clips = {}
        for n, f in feats_by_speaker.items():
            self._set_clips(n, f)

    def _add(self, name: str, feats: list[np.ndarray]) -> None:
        super()._add(name, feats)
        self._set_clips(name, feats)

    def _remove(self, name: str) -> None:
        super()._remove(name)
        self._clips.pop(name, None)

    # -- scoring -----------------------------------------------------------------------------
    def _tnorm(self, cos: np.ndarray, E: np.ndarray, speakers: Sequence[str],
               exclude: Sequence[tuple[str, np.ndarray]] | None = None) -> np.ndarray:
        """``cos (n, S)`` of unit embeddings ``E (n, D)`` -> t-normalised. ``exclude[i] = (speaker,
        mask)`` removes that speaker's masked clips from row i's cohort (cross-validation)."""
        names = list(self._clips)
        if len(names) < 2:
            return cos
        bank = np.concatenate([self._clips[n] for n in names])
        owner = np.concatenate([np.full(len(self._clips[n]), i) for i, n in enumerate(names)])
        sims = E @ bank.T                                                  # (n, total clips)
        if exclude is not None:
            for i, (spk, mask) in enumerate(exclude):
                if spk in self._clips:
                    j = names.index(spk)
                    rows = np.flatnonzero(owner == j)[mask]
                    sims[i, rows] = -np.inf
        out = np.empty_like(cos)
        for col, s in enumerate(speakers):
            cand = sims.copy()
            if s in self._clips:
                cand[:, owner == names.index(s)] = -np.inf
            n_avail = int(np.isfinite(cand[0]).sum()) if cand.shape[0] else 0
            n = max(1, min(self.top_n, n_avail))
            top = -np.sort(-cand, axis=1)[:, :n]
            top = np.where(np.isfinite(top), top, np.nan)
            mu = np.nanmean(top, axis=1)
            if self.scale:
                sd = np.maximum(np.nanstd(top, axis=1), MIN_SD)
                out[:, col] = (cos[:, col] - mu) / sd
            else:
                out[:, col] = cos[:, col] - mu
        return out

    def score_features(self, feats: np.ndarray) -> np.ndarray:
        cos = super().score_features(feats)
        one = cos.ndim == 1
        e = np.atleast_2d(np.asarray(feats, dtype=np.float64))
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        out = self._tnorm(np.atleast_2d(cos), e, self._speakers)
        return out[0] if one else out

    def cross_val_scores(self, feats_by_speaker: Mapping[str, Sequence[np.ndarray]],
                         folds: Mapping[str, Sequence[int]], trials) -> tuple[np.ndarray, list[str]]:
        cos, speakers = super().cross_val_scores(feats_by_speaker, folds, trials)
        if not trials:
            return cos, speakers
        return self._tnorm(cos, self._unit_rows(trials), speakers, self._exclusions(folds, trials)), speakers

    def cross_val_target_scores(self, feats_by_speaker, folds, trials) -> np.ndarray:
        if not trials:
            return np.zeros(0)
        E = self._unit_rows(trials)
        own = self._held_out_own(feats_by_speaker, folds, trials, E)
        out = np.empty(len(trials))
        excl = self._exclusions(folds, trials)
        for s in sorted({t[0] for t in trials}):
            rows = np.array([i for i, t in enumerate(trials) if t[0] == s])
            out[rows] = self._tnorm(own[rows, None], E[rows], [s], [excl[i] for i in rows])[:, 0]
        return out

    def _exclusions(self, folds, trials) -> list[tuple[str, np.ndarray]]:
        """A trial's own speaker's clips of the trial's fold leave its cohort (they are its audio)."""
        return [(s, np.asarray(folds[s]) == f) if s in folds else (s, np.zeros(0, dtype=bool))
                for s, f, _ in trials]

    def set_state(self, arrays, params) -> None:
        super().set_state(arrays, params)
        self._clips = {s: np.asarray(arrays[f"clips/{i}"], dtype=np.float64) for i, s in enumerate(self._speakers)
                       if f"clips/{i}" in arrays}

    def get_state(self):
        arrays, params = super().get_state()
        for i, s in enumerate(self._speakers):
            arrays[f"clips/{i}"] = self._clips[s].astype(np.float32)
        params = dict(params, top_n=self.top_n, scale=self.scale, tnorm=True)
        return arrays, params

