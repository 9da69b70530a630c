"""The analysis tools (and their commands) import and run without Qt; matplotlib draws with Agg."""

import subprocess
import sys
import textwrap


def test_analysis_imports_and_plots_with_qt_blocked(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        sys.modules["PySide6"] = None
        sys.modules["pyqtgraph"] = None
        import numpy as np
        import voicelive.analysis.embeddings, voicelive.analysis.clustering, voicelive.analysis.drift
        import voicelive.analysis.live_tap, voicelive.analysis.unknown, voicelive.analysis.evaluate
        import voicelive.analysis.report, voicelive.commands.eval, voicelive.commands.cluster
        import voicelive.commands.drift, voicelive.store.segments
        from voicelive.analysis.evaluate import EvalData, compute
        from voicelive.analysis.report import write_eval_report
        rng = np.random.default_rng(0)
        spk = ["a", "b", "c"]
        labels = [s for s in spk for _ in range(20)] + ["x"] * 20
        scores = rng.normal(-2, 1, (80, 3))
        for i, lab in enumerate(labels[:60]):
            scores[i, spk.index(lab)] += 5
        page = write_eval_report(compute(EvalData(spk, scores, labels, 1.5, 0.01, "test", "synthetic")),
                                 r"{tmp_path}")
        assert page.exists() and page.read_text().count("data:image/png;base64,") == 7
        loaded = [m for m in sys.modules if m.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6")
                  and sys.modules[m] is not None]
        assert not loaded, loaded
        print("ok")
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
