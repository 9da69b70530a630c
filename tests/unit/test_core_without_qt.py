"""The core (audio, dsp, decision, pipeline, the stream command) imports and runs without Qt."""

import subprocess
import sys
import textwrap


def test_pipeline_imports_and_runs_with_qt_blocked():
    code = textwrap.dedent("""
        import sys
        sys.modules["PySide6"] = None          # any `import PySide6...` now raises ImportError
        sys.modules["pyqtgraph"] = None
        import numpy as np
        import voicelive.pipeline, voicelive.config
        import voicelive.audio.sources, voicelive.audio.devices, voicelive.audio.ringbuffer
        import voicelive.audio.windowing, voicelive.dsp.vad, voicelive.dsp.spectrogram
        import voicelive.decision.smoothing, voicelive.commands.stream, voicelive.commands.devices
        from voicelive.pipeline import run_offline
        t = np.arange(32000) / 16000
        wave = (0.1 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
        verdicts = run_offline(wave, None)
        hop_s = voicelive.config.PipelineConfig().window.hop_s     # windows end at 0.5 s, then every hop
        assert len(verdicts) == round((2.0 - 0.5) / hop_s) + 1, verdicts
        loaded = [m for m in sys.modules if m.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6")
                  and sys.modules[m] is not None]
        assert not loaded, loaded
        print("ok")
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
