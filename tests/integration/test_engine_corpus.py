"""The engine on real speech (../shared/corpora): default backend, CLI on real files."""

import json
import subprocess
import sys

import numpy as np
import pytest

from voicelive.evaluation.corpus import load_manifest, protocol_split
from voicelive.recognition.recognizer import Recognizer

pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def asterisk(corpora_dir):
    return load_manifest(corpora_dir / "asterisk_prompts" / "manifest.csv")


def test_default_backend_on_asterisk_split(asterisk, ge2e_weights):
    split = protocol_split(asterisk, 0)
    rec = Recognizer.create("fusion")
    rec.enroll({s: [asterisk.audio(u) for u in utts] for s, utts in split.enrollment(10).items()})
    known = split.known_tests[::4]
    unknown = split.unknown_tests[::4]
    ids = [rec.identify(asterisk.audio(u)) for u in known]
    closed = np.mean([i.best == u.speaker for i, u in zip(ids, known)])
    accepted_right = np.mean([i.speaker == u.speaker for i, u in zip(ids, known)])
    false_accepts = np.mean([rec.identify(asterisk.audio(u)).speaker is not None for u in unknown])
    # k = 10 as in the issue targets; seed 0 measured 100 % / 92 % / 0 % (k = 5 gives 98 % / 82 %: BENCHMARKS
    # has 77.7 ± 13.0 % accepted-and-right at k = 5, so a k = 5 floor of 85 % was wrong). Deterministic on one machine.
    assert closed >= 0.95
    assert accepted_right >= 0.85
    assert false_accepts <= 0.10


def run_cli(*args, env_dir):
    import os

    env = dict(os.environ, VOICELIVE_DATA_DIR=str(env_dir))
    return subprocess.run([sys.executable, "-m", "voicelive", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_cli_enroll_identify_on_real_files(asterisk, ge2e_weights, tmp_path):
    by = asterisk.by_speaker()
    names = ["allison_smith_en", "carlo_flora_it", "june_wallack_frca"]
    for n in names:
        files = [str(u.path) for u in by[n][:6]]
        r = run_cli("enroll", n, *files, env_dir=tmp_path)
        assert r.returncode == 0, r.stderr
        assert f"enrolled '{n}'" in r.stdout
    probe = [str(by[n][-1].path) for n in names] + [str(by["paola_dalzot_it"][-1].path)]
    r = run_cli("identify", "--json", *probe, env_dir=tmp_path)
    assert r.returncode == 0, r.stderr
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["candidates"][0]["speaker"] for o in out[:3]] == names
    assert sum(o["speaker"] == n for o, n in zip(out[:3], names)) >= 2  # a strict 1 % FAR may miss one
    assert out[3]["speaker"] is None  # never enrolled
    r = run_cli("speakers", "list", env_dir=tmp_path)
    assert r.returncode == 0 and all(n in r.stdout for n in names)
    # three people: the threshold leans on pitch/formant-shifted copies of them, and `train` says so
    r = run_cli("train", env_dir=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "trained 'fusion' on 3 speaker(s)" in r.stdout
    assert "note: with 3 enrolled speaker(s)" in r.stdout and "shifted copies of them" in r.stdout
    assert "close voices (each person judged by the model without them): " in r.stdout
