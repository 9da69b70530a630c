"""The kiosk's logic (state machine, door, PIN, session, benchmark) imports and runs without Qt."""

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_kiosk_logic_runs_with_qt_blocked():
    code = textwrap.dedent("""
        import sys
        sys.modules["PySide6"] = None
        sys.modules["pyqtgraph"] = None
        import numpy as np
        import voicelive.kiosk.access, voicelive.kiosk.door, voicelive.kiosk.pin, voicelive.kiosk.session
        import voicelive.evaluation.kiosk_bench, voicelive.commands.kiosk, voicelive.commands.bench_kiosk
        import voicelive.evaluation.replay_bench, voicelive.commands.bench_replay, voicelive.kiosk.replay
        from voicelive.kiosk.session import run_kiosk_offline

        class Always:
            speakers = ["Alice"]
            threshold = 0.5
            def score_window(self, wave):
                return {"Alice": 0.9}

        t = np.arange(5 * 16000) / 16000
        wave = (0.1 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
        wave[:16000] = 0
        s = run_kiosk_offline(wave, Always())
        assert [d.speaker for d in s.decisions] == ["Alice"], s.decisions
        loaded = [m for m in sys.modules if m.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6")
                  and sys.modules[m] is not None]
        assert not loaded, loaded
        print("ok")
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
