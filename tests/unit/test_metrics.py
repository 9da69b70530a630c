"""Metrics against hand-computed cases and scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from voicelive.evaluation import metrics as M


def test_eer_perfect_and_inverted():
    assert M.eer([2, 3, 4], [0, 1])[0] == pytest.approx(0.0)
    assert M.eer([0, 1], [2, 3, 4])[0] == pytest.approx(1.0)


def test_eer_hand_case():
    # pos 0.9 0.8 0.3 ; neg 0.7 0.2 : at t in (0.3, 0.7]: FNR 1/3, FPR 1/2; at t in (0.7,0.8]: FNR 1/3, FPR 0
    # FNR-FPR crosses between accepting {0.9,0.8} (fnr 1/3,fpr 0) and adding 0.7 (fnr 1/3, fpr 1/2)
    rate, _ = M.eer([0.9, 0.8, 0.3], [0.7, 0.2])
    assert 0.0 < rate < 0.5
    # symmetric case: EER exactly 0.5 for identical distributions
    r2, _ = M.eer([1, 2, 3, 4], [1, 2, 3, 4])
    assert r2 == pytest.approx(0.5, abs=0.13)


def test_roc_matches_auc():
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1, 1, 300), rng.normal(0, 1, 400)
    fpr, tpr, _ = M.roc_curve(pos, neg)
    auc = np.trapezoid(tpr, fpr)
    assert auc == pytest.approx(roc_auc_score(np.r_[np.ones(300), np.zeros(400)], np.r_[pos, neg]), abs=1e-9)


def test_eer_gaussian():
    rng = np.random.default_rng(1)
    pos, neg = rng.normal(2, 1, 20000), rng.normal(0, 1, 20000)
    # two unit Gaussians 2 apart: EER = Phi(-1) = 0.1587
    assert M.eer(pos, neg)[0] == pytest.approx(0.1587, abs=0.01)


def test_dir_at_far_hand_case():
    unknown = np.array([0.9, 0.5, 0.4, 0.3])  # FAR 0.25 -> m=1 -> t = 2nd largest = 0.5
    known = np.array([0.95, 0.6, 0.45, 0.99])
    correct = np.array([True, True, True, False])
    assert M.dir_at_far(known, correct, unknown, 0.25) == pytest.approx(0.5)
    assert M.dir_at_far(known, correct, unknown, 0.0) == pytest.approx(0.25)  # t=0.9


def test_min_dcf_bounds():
    assert M.min_dcf([5, 6], [0, 1]) == pytest.approx(0.0)
    assert M.min_dcf([0, 1], [5, 6]) == pytest.approx(1.0)  # best is to reject all: cost = p_target


def test_open_set_metrics_and_f1():
    speakers = ["a", "b"]
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.35]])
    out = M.open_set_metrics(scores, speakers, ["a", "b", "b"], 3)
    assert out["closed_acc"] == pytest.approx(2 / 3)
    assert out["weighted_f1"] == pytest.approx(f1_score(["a", "b", "b"], ["a", "b", "a"], average="weighted"))
    assert out["open_eer"] == pytest.approx(0.0)


def test_pairwise_verification_eer():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    emb = np.vstack([c + 0.05 * rng.normal(size=(10, 16)) for c in centres])
    labels = [i for i in range(3) for _ in range(10)]
    assert M.pairwise_verification_eer(emb, labels) == pytest.approx(0.0)


def test_confusion_matrix():
    m = M.confusion_matrix(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])
    assert m.tolist() == [[1, 1], [0, 1]]
