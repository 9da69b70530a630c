"""Crash safety of enrollment: a process running EnrollmentSession.finish() (store write, model
update, model save) is killed with SIGKILL at random moments. After every kill the store must pass
its health check, hold only whole speakers, and have an active model that loads and identifies;
the next model update brings the model in line with the roster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from synth import synth_speaker_wave
from voicelive.enrollment.model_update import active_recognizer, sync_model
from voicelive.store import Store

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")

TESTS_DIR = Path(__file__).resolve().parents[1]
N_CLIPS = 2
KILL_ROUNDS = 5
SEED = 20240611

CHILD = textwrap.dedent('''
    import sys
    sys.path.insert(0, sys.argv[4])
    import numpy as np
    from synth import synth_noise, synth_silence, synth_speaker_wave
    from voicelive.enrollment.session import EnrollmentSession
    from voicelive.store import Store

    data_dir, name, speaker = sys.argv[1], sys.argv[2], int(sys.argv[3])
    parts = [synth_silence(0.5)]
    for k in range(%(n_clips)d):
        parts += [synth_speaker_wave(speaker, 2.5, seed=k, pauses=False), synth_silence(0.8)]
    wave = np.concatenate(parts)
    wave = (wave + synth_noise(wave.size / 16000, seed=speaker, level_dbfs=-65.0)).astype(np.float32)
    store = Store.open(data_dir)
    session = EnrollmentSession(name, store=store, backend="ge2e", check_speaker=False, target_speech_s=3.0)
    session.feed(wave)
    session.flush()
    assert session.clips_accepted == %(n_clips)d, [f.message for f in session.feedback]
    print("finishing", flush=True)
    result = session.finish()
    print("done", result.model_version, flush=True)
''') % {"n_clips": N_CLIPS}


def start_child(data_dir: Path, name: str, speaker: int) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-c", CHILD, str(data_dir), name, str(speaker), str(TESTS_DIR)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for(proc: subprocess.Popen, word: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(word):
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"child exited ({proc.returncode}) before '{word}': {proc.stderr.read()[-2000:]}")
    proc.kill()
    raise AssertionError(f"child did not print '{word}' within {timeout} s")


def probe(speaker: int) -> np.ndarray:
    return synth_speaker_wave(speaker, 3.0, seed=99, pauses=False)


def check_usable(data_dir: Path, expected_clips: dict[str, int]) -> tuple[list[str], list[str]]:
    """The store is healthy, every speaker is whole, the active model loads and answers."""
    with Store.open(data_dir) as store:
        assert store.check() == []
        roster = {s.name: s.n_clips for s in store.list_speakers()}
        for name, n in roster.items():
            assert n == expected_clips[name], f"{name} has {n} clips: a half-written speaker"
        store.verify_model()
        rec = active_recognizer(store)
    assert set(rec.speakers) <= set(roster)
    assert rec.identify(probe(0)).best in rec.speakers
    return sorted(roster), rec.speakers


def test_kill_during_finish_leaves_roster_and_model_usable(tmp_path, ge2e_weights):
    data_dir = tmp_path / "data"
    expected = {"Alice": N_CLIPS}
    # round 0 runs to the end: the first speaker and model, and how long finish() takes
    proc = start_child(data_dir, "Alice", 0)
    wait_for(proc, "finishing")
    t0 = time.monotonic()
    wait_for(proc, "done")
    finish_s = time.monotonic() - t0
    assert proc.wait(timeout=30) == 0
    check_usable(data_dir, expected)

    rng = np.random.default_rng(SEED)
    # early kills hit the store write, later ones the model update and save
    delays = [0.0, 0.02] + list(rng.uniform(0.2, 1.05, KILL_ROUNDS - 2) * finish_s)
    outcomes = []
    for k, delay in enumerate(delays):
        name = f"spk{k}"
        expected[name] = N_CLIPS
        proc = start_child(data_dir, name, k + 1)
        wait_for(proc, "finishing")
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
        roster, model = check_usable(data_dir, expected)
        outcomes.append((name in roster, name in model))

    # whatever was interrupted, one model update brings the model in line with the roster
    with Store.open(data_dir) as store:
        res = sync_model(store)
        roster = [s.name for s in store.list_speakers()]
        assert sorted(active_recognizer(store).speakers) == sorted(roster)
        assert res.recognizer.identify(probe(0)).best in roster
    print("kill outcomes (speaker in roster, in model):", outcomes)
