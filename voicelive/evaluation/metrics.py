"""Speaker-identification metrics (one implementation, used by `voicelive bench` and `voicelive eval`).

Conventions: scores are "higher = more likely target"; rates are fractions in [0, 1].
"""

from __future__ import annotations

import numpy as np


def roc_curve(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rate, true-positive rate and thresholds, accepting ``score >= threshold``,
    from the strictest threshold (+inf: nothing accepted) to the most lenient."""
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    if pos.size == 0 or neg.size == 0:
        raise ValueError("ROC needs at least one positive and one negative score")
    scores = np.concatenate([pos, neg])
    labels = np.concatenate([np.ones(pos.size), np.zeros(neg.size)])
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    distinct = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    tp = np.cumsum(labels)[distinct]
    fp = np.cumsum(1 - labels)[distinct]
    tpr = np.r_[0.0, tp / pos.size]
    fpr = np.r_[0.0, fp / neg.size]
    thr = np.r_[np.inf, scores[distinct]]
    return fpr, tpr, thr


def eer(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """Equal error rate and its threshold: the point where FNR = FPR, linearly interpolated on the ROC."""
    fpr, tpr, thr = roc_curve(pos, neg)
    fnr = 1.0 - tpr
    diff = fnr - fpr                     # decreasing from 1 to -1
    i = int(np.flatnonzero(diff <= 0)[0])
    if i == 0 or diff[i] == 0:
        t = thr[i] if np.isfinite(thr[i]) else thr[min(i + 1, thr.size - 1)]
        return float(fpr[i]), float(t)
    a = diff[i - 1] / (diff[i - 1] - diff[i])  # fraction of the way from i-1 to i
    rate = fpr[i - 1] + a * (fpr[i] - fpr[i - 1])
    t_prev = thr[i - 1] if np.isfinite(thr[i - 1]) else thr[i]
    return float(rate), float(t_prev + a * (thr[i] - t_prev))


def min_dcf(pos: np.ndarray, neg: np.ndarray, *, p_target: float = 0.01, c_miss: float = 1.0,
            c_fa: float = 1.0) -> float:
    """Normalised minimum detection cost: min over thresholds of
    ``(c_miss P_miss p_target + c_fa P_fa (1 - p_target)) / min(c_miss p_target, c_fa (1 - p_target))``."""
    fpr, tpr, _ = roc_curve(pos, neg)
    cost = c_miss * (1.0 - tpr) * p_target + c_fa * fpr * (1.0 - p_target)
    return float(cost.min() / min(c_miss * p_target, c_fa * (1.0 - p_target)))


def dir_at_far(known_top: np.ndarray, known_correct: np.ndarray, unknown_top: np.ndarray, far: float) -> float:
    """Detection and identification rate at a false-alarm rate: allow ``m = floor(far N_unknown)``
    false accepts; ``t`` = the (m+1)-th largest unknown top score; a known test counts when its top
    score is above ``t`` and its best candidate is right."""
    unk = np.sort(np.asarray(unknown_top, dtype=np.float64))[::-1]
    m = int(np.floor(far * unk.size))
    t = unk[m] if m < unk.size else -np.inf
    ok = (np.asarray(known_top) > t) & np.asarray(known_correct, dtype=bool)
    return float(ok.mean()) if ok.size else float("nan")


def weighted_f1(y_true, y_pred, labels) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, labels=list(labels), average="weighted", zero_division=0))


def open_set_metrics(scores: np.ndarray, speakers: list[str], known_labels: list[str],
                     n_known: int) -> dict[str, float]:
    """Utterance metrics of PROTOCOL.md from a score matrix ``(n_tests, S)`` whose first
    ``n_known`` rows are known tests (labels given) and the rest unknown tests."""
    scores = np.asarray(scores, dtype=np.float64)
    top = scores.max(axis=1)
    pred = [speakers[i] for i in scores.argmax(axis=1)]
    k_top, u_top = top[:n_known], top[n_known:]
    correct = np.array([p == t for p, t in zip(pred[:n_known], known_labels)])
    out = {
        "closed_acc": float(correct.mean()),
        "weighted_f1": weighted_f1(known_labels, pred[:n_known], speakers),
    }
    if u_top.size:
        out["open_eer"] = eer(k_top, u_top)[0]
        out["dir_far1"] = dir_at_far(k_top, correct, u_top, 0.01)
        out["dir_far5"] = dir_at_far(k_top, correct, u_top, 0.05)
        out["min_dcf"] = min_dcf(k_top, u_top)
    return out


def pairwise_verification_eer(embeddings: np.ndarray, labels: list[str], *, max_nontarget: int = 20_000,
                              seed: int = 0) -> float:
    """Cosine of all same-speaker pairs vs a seeded sample of at most ``max_nontarget`` different-speaker pairs."""
    e = np.asarray(embeddings, dtype=np.float64)
    e = e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-12)
    lab = np.asarray(labels)
    iu, ju = np.triu_indices(len(lab), k=1)
    same = lab[iu] == lab[ju]
    cos = np.einsum("ij,ij->i", e[iu], e[ju])
    pos, neg = cos[same], cos[~same]
    if neg.size > max_nontarget:
        neg = neg[np.random.default_rng(seed).choice(neg.size, max_nontarget, replace=False)]
    return eer(pos, neg)[0]


def confusion_matrix(y_true, y_pred, labels) -> np.ndarray:
    idx = {l: i for i, l in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(y_true, y_pred):
        if t in idx and p in idx:
            m[idx[t], idx[p]] += 1
    return m


# -- curves for reports (the same ROC as above) ------------------------------------------------

def det_curve(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detection-error trade-off: false-positive rate, false-negative rate and thresholds, from
    the strictest threshold to the most lenient (the ROC of :func:`roc_curve` with FNR = 1 - TPR)."""
    fpr, tpr, thr = roc_curve(pos, neg)
    return fpr, 1.0 - tpr, thr


def precision_recall_curve(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and thresholds (accepting ``score >= threshold``) for every distinct
    threshold, strictest first; the "accept nothing" point is left out (precision undefined there)."""
    fpr, tpr, thr = roc_curve(pos, neg)
    pos_n, neg_n = np.asarray(pos).size, np.asarray(neg).size
    tp, fp = tpr[1:] * pos_n, fpr[1:] * neg_n
    precision = tp / np.maximum(tp + fp, 1e-300)
    return precision, tpr[1:], thr[1:]


# -- clustering scores -------------------------------------------------------------------------

def _codes(labels) -> tuple[np.ndarray, int]:
    _, inv = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    return inv.reshape(-1), int(inv.max()) + 1 if inv.size else 0


def contingency(y_true, y_pred) -> np.ndarray:
    """Counts ``(n_true_classes, n_pred_clusters)``; classes and clusters in sorted order of their
    labels (compared as text)."""
    t, nt = _codes(y_true)
    p, n_pred = _codes(y_pred)
    if t.size != p.size:
        raise ValueError(f"{t.size} true labels but {p.size} predicted labels")
    m = np.zeros((nt, n_pred), dtype=np.int64)
    np.add.at(m, (t, p), 1)
    return m


def _entropy(counts: np.ndarray) -> float:
    c = counts[counts > 0].astype(np.float64)
    p = c / c.sum()
    return float(-(p * np.log(p)).sum())


def nmi(y_true, y_pred) -> float:
    """Normalised mutual information, ``I(T; P) / mean(H(T), H(P))`` (arithmetic mean, as
    scikit-learn's default). 1 = the same partition; 1.0 when both are a single group."""
    m = contingency(y_true, y_pred).astype(np.float64)
    n = m.sum()
    if n == 0:
        return float("nan")
    ht, hp = _entropy(m.sum(axis=1)), _entropy(m.sum(axis=0))
    if ht == 0.0 and hp == 0.0:
        return 1.0
    nz = m > 0
    outer = np.outer(m.sum(axis=1), m.sum(axis=0))
    mi = float((m[nz] / n * np.log(m[nz] * n / outer[nz])).sum())
    denom = 0.5 * (ht + hp)
    return float(min(1.0, max(0.0, mi / denom))) if denom > 0 else 0.0


def ari(y_true, y_pred) -> float:
    """Adjusted Rand index (Hubert & Arabie): 1 = same partition, ~0 = chance, can be negative."""
    m = contingency(y_true, y_pred).astype(np.float64)
    n = m.sum()

    def pairs(x):
        return x * (x - 1) / 2.0

    sum_ij = pairs(m).sum()
    a, b = pairs(m.sum(axis=1)).sum(), pairs(m.sum(axis=0)).sum()
    total = pairs(n)
    if total == 0:
        return 1.0
    expected = a * b / total
    max_index = 0.5 * (a + b)
    if max_index == expected:  # both partitions trivial (all singletons or one group)
        return 1.0
    return float((sum_ij - expected) / (max_index - expected))


def hungarian_accuracy(y_true, y_pred) -> float:
    """Accuracy after the best one-to-one matching of clusters to classes (Hungarian algorithm):
    items of a cluster left unmatched (more clusters than classes, or the reverse) count as wrong."""
    from scipy.optimize import linear_sum_assignment

    m = contingency(y_true, y_pred)
    if m.size == 0:
        return float("nan")
    rows, cols = linear_sum_assignment(-m)
    return float(m[rows, cols].sum() / m.sum())


def clustering_scores(y_true, y_pred) -> dict[str, float]:
    """``{"nmi", "ari", "acc"}`` of a clustering against known labels."""
    return {"nmi": nmi(y_true, y_pred), "ari": ari(y_true, y_pred), "acc": hungarian_accuracy(y_true, y_pred)}


def per_class_accuracy(y_true, y_pred, labels) -> dict[str, float]:
    """Fraction of each class's items predicted as that class (NaN for a class without items)."""
    yt, yp = np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)
    out = {}
    for lab in labels:
        sel = yt == str(lab)
        out[str(lab)] = float(np.mean(yp[sel] == str(lab))) if sel.any() else float("nan")
    return out
