"""`voicelive bench-replay`'s bookkeeping on generated voices with a scorer that accepts everyone:
every genuine visit opens the door and none is called a replay; played back as recorded, every
visit would open the door without the guard and none does with it; the guard-alone part finds
every direct replay and raises no false alarm; the CLI refuses bad arguments in one line."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from synth import synth_speaker_wave
from voicelive.evaluation.replay_bench import REPLAY_CONDITIONS, evaluate_replay_split, markdown_table, summarise
from voicelive.kiosk.access import KioskPolicy


class Everyone:
    speakers = ["Alice"]
    threshold = 0.5

    def score_window(self, wave):
        return {"Alice": 0.9}


@dataclass(frozen=True)
class Stream:
    speaker: str
    known: bool
    wave: np.ndarray


def test_replays_are_counted_with_and_without_the_guard():
    streams = [Stream("Alice", True, np.concatenate([np.zeros(16000, np.float32),
                                                    synth_speaker_wave(1 + i % 2, 6.0, seed=40 + i, pauses=False)]))
               for i in range(3)]
    r = evaluate_replay_split(Everyone(), streams, KioskPolicy(), tag="t")
    assert r["genuine"] == ["opened"] * 3
    assert r["replays"]["direct"] == {"guard": ["replay"] * 3, "no_guard": ["opened"] * 3}
    assert set(r["replays"]) == set(REPLAY_CONDITIONS)
    assert r["alone"]["false_alarms"] == 0 and r["alone"]["detected"]["direct"] == 3
    s = summarise([r])
    assert s["genuine_called_replay"] == 0 and s["replays"]["direct"]["opened_without_guard"] == 3
    assert s["replays"]["direct"]["caught_as_replay"] == 3 and s["replays"]["direct"]["opened_with_guard"] == 0
    table = markdown_table({"corpus": "synthetic", "n_speakers": 2, "backend": "x", "k": 10, "seeds": [0],
                            "policy": {"target_far": 0.005, "replay_similarity": 0.04},
                            "crowded_visits": 0, "crowded_attempts": 0, "crowded_false_alarms": 0,
                            "machine": {"cores": 2, "load_1min": 0.0}, "elapsed_s": 1.0,
                            "fingerprint_ms_per_window": 1.0, **s})
    assert "| direct (as recorded) | 3 | 3 | 0 | 3 | 0 | 3/3 |" in table


@pytest.mark.parametrize("argv, message", [
    (["--manifest", "/nonexistent/manifest.csv"], "not found"),
    (["--manifest", "{m}", "--seeds", "0"], "--seeds"),
    (["--manifest", "{m}", "--k", "11"], "--k"),
])
def test_bench_replay_refuses_bad_arguments(argv, message, tmp_path, capsys):
    from voicelive.cli import main

    m = tmp_path / "manifest.csv"
    m.write_text("path,speaker,utterance_id\n")
    assert main(["bench-replay"] + [a.format(m=m) for a in argv]) != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
