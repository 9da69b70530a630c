"""CLI exit codes and one-line messages for the engine commands."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from synth import synth_speaker_wave


def run(*args, data_dir):
    import os

    env = dict(os.environ, VOICELIVE_DATA_DIR=str(data_dir))
    return subprocess.run([sys.executable, "-m", "voicelive", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_help_lists_commands(tmp_path):
    r = run("--help", data_dir=tmp_path)
    assert r.returncode == 0
    for cmd in ("enroll", "identify", "bench", "train", "embed", "stream", "devices", "speakers", "setup-models"):
        assert cmd in r.stdout


def test_identify_with_nobody_enrolled(tmp_path):
    p = tmp_path / "a.wav"
    sf.write(p, synth_speaker_wave(0, 1.0, seed=0), 16000)
    r = run("identify", str(p), data_dir=tmp_path)
    assert r.returncode == 2
    assert "nobody is enrolled" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_identify_missing_file_reports_and_fails(tmp_path):
    waves = {n: [synth_speaker_wave(i, 2.0, seed=s) for s in range(3)] for i, n in enumerate(["ann", "bob", "cy"])}
    for n, ws in waves.items():
        files = []
        for j, w in enumerate(ws):
            f = tmp_path / f"{n}{j}.wav"
            sf.write(f, w, 16000)
            files.append(str(f))
        r = run("enroll", n, *files, "--backend", "gmm-ubm", "--no-quality-check", "--model-dir",
                str(tmp_path / "m"), data_dir=tmp_path)
        assert r.returncode == 0, r.stderr
    r = run("identify", str(tmp_path / "ann0.wav"), str(tmp_path / "missing.wav"), "--model-dir",
            str(tmp_path / "m"), data_dir=tmp_path)
    assert r.returncode == 1
    assert "missing.wav: error: audio file not found" in r.stdout
    assert "ann0.wav: " in r.stdout


def test_enroll_refuses_silent_and_garbage_files(tmp_path):
    silent = tmp_path / "s.wav"
    sf.write(silent, np.zeros(32000, dtype=np.float32), 16000)
    junk = tmp_path / "j.wav"
    junk.write_text("not audio")
    r = run("enroll", "zed", str(silent), str(junk), data_dir=tmp_path)
    assert r.returncode == 2
    assert "none of the 2 file(s)" in r.stderr and "Traceback" not in r.stderr


def test_bad_backend_and_bad_manifest(tmp_path):
    r = run("train", "--backend", "nope", data_dir=tmp_path)
    assert r.returncode == 2 and "invalid choice" in r.stderr
    r = run("bench", "--manifest", str(tmp_path / "none.csv"), data_dir=tmp_path)
    assert r.returncode == 2 and "manifest not found" in r.stderr


@pytest.mark.parametrize("args", [["identify"], ["enroll", "x"]])
def test_usage_errors(tmp_path, args):
    r = run(*args, data_dir=tmp_path)
    assert r.returncode == 2 and "usage:" in r.stderr
