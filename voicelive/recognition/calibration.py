"""From raw backend scores to a calibrated "is this person registered, and who is it?".

Everything here is learnt from enrollment data only:

1. **Cross-validated trials.** Every enrollment clip is scored against every speaker model, never
   against a model that saw the clip (leave-one-clip-out or k-fold): *target* trials (own speaker)
   and *non-target* trials (someone else's clip — a stand-in for an unregistered voice).
2. **Cohort normalisation** (z-norm per speaker model): each model's raw scores are centred and
   scaled by the scores that other people's clips get against it, so one threshold fits all models.
3. **Fusion**: logistic regression over the normalised scores of every backend → a log-odds
   ``logit`` that the trial is a target (one backend: an affine map, still calibrated).
4. **Threshold for a target false-accept rate.** An unregistered voice is falsely accepted when its
   *best* score over the roster passes the threshold. With S enrolled speakers, a per-model tail
   ``p = 1 - (1 - FAR)^(1/S)`` gives ≈ FAR for the maximum. The tail of the non-target logits is
   modelled by a Gaussian fitted to their upper half (median and 90th percentile), checked against
   the empirical quantile (or the largest non-target score when there are too few): the stricter wins.
5. **By how much speech was heard.** Less speech gives strangers (and enrolled people) scores
   closer to the middle, so one threshold for all lengths is stricter than short speech needs.
   When the trials' speech seconds are known, the median of the non-target logits is fitted as a
   straight line in log(speech seconds) (over quantile bins of the trials), and a window with
   ``d`` seconds of speech gets its logit shifted by the line's value at ``d`` minus the pooled
   median (:meth:`Calibrator.duration_offset`; clamped to the trials' range of durations and to
   ±:data:`MAX_DURATION_OFFSET`). Only the location moves: the tail's spread is the pooled one (a
   spread per duration was measured and rejected: from a small roster's few hundred trials it
   extrapolated to a threshold 2 log-odds too loose and let a stranger in).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.special import expit, logit, ndtri

from voicelive.errors import ConfigError

MIN_COHORT = 3
"""Fewer non-target scores than this per model and the model borrows the pooled statistics."""
MAX_FIT_NONTARGETS = 200_000
"""The fusion is fitted on every target trial and at most this many non-target trials (a fixed,
seeded sample, re-weighted): non-target pairs grow with trials × speakers², targets only linearly."""
MAX_STORED_NONTARGETS = 20_000
"""Non-target logits are kept as at most this many rank-uniform quantiles (enough for the tail fit)."""
DURATION_BINS = 4
"""Quantile bins of the non-target trials' log speech seconds for the duration fit (step 5)."""
MIN_DURATION_BIN = 150
"""Non-target scores each bin needs (a roster with fewer trials keeps one threshold for all lengths)."""
MIN_DURATION_SPREAD = 1.5
"""The trials' speech seconds must span at least this ratio (5th to 95th percentile) for a fit."""
MAX_DURATION_OFFSET = 3.0
"""Largest shift (log-odds) the duration fit may apply to a logit, either way."""
_Q90_Z = 1.2816   # standard normal 90th percentile


@dataclass
class Calibrator:
    """Z-norm per (backend, speaker) + logistic fusion + open-set threshold."""

    speakers: list[str] = field(default_factory=list)
    mu: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))      # (B, S)
    sd: np.ndarray = field(default_factory=lambda: np.ones((0, 0)))       # (B, S)
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))      # (B,)
    bias: float = 0.0
    nontarget_logits: np.ndarray = field(default_factory=lambda: np.zeros(0))
    target_logits: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_nontarget: int = 0           # trials behind ``nontarget_logits`` (which may be a quantile grid)
    # duration fit (step 5): [lo, hi] log seconds of the trials and the pooled median of the
    # non-target logits; (slope, intercept) of their median against log speech seconds; empty = none
    dur_range: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dur_q50: np.ndarray = field(default_factory=lambda: np.zeros(0))

    # -- fitting ----------------------------------------------------------------------------
    def fit(self, cv_scores: Sequence[np.ndarray], labels: np.ndarray, speakers: Sequence[str], *,
            extra_targets: tuple[Sequence[np.ndarray], np.ndarray] | None = None,
            speech_s: np.ndarray | None = None) -> "Calibrator":
        """``cv_scores``: one ``(n_clips, S)`` matrix per backend (same clip order), ``labels`` the
        speaker index of each clip (-1: an impostor of everyone). ``extra_targets``: more trials
        scored against their own speaker only — one ``(n,)`` score vector per backend and their
        speaker indices — which join the target side of the fusion and of the target statistics.
        ``speech_s``: seconds of speech of each of the ``n_clips`` trials (enables step 5)."""
        from sklearn.linear_model import LogisticRegression

        self.speakers = list(speakers)
        n_b, n_s = len(cv_scores), len(speakers)
        labels = np.asarray(labels)
        if n_b == 0:
            raise ConfigError("calibration needs at least one backend's scores")
        target = labels[:, None] == np.arange(n_s)[None, :]          # (n, S)
        self.mu = np.zeros((n_b, n_s))
        self.sd = np.ones((n_b, n_s))
        for b, sc in enumerate(cv_scores):
            sc = np.asarray(sc, dtype=np.float64)
            pooled = sc[~target & np.isfinite(sc)]
            if pooled.size < MIN_COHORT:  # one speaker: spread of own scores stands in
                pooled = sc[np.isfinite(sc)]
            p_mu, p_sd = float(np.mean(pooled)), float(np.std(pooled) + 1e-6)
            # per-model cohort statistics in one pass over the matrix (speakers can number thousands)
            mask = ~target & np.isfinite(sc)
            cnt = mask.sum(axis=0).astype(np.float64)
            vals = np.where(mask, sc, 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = vals.sum(axis=0) / cnt
                var = np.maximum((vals * vals).sum(axis=0) / cnt - mean * mean, 0.0)
            # shrink towards pooled statistics when the cohort is small
            w = cnt / (cnt + 10.0)
            ok = cnt >= MIN_COHORT
            self.mu[b] = np.where(ok, w * mean + (1 - w) * p_mu, p_mu)
            self.sd[b] = np.where(ok, np.sqrt(w * var + (1 - w) * p_sd ** 2) + 1e-6, p_sd)
        z = self._znorm(np.stack([np.asarray(s, dtype=np.float64) for s in cv_scores]))  # (B, n, S)
        X = z.reshape(n_b, -1).T
        y = target.reshape(-1)
        dur = np.full(len(y), np.nan)
        if speech_s is not None:
            dur = np.repeat(np.asarray(speech_s, dtype=np.float64), n_s)
        if extra_targets is not None and len(extra_targets[1]):
            own_scores, own_labels = extra_targets
            own_labels = np.asarray(own_labels, dtype=int)
            Xe = np.stack([(np.asarray(sc, dtype=np.float64) - self.mu[b, own_labels]) / self.sd[b, own_labels]
                           for b, sc in enumerate(own_scores)], axis=1)
            X = np.concatenate([X, Xe])
            y = np.concatenate([y, np.ones(len(own_labels), dtype=bool)])
            dur = np.concatenate([dur, np.full(len(own_labels), np.nan)])
        ok = np.all(np.isfinite(X), axis=1)
        X, y, dur = X[ok], y[ok], dur[ok]
        weights = None
        n_nt = int((~y).sum())
        if n_nt > MAX_FIT_NONTARGETS:
            rng = np.random.default_rng(0)
            nt_idx = rng.choice(np.flatnonzero(~y), MAX_FIT_NONTARGETS, replace=False)
            keep = np.sort(np.concatenate([np.flatnonzero(y), nt_idx]))
            all_X, all_y = X, y
            X, y = X[keep], y[keep]
            weights = np.where(y, 1.0, n_nt / MAX_FIT_NONTARGETS)
        else:
            all_X, all_y = X, y
        if y.all() or not y.any():
            # one speaker, no impostors: an identity-like map; threshold from own-score spread
            self.weights = np.full(n_b, 1.0 / n_b)
            self.bias = 0.0
        else:
            lr = LogisticRegression(C=1.0, class_weight="balanced")
            lr.fit(X, y, sample_weight=weights)
            self.weights = lr.coef_[0].astype(np.float64)
            self.bias = float(lr.intercept_[0])
        logits = all_X @ self.weights + self.bias
        self._fit_duration(logits[~all_y], dur[~all_y])
        self.target_logits = np.sort(logits[all_y])
        nt = np.sort(logits[~all_y])
        self.n_nontarget = int(nt.size)
        if nt.size > MAX_STORED_NONTARGETS:
            # rank-uniform quantiles (the first and the largest included), so the quantiles the
            # threshold uses stay where they were
            nt = nt[np.linspace(0, nt.size - 1, MAX_STORED_NONTARGETS).round().astype(int)]
        self.nontarget_logits = nt
        return self

    def _fit_duration(self, nt_logits: np.ndarray, speech_s: np.ndarray) -> None:
        """Step 5: a line for the non-target logits' median against log speech seconds, from
        quantile bins of the trials (none when durations are unknown, too few or too alike)."""
        self.dur_range = self.dur_q50 = np.zeros(0)
        ok = np.flatnonzero(np.isfinite(speech_s) & (speech_s > 0) & np.isfinite(nt_logits))
        if ok.size < DURATION_BINS * MIN_DURATION_BIN:
            return
        if ok.size > MAX_FIT_NONTARGETS:   # a fixed, seeded sample keeps big rosters' updates fast
            ok = np.sort(np.random.default_rng(0).choice(ok, MAX_FIT_NONTARGETS, replace=False))
        x, lg = np.log(speech_s[ok]), nt_logits[ok]
        lo, hi = np.quantile(x, [0.05, 0.95])
        if hi - lo < np.log(MIN_DURATION_SPREAD):
            return
        edges = np.quantile(x, np.linspace(0.0, 1.0, DURATION_BINS + 1))
        which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, DURATION_BINS - 1)
        xm, q50 = [], []
        for k in range(DURATION_BINS):
            sel = which == k
            if sel.sum() < MIN_DURATION_BIN:
                return
            xm.append(float(np.median(x[sel])))
            q50.append(float(np.median(lg[sel])))
        if np.ptp(xm) <= 0:
            return
        self.dur_range = np.array([lo, hi, float(np.median(lg))])
        self.dur_q50 = np.polyfit(xm, q50, 1)

    @property
    def duration_aware(self) -> bool:
        return self.dur_range.size == 3

    def _tail_p(self, target_far: float) -> float:
        """Per-model tail probability that makes the roster's best score pass with ≈ ``target_far``."""
        return 1.0 - (1.0 - target_far) ** (1.0 / max(1, len(self.speakers)))

    def duration_offset(self, speech_s: float | None) -> float:
        """How much stricter (> 0) or looser (< 0) than the pooled threshold a trial with
        ``speech_s`` seconds of speech should be judged, in log-odds (0 without a duration fit):
        the fitted non-target median at ``speech_s`` minus the pooled median (the same for every
        target false-accept rate)."""
        if not self.duration_aware or speech_s is None or not np.isfinite(speech_s) or speech_s <= 0:
            return 0.0
        x = float(np.clip(np.log(speech_s), self.dur_range[0], self.dur_range[1]))
        shift = float(np.polyval(self.dur_q50, x)) - float(self.dur_range[2])
        return float(np.clip(shift, -MAX_DURATION_OFFSET, MAX_DURATION_OFFSET))

    def _znorm(self, raw: np.ndarray) -> np.ndarray:
        """``raw (B, ..., S)`` -> z-normalised, same shape."""
        shape = (raw.shape[0],) + (1,) * (raw.ndim - 2) + (raw.shape[-1],)
        return (raw - self.mu.reshape(shape)) / self.sd.reshape(shape)

    # -- use --------------------------------------------------------------------------------
    def logits(self, raw: np.ndarray) -> np.ndarray:
        """Raw scores ``(B, S)`` (or ``(B, n, S)``) -> fused log-odds ``(S,)`` (or ``(n, S)``)."""
        z = self._znorm(np.asarray(raw, dtype=np.float64))
        return np.tensordot(self.weights, z, axes=(0, 0)) + self.bias

    def threshold_logit(self, target_far: float) -> float:
        """Log-odds threshold at which an unregistered voice's best score passes with probability
        ≈ ``target_far``."""
        if not 0.0 < target_far < 1.0:
            raise ConfigError(f"target false-accept rate must be between 0 and 1, got {target_far}")
        p = self._tail_p(target_far)
        nt = self.nontarget_logits
        if nt.size >= 2:
            # Fit the Gaussian to the UPPER half only: impostor scores are often skewed (a long tail of
            # very unlike voices below), and only the upper tail decides false accepts.
            q50, q90 = np.quantile(nt, [0.5, 0.9])
            sd = max(float(q90 - q50) / _Q90_Z, 1e-6)
            gauss = float(q50) + sd * float(-ndtri(p))
            n = max(self.n_nontarget, nt.size)
            emp = float(np.quantile(nt, 1.0 - p)) if n * p >= 1.0 else float(nt.max())
            return max(gauss, emp)
        # no impostor evidence at all: demand a score well inside the target distribution
        tg = self.target_logits
        return float(np.quantile(tg, 0.1)) if tg.size else 0.0

    def to_probability(self, logits: np.ndarray | float) -> np.ndarray | float:
        return expit(logits)

    @staticmethod
    def to_logit(prob: float) -> float:
        return float(logit(np.clip(prob, 1e-12, 1 - 1e-12)))

    # -- persistence ------------------------------------------------------------------------
    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return ({"cal/mu": self.mu, "cal/sd": self.sd, "cal/weights": self.weights,
                 "cal/nontarget": self.nontarget_logits, "cal/target": self.target_logits,
                 "cal/dur_range": self.dur_range, "cal/dur_q50": self.dur_q50},
                {"speakers": self.speakers, "bias": self.bias, "n_nontarget": self.n_nontarget})

    @classmethod
    def from_state(cls, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> "Calibrator":
        return cls(speakers=list(params["speakers"]), mu=np.asarray(arrays["cal/mu"]), sd=np.asarray(arrays["cal/sd"]),
                   weights=np.asarray(arrays["cal/weights"]), bias=float(params["bias"]),
                   nontarget_logits=np.asarray(arrays["cal/nontarget"]), target_logits=np.asarray(arrays["cal/target"]),
                   n_nontarget=int(params.get("n_nontarget", arrays["cal/nontarget"].size)),
                   # models saved before the duration fit have none: one threshold for all lengths
                   dur_range=np.asarray(arrays["cal/dur_range"]) if "cal/dur_range" in arrays else np.zeros(0),
                   dur_q50=np.asarray(arrays["cal/dur_q50"]) if "cal/dur_q50" in arrays else np.zeros(0))
