"""`voicelive enroll NAME --source FILE / --mic` end to end in a subprocess: prompts, per-clip
feedback, the stored speaker and model, the live meter on a terminal, exit codes and messages."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synth import synth_noise, synth_silence, synth_speaker_wave
from voicelive.store import Store

SR = 16_000


def recording(parts, *, gap_s: float = 0.8, seed: int = 0) -> np.ndarray:
    seq = [synth_silence(0.5)]
    for p in parts:
        seq += [p, synth_silence(gap_s)]
    w = np.concatenate(seq)
    return (w + synth_noise(w.size / SR, seed=seed, level_dbfs=-65.0)).astype(np.float32)


def write(path: Path, wave: np.ndarray) -> str:
    sf.write(path, wave, SR)
    return str(path)


def voice(speaker: int, n: int, seed0: int = 0) -> np.ndarray:
    return recording([synth_speaker_wave(speaker, 3.5, seed=seed0 + k, pauses=False) for k in range(n)], seed=speaker)


def env_for(data_dir: Path) -> dict[str, str]:
    return dict(os.environ, VOICELIVE_DATA_DIR=str(data_dir), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")


def run(*args, data_dir: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voicelive", "enroll", *args], capture_output=True, text=True,
                          env=env_for(data_dir), timeout=timeout)


def test_enroll_from_a_source_file_end_to_end(tmp_path, ge2e_weights):
    src = write(tmp_path / "alice.wav", voice(0, 4))
    r = run("Alice", "--source", src, "--backend", "ge2e", "--target-speech", "8", data_dir=tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.count('Say: "') >= 3                                    # a new prompt after each good clip
    assert "[ok ] clip 1: Good:" in out and "(progress" in out
    assert "enrolled 'Alice' from 3 clip(s)" in out and "roster: Alice" in out
    assert "\r" not in out and "\r" not in r.stderr                     # not a terminal: plain lines
    with Store.open(tmp_path) as store:
        info = store.get_speaker("Alice")
        active = store.active_model()
        assert info.n_clips == 3 and info.speech_s > 7.0
        assert active.backend == "ge2e" and active.card["speakers"] == ["Alice"]
        assert store.clip_records("Alice")[0].device == "file"

    # a second speaker, JSON report, a refused clip inside
    bob = recording([synth_speaker_wave(1, 3.5, seed=k, pauses=False) for k in range(2)]
                    + [synth_noise(2.5, seed=4, level_dbfs=-30.0)]
                    + [synth_speaker_wave(1, 3.5, seed=k, pauses=False) for k in range(2, 4)], seed=1)
    r = run("Bob", "--source", write(tmp_path / "bob.wav", bob), "--target-speech", "9", "--json",
            data_dir=tmp_path)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["speaker"] == "Bob" and rep["speakers"] == ["Alice", "Bob"]
    assert [c["verdict"] for c in rep["clips"]][:3] == ["ok", "ok", "no_voice"]
    assert rep["clips_used"] == sum(c["verdict"] == "ok" for c in rep["clips"])
    assert rep["model_version"] == 2 and 0 < rep["update_s"] < 120 and isinstance(rep["similar_to"], list)

    # the roster just enrolled is what `voicelive stream` uses (no --model-dir needed)
    talk = write(tmp_path / "talk.wav", recording([synth_speaker_wave(1, 3.5, seed=k, pauses=False)
                                                   for k in (7, 8)], seed=3))
    r = subprocess.run([sys.executable, "-m", "voicelive", "stream", "--source", talk, "--json"],
                       capture_output=True, text=True, env=env_for(tmp_path), timeout=300)
    assert r.returncode == 0, r.stderr
    states = [json.loads(x) for x in r.stdout.splitlines()]
    assert {x["state"] for x in states} & {"speaker", "unknown"}, states


def test_too_little_speech_saves_nothing(tmp_path):
    noise = write(tmp_path / "noise.wav", recording([synth_noise(2.5, seed=k, level_dbfs=-30.0) for k in range(2)]))
    r = run("Zed", "--source", noise, data_dir=tmp_path)
    assert r.returncode == 2
    assert "only 0.0 s of good speech for 'Zed'" in r.stderr and "nothing was saved" in r.stderr
    assert "[BAD] clip 1: No voice found" in r.stdout
    assert "Traceback" not in r.stderr
    with Store.open(tmp_path) as store:
        assert store.list_speakers() == [] and store.active_model() is None


def test_time_limit_stops_the_recording(tmp_path):
    src = write(tmp_path / "a.wav", voice(0, 4))
    r = run("Alice", "--source", src, "--seconds", "4", data_dir=tmp_path)
    assert r.returncode == 2
    assert "the 4-s limit was reached with only" in r.stderr and "nothing was saved" in r.stderr
    assert r.stdout.count("clip ") == 1


@pytest.mark.parametrize("args, words", [
    (["Al"], "nothing to enroll from"),
    (["Al", "x.wav", "--mic"], "not both"),
    (["Al", "--mic", "--source", "x.wav"], "choose one"),
    (["Al", "x.wav", "--device", "1"], "--device is for recording"),
    (["Al", "--mic", "--model-dir", "m"], "drop --model-dir"),
])
def test_usage_errors(tmp_path, args, words):
    r = run(*args, data_dir=tmp_path)
    assert r.returncode == 2
    assert "usage:" in r.stderr and words in r.stderr


def test_bad_inputs_are_one_line_errors(tmp_path):
    r = run("Al", "--source", str(tmp_path / "missing.wav"), data_dir=tmp_path)
    assert r.returncode == 2 and "audio file not found" in r.stderr
    r = run("Al", "--source", str(tmp_path / "missing.wav"), "--seconds", "0", data_dir=tmp_path)
    assert r.returncode == 2 and "--seconds must be a positive" in r.stderr
    r = run("Al", "--mic", "--device", "no-such-microphone-here", data_dir=tmp_path)
    assert r.returncode == 2 and "voicelive devices" in r.stderr   # no device / no match: names the fix
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_terminal_gets_a_live_meter(tmp_path):
    """On a terminal the level meter and progress bar are redrawn in place (carriage returns)."""
    src = write(tmp_path / "n.wav", recording([synth_speaker_wave(0, 1.0, seed=1)]))
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "voicelive", "enroll", "Al", "--source", src, "--realtime",
                             "--seconds", "1.5"], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            env=env_for(tmp_path), close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) == 2
    text = b"".join(chunks).decode(errors="replace")
    assert text.count("\r  level [") >= 3 and "progress [" in text and "dBFS" in text
    assert 'Say: "' in text and "nothing was saved" in text


@pytest.mark.corpus
def test_real_voices_a_different_speaker_is_refused(tmp_path, corpora_dir, ge2e_weights):
    """Real speech: one speaker's prompts with another person's sentence in the middle."""
    from voicelive.evaluation.corpus import load_manifest

    corpus = load_manifest(corpora_dir / "asterisk_prompts" / "manifest.csv")
    by = corpus.by_speaker()

    def longest(spk, k):
        us = sorted(by[spk], key=lambda u: (-u.path.stat().st_size, u.utterance_id))
        return [corpus.audio(u) for u in us[:k]]

    allison, carlo = longest("allison_smith_en", 4), longest("carlo_flora_it", 1)
    wave = recording([*allison[:2], carlo[0], *allison[2:]], gap_s=1.0)
    r = run("allison", "--source", write(tmp_path / "mix.wav", wave), "--backend", "ge2e", "--target-speech", "15",
            data_dir=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if "] clip " in ln]
    assert "[BAD] clip 3: This voice does not match the previous clips" in lines[2], r.stdout
    assert all("[ok ]" in ln for i, ln in enumerate(lines) if i != 2), r.stdout
    with Store.open(tmp_path) as store:
        assert store.get_speaker("allison").n_clips == len(lines) - 1


def test_enrollment_scaling_benchmark_smoke(monkeypatch, capsys, ge2e_weights):
    """`voicelive bench-enroll` on tiny rosters: one real, one synthesised at the feature level."""
    from voicelive.evaluation import enroll_bench

    monkeypatch.setattr(enroll_bench, "CLIPS_PER_SPEAKER", 3)
    monkeypatch.setattr(enroll_bench, "CLIP_S", 2.5)
    monkeypatch.setattr(enroll_bench, "NEW_SPEAKER_SPEECH_S", 5.0)
    assert enroll_bench.main(["--sizes", "1", "2", "--backends", "ge2e", "--retrain-backends", "--quiet"]) == 0
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln.startswith("| ge2e |")]
    assert len(rows) == 2, out
    assert "| ge2e | 1 | incremental | real |" in rows[0]
    assert "| ge2e | 2 | incremental | synthesised |" in rows[1]
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        update, parts = float(cells[4]), [float(c) for c in cells[5:10]]
        assert 0 < update < 120 and sum(parts) <= update * 1.05 + 0.05
        model_mb, written_mb = float(cells[10]), float(cells[11])
        assert 0 < written_mb <= model_mb     # the update writes at most the whole model
        assert cells[12] in ("yes", "**no**")
    assert "target <= 2 s" in out and "Machine:" in out
