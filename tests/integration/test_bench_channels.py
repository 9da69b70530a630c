"""`voicelive bench --test-channel` on a shared corpus: only test audio goes through the channel,
enrollment stays clean, the channel is recorded, `all` reports ratios to clean."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from voicelive.evaluation import bench as B
from voicelive.evaluation.corpus import load_manifest, protocol_split
from voicelive.evaluation.sessions import build_sessions

pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def fsdd(corpora_dir):
    return load_manifest(corpora_dir / "fsdd" / "manifest.csv")


def test_only_test_audio_goes_through_the_channel(fsdd, monkeypatch):
    split = protocol_split(fsdd, 0)
    seen_ids, fitted = [], []
    real_apply, real_fit = B.apply_channel, B.BenchSystem.fit

    def spy_apply(wave, channel, *, utterance_id, **kw):
        seen_ids.append(utterance_id)
        return real_apply(wave, channel, utterance_id=utterance_id, **kw)

    def spy_fit(self, feats, clips=None):
        fitted.append((feats, clips))
        return real_fit(self, feats, clips)

    monkeypatch.setattr(B, "apply_channel", spy_apply)
    monkeypatch.setattr(B.BenchSystem, "fit", spy_fit)
    cache = B.FeatureCache(fsdd)
    system = B.BenchSystem("gmm-ubm")
    out = B.evaluate_split(system, split, 5, cache, channel="noisy")
    tests = {u.utterance_id for u in split.known_tests + split.unknown_tests}
    enrolled = {u.utterance_id for v in split.enrollment(5).values() for u in v}
    assert set(seen_ids) == tests and not (set(seen_ids) & enrolled)
    # the speaker models were built from the clean clips, bit for bit
    (feats, clips), = fitted
    for s, utts in split.enrollment(5).items():
        for u, w in zip(utts, clips[s]):
            np.testing.assert_array_equal(w, fsdd.audio(u))
        for u, f in zip(utts, feats[0][s]):
            np.testing.assert_array_equal(f, system.backends[0].extract(fsdd.audio(u)))
    clean = B.evaluate_split(system, split, 5, cache, channel="clean")
    assert out["closed_acc"] < clean["closed_acc"]        # 10 dB of pink noise hurts the GMM-UBM


def test_sessions_hear_the_channel_in_the_pauses_too(fsdd):
    split = protocol_split(fsdd, 0)
    clean = build_sessions(fsdd, split)
    noisy = build_sessions(fsdd, split, channel="noisy")
    again = build_sessions(fsdd, split, channel="noisy")
    assert len(clean) == len(noisy) and len(clean) > 0
    lead = int(0.9 * 16_000)
    assert not clean[0].wave[:lead].any() and noisy[0].wave[:lead].std() > 1e-4
    np.testing.assert_array_equal(noisy[0].wave, again[0].wave)


def _cli(*args, tmp_path):
    env = dict(os.environ, VOICELIVE_DATA_DIR=str(tmp_path / "data"))
    return subprocess.run([sys.executable, "-m", "voicelive", "bench", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_cli_all_channels_writes_the_channel_and_ratios(corpora_dir, tmp_path):
    r = _cli("--manifest", str(corpora_dir / "fsdd" / "manifest.csv"), "--backends", "gmm-ubm", "--k", "5",
             "--seeds", "1", "--no-timing", "--no-sessions", "--quiet", "--test-channel", "all",
             "--out", str(tmp_path / "out"), tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["test_channel"] == "all"
    assert [row["test_channel"] for row in res["results"]] == ["clean", "telephone", "laptop", "reverb", "noisy"]
    assert all(len(row["closed_acc"]["per_seed"]) == 1 for row in res["results"])   # each seed's value kept
    assert res["results"][0]["closed_acc"]["per_seed"][0] == res["results"][0]["closed_acc"]["mean"]
    assert "| gmm-ubm | 5 | clean | " in r.stdout and "(×1.00)" in r.stdout and "| gmm-ubm | 5 | reverb | " in r.stdout
    assert "| unknown utterances accepted % | worst seed % |" in r.stdout
    r = _cli("--manifest", str(corpora_dir / "fsdd" / "manifest.csv"), "--test-channel", "phone", tmp_path=tmp_path)
    assert r.returncode == 2 and "unknown test channel 'phone'" in r.stderr and "Traceback" not in r.stderr
