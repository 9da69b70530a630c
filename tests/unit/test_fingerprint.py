"""Acoustic fingerprints (voicelive.dsp.fingerprint) on generated speech: deterministic, empty for
silence, stored and restored bit for bit, concatenated without mixing parts, indexed with the same
numbers as the pairwise comparison, the same recording found again off the frame grid. How real
speech and real replays score, and the kiosk's replay guard, are tested on the shared corpus in
tests/kiosk/test_replay.py."""

from __future__ import annotations

import numpy as np
import pytest

from synth import synth_silence, synth_speaker_wave
from voicelive.audio.channels import apply_channel
from voicelive.dsp.fingerprint import Fingerprint, FingerprintIndex, fingerprint, similarity
from voicelive.errors import ConfigError
from voicelive.kiosk.replay import REPLAY_SIMILARITY, visit_fingerprint

SR = 16_000


def windows(wave, window_s=2.0, hop_s=0.5):
    n, h = int(window_s * SR), int(hop_s * SR)
    return [wave[i:i + n] for i in range(0, wave.size - n + 1, h)]


def replayed(wave, *, lead=777, channel="laptop", uid="r"):
    """Played back through a small loudspeaker, starting off the fingerprint's 128-sample grid."""
    y = apply_channel(wave, channel, utterance_id=uid) if channel else wave
    return np.concatenate([np.zeros(lead, np.float32), y])


@pytest.fixture(scope="module")
def takes():
    """Two different utterances of speaker 1, one of speaker 2 (6 s each)."""
    return {"a": synth_speaker_wave(1, 6.0, seed=11), "b": synth_speaker_wave(1, 6.0, seed=12),
            "c": synth_speaker_wave(2, 6.0, seed=13)}


def test_fingerprint_is_deterministic(takes):
    f1, f2 = fingerprint(takes["a"]), fingerprint(takes["a"].copy())
    assert np.array_equal(f1.hashes, f2.hashes) and np.array_equal(f1.frames, f2.frames)
    assert f1.hashes.dtype == np.int32 and np.all(np.diff(f1.frames) >= 0) and len(f1) > 500
    assert similarity(f1, f1) == pytest.approx(1.0)


def test_silence_and_tiny_input_give_empty_fingerprints():
    assert len(fingerprint(synth_silence(1.0))) == 0
    assert len(fingerprint(np.zeros(100, np.float32))) == 0
    f = fingerprint(synth_speaker_wave(1, 2.0, seed=1))
    assert similarity(fingerprint(synth_silence(1.0)), f) == 0.0
    with pytest.raises(ConfigError, match="mono"):
        fingerprint(np.zeros((2, 16000), np.float32))


def test_the_same_recording_lines_up_off_the_frame_grid_and_another_take_does_not(takes):
    ref = visit_fingerprint([fingerprint(w) for w in windows(takes["a"])])
    again = [similarity(fingerprint(w), ref) for w in windows(replayed(takes["a"], channel=None))]
    other_take = [similarity(fingerprint(w), ref) for w in windows(takes["b"])]
    other_voice = [similarity(fingerprint(w), ref) for w in windows(takes["c"])]
    assert np.median(again) > 5 * REPLAY_SIMILARITY
    assert max(other_take) < REPLAY_SIMILARITY and max(other_voice) < REPLAY_SIMILARITY


def test_bytes_round_trip_and_bad_bytes(takes):
    f = fingerprint(takes["a"])
    g = Fingerprint.from_bytes(f.to_bytes())
    assert np.array_equal(f.hashes, g.hashes) and np.array_equal(f.frames, g.frames)
    with pytest.raises(ConfigError, match="not a fingerprint"):
        Fingerprint.from_bytes(b"\x00" * 12)


def test_concat_keeps_parts_apart(takes):
    parts = [fingerprint(w) for w in windows(takes["a"])[:3]]
    c = Fingerprint.concat(parts)
    assert len(c) == sum(len(p) for p in parts)
    assert c.duration_s == pytest.approx(parts[0].duration_s)
    for p in parts:   # each part is found whole in the concatenation
        assert similarity(p, c) == pytest.approx(similarity(p, p)) and similarity(p, p) > 0.5
    assert len(Fingerprint.concat([])) == 0


def test_index_agrees_with_pairwise_similarity(takes):
    idx = FingerprintIndex()
    refs = {k: visit_fingerprint([fingerprint(w) for w in windows(v)]) for k, v in
            zip((10, 20, 30), (takes["a"], takes["b"], takes["c"]))}
    for k, f in refs.items():
        idx.add(k, f)
    q = fingerprint(windows(replayed(takes["b"]))[3])
    key, sim = idx.best(q)
    assert key == 20 and sim == pytest.approx(similarity(q, refs[20]))
    assert idx.best(q, exclude=[20])[1] < REPLAY_SIMILARITY
    idx.discard([20])
    assert 20 not in idx and len(idx) == 2 and idx.n_hashes == len(refs[10]) + len(refs[30])
    idx.add(10, refs[20])                                  # a key's new fingerprint replaces the old one
    assert idx.best(q)[0] == 10 and idx.n_hashes == len(refs[20]) + len(refs[30])


def test_adding_many_at_once_indexes_the_same_as_one_by_one(takes):
    parts = {k: fingerprint(v) for k, v in zip((3, 1, 2), (takes["a"], takes["b"], takes["c"]))}
    one, many = FingerprintIndex(), FingerprintIndex()
    for k, f in parts.items():
        one.add(k, f)
    many.add_many(parts.items())
    assert one.n_hashes == many.n_hashes and sorted(one.keys()) == sorted(many.keys())
    for w in windows(replayed(takes["b"], channel=None))[::3]:
        q = fingerprint(w)
        assert one.best(q) == many.best(q)


def test_old_and_surplus_visit_fingerprints_are_deleted_but_the_log_stays(tmp_path, takes):
    from datetime import datetime, timedelta, timezone

    from voicelive.store import Store

    now = datetime.now(timezone.utc)
    blob = fingerprint(takes["a"][:32000]).to_bytes()
    with Store.open(tmp_path) as store:
        ids = [store.log_access("granted", speaker="Ann", time=now - timedelta(days=d), fingerprint=blob)
               for d in (40, 3, 2, 1)]
        assert store.prune_access_fingerprints(before=now - timedelta(days=30), keep_newest=2) == 2
        assert [r[0] for r in store.access_fingerprints()] == ids[2:]
        assert len(store.access_log()) == 4
        assert store.prune_access_fingerprints(before=now - timedelta(days=30), keep_newest=2) == 0
