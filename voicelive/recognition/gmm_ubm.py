"""GMM-UBM: a diagonal-covariance universal background model over MFCC+Δ+ΔΔ frames, speaker models
by MAP adaptation of the means, scores = average per-frame log-likelihood ratio (speaker vs UBM).

Scoring uses the frame alignment of the UBM (the "fixed-posterior" log-likelihood ratio): a
waveform is reduced once to its zeroth/first-order statistics against the UBM, and its LLR against
every speaker is then one dot product per speaker (exact up to the alignment, which is what MAP
adaptation of the means assumes anyway). Cost per window: one UBM pass + S·C·D multiply-adds,
instead of S+1 full GMM evaluations.

Incremental: the UBM is trained once on the first enrollment; a new speaker only needs its own MAP
statistics (milliseconds), and removing one touches nobody else. Calibration of a roster whose UBM
may still be refitted uses the base class's k-fold refits (the UBM must not have seen the held-out
clips). Once the UBM is final (trained on :data:`GMMUBMBackend.UBM_MIN_SPEAKERS` speakers), the
held-out models are MAP-adapted from it with the held-out fold's statistics left out, and stored
clips and calibration windows shrink to their statistics (:meth:`GMMUBMBackend.summarise`): an
update then costs milliseconds per speaker instead of refitting five UBMs. Each speaker's held-out
scoring terms (one per fold) are then computed once and kept (saved with its statistics, see
:meth:`GMMUBMBackend.speaker_arrays`), so recalibrating 1000 speakers gathers rows instead of
adapting 5000 models.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping

import numpy as np

from voicelive.dsp import features as F
from voicelive.errors import ModelError, NotEnrolledError
from voicelive.recognition.base import Backend
from voicelive.recognition.packing import is_packed, pack, unpack

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
        self._scoring: tuple[np.ndarray, np.ndarray] | None = None  # see _scoring_terms
        # speaker -> (its clip folds, {fold: held-out scoring terms}): see _held_out_terms
        self._held: dict[str, tuple[tuple[int, ...], dict[int, tuple[np.ndarray, np.ndarray, bool]]]] = {}
        self.ubm_n_speakers = 0

    def extract(self, wave: np.ndarray) -> np.ndarray:
        return F.mfcc_frames(wave, self.cfg, norm=self.norm)

    def speech_seconds(self, feats: np.ndarray) -> float:
        """The speech frames kept by :meth:`extract` (or counted in a :meth:`summarise` vector), in seconds."""
        x = np.asarray(feats)
        frames = float(x[0]) if x.ndim == 1 else float(x.shape[0])
        return frames * self.cfg.hop_length / self.cfg.sr

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

    def summarise(self, x: np.ndarray) -> np.ndarray:
        """A frame matrix ``(T, D)`` reduced to its statistics against the UBM, as one float32 vector
        ``[T, n (C), f (C*D)]``: all that adaptation and scoring ever need of it; ~5x smaller for a 2-s window,
        more for longer clips."""
        n, f = self._clip_stats(x)
        return np.concatenate([[float(np.asarray(x).shape[0])], n, f.ravel()]).astype(np.float32)

    def _clip_stats(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Zeroth/first-order statistics ``n (C,)``, ``f (C, D)`` of frames or of a :meth:`summarise` vector."""
        x = np.asarray(x)
        if x.ndim == 1:
            n_c, dim = self.ubm_means.shape
            if x.size != 1 + n_c * (1 + dim):
                raise ModelError("gmm-ubm statistics do not fit this UBM; re-enroll from audio (`voicelive train`)")
            v = x.astype(np.float64)
            return v[1:1 + n_c], v[1 + n_c:].reshape(n_c, dim)
        x = x.astype(np.float64)
        g = self._posteriors(x)            # (T, C)
        return g.sum(0), g.T @ x           # (C,), (C, D)

    def _centred_stats(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(n (C,), g (C*D,))`` with g = Σ⁻¹(f − n·m_ubm) / T: all that scoring needs of a waveform."""
        n, f = self._clip_stats(x)
        x = np.asarray(x)
        t = max(float(x[0]) if x.ndim == 1 else x.shape[0], 1.0)
        g = (f - n[:, None] * self.ubm_means) / self.ubm_vars
        return n / t, g.reshape(-1) / t

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

    @property
    def shared_ubm(self) -> bool:
        """The UBM is final (trained on enough speakers): held-out calibration scores come from it
        (see :meth:`cross_val_scores`) and stored features can be summarised (:meth:`summarise`)."""
        return self.ubm_means is not None and not self.needs_refit_on_add()

    def compact_features(self, x: np.ndarray) -> np.ndarray:
        """What the recognizer keeps of a clip or calibration window for later recalibration: the
        :meth:`summarise` vector once the UBM is final, else the frames (a UBM refit needs them)."""
        x = np.asarray(x)
        return self.summarise(x) if self.shared_ubm and x.ndim == 2 else x

    def _fit(self, feats_by_speaker: dict[str, list[np.ndarray]]) -> None:
        if any(np.asarray(x).ndim != 2 for v in feats_by_speaker.values() for x in v):
            raise ModelError("gmm-ubm needs MFCC frames to train a UBM, not stored statistics; "
                             "re-enroll from the clips' audio (`voicelive train`)")
        self._reset()
        self.ubm_n_speakers = len(feats_by_speaker)
        clips = [np.asarray(x) for v in feats_by_speaker.values() for x in v]
        stride = max(1, sum(x.shape[0] for x in clips) // (2 * self.max_ubm_frames))  # bounded memory
        self._train_ubm(np.vstack([x[::stride] for x in clips]).astype(np.float64))
        for name in sorted(feats_by_speaker):
            self._add(name, feats_by_speaker[name])

    def _add(self, name: str, feats: list[np.ndarray]) -> None:
        if self.ubm_means is None:
            self._fit({name: feats})
            return
        stats = [self._clip_stats(x) for x in feats]
        self._stats[name] = (np.stack([s[0] for s in stats]), np.stack([s[1] for s in stats]))
        self._held.pop(name, None)
        if name not in self._speakers:
            self._speakers.append(name)
        self._update_model(self._speakers.index(name))

    def _update_model(self, j: int) -> None:
        """Rebuild speaker ``j``'s adapted means and scoring terms only (the same numbers as
        :meth:`_rebuild`, row by row); new arrays, so a scorer holding the old ones is unaffected."""
        if self._means is None or j > len(self._means):
            self._rebuild()
            return
        s = self._speakers[j]
        m = self._adapt(self._stats[s][0].sum(0), self._stats[s][1].sum(0))[None]
        d, half_q = self._scoring_terms(m)
        if j == len(self._means):
            self._means = np.concatenate([self._means, m])
            self._scoring = (np.concatenate([self._scoring[0], d]), np.concatenate([self._scoring[1], half_q]))
        else:
            means, d_all, q_all = self._means.copy(), self._scoring[0].copy(), self._scoring[1].copy()
            means[j], d_all[j], q_all[j] = m[0], d[0], half_q[0]
            self._means, self._scoring = means, (d_all, q_all)

    def _remove(self, name: str) -> None:
        self._speakers.remove(name)
        del self._stats[name]
        self._held.pop(name, None)
        self._rebuild()

    def _rebuild(self) -> None:
        self._means = np.stack([self._adapt(self._stats[s][0].sum(0), self._stats[s][1].sum(0))
                                for s in self._speakers]) if self._speakers else None
        self._scoring = self._scoring_terms(self._means) if self._means is not None else None

    def _scoring_terms(self, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-model terms of the fixed-alignment LLR: ``d = m_s − m_ubm`` as ``(S, C*D)`` and
        ``½ Σ_d d²/σ²`` as ``(S, C)``."""
        d = means - self.ubm_means
        return d.reshape(d.shape[0], -1), 0.5 * (d * d / self.ubm_vars).sum(-1)

    # -- scoring ----------------------------------------------------------------------------
    @staticmethod
    def _llr_from_stats(n: np.ndarray, g: np.ndarray, terms: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Mean per-frame LLR of trials with centred statistics ``n (..., C)``, ``g (..., C*D)``
        against the models behind ``terms`` → ``(..., S)``."""
        d, half_q = terms
        return g @ d.T - n @ half_q.T

    def score_features(self, feats: np.ndarray) -> np.ndarray:
        self._require_enrolled()
        n, g = self._centred_stats(feats)
        return self._llr_from_stats(n, g, self._scoring)

    # -- cross-validated scores for calibration ---------------------------------------------
    def cross_val_scores(self, feats_by_speaker, folds, trials):
        """Held-out scores. While the UBM may still be refitted (a small roster), the base class's
        exact per-fold refits; once it is final (:attr:`shared_ubm`), each fold's models are
        MAP-adapted from the shared UBM with that fold's clip statistics left out."""
        speakers = sorted(feats_by_speaker)
        if not self.shared_ubm or sorted(self._speakers) != speakers:
            return super().cross_val_scores(feats_by_speaker, folds, trials)
        scores = np.full((len(trials), len(speakers)), np.nan)
        if not trials:
            return scores, speakers
        trial_n, trial_g = self._trials_centred(trials)
        trial_fold = np.array([t[1] for t in trials])
        for f in sorted(set(trial_fold.tolist())):
            d, half_q, ok = self._held_out_terms(speakers, folds, f)
            rows = trial_fold == f
            sc = self._llr_from_stats(trial_n[rows], trial_g[rows], (d, half_q))
            sc[:, ~ok] = np.nan
            scores[rows] = sc
        return scores, speakers

    def independent_cv(self) -> bool:
        """With a final UBM a speaker's held-out models use its own statistics only."""
        return self.shared_ubm

    def cross_val_target_scores(self, feats_by_speaker, folds, trials) -> np.ndarray:
        if not self.shared_ubm or sorted(self._speakers) != sorted(feats_by_speaker):
            return super().cross_val_target_scores(feats_by_speaker, folds, trials)
        if not trials:
            return np.zeros(0)
        trial_n, trial_g = self._trials_centred(trials)
        keys = sorted({(s, f) for s, f, _ in trials})
        out = np.full(len(trials), np.nan)
        by_key: dict[tuple[str, int], list[int]] = {}
        for i, (s, f, _) in enumerate(trials):
            by_key.setdefault((s, f), []).append(i)
        for s, f in keys:
            d, half_q, ok = self._held_out_terms([s], folds, f)
            if ok[0]:
                rows = np.array(by_key[(s, f)])
                out[rows] = self._llr_from_stats(trial_n[rows], trial_g[rows], (d, half_q))[:, 0]
        return out

    def _trials_centred(self, trials) -> tuple[np.ndarray, np.ndarray]:
        centred = [self._centred_stats(x) for _, _, x in trials]
        return np.stack([c[0] for c in centred]), np.stack([c[1] for c in centred])

    def _held_out_terms(self, speakers, folds, fold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_scoring_terms` of the held-out models of ``speakers`` for ``fold`` (see
        :meth:`_held_out_means`) as ``d (S, C*D)``, ``half_q (S, C)``, ``ok (S,)``.

        Each speaker's terms depend on its own statistics and folds only (the UBM is final), so
        they are computed once per (speaker, fold), kept while the speaker's clips do not change
        and saved with its statistics (:meth:`speaker_arrays`): a calibration of 1000 speakers then
        gathers rows instead of adapting 5000 models. Same numbers (same code per speaker)."""
        rows_d, rows_q, ok = [], [], np.zeros(len(speakers), dtype=bool)
        for j, s in enumerate(speakers):
            key = tuple(int(x) for x in folds[s])
            memo = self._held.get(s)
            if memo is None or memo[0] != key:
                memo = self._held[s] = (key, {})
            terms = memo[1].get(fold)
            if terms is None:
                means, good = self._held_out_means([s], folds, fold)
                d, half_q = self._scoring_terms(means)
                terms = memo[1][fold] = (d[0], half_q[0], bool(good[0]))
            rows_d.append(terms[0])
            rows_q.append(terms[1])
            ok[j] = terms[2]
        return np.stack(rows_d), np.stack(rows_q), ok

    def _held_out_means(self, speakers, folds, fold: int) -> tuple[np.ndarray, np.ndarray]:
        """MAP means ``(S, C, D)`` of ``speakers`` without their clips of ``fold``, and which of
        them have any clip left (the others get the UBM's means)."""
        means = np.empty((len(speakers),) + self.ubm_means.shape)
        ok = np.zeros(len(speakers), dtype=bool)
        for j, s in enumerate(speakers):
            n, f = self._stats[s]
            keep = np.asarray(folds[s]) != fold
            ok[j] = bool(keep.any())
            means[j] = self._adapt(n[keep].sum(0), f[keep].sum(0)) if ok[j] else self.ubm_means
        return means, ok

    # -- persistence ------------------------------------------------------------------------
    def get_state(self, *, with_stats: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if self.ubm_means is None:
            raise NotEnrolledError("gmm-ubm has no trained UBM yet; enroll speakers first")
        arrays = {"ubm_weights": self.ubm_weights, "ubm_means": self.ubm_means, "ubm_vars": self.ubm_vars}
        if with_stats:
            arrays.update(pack("stats", [a for s in self._speakers for a in self._stats[s]]))  # n0, f0, n1, ...
        return arrays, {"speakers": self._speakers, "relevance": self.relevance, "feature_hash": self.feature_hash,
                        "ubm_n_speakers": self.ubm_n_speakers}

    def speaker_arrays(self, name: str) -> list[np.ndarray]:
        """A speaker's per-clip statistics ``[n (k, C), f (k, C, D)]`` and, when computed, its
        held-out scoring terms ``[folds (k,), fold ids (m,), d (m, C*D), half_q (m, C), ok (m,)]``."""
        out = list(self._stats[name])
        memo = self._held.get(name)
        if memo is not None and memo[1]:
            ids = sorted(memo[1])
            out += [np.array(memo[0], dtype=np.int64), np.array(ids, dtype=np.int64),
                    np.stack([memo[1][f][0] for f in ids]), np.stack([memo[1][f][1] for f in ids]),
                    np.array([memo[1][f][2] for f in ids], dtype=np.uint8)]
        return out

    def get_shared_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, params = self.get_state(with_stats=False)
        return arrays, dict(params, stats="per speaker")

    def set_shared_state(self, arrays, params, speaker_arrays) -> None:
        self._set_ubm(arrays, params)
        try:
            for s in self._speakers:
                arr = speaker_arrays[s]
                self._stats[s] = (np.asarray(arr[0]), np.asarray(arr[1]))
                if len(arr) == 7:
                    folds, ids, d, half_q, ok = arr[2:]
                    self._held[s] = (tuple(int(x) for x in folds),
                                     {int(f): (d[i], half_q[i], bool(ok[i])) for i, f in enumerate(ids)})
        except (KeyError, IndexError, TypeError, ValueError):
            raise ModelError("gmm-ubm statistics do not match its speakers; retrain with `voicelive train`") from None
        self._rebuild()

    def _set_ubm(self, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> None:
        if params.get("feature_hash") != self.feature_hash:
            raise ModelError("gmm-ubm model was built with different features; retrain with `voicelive train`")
        self._reset()
        self.ubm_weights, self.ubm_means, self.ubm_vars = (np.asarray(arrays[k], dtype=np.float64)
                                                           for k in ("ubm_weights", "ubm_means", "ubm_vars"))
        self.relevance = float(params["relevance"])
        self.ubm_n_speakers = int(params.get("ubm_n_speakers", len(params["speakers"])))
        self._speakers = list(params["speakers"])

    def set_state(self, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> None:
        self._set_ubm(arrays, params)
        if is_packed(arrays, "stats"):
            flat = unpack(arrays, "stats")
            if len(flat) != 2 * len(self._speakers):
                raise ModelError("gmm-ubm statistics do not match its speakers; retrain with `voicelive train`")
            self._stats = {s: (flat[2 * i], flat[2 * i + 1]) for i, s in enumerate(self._speakers)}
        else:  # written before the statistics were packed
            self._stats = {s: (np.asarray(arrays[f"stats_n/{i}"]), np.asarray(arrays[f"stats_f/{i}"]))
                           for i, s in enumerate(self._speakers)}
        self._rebuild()
