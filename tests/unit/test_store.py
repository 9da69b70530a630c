"""Roster store: round trips, integrity, model versions, access log, settings, migrations,
corrupt files and a reader running while a writer writes."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
from pathlib import Path

import numpy as np
import pytest

from synth import synth_speaker_wave
from voicelive.errors import (AudioError, ConfigError, ModelError, ModelMissingError, StoreError,
                              UnknownSpeakerError, VoiceliveError)
from voicelive.store import SCHEMA_VERSION, SpeakerExistsError, Store, db


def wave(speaker: int = 0, seed: int = 0, seconds: float = 1.0) -> np.ndarray:
    return synth_speaker_wave(speaker, seconds, seed=seed)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path)
    yield s
    s.close()


# -- opening -----------------------------------------------------------------------------------

def test_new_store_is_private_wal_with_current_schema(tmp_path):
    with Store.open(tmp_path / "data") as s:
        assert s.path == (tmp_path / "data" / "voicelive.db").resolve()
        assert s.schema_version == SCHEMA_VERSION
        s.add_speaker("Alice")
        conn = sqlite3.connect(s.path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA application_id").fetchone()[0] == db.APPLICATION_ID
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            p = s.path.with_name(s.path.name + suffix)
            assert p.exists() and mode(p) == 0o600, (p, oct(mode(p)))


def test_open_follows_voicelive_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICELIVE_DATA_DIR", str(tmp_path / "env"))
    with Store.open() as s:
        assert s.data_dir == (tmp_path / "env").resolve()
    with Store.open(tmp_path / "flag") as s:  # --data-dir wins over the environment
        assert s.data_dir == (tmp_path / "flag").resolve()


def test_foreign_keys_are_enforced(store):
    conn = store._conn()
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO clips(speaker_id, sha256, duration_s, sr, created) VALUES (99, 'x', 1, 16000, 'now')")


def test_not_a_database_is_a_clear_store_error(tmp_path):
    p = tmp_path / "voicelive.db"
    p.write_bytes(b"this is not sqlite at all " * 200)
    with pytest.raises(StoreError, match="is not a VoiceLive database .corrupt.*move it aside or restore a backup"):
        Store(p)


def test_another_apps_sqlite_database_is_refused(tmp_path):
    p = tmp_path / "voicelive.db"
    conn = sqlite3.connect(p)
    conn.execute("CREATE TABLE foo(x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a VoiceLive database"):
        Store(p)


def test_database_from_a_newer_version_is_refused(tmp_path):
    with Store.open(tmp_path) as s:
        path = s.path
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer VoiceLive.*upgrade"):
        Store(path)


def test_closed_store_says_so(tmp_path):
    s = Store.open(tmp_path)
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.list_speakers()


# -- migrations ------------------------------------------------------------------------------

def test_migrates_a_version_1_database_with_data(tmp_path):
    path = tmp_path / "voicelive.db"
    conn = db.connect(path)
    assert db.migrate(conn, path, up_to=1) == 1
    from voicelive.store import codec
    flac = codec.encode_flac(wave())
    sha = codec.sha256_hex(flac)
    conn.execute("INSERT INTO speakers(name, created, updated) VALUES ('Ann', 't', 't')")
    for quality in (json.dumps({"speech_s": 0.7, "verdict": "ok"}), None, "not json"):
        cur = conn.execute("INSERT INTO clips(speaker_id, sha256, duration_s, sr, quality, created) "
                           "VALUES (1, ?, 1.0, 16000, ?, 't')", (sha, quality))
        conn.execute("INSERT INTO clip_audio(clip_id, audio) VALUES (?, ?)", (cur.lastrowid, flac))
    models = tmp_path / "models"
    models.mkdir()
    (models / "old.bin").write_bytes(b"v1 model")
    conn.execute("INSERT INTO model_versions(backend, card, path, created, active) "
                 "VALUES ('gmm', '{}', 'models/old.bin', 't', 1)")
    conn.close()

    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION >= 2
        info = s.get_speaker("Ann")
        assert info.n_clips == 3
        assert info.speech_s == pytest.approx(0.7 + 1.0 + 1.0)  # backfilled from quality, else duration
        assert len(s.clips("Ann")) == 3
        am = s.active_model()
        assert am.backend == "gmm" and am.path == models / "old.bin"
        assert s.verify_model() == models / "old.bin"  # no checksum from v1: existence only
        assert s.check() == []


def test_a_failing_migration_changes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "voicelive.db"
    with Store(path) as s:
        s.add_speaker("Bo")
    bad = db.Migration(SCHEMA_VERSION + 1, "broken", ("ALTER TABLE speakers ADD COLUMN extra TEXT",
                                                      "THIS IS NOT SQL"))
    monkeypatch.setattr(db, "MIGRATIONS", db.MIGRATIONS + (bad,))
    monkeypatch.setattr(db, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    conn = db.connect(path)
    with pytest.raises(StoreError):
        db.migrate(conn, path, up_to=SCHEMA_VERSION + 1)
    assert db.user_version(conn) == SCHEMA_VERSION
    cols = [r[1] for r in conn.execute("PRAGMA table_info(speakers)")]
    assert "extra" not in cols
    conn.close()


# -- speakers and clips ----------------------------------------------------------------------

def test_clip_round_trip_is_lossless_at_16_bit(store):
    waves = [wave(0, s, 1.0 + 0.5 * s) for s in range(3)]
    info = store.add_speaker_with_clips("Alice", waves, device="USB mic",
                                        qualities=[{"speech_s": 0.8, "verdict": "ok"}, None, None])
    assert info.n_clips == 3 and info.duration_s == pytest.approx(1.0 + 1.5 + 2.0)
    assert info.speech_s == pytest.approx(0.8 + 1.5 + 2.0)
    back = store.clips("Alice")
    for w, b in zip(waves, back):
        assert b.dtype == np.float32 and b.shape == w.shape
        assert np.max(np.abs(b - w)) <= 1.0 / 32768 + 1e-7
    recs = store.clip_records("Alice")
    assert [r.device for r in recs] == ["USB mic"] * 3
    assert recs[0].quality == {"speech_s": 0.8, "verdict": "ok"} and recs[1].quality is None
    assert all(r.sr == 16000 and r.flac is None for r in recs)


def test_clips_at_other_rates_are_stored_at_16k(store):
    import scipy.signal
    store.add_speaker("Cy")
    w48 = scipy.signal.resample_poly(wave(1, 1), 3, 1).astype(np.float32)
    store.add_clip("Cy", w48, sr=48_000)
    (back,) = store.clips("Cy")
    assert back.size == pytest.approx(16_000, abs=2)


def test_quality_objects_are_stored_as_json(store):
    from voicelive.enrollment.quality import assess_clip
    w = synth_speaker_wave(2, 3.0, seed=3)
    q = assess_clip(w)
    store.add_speaker("Di")
    store.add_clip("Di", w, quality=q)
    rec = store.clip_records("Di")[0]
    assert rec.quality["verdict"] == "ok" and rec.speech_s == pytest.approx(q.speech_s, abs=1e-3)
    assert store.get_speaker("Di").speech_s == pytest.approx(q.speech_s, abs=1e-3)


def test_bad_clips_are_refused_and_nothing_is_half_added(store):
    good = wave(0, 1)
    with pytest.raises(AudioError, match="NaN"):
        store.add_speaker_with_clips("Eve", [good, np.array([0.1, np.nan] * 800, np.float32)])
    with pytest.raises(AudioError, match="silent"):
        store.add_speaker_with_clips("Eve", [good, np.zeros(16000, np.float32)])
    with pytest.raises(AudioError, match="shape"):
        store.add_speaker_with_clips("Eve", [np.zeros((10, 2), np.float32)])
    assert store.list_speakers() == []


def test_names_are_unique_and_validated(store):
    store.add_speaker("Alice")
    with pytest.raises(SpeakerExistsError, match="already exists"):
        store.add_speaker(" Alice ")  # outer spaces do not make a new name
    with pytest.raises(SpeakerExistsError):
        store.add_speaker_with_clips("Alice", [wave()])
    for bad in ("", "   ", "a\nb", "x" * 81):
        with pytest.raises(ConfigError):
            store.add_speaker(bad)
    assert isinstance(SpeakerExistsError("x"), VoiceliveError)


def test_list_rename_remove(store):
    store.add_speaker_with_clips("bob", [wave(1, 1)])
    store.add_speaker_with_clips("Alice", [wave(0, 1), wave(0, 2)], notes="front desk")
    store.add_speaker("carol")
    names = [s.name for s in store.list_speakers()]
    assert names == ["Alice", "bob", "carol"]  # case-insensitive order
    assert [s.n_clips for s in store.list_speakers()] == [2, 1, 0]
    assert store.get_speaker("Alice").notes == "front desk"

    info = store.rename_speaker("bob", "Bob")
    assert info.name == "Bob" and info.n_clips == 1
    with pytest.raises(SpeakerExistsError):
        store.rename_speaker("Bob", "Alice")
    assert store.rename_speaker("Bob", "Bob").name == "Bob"  # no-op

    removed = store.remove_speaker("Alice")
    assert removed.n_clips == 2
    conn = store._conn()
    assert conn.execute("SELECT count(*) FROM clips").fetchone()[0] == 1  # Bob's only
    assert conn.execute("SELECT count(*) FROM clip_audio").fetchone()[0] == 1
    assert not store.has_speaker("Alice")


def test_unknown_speaker_message_names_the_roster(store):
    with pytest.raises(UnknownSpeakerError, match="roster is empty.*voicelive enroll"):
        store.get_speaker("Zed")
    store.add_speaker("Alice")
    store.add_speaker("Bob")
    with pytest.raises(UnknownSpeakerError) as ei:
        store.clips("alice")
    msg = str(ei.value)
    assert "did you mean 'Alice'" in msg and "Alice, Bob" in msg and "voicelive speakers list" in msg
    with pytest.raises(KeyError):  # UnknownSpeakerError is also a KeyError
        store.remove_speaker("Nobody")


def test_add_clips_and_replace(store):
    store.add_speaker_with_clips("Fay", [wave(3, 1)])
    ids = store.add_clips("Fay", [wave(3, 2), wave(3, 3)])
    assert len(ids) == 2 and store.get_speaker("Fay").n_clips == 3
    store.add_clips("Fay", [wave(3, 9)], replace=True)
    (only,) = store.clips("Fay")
    assert np.allclose(only, wave(3, 9), atol=1e-4)
    store.remove_clip(store.clip_records("Fay")[0].id)
    assert store.get_speaker("Fay").n_clips == 0
    with pytest.raises(StoreError, match="no clip"):
        store.remove_clip(12345)
    with pytest.raises(ConfigError, match="quality"):
        store.add_clips("Fay", [wave(), wave()], qualities=[None])


def test_clips_by_speaker_snapshot(store):
    store.add_speaker_with_clips("A", [wave(0, 1), wave(0, 2)])
    store.add_speaker_with_clips("B", [wave(1, 1)])
    store.add_speaker("C")
    got = store.clips_by_speaker()
    assert {k: len(v) for k, v in got.items()} == {"A": 2, "B": 1, "C": 0}


def test_corrupted_clip_audio_is_detected(store):
    store.add_speaker_with_clips("Gus", [wave(2, 1), wave(2, 2)])
    conn = store._conn()
    clip_id, audio = conn.execute("SELECT clip_id, audio FROM clip_audio ORDER BY clip_id LIMIT 1").fetchone()
    bad = bytearray(audio)
    bad[len(bad) // 2] ^= 0xFF
    conn.execute("UPDATE clip_audio SET audio = ? WHERE clip_id = ?", (bytes(bad), clip_id))
    with pytest.raises(StoreError, match=r"clip \d+ of 'Gus' is corrupt \(checksum.*re-enroll"):
        store.clips("Gus")
    assert store.clip_records("Gus")[0].sha256  # metadata still readable
    assert any("checksum mismatch" in p for p in store.check())


def test_roster_revision_counts_changes(store):
    r0 = store.roster_revision()
    store.add_speaker("H")
    store.add_clip("H", wave())
    store.rename_speaker("H", "Hal")
    store.remove_speaker("Hal")
    assert store.roster_revision() == r0 + 4
    store.set_setting("kiosk.unlock_s", 5)  # settings are not roster changes
    assert store.roster_revision() == r0 + 4


# -- models ----------------------------------------------------------------------------------

def writer_of(content: bytes):
    def write(path: Path) -> None:
        path.write_bytes(content)
    return write


def test_save_model_writes_activates_and_switches(store):
    assert store.active_model() is None
    v1 = store.save_model("gmm", {"speakers": ["A"], "roster_revision": 3}, writer_of(b"model one"))
    am = store.active_model()
    assert am == (v1, "gmm", {"speakers": ["A"], "roster_revision": 3}, am.path)
    assert am.path.read_bytes() == b"model one" and am.path.parent == store.models_dir
    assert am.path.name == f"v{v1:06d}.npz" and mode(am.path) == 0o600
    v2 = store.save_model("gmm", {"n": 2}, writer_of(b"model two"), ext="bin")
    assert v2 > v1
    assert store.active_model().version_id == v2 and store.active_model().path.suffix == ".bin"
    versions = store.list_models()
    assert [m.active for m in versions] == [False, True]
    assert (store.data_dir / f"models/v{v1:06d}.npz").read_bytes() == b"model one"  # kept
    assert store.verify_model() == store.active_model().path
    store.activate_model(v1)
    assert store.active_model().version_id == v1
    assert list(store.models_dir.glob(".tmp-*")) == []


def test_numpy_writer(store):
    arrays = {"means": np.arange(6.0).reshape(2, 3)}
    vid = store.save_model("emb", {"dim": 3}, lambda p: np.savez(p, **arrays))
    with np.load(store.active_model().path) as z:
        np.testing.assert_array_equal(z["means"], arrays["means"])
    assert vid == store.active_model().version_id


def test_failed_save_keeps_the_previous_model(store):
    v1 = store.save_model("gmm", {}, writer_of(b"good"))

    def crash(path: Path) -> None:
        path.write_bytes(b"half a mod")
        raise RuntimeError("training blew up")

    with pytest.raises(RuntimeError):
        store.save_model("gmm", {}, crash)
    with pytest.raises(ModelError, match="wrote nothing"):
        store.save_model("gmm", {}, lambda p: None)
    with pytest.raises(ConfigError, match="JSON"):
        store.save_model("gmm", {"bad": object()}, writer_of(b"x"))
    with pytest.raises(ConfigError, match="JSON"):
        store.save_model("gmm", {"nan": float("nan")}, writer_of(b"x"))
    am = store.active_model()
    assert am.version_id == v1 and am.path.read_bytes() == b"good"
    assert len(store.list_models()) == 1
    assert sorted(p.name for p in store.models_dir.iterdir()) == [am.path.name]


def test_model_tampering_and_loss_are_reported(store):
    store.save_model("gmm", {}, writer_of(b"0123456789"))
    path = store.active_model().path
    path.write_bytes(b"0123456780")
    with pytest.raises(ModelError, match="checksum"):
        store.verify_model()
    path.write_bytes(b"01234")
    with pytest.raises(ModelError, match="truncated"):
        store.verify_model()
    path.unlink()
    with pytest.raises(ModelMissingError, match="missing.*voicelive train"):
        store.active_model()
    assert store.check() != []
    with pytest.raises(ModelMissingError):
        store.activate_model(999)


def test_prune_models_keeps_active_and_newest(store):
    ids = [store.save_model("gmm", {"i": i}, writer_of(b"m%d" % i)) for i in range(5)]
    store.activate_model(ids[0])
    (store.models_dir / "v999999.npz").write_bytes(b"orphan of a crash")
    removed = store.prune_models(keep=2)
    assert removed == [ids[1], ids[2]]
    left = sorted(m.id for m in store.list_models())
    assert left == [ids[0], ids[3], ids[4]]
    assert sorted(p.name for p in store.models_dir.iterdir()) == sorted(
        f"v{i:06d}.npz" for i in left)


def test_stale_temporary_model_files_are_cleaned(store):
    store.models_dir.mkdir(parents=True, exist_ok=True)
    import subprocess
    import sys
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    stale = store.models_dir / f".tmp-{os.getppid()}-old.npz"   # live process, but 3 days old
    dead = store.models_dir / f".tmp-{gone}-dead.npz"           # its process has exited
    busy = store.models_dir / f".tmp-{os.getppid()}-busy.npz"   # live process, fresh: in use
    for p in (stale, dead, busy):
        p.write_bytes(b"x")
    old = stale.stat().st_mtime - 3 * 24 * 3600
    os.utime(stale, (old, old))
    store.save_model("gmm", {}, writer_of(b"m"))
    assert not stale.exists() and not dead.exists() and busy.exists()


# -- access log and settings -----------------------------------------------------------------

def test_access_log(store):
    store.log_access("granted", speaker="Alice", state="match", score=0.93, threshold=0.8, speech_s=1.6,
                     time="2024-05-01T10:00:00+00:00")
    store.log_access("denied", state="unknown", score=0.2, threshold=0.8, speech_s=1.5,
                     time="2024-05-02T10:00:00+00:00")
    store.log_access("denied", score=float("nan"))  # now; non-finite numbers become None
    rows = store.access_log()
    assert [r.decision for r in rows] == ["granted", "denied", "denied"]
    assert rows[0].speaker == "Alice" and rows[0].score == pytest.approx(0.93)
    assert rows[1].speaker is None and rows[2].score is None
    assert [r.decision for r in store.access_log(since="2024-05-01T12:00:00+00:00")] == ["denied", "denied"]
    assert len(store.access_log(since="2024-05-02T10:00:00+00:00", until="2024-05-03T00:00:00+00:00")) == 1
    assert [r.id for r in store.access_log(limit=2)] == [rows[1].id, rows[2].id]
    assert set(rows[0].to_dict()) == {"id", "time", "decision", "state", "speaker", "score", "threshold", "speech_s"}
    with pytest.raises(ConfigError, match="granted"):
        store.log_access("maybe")
    with pytest.raises(ConfigError, match="ISO 8601"):
        store.access_log(since="last tuesday")


def test_settings(store):
    assert store.get_setting("missing", 42) == 42
    store.set_setting("kiosk", {"unlock_s": 5, "far": 0.001, "pin": None})
    assert store.get_setting("kiosk") == {"unlock_s": 5, "far": 0.001, "pin": None}
    store.set_setting("kiosk", [1, 2])
    assert store.get_setting("kiosk") == [1, 2]
    store.delete_setting("kiosk")
    assert store.get_setting("kiosk") is None
    with pytest.raises(ConfigError):
        store.set_setting("x", object())


# -- concurrency -----------------------------------------------------------------------------

@pytest.mark.parametrize("separate_store", [False, True], ids=["same-store", "second-connection"])
def test_reader_sees_whole_speakers_while_a_writer_adds(tmp_path, separate_store):
    writer = Store.open(tmp_path)
    reader = Store.open(tmp_path) if separate_store else writer
    clips = [wave(0, s, 0.5) for s in range(3)]
    n_speakers = 25
    errors: list[BaseException] = []
    seen_counts: list[int] = []
    done = threading.Event()

    def write():
        try:
            for i in range(n_speakers):
                writer.add_speaker_with_clips(f"spk{i:02d}", clips)
                writer.add_clip(f"spk{i:02d}", clips[0])  # and a later top-up
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    def read():
        try:
            while True:
                finished = done.is_set()
                rows = reader.list_speakers()
                seen_counts.append(len(rows))
                for r in rows:
                    assert r.n_clips in (3, 4), r  # never a speaker without their clips
                if finished:
                    break
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert seen_counts == sorted(seen_counts) and seen_counts[-1] == n_speakers
    assert len(seen_counts) > 2  # the reader really ran during the writes
    assert writer.check() == []
    if separate_store:
        reader.close()
    writer.close()
