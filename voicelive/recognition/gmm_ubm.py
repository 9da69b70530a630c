"""GMM-UBM: a diagonal-covariance universal background model over MFCC+Δ+ΔΔ frames, speaker models
by MAP adaptation of the means, scores = average per-frame log-likelihood ratio (speaker vs UBM).

Incremental: the UBM is trained once on the first enrollment; a new speaker only needs its own MAP
statistics (milliseconds), and removing one touches nobody else. Calibration uses the base class's
k-fold refits: the UBM must not have seen the held-out clips, or their scores are biased low.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping

import numpy as np

from voicelive.dsp import features as F
from voicelive.errors import ModelError, NotEnrolledError
from voicelive.recognition.base import Backend

LOG_2PI = float(np.log(2.0 * np.pi))


class GMMUBMBackend(Backend):
    name = "gmm-ubm"
    incremental = True

    def __init__(self, *, max_components: int = 32, relevance: float = 16.0, frames_per_component: int = 40,
                 max_ubm_frames: int = 8_000, seed: int = 0, norm: str = "none",
                 feature_config: F.FastFeatureConfig = F.FastFeatureConfig()) -> None:
        super().__init__()
        self.max_components = max_components
        self.relevance = relevance
        self.frames_per_component = frames_per_component
        self.max_ubm_frames = max_ubm_frames
        self.seed = seed
        self.cfg = feature_config
        self.norm = norm
        self._reset()

    @property
    def feature_hash(self) -> str:
        return F.config_hash("gmm_frames", {"fast": self.cfg.hash(), "deltas": 2, "norm": self.norm})

    def _reset(self) -> None:
        super()._reset()
        self.ubm_weights: np.ndarray | None = None   # (C,)
        self.ubm_means: np.ndarray | None = None     # (C, D)
        self.ubm_vars: np.ndarray | None = None      # (C, D)
        self._stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # name -> (n (k, C), f (k, C, D)) per clip
        self._means: np.ndarray | None = None        # (S, C, D) adapted means
        self.ubm_n_speakers = 0

    def extract(self, wave: np.ndarray) -> np.ndarray:
        return F.mfcc_frames(wave, self.cfg, norm=self.norm)

    # -- UBM --------------------------------------------------------------------------------
    def _train_ubm(self, frames: np.ndarray) -> None:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture

        rng = np.random.default_rng(self.seed)
        if frames.shape[0] > self.max_ubm_frames:
            frames = frames[rng.choice(frames.shape[0], self.max_ubm_frames, replace=False)]
        n_comp = int(np.clip(frames.shape[0] // self.frames_per_component, 2, self.max_components))
        gmm = GaussianMixture(n_components=n_comp, covariance_type="diag", max_iter=30, reg_covar=1e-2,
                              random_state=self.seed, init_params="k-means++")
        with warnings.catch_warnings():
            # a UBM that stops at max_iter is still a usable background model
            warnings.simplefilter("ignore", ConvergenceWarning)
            gmm.fit(frames)
        self.ubm_weights = gmm.weights_.astype(np.float64)
        self.ubm_means = gmm.means_.astype(np.float64)
        self.ubm_vars = gmm.covariances_.astype(np.float64)

    def _component_loglik(self, x: np.ndarray, means: np.ndarray) -> np.ndarray:
        """log(w_c N(x_t | means_c, var_c)) for frames ``(T, D)`` and means ``(..., C, D)`` -> ``(..., T, C)``."""
        inv = 1.0 / self.ubm_vars                                         # (C, D)
        const = np.log(self.ubm_weights) - 0.5 * (np.log(self.ubm_vars).sum(1) + x.shape[1] * LOG_2PI)
        quad_x = -0.5 * (x * x) @ inv.T                                   # (T, C)
        lin = np.einsum("td,...cd->...tc", x, means * inv)                # (..., T, C)
        quad_m = -0.5 * np.einsum("...cd,cd->...c", means * means, inv)   # (..., C)
        return quad_x + lin + quad_m[..., None, :] + const

    def _posteriors(self, x: np.ndarray) -> np.ndarray:
        ll = self._component_loglik(x, self.ubm_means)
        ll -= ll.max(axis=1, keepdims=True)
        p = np.exp(ll)
        return p / p.sum(axis=1, keepdims=True)

    def _clip_stats(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=np.float64)
        g = self._posteriors(x)            # (T, C)
        return g.sum(0), g.T @ x           # (C,), (C, D)

    def _adapt(self, n: np.ndarray, f: np.ndarray) -> np.ndarray:
        """MAP-adapted means from summed statistics ``n (C,)``, ``f (C, D)``."""
        alpha = (n / (n + self.relevance))[:, None]
        ex = f / np.maximum(n, 1e-10)[:, None]
        return alpha * ex + (1.0 - alpha) * self.ubm_means

    # -- training ---------------------------------------------------------------------------
    UBM_MIN_SPEAKERS = 5
    """A UBM trained on fewer speakers than this is retrained when the roster grows."""

    def needs_refit_on_add(self) -> bool:
        return self.ubm_n_speakers < self.UBM_MIN_SPEAKERS

    def _fit(self, feats_by_speaker: dict[str, list[np.ndarray]]) -> None:
        self._reset()
        self.ubm_n_speakers = len(feats_by_speaker)
        self._train_ubm(np.vstack([x for v in feats_by_speaker.values() for x in v]).astype(np.float64))
        for name in sorted(feats_by_speaker):
            self._add(name, feats_by_speaker[name])

    def _add(self, name: str, feats: list[np.ndarray]) -> None:
        if self.ubm_means is None:
            self._fit({name: feats})
            return
        stats = [self._clip_stats(x) for x in feats]
        self._stats[name] = (np.stack([s[0] for s in stats]), np.stack([s[1] for s in stats]))
        if name not in self._speakers:
            self._speakers.append(name)
        self._rebuild()

    def _remove(self, name: str) -> None:
        self._speakers.remove(name)
        del self._stats[name]
        self._rebuild()

    def _rebuild(self) -> None:
        self._means = np.stack([self._adapt(self._stats[s][0].sum(0), self._stats[s][1].sum(0))
                                for s in self._speakers]) if self._speakers else None

    # -- scoring ----------------------------------------------------------------------------
    def _llr(self, x: np.ndarray, means: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        ubm = _logsumexp(self._component_loglik(x, self.ubm_means), axis=-1)   # (T,)
        spk = _logsumexp(self._component_loglik(x, means), axis=-1)            # (S, T)
        return (spk - ubm).mean(axis=-1)

    def score_features(self, feats: np.ndarray) -> np.ndarray:
        self._require_enrolled()
        return self._llr(feats, self._means)

    # -- persistence ------------------------------------------------------------------------
    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if self.ubm_means is None:
            raise NotEnrolledError("gmm-ubm has no trained UBM yet; enroll speakers first")
        arrays = {"ubm_weights": self.ubm_weights, "ubm_means": self.ubm_means, "ubm_vars": self.ubm_vars}
        for i, s in enumerate(self._speakers):
            arrays[f"stats_n/{i}"], arrays[f"stats_f/{i}"] = self._stats[s]
        return arrays, {"speakers": self._speakers, "relevance": self.relevance, "feature_hash": self.feature_hash,
                        "ubm_n_speakers": self.ubm_n_speakers}

    def set_state(self, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> None:
        if params.get("feature_hash") != self.feature_hash:
            raise ModelError("gmm-ubm model was built with different features; retrain with `voicelive train`")
        self._reset()
        self.ubm_weights, self.ubm_means, self.ubm_vars = (np.asarray(arrays[k], dtype=np.float64)
                                                           for k in ("ubm_weights", "ubm_means", "ubm_vars"))
        self.relevance = float(params["relevance"])
        self.ubm_n_speakers = int(params.get("ubm_n_speakers", len(params["speakers"])))
        self._speakers = list(params["speakers"])
        self._stats = {s: (np.asarray(arrays[f"stats_n/{i}"]), np.asarray(arrays[f"stats_f/{i}"]))
                       for i, s in enumerate(self._speakers)}
        self._rebuild()


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = a.max(axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.exp(a - m).sum(axis=axis))
