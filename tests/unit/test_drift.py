"""Drift statistics (hand cases) and the drift monitor on real speech: near zero for the same
source, clearly positive for equalised, noisy and band-limited copies."""

from __future__ import annotations

import numpy as np
import pytest

from altered_audio import band_limited, equalised, noisy
from voicelive.analysis import drift as D


def test_frechet_hand_cases():
    mu, cov = np.zeros(3), np.eye(3)
    assert D.frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-9)
    # mean shift only: |d|^2
    assert D.frechet_distance(mu, cov, np.array([3.0, 4.0, 0.0]), cov) == pytest.approx(25.0)
    # scaled covariance, 1-d: (s1 - s2)^2 for standard deviations
    assert D.frechet_distance(np.zeros(1), np.array([[4.0]]), np.zeros(1), np.array([[1.0]])) == pytest.approx(1.0)


def test_jsd_and_ndb_hand_cases():
    assert D.jensen_shannon([1, 1], [1, 1]) == pytest.approx(0.0)
    assert D.jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)
    assert D.ndb_test(np.array([0.5, 0.5]), 1000, np.array([0.5, 0.5]), 1000) == 0
    assert D.ndb_test(np.array([0.9, 0.1]), 1000, np.array([0.1, 0.9]), 1000) == 2


def test_too_little_recent_speech_gives_no_verdict():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 16))
    ref = D.DriftReference(x, ["a"] * 15 + ["b"] * 15, [i // 3 for i in range(30)])
    rep = ref.compare(x[:3])
    assert rep.verdict == "not enough speech" and not rep.warn


@pytest.mark.corpus
def test_drift_same_source_vs_altered_copies(corpora_dir, ge2e_weights):
    from voicelive.analysis.drift import reference_from_clips
    from voicelive.analysis.embeddings import Embedder
    from voicelive.evaluation.corpus import load_manifest

    corpus = load_manifest(corpora_dir / "asterisk_prompts" / "manifest.csv")
    by = corpus.by_speaker()
    speakers = list(by)[:3]
    emb = Embedder()
    ref = reference_from_clips(emb, {s: [corpus.audio(u) for u in by[s][:10]] for s in speakers})
    held = [corpus.audio(u) for s in speakers for u in by[s][10:20]]

    def ratio(fn):
        rep = ref.compare(emb.embed_windows([np.asarray(fn(w), dtype=np.float32) for w in held]))
        return rep

    same = ratio(lambda w: w)
    assert same.verdict == "same" and not same.warn, same.summary()
    for name, fn in (("equalised", equalised), ("noisy", noisy), ("band-limited", band_limited)):
        rep = ratio(fn)
        assert rep.warn and rep.ratio > 1.8 and rep.ratio > 2 * same.ratio, (name, rep.summary())
    assert "re-enroll or add clips" in ratio(band_limited).message
