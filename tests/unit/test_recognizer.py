"""The recognizer end to end on synthetic voices: enroll, identify, add/remove, save/load, refusals."""

import json

import numpy as np
import pytest

from synth import synth_speaker_wave
from voicelive.errors import ConfigError, ModelError, NotEnrolledError, UnknownSpeakerError
from voicelive.recognition import model_io
from voicelive.recognition.recognizer import Recognizer


def clips(spk, n=4, seconds=2.0, seed0=0):
    return [synth_speaker_wave(spk, seconds, seed=seed0 + i) for i in range(n)]


@pytest.fixture(scope="module")
def rec(ge2e_weights):
    r = Recognizer.create("fusion")
    r.enroll({"ann": clips(0), "bob": clips(1), "cy": clips(2)})
    return r


def test_identifies_enrolled_voices(rec):
    hits = sum(rec.identify(synth_speaker_wave(i, 2.0, seed=50 + s)).best == name
               for i, name in enumerate(["ann", "bob", "cy"]) for s in range(3))
    assert hits >= 7


def test_scores_are_calibrated_probabilities(rec):
    s = rec.score_window(synth_speaker_wave(0, 2.0, seed=77))
    assert set(s) == {"ann", "bob", "cy"}
    assert all(0.0 <= v <= 1.0 for v in s.values())
    assert 0.0 < rec.threshold < 1.0


def test_target_far_moves_threshold(rec):
    r = Recognizer.create("gmm-ubm")
    r.enroll({"ann": clips(0), "bob": clips(1), "cy": clips(2)})
    r.set_target_far(0.2)
    loose = r.threshold
    r.set_target_far(0.001)
    assert r.threshold > loose
    with pytest.raises(ConfigError):
        r.set_target_far(1.5)


def test_the_decisive_threshold_is_the_one_for_a_lower_false_accept_rate(rec, tmp_path):
    from scipy.special import logit

    from voicelive.recognition.recognizer import DECISIVE_FAR_RATIO

    assert rec.decisive_threshold >= rec.threshold
    expected = rec.calibrator.threshold_logit(rec.target_far * DECISIVE_FAR_RATIO)
    assert logit(rec.decisive_threshold) == pytest.approx(max(expected, rec.threshold_logit), abs=1e-6)
    rec.save(tmp_path)
    back = model_io.load_recognizer(tmp_path)
    assert back.decisive_threshold == pytest.approx(rec.decisive_threshold)
    assert model_io.read_card(tmp_path)["calibration"]["decisive_threshold"] == pytest.approx(rec.decisive_threshold)
    back.set_target_far(0.2)    # follows the target
    assert logit(back.decisive_threshold) == pytest.approx(
        max(back.calibrator.threshold_logit(0.2 * DECISIVE_FAR_RATIO), back.threshold_logit), abs=1e-6)


def test_save_load_round_trip(rec, tmp_path):
    path = rec.save(tmp_path)
    assert (path.stat().st_mode & 0o777) == 0o600
    back = model_io.load_recognizer(tmp_path)
    w = synth_speaker_wave(1, 2.0, seed=99)
    np.testing.assert_allclose(back.logits(w), rec.logits(w), rtol=1e-6, atol=1e-6)
    assert back.threshold == pytest.approx(rec.threshold)
    card = model_io.read_card(tmp_path)
    assert card["backend"] == "fusion" and card["speakers"] == ["ann", "bob", "cy"]
    assert card["members"][0]["feature_hash"]


def legacy_packed_arrays(rec) -> dict:
    """A model file as written before shards (up to commit 2dbb484): every feature, window and
    statistic packed into the one ``.npz``, no cached held-out scores."""
    from voicelive.recognition.packing import pack

    arrays, params = {}, []
    for i, b in enumerate(rec.backends):
        a, p = b.get_state()
        arrays.update({f"b{i}/{k}": v for k, v in a.items()})
        params.append(p)
        arrays.update(pack(f"f{i}", [model_io._stored_features(f) for s in rec.speakers for f in rec._feats[i][s]]))
        arrays.update(pack(f"p{i}", [model_io._stored_features(f) for _, _, f in rec._pseudo[i]]))
        arrays.update(pack(f"w{i}", [model_io._stored_features(f) for _, _, f in rec._windows[i]]))
    cal_a, cal_p = rec.calibrator.get_state()
    arrays.update(cal_a)
    card = rec.card()
    card.pop("files")
    arrays["card.json"] = np.frombuffer(json.dumps(card).encode(), dtype=np.uint8)
    state = {"backend_params": params, "calibration": cal_p, "target_far": rec.target_far,
             "n_clips": {s: len(rec._feats[0][s]) for s in rec.speakers},
             "pseudo": [[[s, f] for s, f, _ in p] for p in rec._pseudo], "folds": rec._folds,
             "windows": [[[s, f] for s, f, _ in w] for w in rec._windows]}
    arrays["state.json"] = np.frombuffer(json.dumps(state).encode(), dtype=np.uint8)
    return arrays


def test_model_written_before_shards_still_loads(rec, tmp_path):
    """Files from before shards (everything in the one file) load with the same scores and features,
    and the next save moves their data into a shard."""
    np.savez(tmp_path / "model.npz", **legacy_packed_arrays(rec))
    back = model_io.load_recognizer(tmp_path)
    w = synth_speaker_wave(2, 2.0, seed=98)
    np.testing.assert_allclose(back.logits(w), rec.logits(w), rtol=1e-6, atol=1e-6)
    assert back.threshold == rec.threshold
    for i in range(len(rec.backends)):
        for s in rec.speakers:
            for a, b in zip(back._feats[i][s], rec._feats[i][s]):
                np.testing.assert_array_equal(a, model_io._loaded_features(model_io._stored_features(b)))
    assert back._shard_of == {}
    model_io.save_recognizer(back, tmp_path)
    again = model_io.load_recognizer(tmp_path)
    assert set(again._shard_of) == set(rec.speakers)
    np.testing.assert_allclose(again.logits(w), rec.logits(w), rtol=1e-6, atol=1e-6)


def test_model_written_one_member_per_array_still_loads(rec, tmp_path):
    """Files from before the features were packed keep loading (same scores, same stored features)."""
    from voicelive.recognition.packing import unpack

    arrays = legacy_packed_arrays(rec)
    state = json.loads(arrays["state.json"].tobytes())
    old = {k: v for k, v in arrays.items() if "/index" not in k and "/dtypes" not in k and "/data." not in k}
    for i in range(len(rec.backends)):
        flat = unpack(arrays, f"f{i}")
        j = 0
        for si, s in enumerate(rec.speakers):
            for ci in range(state["n_clips"][s]):
                old[f"f{i}/{si}/{ci}"] = flat[j]
                j += 1
        old.update({f"p{i}/{k}": a for k, a in enumerate(unpack(arrays, f"p{i}"))})
        old.update({f"w{i}/{k}": a for k, a in enumerate(unpack(arrays, f"w{i}"))})
    gmm = 1  # fusion = ge2e, gmm-ubm
    for k, a in enumerate(unpack({key[3:]: v for key, v in arrays.items() if key.startswith("b1/")}, "stats")):
        old[f"b{gmm}/stats_{'nf'[k % 2]}/{k // 2}"] = a
    np.savez(tmp_path / "model.npz", **old)
    back = model_io.load_recognizer(tmp_path)
    w = synth_speaker_wave(2, 2.0, seed=98)
    np.testing.assert_allclose(back.logits(w), rec.logits(w), rtol=1e-6, atol=1e-6)
    assert [len(v) for v in back._feats[1].values()] == [len(v) for v in rec._feats[1].values()]


def test_load_refuses_feature_mismatch(rec, tmp_path):
    path = rec.save(tmp_path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    card = json.loads(arrays["card.json"].tobytes())
    card["members"][1]["feature_hash"] = "0000000000000000"
    arrays["card.json"] = np.frombuffer(json.dumps(card).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(ModelError, match="other 'gmm-ubm' features"):
        model_io.load_recognizer(tmp_path)


def test_load_refuses_corrupt_file(tmp_path):
    (tmp_path / "model.npz").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="corrupt"):
        model_io.load_recognizer(tmp_path)


def test_empty_roster_is_a_clear_error():
    r = Recognizer.create("gmm-ubm")
    with pytest.raises(NotEnrolledError, match="enroll"):
        r.identify(synth_speaker_wave(0, 1.0, seed=0))


def test_add_and_remove_speaker():
    r = Recognizer.create("gmm-ubm")
    r.enroll({"ann": clips(0), "bob": clips(1), "cy": clips(2), "dan": clips(3), "eve": clips(4)})
    r.add_speaker("fay", clips(5))
    assert r.speakers == ["ann", "bob", "cy", "dan", "eve", "fay"]
    r.remove_speaker("bob")
    assert "bob" not in r.speakers
    with pytest.raises(UnknownSpeakerError, match="unknown speaker 'zed'"):
        r.remove_speaker("zed")


def test_single_speaker_roster_verifies(ge2e_weights):
    r = Recognizer.create("fusion", target_far=0.05)
    r.enroll({"solo": clips(0, n=5)})
    assert r.speakers == ["solo"]
    own = np.mean([r.identify(w).score for w in clips(0, n=4, seed0=40)])
    other = np.mean([r.identify(w).score for sid in (3, 6, 9) for w in clips(sid, n=2, seed0=60)])
    assert own > other
    assert np.mean([r.identify(w).speaker == "solo" for sid in (3, 6, 9) for w in clips(sid, n=2, seed0=60)]) <= 0.5
    assert r.card()["calibration"]["n_nontarget_trials"] > 0  # pseudo-impostors stood in for a cohort
    assert r.uses_pseudo_impostors and r.small_roster and "shifted copies" in r.card()["calibration"]["impostors"]


def test_classifier_backends_need_two_speakers():
    r = Recognizer.create("fast-svm")
    with pytest.raises(ConfigError, match="at least 2 speakers"):
        r.enroll({"solo": clips(0, n=5)})


def test_adding_after_a_save_and_load_equals_adding_in_memory(tmp_path):
    """The product enrolls people one at a time, saving and loading the model in between; while the
    GMM-UBM is still refitted on every addition (a small roster), the stored frames must be exactly
    the ones in memory (they were once kept in half precision, and one-at-a-time enrollment came
    out measurably worse than enrolling everyone together)."""
    first = {"ann": clips(0), "bob": clips(1)}
    mem = Recognizer.create("gmm-ubm")
    mem.enroll(first)
    model_io.write_recognizer(mem, tmp_path / "model.npz")
    disk = model_io.load_recognizer(tmp_path)
    for name in first:
        for a, b in zip(mem._feats[0][name], disk._feats[0][name]):
            assert a.dtype == b.dtype and np.array_equal(a, b)
    assert mem.backends[0].needs_refit_on_add()                 # the next addition refits the UBM
    mem.add_speaker("cy", clips(2))
    disk.add_speaker("cy", clips(2))
    probe = synth_speaker_wave(2, 2.0, seed=77)
    np.testing.assert_array_equal(disk.logits(probe), mem.logits(probe))
    assert disk.threshold == mem.threshold


def test_gmm_member_tells_speech_seconds_and_logits_use_them(rec):
    from voicelive.recognition.gmm_ubm import GMMUBMBackend

    bi = next(i for i, b in enumerate(rec.backends) if isinstance(b, GMMUBMBackend))
    w = np.concatenate([synth_speaker_wave(0, 1.0, seed=5), np.zeros(16_000, dtype=np.float32)])
    feats = rec.extract(w)
    frames = feats[bi].shape[0]
    assert rec.speech_seconds(feats) == pytest.approx(frames * 0.01)
    assert 0.5 <= rec.speech_seconds(feats) <= 1.2          # the silent second is not speech
    # the summary a model keeps of a trial tells the same
    b = rec.backends[bi]
    assert b.speech_seconds(b.summarise(feats[bi])) == pytest.approx(frames * 0.01)
    cal = rec.calibrator
    expect = cal.logits(rec.raw_scores(feats)) - cal.duration_offset(rec.speech_seconds(feats))
    np.testing.assert_allclose(rec.logits_features(feats), expect)


def test_eight_enrolled_people_are_their_own_impostors():
    from voicelive.recognition.recognizer import MIN_REAL_COHORT

    r = Recognizer.create("gmm-ubm")
    r.enroll({f"s{i}": clips(i, n=3, seconds=1.5) for i in range(MIN_REAL_COHORT)})
    assert not r.uses_pseudo_impostors and not r.small_roster
    assert r.card()["calibration"]["impostors"] == "the other enrolled speakers"
    r.add_speaker("s0", clips(0, n=3, seconds=1.5))   # replacing someone keeps the roster at 8
    assert not r.uses_pseudo_impostors and not r.small_roster
    r.remove_speaker("s0")     # 7 people: still no shifted copies (no audio kept), but a small roster
    assert r.small_roster and not r.uses_pseudo_impostors
    n_before = r.card()["calibration"]["n_nontarget_trials"]
    audio = {f"s{i}": clips(i, n=3, seconds=1.5) for i in range(1, MIN_REAL_COHORT)}
    assert r.ensure_pseudo_impostors(audio.__getitem__)       # the copies are made now ...
    assert r.uses_pseudo_impostors and r.card()["calibration"]["n_nontarget_trials"] > n_before
    assert not r.ensure_pseudo_impostors(audio.__getitem__)   # ... once
