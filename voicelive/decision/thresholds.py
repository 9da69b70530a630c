"""Ways to choose an accept threshold from target and non-target scores (higher = more likely target).

- :func:`target_far_threshold` — the product's: accept at most a target false-accept rate
  (see :class:`voicelive.recognition.calibration.Calibrator` for the open-set version over a roster).
- :func:`fbeta_threshold` — the reference study's probability threshold: the point of the
  precision-recall curve that maximises F-beta (beta < 1 weighs precision, i.e. fewer false accepts).
- :func:`tpr_at_fpr_threshold` — the reference study's distance threshold: the strictest point whose
  false-positive rate over query/distractor pairs stays at or below a fixed rate; reports the TPR there.
- :func:`eer_threshold` — where false accepts and false rejects are equally likely.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voicelive.evaluation.metrics import eer, roc_curve


@dataclass(frozen=True)
class ThresholdChoice:
    method: str
    threshold: float
    tpr: float      # fraction of targets accepted at this threshold (score >= threshold)
    fpr: float      # fraction of non-targets accepted


def _rates(pos: np.ndarray, neg: np.ndarray, t: float) -> tuple[float, float]:
    return float(np.mean(np.asarray(pos) >= t)), float(np.mean(np.asarray(neg) >= t))


def fbeta_threshold(pos, neg, *, beta: float = 0.5) -> ThresholdChoice:
    """Maximise F-beta = (1 + b²) P R / (b² P + R) over the thresholds of the PR curve."""
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    fpr, tpr, thr = roc_curve(pos, neg)
    tp, fp = tpr * pos.size, fpr * neg.size
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 1.0)
        b2 = beta * beta
        f = np.where(precision + tpr > 0, (1 + b2) * precision * tpr / (b2 * precision + tpr), 0.0)
    f[~np.isfinite(thr)] = -1.0  # "accept nothing" is not a threshold
    i = int(np.argmax(f))
    return ThresholdChoice(f"F{beta:g}", float(thr[i]), float(tpr[i]), float(fpr[i]))


def tpr_at_fpr_threshold(pos, neg, *, max_fpr: float = 0.01) -> ThresholdChoice:
    """The most lenient threshold whose false-positive rate is at most ``max_fpr``."""
    fpr, tpr, thr = roc_curve(pos, neg)
    ok = np.flatnonzero((fpr <= max_fpr) & np.isfinite(thr))
    if ok.size == 0:
        t = float(np.max(neg)) + 1e-9
        p, f = _rates(pos, neg, t)
        return ThresholdChoice(f"TPR@FPR={max_fpr:g}", t, p, f)
    i = int(ok[-1])
    return ThresholdChoice(f"TPR@FPR={max_fpr:g}", float(thr[i]), float(tpr[i]), float(fpr[i]))


def eer_threshold(pos, neg) -> ThresholdChoice:
    rate, t = eer(pos, neg)
    p, f = _rates(pos, neg, t)
    return ThresholdChoice("EER", float(t), p, f)


def target_far_threshold(neg, *, far: float = 0.01, pos=None) -> ThresholdChoice:
    """Empirical (1 - far) quantile of the non-target scores."""
    neg = np.sort(np.asarray(neg, dtype=np.float64))
    t = float(np.quantile(neg, 1.0 - far)) if neg.size else 0.0
    p, f = _rates(pos if pos is not None else [], neg, t) if pos is not None else (float("nan"), float(np.mean(neg > t)))
    return ThresholdChoice(f"FAR={far:g}", t, p, f)


def cosine_distance_pairs(queries: np.ndarray, query_labels, enrolled: np.ndarray, enrolled_labels):
    """Cosine distances of every query to every enrolled embedding: (same-speaker, different-speaker)
    distance arrays — the study's query/distractor pairs. Lower distance = more alike."""
    q = np.asarray(queries, dtype=np.float64)
    e = np.asarray(enrolled, dtype=np.float64)
    q = q / (np.linalg.norm(q, axis=1, keepdims=True) + 1e-12)
    e = e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-12)
    d = 1.0 - q @ e.T
    same = np.asarray(query_labels)[:, None] == np.asarray(enrolled_labels)[None, :]
    return d[same], d[~same]
