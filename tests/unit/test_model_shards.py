"""Model shards and cheap updates: the shard file format, a model saved as a small file plus shards,
cached held-out scores giving the same calibration as scoring everything again, and the store
keeping (and only keeping) the shards its model versions need."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synth import synth_speaker_wave
from voicelive.enrollment.model_update import active_recognizer, save_active
from voicelive.errors import ModelError, ModelMissingError
from voicelive.recognition import model_io, recognizer as recognizer_mod, shards
from voicelive.recognition.recognizer import Recognizer, full_roster_budget, full_roster_rows
from voicelive.store import Store


# -- the file format ----------------------------------------------------------------------------

def test_shard_round_trip_is_exact_read_only_and_private(tmp_path):
    arrays = {"a": np.arange(12, dtype=np.float64).reshape(3, 4), "h": np.linspace(-1, 1, 7).astype(np.float16),
              "i": np.array([1, -2, 3], dtype=np.int64), "empty": np.zeros((0, 5), dtype=np.float32),
              "scalar": np.array(2.5), "cube": np.ones((2, 3, 5), dtype=np.float32)}
    name = shards.write_shard(tmp_path, arrays, {"speakers": ["ann"], "n": 3})
    path = tmp_path / name
    assert (path.stat().st_mode & 0o777) == 0o600
    assert not list(tmp_path.glob(".tmp-*"))
    back, meta = shards.read_shard(path)
    assert meta == {"speakers": ["ann"], "n": 3}
    assert set(back) == set(arrays)
    for k, a in arrays.items():
        assert back[k].dtype == a.dtype and back[k].shape == a.shape
        np.testing.assert_array_equal(back[k], a)
    with pytest.raises(ValueError):
        back["a"][0, 0] = 1.0   # views of the mapped file are read-only
    shards.verify_shard(path)
    # the name is the content: writing the same data again gives the same file
    assert shards.write_shard(tmp_path, arrays, {"speakers": ["ann"], "n": 3}) == name


def test_damaged_shards_are_refused(tmp_path):
    name = shards.write_shard(tmp_path, {"x": np.arange(1000, dtype=np.float32)}, {})
    path = tmp_path / name
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum"):
        shards.verify_shard(path)
    path.write_bytes(bytes(data[:200]))   # truncated inside the data
    with pytest.raises(ModelError, match="damaged"):
        shards.read_shard(path)
    path.write_bytes(b"not a shard at all")
    with pytest.raises(ModelError, match="damaged"):
        shards.read_shard(path)
    with pytest.raises(ModelMissingError, match="missing"):
        shards.read_shard(tmp_path / "gone.vls")


# -- cached held-out scores ---------------------------------------------------------------------

def _clips(spk, n=3):
    return [synth_speaker_wave(spk, 2.0, seed=10 * spk + k) for k in range(n)]


@pytest.fixture
def small_budget(monkeypatch):
    """Few trials scored against the whole roster, so most take the own-speaker (cached) path
    as at 1000 speakers."""
    monkeypatch.setattr(recognizer_mod, "MAX_FULL_ROSTER_TRIALS", 12)
    monkeypatch.setattr(recognizer_mod, "MIN_FULL_ROSTER_TRIALS", 12)


@pytest.fixture(scope="module")
def voices():
    return {f"v{k}": _clips(k) for k in range(9)}


def _calibration(rec):
    c = rec.calibrator
    return [c.mu, c.sd, c.weights, np.array([c.bias]), c.target_logits, c.nontarget_logits,
            np.array([rec.threshold_logit])]


def _assert_same(a, b):
    for x, y in zip(_calibration(a), _calibration(b)):
        np.testing.assert_array_equal(x, y)


def test_ge2e_incremental_update_equals_a_full_build(tmp_path, voices, small_budget, ge2e_weights):
    first = {k: v for k, v in voices.items() if k != "v8"}
    rec = Recognizer.create("ge2e")
    rec.enroll(first)
    model_io.save_recognizer(rec, tmp_path)
    loaded = model_io.load_recognizer(tmp_path)
    assert set(loaded._own[0]) == set(first)   # the cache was saved with the model
    trials = loaded._trials(0)
    assert full_roster_rows([t[0] for t in trials], full_roster_budget(9))[1], "no trial takes the cached path"

    scored = []
    orig = loaded.backends[0].cross_val_target_scores
    loaded.backends[0].cross_val_target_scores = lambda f, fo, t: (scored.extend(x[0] for x in t), orig(f, fo, t))[1]
    loaded.add_speaker("v8", voices["v8"])
    assert set(scored) == {"v8"}, "an update scores only the new speaker's trials against its own model"

    full = Recognizer.create("ge2e")
    full.enroll(voices)    # "v8" sorts last, so its trials come last in both
    _assert_same(loaded, full)
    w = synth_speaker_wave(3, 2.0, seed=999)
    np.testing.assert_array_equal(loaded.logits(w), full.logits(w))


def test_fusion_update_with_cached_scores_equals_scoring_everything_again(tmp_path, voices, small_budget,
                                                                        ge2e_weights):
    first = {k: v for k, v in voices.items() if k != "v8"}
    rec = Recognizer.create("fusion")
    rec.enroll(first)
    assert rec.backends[1].independent_cv()    # the GMM-UBM's UBM is final: its scores are cached too
    model_io.save_recognizer(rec, tmp_path)
    cached = model_io.load_recognizer(tmp_path)
    cached.add_speaker("v8", voices["v8"])

    again = model_io.load_recognizer(tmp_path)
    again._own = [{} for _ in again.backends]   # nothing cached: every speaker scored again
    again.add_speaker("v8", voices["v8"])
    _assert_same(cached, again)

    # the algorithm before the cache (every own-speaker trial scored in one batch) gives the same
    # numbers up to the last bits (a BLAS product of another shape): compare closely
    batch = [b.cross_val_target_scores(again._feats[bi], again._folds,
                                       [t for i, t in enumerate(again._trials(bi))
                                        if i in set(full_roster_rows([x[0] for x in again._trials(bi)],
                                                                     full_roster_budget(9))[1])])
             for bi, b in enumerate(again.backends)]
    for bi in range(2):
        trials = again._trials(bi)
        own_rows = full_roster_rows([t[0] for t in trials], full_roster_budget(9))[1]
        np.testing.assert_allclose(again._own_scores(bi, trials, own_rows), batch[bi], rtol=1e-12, atol=1e-12)


def test_model_from_before_shards_updates_like_a_new_one(tmp_path, voices, small_budget, ge2e_weights):
    from test_recognizer import legacy_packed_arrays

    rec = Recognizer.create("fusion")
    rec.enroll({k: v for k, v in voices.items() if k != "v8"})
    (tmp_path / "old").mkdir()
    np.savez(tmp_path / "old" / "model.npz", **legacy_packed_arrays(rec))
    model_io.save_recognizer(rec, tmp_path / "new")
    old = model_io.load_recognizer(tmp_path / "old")
    new = model_io.load_recognizer(tmp_path / "new")
    assert old._own == [{}, {}] and set(new._own[1]) == set(rec.speakers)
    old.add_speaker("v8", voices["v8"])
    new.add_speaker("v8", voices["v8"])
    _assert_same(old, new)


# -- the store keeps what its versions need -----------------------------------------------------

@pytest.fixture
def enrolled_store(tmp_path, voices, ge2e_weights):
    store = Store.open(tmp_path / "data")
    rec = Recognizer.create("ge2e")
    rec.enroll({k: voices[k] for k in ("v0", "v1", "v2")})
    save_active(store, rec)
    yield store, rec
    store.close()


def test_an_update_writes_one_small_shard_and_reuses_the_rest(enrolled_store, voices):
    store, _ = enrolled_store
    sdir = store.models_dir / "shards"
    before = set(p.name for p in sdir.iterdir())
    rec = active_recognizer(store)
    rec.add_speaker("v3", voices["v3"])
    save_active(store, rec)
    after = set(p.name for p in sdir.iterdir())
    assert len(after - before) == 1 and before <= after
    new_shard = sdir / (after - before).pop()
    _, meta = shards.read_shard(new_shard)
    assert meta["speakers"] == ["v3"]
    card = store.active_model().card
    assert sorted(card["files"]) == sorted(f"shards/{n}" for n in after)
    store.verify_model()
    back = active_recognizer(store)
    w = synth_speaker_wave(3, 2.0, seed=5)
    np.testing.assert_array_equal(back.logits(w), rec.logits(w))


def test_a_failed_save_after_its_shard_keeps_the_previous_model(enrolled_store, voices):
    store, _ = enrolled_store
    vid = store.active_model().version_id
    rec = active_recognizer(store)
    rec.add_speaker("v3", voices["v3"])
    model_io.write_shards(rec, store.models_dir / "shards")   # the shard is on disk ...

    def crash(path):
        raise RuntimeError("killed while writing the model file")

    with pytest.raises(RuntimeError):
        store.save_model(rec.name, rec.card(), crash)   # ... the version that uses it is not
    assert store.active_model().version_id == vid
    store.verify_model()
    assert active_recognizer(store).speakers == ["v0", "v1", "v2"]
    # the orphan shard goes with the next prune; the active version's shards stay
    needed = set(store.active_model().card["files"])
    assert len(list((store.models_dir / "shards").iterdir())) == len(needed) + 1
    store.prune_models(keep=0)
    assert {f"shards/{p.name}" for p in (store.models_dir / "shards").iterdir()} == needed
    store.verify_model()


def test_prune_keeps_shards_of_kept_versions_and_verify_finds_damage(enrolled_store, voices):
    store, _ = enrolled_store
    rec = active_recognizer(store)
    rec.remove_speaker("v0")
    save_active(store, rec)       # v0's data stays in the first shard, which v1-v2 still use
    rec.add_speaker("v0", voices["v4"])
    save_active(store, rec)
    store.prune_models(keep=0)
    card = store.active_model().card
    assert {f"shards/{p.name}" for p in (store.models_dir / "shards").iterdir()} == set(card["files"])
    assert active_recognizer(store).speakers == ["v0", "v1", "v2"]
    p = store.models_dir / card["files"][0]
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum"):
        store.verify_model()
    p.unlink()
    with pytest.raises(ModelMissingError, match="missing"):
        store.verify_model()


def test_a_card_listing_files_outside_the_shards_folder_is_refused(enrolled_store):
    store, _ = enrolled_store
    with pytest.raises(ModelError, match="not a file in models/shards"):
        store.save_model("ge2e", {"files": ["../roster.db"]}, lambda p: p.write_bytes(b"m"))
    with pytest.raises(ModelError, match="missing"):
        store.save_model("ge2e", {"files": ["shards/" + "0" * 32 + ".vls"]}, lambda p: p.write_bytes(b"m"))
    json.dumps(store.active_model().card)   # the active model is untouched
    store.verify_model()


def test_many_enrollments_do_not_pile_up_shards(tmp_path, monkeypatch, ge2e_weights):
    """One shard per enrollment, but beyond MAX_SHARDS the smallest are merged into the next one
    (at most MAX_MERGED_SPEAKERS speakers rewritten), and the model loads the same."""
    monkeypatch.setattr(model_io, "MAX_SHARDS", 4)
    monkeypatch.setattr(model_io, "MAX_MERGED_SPEAKERS", 3)
    rng = np.random.default_rng(3)

    def feats():
        c = np.abs(rng.normal(size=256))
        return [np.abs(c + 0.3 * rng.normal(size=256)).astype(np.float32) for _ in range(4)]

    rec = Recognizer.create("ge2e")
    rec.enroll_features([{"a": feats(), "b": feats()}])
    counts = []
    for k in range(12):
        rec.add_speaker_features(f"n{k:02d}", [feats()])
        model_io.save_recognizer(rec, tmp_path)
        counts.append(len(model_io._group_by_shard(rec)))
    # 14 speakers in 12 enrollments: merges keep it at a handful (without them: 13 shards)
    assert counts[:4] == [1, 2, 3, 4] and max(counts) <= 5, counts
    assert len(list((tmp_path / "shards").iterdir())) == counts[-1]   # unused ones were deleted
    back = model_io.load_recognizer(tmp_path)
    w = np.abs(rng.normal(size=256)).astype(np.float32)
    np.testing.assert_array_equal(back.logits_features([w]), rec.logits_features([w]))
    _assert_same(back, rec)


def test_saving_prunes_old_versions_but_not_a_fresh_unlisted_shard(enrolled_store, voices, monkeypatch):
    """Every save keeps the newest KEEP_MODEL_VERSIONS inactive versions; a shard no version lists
    yet (another process's save in flight) survives until it is PRUNE_MIN_AGE_S old."""
    import os

    from voicelive.enrollment import model_update

    store, _ = enrolled_store
    monkeypatch.setattr(model_update, "KEEP_MODEL_VERSIONS", 1)
    sdir = store.models_dir / "shards"
    in_flight = sdir / ("f" * 32 + ".vls")
    in_flight.write_bytes(b"written by another process, not committed yet")
    rec = active_recognizer(store)
    for name in ("v3", "v4", "v5"):
        rec.add_speaker(name, voices[name])
        save_active(store, rec)
    versions = store.list_models()
    assert len(versions) == 2 and sum(v.active for v in versions) == 1       # active + one kept
    assert in_flight.exists()
    model_files = [p for p in store.models_dir.iterdir() if p.is_file()]
    assert len(model_files) == 2                                               # old files deleted
    old = in_flight.stat().st_mtime - 2 * model_update.PRUNE_MIN_AGE_S
    os.utime(in_flight, (old, old))                                            # long abandoned
    rec.remove_speaker("v5")
    save_active(store, rec)
    assert not in_flight.exists()
    store.verify_model()
    assert active_recognizer(store).speakers == ["v0", "v1", "v2", "v3", "v4"]
