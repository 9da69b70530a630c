"""The study's threshold methods and the product's, on hand-made and simulated scores."""

import numpy as np
import pytest

from voicelive.decision import thresholds as T


def test_fbeta_separable():
    c = T.fbeta_threshold([0.8, 0.9, 0.95], [0.1, 0.2, 0.3], beta=0.5)
    assert 0.3 < c.threshold <= 0.8 and c.tpr == 1.0 and c.fpr == 0.0


def test_fbeta_small_beta_prefers_precision():
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1.5, 1, 2000), rng.normal(0, 1, 2000)
    strict = T.fbeta_threshold(pos, neg, beta=0.25)
    lenient = T.fbeta_threshold(pos, neg, beta=2.0)
    assert strict.threshold > lenient.threshold and strict.fpr < lenient.fpr


def test_tpr_at_fpr():
    neg = np.arange(100) / 100.0          # 0.00 .. 0.99
    pos = np.array([0.985, 0.995, 0.5])
    c = T.tpr_at_fpr_threshold(pos, neg, max_fpr=0.01)
    assert c.fpr <= 0.01
    assert c.threshold == pytest.approx(0.985)
    assert c.tpr == pytest.approx(2 / 3)


def test_eer_threshold_balances_errors():
    rng = np.random.default_rng(1)
    pos, neg = rng.normal(2, 1, 5000), rng.normal(0, 1, 5000)
    c = T.eer_threshold(pos, neg)
    assert c.threshold == pytest.approx(1.0, abs=0.1)
    assert abs((1 - c.tpr) - c.fpr) < 0.02


def test_cosine_distance_pairs():
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    e = np.array([[1.0, 0.1], [0.1, 1.0]])
    same, diff = T.cosine_distance_pairs(q, ["a", "b"], e, ["a", "b"])
    assert same.max() < diff.min()
    c = T.tpr_at_fpr_threshold(-same, -diff, max_fpr=0.0)  # distances: lower = target, so negate
    assert c.tpr == 1.0
