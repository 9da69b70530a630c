"""Clustering of generated speakers.

The algorithms are tested on generated speaker embeddings (a random direction per speaker in
256-d, windows spread around it as much as GE2E spreads one person's real recordings: cosine ~0.8
to the speaker mean, ~0.3 between speakers). The audio voices of ``tests/synth.py`` are no use
here: GE2E, trained on real speech, hears them as about two voices (NMI 0.59 for 5 of them), so
GE2E clustering is tested on real speech (tests/integration/test_analysis_cli.py).
"""

import numpy as np
import pytest

from voicelive.analysis.clustering import ALL_METHODS, cluster, cluster_all, estimate_n_speakers
from voicelive.errors import ConfigError
from voicelive.evaluation.metrics import clustering_scores


def generated_speakers(n_speakers: int, per_speaker: int, *, seed: int = 0, spread: float = 0.55,
                       dim: int = 256):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_speakers, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x, y = [], []
    for s in range(n_speakers):
        for _ in range(per_speaker):
            v = centres[s] + spread * rng.standard_normal(dim) / np.sqrt(dim)
            x.append(v / np.linalg.norm(v))
            y.append(f"spk{s}")
    return np.asarray(x), y


@pytest.mark.parametrize("n_speakers", [2, 5, 8])
def test_every_method_recovers_generated_speakers(n_speakers):
    x, y = generated_speakers(n_speakers, 12, seed=n_speakers)
    res = cluster_all(x)
    assert set(res) == set(ALL_METHODS)
    for m, r in res.items():
        s = clustering_scores(y, r.labels)
        assert s["nmi"] >= 0.9, (m, r.n_clusters, s)
    assert res["auto"].n_clusters == n_speakers
    assert res["auto"].details.get("estimated")


def test_given_number_of_speakers_is_used_and_result_is_deterministic():
    x, y = generated_speakers(4, 10, seed=7)
    a = cluster(x, method="kmeans", n_speakers=4)
    b = cluster(x, method="kmeans", n_speakers=4)
    assert a.n_clusters == 4 and np.array_equal(a.labels, b.labels)
    assert cluster(x, method="dbscan", n_speakers=4).n_clusters == 4
    assert cluster(x, method="agglomerative", n_speakers=3).n_clusters == 3
    # groups are numbered by size, largest first
    lab = cluster(np.r_[x[:10], x[10:15]], method="kmeans", n_speakers=2).labels
    assert np.sum(lab == 0) >= np.sum(lab == 1)


def test_confidence_is_high_inside_groups_and_low_between():
    x, y = generated_speakers(3, 10, seed=3)
    mid = (x[0] + x[10]) / 2
    x2 = np.r_[x, mid[None] / np.linalg.norm(mid)]
    r = cluster(x2, method="kmeans", n_speakers=3)
    assert r.confidence.shape == (31,) and np.all((r.confidence >= 0) & (r.confidence <= 1))
    assert np.median(r.confidence[:30]) > 0.3
    assert r.confidence[30] < np.median(r.confidence[:30])


def test_one_voice_is_one_group():
    x, _ = generated_speakers(1, 20, seed=1, spread=0.45)
    k, _ = estimate_n_speakers(x)
    assert k == 1
    assert cluster(x, method="auto").n_clusters == 1


def test_bad_requests_are_config_errors():
    x, _ = generated_speakers(2, 3)
    with pytest.raises(ConfigError, match="unknown clustering method"):
        cluster(x, method="spectral")
    with pytest.raises(ConfigError, match="n-speakers"):
        cluster(x, method="kmeans", n_speakers=10)
    with pytest.raises(ConfigError, match="nothing to cluster"):
        cluster(np.zeros((0, 4)))


def test_suggestion_groups_of_one_voice_are_merged():
    from voicelive.analysis.unknown import merge_alike

    x, _ = generated_speakers(2, 6, seed=5, spread=0.3)
    # one voice split in two groups, and a second voice
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2])
    groups = merge_alike(x, labels)
    assert [g.tolist() for g in groups] == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]
    # different voices stay apart; outliers (-1) are left out
    labels = np.array([0] * 6 + [1] * 5 + [-1])
    assert [g.size for g in merge_alike(x, labels)] == [6, 5]
