"""Metrics added for the analysis tools (DET, PR, NMI, ARI, Hungarian accuracy): hand-computed
cases and scikit-learn."""

import numpy as np
import pytest
from sklearn import metrics as skm

from voicelive.evaluation import metrics as M


def test_nmi_ari_acc_hand_case():
    # classes a a a b b b ; clusters 0 0 1 1 1 1  -> contingency [[2,1],[0,3]]
    t = list("aaabbb")
    p = [0, 0, 1, 1, 1, 1]
    assert M.contingency(t, p).tolist() == [[2, 1], [0, 3]]
    # Hungarian: a->0 (2), b->1 (3): 5/6
    assert M.hungarian_accuracy(t, p) == pytest.approx(5 / 6)
    # ARI by hand: sum C(n_ij,2) = 1 + 0 + 0 + 3 = 4; rows: 3+3 = 6; cols: C(2,2)+C(4,2) = 1+6 = 7;
    # total C(6,2) = 15; expected = 6*7/15 = 2.8; max = 6.5 -> (4-2.8)/(6.5-2.8)
    assert M.ari(t, p) == pytest.approx((4 - 2.8) / (6.5 - 2.8))
    # NMI by hand (natural logs)
    h_t = np.log(2)
    h_p = -(2 / 6 * np.log(2 / 6) + 4 / 6 * np.log(4 / 6))
    mi = (2 / 6) * np.log((2 / 6) / (0.5 * 2 / 6)) + (1 / 6) * np.log((1 / 6) / (0.5 * 4 / 6)) \
        + (3 / 6) * np.log((3 / 6) / (0.5 * 4 / 6))
    assert M.nmi(t, p) == pytest.approx(mi / (0.5 * (h_t + h_p)))


def test_perfect_and_permuted_clusterings_score_one():
    t = ["x"] * 4 + ["y"] * 3 + ["z"] * 5
    p = [7] * 4 + [2] * 3 + [5] * 5
    assert M.clustering_scores(t, p) == {"nmi": pytest.approx(1.0), "ari": pytest.approx(1.0),
                                         "acc": pytest.approx(1.0)}
    # one cluster for everything: NMI 0, ARI 0, accuracy = the largest class
    s = M.clustering_scores(t, [0] * len(t))
    assert s["nmi"] == pytest.approx(0.0) and s["ari"] == pytest.approx(0.0) and s["acc"] == pytest.approx(5 / 12)


@pytest.mark.parametrize("seed", range(5))
def test_nmi_ari_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 5, 200)
    p = np.where(rng.random(200) < 0.6, t, rng.integers(0, 7, 200))
    assert M.nmi(t, p) == pytest.approx(skm.normalized_mutual_info_score(t, p), abs=1e-12)
    assert M.ari(t, p) == pytest.approx(skm.adjusted_rand_score(t, p), abs=1e-12)


def test_hungarian_accuracy_more_clusters_than_classes():
    # 2 classes split into 3 clusters: only two clusters can be matched
    t = list("aaaabbbb")
    p = [0, 0, 1, 1, 2, 2, 2, 2]
    assert M.hungarian_accuracy(t, p) == pytest.approx(6 / 8)


def test_det_is_roc_with_miss_rate_and_pr_matches_sklearn():
    rng = np.random.default_rng(3)
    pos, neg = rng.normal(1.5, 1, 250), rng.normal(0, 1, 300)
    fpr, fnr, thr = M.det_curve(pos, neg)
    f2, t2, th2 = M.roc_curve(pos, neg)
    assert np.allclose(fpr, f2) and np.allclose(fnr, 1 - t2) and np.array_equal(thr, th2)
    y = np.r_[np.ones(pos.size), np.zeros(neg.size)]
    s = np.r_[pos, neg]
    prec, rec, th = M.precision_recall_curve(pos, neg)
    sp, sr_, sth = skm.precision_recall_curve(y, s)
    # sklearn: increasing thresholds, with a final (precision 1, recall 0) point
    assert np.allclose(prec[::-1], sp[:-1]) and np.allclose(rec[::-1], sr_[:-1]) and np.allclose(th[::-1], sth)


def test_precision_recall_hand_case():
    prec, rec, thr = M.precision_recall_curve([3, 1], [2])
    # accept >=3: P 1, R .5; >=2: P .5, R .5; >=1: P 2/3, R 1
    assert thr.tolist() == [3, 2, 1]
    assert prec.tolist() == pytest.approx([1.0, 0.5, 2 / 3])
    assert rec.tolist() == pytest.approx([0.5, 0.5, 1.0])


def test_per_class_accuracy():
    out = M.per_class_accuracy(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b", "c"])
    assert out["a"] == 0.5 and out["b"] == 1.0 and np.isnan(out["c"])
