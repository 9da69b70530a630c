"""The markdown report of `voicelive bench`."""

from voicelive.evaluation.bench import _mean_std, _worst_pct


def test_worst_seed_is_reported_beside_the_mean():
    fa = _mean_std([0.0, 0.0, 0.0375, 0.0, float("nan")])
    assert fa["per_seed"] == [0.0, 0.0, 0.0375, 0.0, None]
    assert abs(fa["mean"] - 0.009375) < 1e-12
    assert _worst_pct(fa) == "3.8"
    assert _worst_pct({"mean": 0.01, "std": 0.0}) == "—"     # results.json written before per-seed values
