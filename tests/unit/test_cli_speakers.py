"""`voicelive speakers ...` and `voicelive access-log`: output, exit codes, messages, model hook."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import types

import pytest

from synth import synth_speaker_wave
from voicelive.cli import main
from voicelive.commands import speakers as speakers_cmd
from voicelive.errors import ModelError
from voicelive.store import Store


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("VOICELIVE_DATA_DIR", raising=False)
    d = tmp_path / "data"
    with Store.open(d) as s:
        s.add_speaker_with_clips("Alice", [synth_speaker_wave(0, 1.0, seed=i) for i in range(2)],
                                 notes="front desk", device="USB mic",
                                 qualities=[{"verdict": "ok", "speech_s": 0.8}, None])
        s.add_speaker_with_clips("Bob", [synth_speaker_wave(1, 1.0, seed=1)])
    return d


class HookRecorder:
    def __init__(self, result=None, error: Exception | None = None):
        self.calls: list[list[str]] = []
        self.result, self.error = result, error

    def on_roster_changed(self, store):
        self.calls.append([s.name for s in store.list_speakers()])
        if self.error:
            raise self.error
        return self.result


@pytest.fixture
def hook(monkeypatch):
    rec = HookRecorder(result=types.SimpleNamespace(version_id=7, seconds=0.25, recognizer=object()))
    mod = types.ModuleType(speakers_cmd.MODEL_UPDATE_MODULE)
    mod.on_roster_changed = rec.on_roster_changed
    monkeypatch.setitem(sys.modules, speakers_cmd.MODEL_UPDATE_MODULE, mod)
    return rec


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- list / show -----------------------------------------------------------------------------

def test_list_table_json_and_default_action(capsys, data_dir):
    code, out, err = run(capsys, "speakers", "list", "--data-dir", str(data_dir))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["NAME", "CLIPS", "SPEECH", "UPDATED"]
    assert lines[1].split()[:3] == ["Alice", "2", "1.8"] and lines[2].split()[:3] == ["Bob", "1", "1.0"]
    assert "2 speakers; no model yet" in out
    code, out2, _ = run(capsys, "speakers", "--data-dir", str(data_dir))  # no action = list
    assert code == 0 and out2 == out
    code, out, _ = run(capsys, "speakers", "--data-dir", str(data_dir), "list", "--json")
    rows = json.loads(out)
    assert [(r["name"], r["n_clips"]) for r in rows] == [("Alice", 2), ("Bob", 1)]
    assert rows[0]["speech_s"] == pytest.approx(1.8) and rows[0]["notes"] == "front desk"


def test_list_empty_roster(capsys, tmp_path):
    code, out, _ = run(capsys, "speakers", "list", "--data-dir", str(tmp_path / "new"))
    assert code == 0 and "No speakers enrolled yet" in out and "voicelive enroll" in out
    code, out, _ = run(capsys, "speakers", "list", "--json", "--data-dir", str(tmp_path / "new"))
    assert json.loads(out) == []


def test_data_dir_from_environment(capsys, data_dir, monkeypatch):
    monkeypatch.setenv("VOICELIVE_DATA_DIR", str(data_dir))
    code, out, _ = run(capsys, "speakers", "list", "--json")
    assert code == 0 and len(json.loads(out)) == 2


def test_list_shows_who_is_in_the_model(capsys, data_dir):
    with Store.open(data_dir) as s:
        s.save_model("gmm", {"speakers": ["Alice"]}, lambda p: p.write_bytes(b"m"))
    code, out, _ = run(capsys, "speakers", "list", "--data-dir", str(data_dir))
    assert code == 0
    assert "IN MODEL" in out.splitlines()[0]
    assert out.splitlines()[1].split()[-1] == "yes" and out.splitlines()[2].split()[-1] == "no"
    assert "active model: version 1 (gmm)" in out and "run `voicelive train`" in out


def test_show(capsys, data_dir):
    code, out, _ = run(capsys, "speakers", "show", "Alice", "--data-dir", str(data_dir))
    assert code == 0
    assert out.startswith("Alice\n") and "front desk" in out and "2 (1.8 s of speech" in out
    assert "USB mic" in out and " ok " in out
    code, out, _ = run(capsys, "speakers", "show", "Alice", "--json", "--data-dir", str(data_dir))
    d = json.loads(out)
    assert d["name"] == "Alice" and len(d["clips"]) == 2 and d["in_model"] is None
    assert d["clips"][0]["quality"]["verdict"] == "ok" and "flac" not in d["clips"][0]


def test_unknown_speaker_is_a_one_line_user_error(capsys, data_dir):
    code, out, err = run(capsys, "speakers", "show", "alice", "--data-dir", str(data_dir))
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("voicelive: error: unknown speaker 'alice'; did you mean 'Alice'?")
    assert "voicelive speakers list" in err


# -- rename / remove and the model hook ------------------------------------------------------

def test_rename_updates_the_model(capsys, data_dir, hook):
    code, out, _ = run(capsys, "speakers", "rename", "Bob", "Robert", "--data-dir", str(data_dir))
    assert code == 0 and "renamed 'Bob' to 'Robert'" in out and "model updated in 0.25 s (version 7)" in out
    assert hook.calls == [["Alice", "Robert"]]
    code, _, err = run(capsys, "speakers", "rename", "Robert", "Alice", "--data-dir", str(data_dir))
    assert code == 2 and "already exists" in err and len(hook.calls) == 1


def test_remove_calls_the_hook_after_removing(capsys, data_dir, hook):
    code, out, err = run(capsys, "speakers", "remove", "Bob", "--data-dir", str(data_dir))
    assert code == 0 and "removed 'Bob' and 1 clip(s)" in out
    assert hook.calls == [["Alice"]]  # the hook sees the roster without Bob
    code, _, err = run(capsys, "speakers", "remove", "Bob", "--data-dir", str(data_dir))
    assert code == 2 and "unknown speaker 'Bob'" in err and len(hook.calls) == 1
    with Store.open(data_dir) as s:
        assert [x.name for x in s.list_speakers()] == ["Alice"]


def test_remove_without_update(capsys, data_dir, hook):
    code, _, err = run(capsys, "speakers", "remove", "Bob", "--no-update", "--data-dir", str(data_dir))
    assert code == 0 and hook.calls == [] and "voicelive train" in err


def test_remove_when_the_hook_module_is_missing(capsys, data_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, speakers_cmd.MODEL_UPDATE_MODULE, None)  # import fails
    with Store.open(data_dir) as s:
        s.save_model("gmm", {"speakers": ["Alice", "Bob"]}, lambda p: p.write_bytes(b"m"))
    code, out, err = run(capsys, "speakers", "remove", "Bob", "--data-dir", str(data_dir))
    assert code == 0 and "removed 'Bob'" in out
    assert "active model still reflects the old roster; run `voicelive train`" in err


def test_remove_when_the_model_update_fails(capsys, data_dir, monkeypatch):
    rec = HookRecorder(error=ModelError("backend exploded"))
    mod = types.ModuleType(speakers_cmd.MODEL_UPDATE_MODULE)
    mod.on_roster_changed = rec.on_roster_changed
    monkeypatch.setitem(sys.modules, speakers_cmd.MODEL_UPDATE_MODULE, mod)
    code, out, err = run(capsys, "speakers", "remove", "Bob", "--data-dir", str(data_dir))
    assert code == 1
    assert "removed 'Bob'" in out
    assert "model could not be updated: backend exploded" in err and "voicelive train" in err


# -- export / import / check -----------------------------------------------------------------

def test_export_import_round_trip_and_clashes(capsys, data_dir, tmp_path, hook):
    zip_path = tmp_path / "roster.zip"
    code, out, _ = run(capsys, "speakers", "export", str(zip_path), "--data-dir", str(data_dir))
    assert code == 0 and "exported 2 speaker(s) with 3 clip(s)" in out and zip_path.exists()

    other = tmp_path / "other"
    code, out, _ = run(capsys, "speakers", "import", str(zip_path), "--data-dir", str(other))
    assert code == 0 and "added 2" in out and hook.calls == [["Alice", "Bob"]]

    code, out, err = run(capsys, "speakers", "import", str(zip_path), "--data-dir", str(other))
    assert code == 2 and "already in the roster: Alice, Bob" in err and "--skip-existing" in err
    code, out, _ = run(capsys, "speakers", "import", str(zip_path), "--skip-existing", "--data-dir", str(other))
    assert code == 0 and "skipped 2" in out and len(hook.calls) == 1  # nothing changed: no update
    code, out, _ = run(capsys, "speakers", "import", str(zip_path), "--replace-existing", "--data-dir", str(other))
    assert code == 0 and "replaced 2" in out and len(hook.calls) == 2
    with pytest.raises(SystemExit) as ei:  # both policies at once: argparse usage error
        main(["speakers", "import", str(zip_path), "--skip-existing", "--replace-existing"])
    assert ei.value.code == 2


def test_export_one_speaker(capsys, data_dir, tmp_path):
    code, out, _ = run(capsys, "speakers", "export", str(tmp_path / "a.zip"), "--speaker", "Alice",
                       "--data-dir", str(data_dir))
    assert code == 0 and "exported 1 speaker(s) with 2 clip(s)" in out


def test_import_of_a_damaged_file_changes_nothing(capsys, data_dir, tmp_path, hook):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 definitely not a real zip")
    code, out, err = run(capsys, "speakers", "import", str(bad), "--data-dir", str(data_dir))
    assert code == 2 and out == ""
    assert "not a VoiceLive roster export" in err and "nothing was imported" in err
    assert hook.calls == []
    with Store.open(data_dir) as s:
        assert len(s.list_speakers()) == 2


def test_check(capsys, data_dir):
    code, out, _ = run(capsys, "speakers", "check", "--data-dir", str(data_dir))
    assert code == 0 and "OK (2 speaker(s)" in out
    with Store.open(data_dir) as s:
        conn = s._conn()
        cid, audio = conn.execute("SELECT clip_id, audio FROM clip_audio LIMIT 1").fetchone()
        conn.execute("UPDATE clip_audio SET audio = ? WHERE clip_id = ?", (audio[:-1] + bytes([audio[-1] ^ 1]), cid))
    code, out, err = run(capsys, "speakers", "check", "--data-dir", str(data_dir))
    assert code == 2 and "checksum mismatch" in err and "1 problem(s)" in err


def test_corrupt_database_is_a_one_line_error(capsys, tmp_path):
    d = tmp_path / "broken"
    d.mkdir()
    (d / "voicelive.db").write_bytes(b"\x00garbage" * 512)
    code, out, err = run(capsys, "speakers", "list", "--data-dir", str(d))
    assert code == 2 and err.count("\n") == 1
    assert "is not a VoiceLive database (corrupt?); move it aside or restore a backup" in err


# -- access log ------------------------------------------------------------------------------

@pytest.fixture
def logged(data_dir):
    with Store.open(data_dir) as s:
        s.log_access("granted", speaker="Alice", state="match", score=0.93, threshold=0.8, speech_s=1.6,
                     time="2024-05-01T10:00:00+00:00")
        s.log_access("denied", state="unknown", score=0.21, threshold=0.8, speech_s=1.5,
                     time="2024-05-03T10:00:00+00:00")
    return data_dir


def test_access_log_table(capsys, logged):
    code, out, _ = run(capsys, "access-log", "--data-dir", str(logged))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["TIME", "DECISION", "SPEAKER"]
    assert "granted" in lines[1] and "Alice" in lines[1] and "0.930" in lines[1]
    assert "denied" in lines[2] and "unknown" in lines[2]
    assert lines[-1] == "2 decision(s): 1 granted, 1 denied"


def test_access_log_csv_and_since(capsys, logged):
    code, out, _ = run(capsys, "access-log", "--csv", "--data-dir", str(logged))
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["decision"] for r in rows] == ["granted", "denied"]
    assert rows[0]["time"] == "2024-05-01T10:00:00.000+00:00" and rows[0]["speaker"] == "Alice"
    assert rows[1]["speaker"] == "" and rows[1]["state"] == "unknown" and float(rows[1]["score"]) == 0.21
    code, out, _ = run(capsys, "access-log", "--csv", "--since", "2024-05-02T00:00:00+00:00",
                       "--data-dir", str(logged))
    assert [r["decision"] for r in csv.DictReader(io.StringIO(out))] == ["denied"]
    code, out, _ = run(capsys, "access-log", "--json", "--since", "2024-05-02", "--data-dir", str(logged))
    assert [r["decision"] for r in json.loads(out)] == ["denied"]


def test_access_log_empty_and_errors(capsys, logged, tmp_path):
    code, out, _ = run(capsys, "access-log", "--data-dir", str(tmp_path / "fresh"))
    assert code == 0 and "No access decisions recorded" in out
    code, _, err = run(capsys, "access-log", "--since", "last week", "--data-dir", str(logged))
    assert code == 2 and "ISO 8601" in err
    code, _, err = run(capsys, "access-log", "--limit", "0", "--data-dir", str(logged))
    assert code == 2 and "--limit" in err


def test_exit_code_from_a_real_process(data_dir):
    proc = subprocess.run([sys.executable, "-m", "voicelive", "speakers", "show", "Nobody",
                           "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("voicelive: error: unknown speaker 'Nobody'")
