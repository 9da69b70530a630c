"""`voicelive gui` and `python main.py` as processes: start, run live from a file, quit cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synth import synth_silence, synth_speaker_wave

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def talk_file(tmp_path):
    path = tmp_path / "talk.wav"
    wave = np.concatenate([synth_speaker_wave(3, 4.0, seed=1), synth_silence(1.0)])
    sf.write(path, wave, 16000)
    return path


def run(args, tmp_path, *, timeout=90):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", VOICELIVE_LOG_DIR=str(tmp_path / "logs"),
               VOICELIVE_DATA_DIR=str(tmp_path / "data"))
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_voicelive_gui_exits_cleanly_after_s(talk_file, tmp_path):
    r = run(["-m", "voicelive", "gui", "--exit-after-s", "3", "--source", str(talk_file), "--perf"], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Fatal Python error" not in r.stderr and "Traceback" not in r.stderr
    perf = json.loads(r.stdout.strip().splitlines()[-1])
    assert perf["fps"] > 5 and perf["timer_hz"] > 20          # it drew while live
    log = (tmp_path / "logs" / "voicelive-gui.log").read_text()
    assert "ready: VoiceLive" in log and "main window shut down" in log


def test_python_main_py_starts_the_gui(talk_file, tmp_path):
    r = run(["main.py", "--exit-after-s", "2", "--source", str(talk_file),
             "--data-dir", str(tmp_path / "other")], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "other" / "voicelive.db").exists()      # --data-dir honoured
    assert (tmp_path / "other" / "gui.ini").exists()           # settings saved on the way out


def test_a_missing_source_file_is_a_clear_error(tmp_path):
    r = run(["-m", "voicelive", "gui", "--exit-after-s", "2", "--source", str(tmp_path / "nope.wav")], tmp_path)
    assert r.returncode == 2
    assert "nope.wav" in r.stderr and "Traceback" not in r.stderr


def test_the_command_line_works_without_qt(tmp_path):
    """`voicelive --help` (which lists `gui`) imports no Qt; only running the window does."""
    code = ("import sys; sys.modules['PySide6'] = None; sys.modules['pyqtgraph'] = None\n"
            "from voicelive.cli import build_parser\n"
            "p = build_parser(); p.parse_args(['gui', '--source', 'x.wav', '--exit-after-s', '1'])\n"
            "print('ok')")
    r = run(["-c", code], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_no_display_is_a_clear_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    r = subprocess.run([sys.executable, "-m", "voicelive", "gui", "--exit-after-s", "1"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "no graphical display" in r.stderr and "QT_QPA_PLATFORM=offscreen" in r.stderr
