"""GMM-UBM scoring from sufficient statistics and its shared-UBM cross-validation."""

import numpy as np
import pytest

from synth import synth_speaker_wave
from voicelive.errors import ModelError
from voicelive.recognition.gmm_ubm import GMMUBMBackend


def _frames(b, spk, n, seed0):
    return [b.extract(synth_speaker_wave(spk, 2.0, seed=seed0 + i)) for i in range(n)]


@pytest.fixture(scope="module")
def roster():
    b = GMMUBMBackend()
    feats = {f"s{k}": _frames(b, k, 4, 10 * k) for k in range(6)}
    b.enroll_features(feats)
    return b, feats


def _exact_llr(b, x, means):
    """Mean per-frame log-likelihood ratio with full GMM evaluations (no fixed alignment)."""
    def logsumexp(a):
        m = a.max(-1, keepdims=True)
        return (m + np.log(np.exp(a - m).sum(-1, keepdims=True)))[..., 0]
    ubm = logsumexp(b._component_loglik(x, b.ubm_means))
    spk = logsumexp(b._component_loglik(x, means))
    return (spk - ubm).mean(-1)


def test_fixed_alignment_llr_tracks_the_exact_llr(roster):
    b, _ = roster
    tests = [b.extract(synth_speaker_wave(k % 6, 2.0, seed=500 + k)) for k in range(18)]
    fast = np.stack([b.score_features(x) for x in tests])
    exact = np.stack([_exact_llr(b, x.astype(np.float64), b._means) for x in tests])
    assert fast.shape == exact.shape == (18, 6)
    # same decisions and nearly the same numbers
    assert (fast.argmax(1) == exact.argmax(1)).mean() >= 0.9
    assert np.corrcoef(fast.ravel(), exact.ravel())[0, 1] > 0.98


def test_shared_ubm_cross_validation_leaves_the_fold_out(roster):
    b, feats = roster
    speakers = sorted(feats)
    folds = {s: [i % 2 for i in range(len(v))] for s, v in feats.items()}
    trials = [(s, folds[s][i], x) for s in speakers for i, x in enumerate(feats[s])]
    scores, names = b.cross_val_scores(feats, folds, trials)
    assert names == speakers and scores.shape == (len(trials), 6) and np.isfinite(scores).all()
    # row 0 = s0's clip 0 (fold 0): its model for s0 is adapted from s0's fold-1 clips only
    n = sum(b._clip_stats(x)[0] for x in feats["s0"][1::2])
    f = sum(b._clip_stats(x)[1] for x in feats["s0"][1::2])
    held_out = b._adapt(n, f)
    want = _exact_llr(b, trials[0][2].astype(np.float64), held_out[None])[0]
    assert scores[0, 0] == pytest.approx(want, abs=0.1 * abs(want) + 0.05)
    # and it is lower than scoring against the model that saw the clip
    assert scores[0, 0] < b.score_features(trials[0][2])[0]
    # summarised trials (what a saved model keeps) give the same numbers
    compact = [(s, f, b.compact_features(x)) for s, f, x in trials]
    assert all(x.ndim == 1 for _, _, x in compact)
    assert sum(x.size for _, _, x in compact) < 0.3 * sum(t[2].size for t in trials)
    again, _ = b.cross_val_scores(feats, folds, compact)
    np.testing.assert_allclose(again, scores, rtol=1e-4, atol=1e-5)


def test_summaries_rebuild_a_speaker_but_cannot_train_a_ubm(roster):
    b, feats = roster
    clone = GMMUBMBackend()
    clone.set_state(*b.get_state())
    clone.add_speaker_features("s0", [b.summarise(x) for x in feats["s0"]])
    np.testing.assert_allclose(clone._means[clone.speakers.index("s0")], b._means[b.speakers.index("s0")],
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(ModelError, match="needs MFCC frames"):
        GMMUBMBackend().enroll_features({"a": [b.summarise(feats["s0"][0])]})


def test_small_rosters_use_exact_per_fold_refits(monkeypatch):
    b = GMMUBMBackend()
    feats = {f"s{k}": _frames(b, k, 3, 100 + 10 * k) for k in range(3)}
    b.enroll_features(feats)
    folds = {s: [0, 1, 2] for s in feats}
    trials = [(s, folds[s][i], x) for s in sorted(feats) for i, x in enumerate(feats[s])]
    calls = []
    orig = GMMUBMBackend._train_ubm

    def spy(self, frames):
        calls.append(frames.shape)
        return orig(self, frames)

    monkeypatch.setattr(GMMUBMBackend, "_train_ubm", spy)
    scores, _ = b.cross_val_scores(feats, folds, trials)
    assert len(calls) == 3 and np.isfinite(scores).all()   # one UBM per held-out fold


def test_adding_a_speaker_updates_its_row_only_with_the_numbers_of_a_full_rebuild(roster):
    b, feats = roster
    clone = GMMUBMBackend()
    clone.set_state(*b.get_state())
    extra = _frames(b, 7, 3, 700)
    clone.add_speaker_features("new", extra)            # appended
    clone.add_speaker_features("s2", feats["s3"])       # replaced in place
    means, (d, half_q) = clone._means, clone._scoring
    clone._rebuild()
    np.testing.assert_array_equal(means, clone._means)
    np.testing.assert_array_equal(d, clone._scoring[0])
    np.testing.assert_array_equal(half_q, clone._scoring[1])
    assert clone.speakers[-1] == "new" and len(means) == 7
