"""HTML reports with PNG plots (matplotlib, Agg backend: no display needed).

:func:`write_eval_report` writes ``index.html`` (self-contained: the plots are embedded as
base64 PNGs), the same plots as ``.png`` files beside it, and ``results.json``.
"""

from __future__ import annotations

import base64
import html
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

PLOTS = ("roc", "det", "pr", "tpr_fpr", "scores", "confusion", "per_speaker")
CAPTIONS = {
    "roc": "ROC of open-set detection (known tests' best score vs unknown tests' best score), EER marked",
    "det": "DET curve (normal-deviate axes), EER marked",
    "pr": "Precision-recall of open-set detection, with the F-beta threshold",
    "tpr_fpr": "TPR against FPR (log scale), with the TPR@FPR threshold and the product's threshold",
    "scores": "Best-candidate scores of correct, wrong and unknown tests, with the active threshold",
    "confusion": "Confusion matrix at the active threshold (rows: truth, columns: decision)",
    "per_speaker": "Per-speaker accuracy: closed-set, and at the active threshold",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def _threshold(res: dict[str, Any], prefix: str) -> dict[str, float] | None:
    for k, v in res["thresholds"].items():
        if k.startswith(prefix):
            return v
    return None


def _product(res):
    return next(v for k, v in res["thresholds"].items() if k.endswith("(product)"))


def plot_all(res: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write every plot that the data allows; returns ``{name: png path}``."""
    plt = _plt()
    c = res["curves"]
    made: dict[str, Path] = {}
    prod = _product(res)
    if "fpr" in c:
        fig, ax = plt.subplots(figsize=(5, 4.2))
        ax.plot(c["fpr"], c["tpr"], lw=2, label="ROC")
        ax.plot([0, 1], [0, 1], ls=":", c="grey")
        ax.plot([c["eer"]], [1 - c["eer"]], "o", c="C3", label=f"EER {100 * c['eer']:.1f} %")
        ax.plot([prod["fpr"]], [prod["tpr"]], "s", c="C2", label="product threshold")
        ax.set(xlabel="false-accept rate (unknown tests)", ylabel="true-accept rate (known tests)",
               xlim=(0, 1), ylim=(0, 1.01), title="ROC")
        ax.legend(loc="lower right")
        made["roc"] = _save(fig, out / "roc.png")

        from scipy.stats import norm

        def nd(p):
            return norm.ppf(np.clip(p, 1e-4, 1 - 1e-4))

        fig, ax = plt.subplots(figsize=(5, 4.2))
        ax.plot(nd(c["fpr"]), nd(c["fnr"]), lw=2)
        ax.plot([nd(c["eer"])], [nd(c["eer"])], "o", c="C3", label=f"EER {100 * c['eer']:.1f} %")
        ticks = np.array([0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95])
        ax.set_xticks(nd(ticks), [f"{100 * t:g}" for t in ticks])
        ax.set_yticks(nd(ticks), [f"{100 * t:g}" for t in ticks])
        ax.set(xlabel="false-accept rate (%)", ylabel="miss rate (%)", title="DET",
               xlim=(nd(0.0005), nd(0.99)), ylim=(nd(0.0005), nd(0.99)))
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right")
        made["det"] = _save(fig, out / "det.png")

        fb = _threshold(res, "F")
        fig, ax = plt.subplots(figsize=(5, 4.2))
        ax.plot(c["recall"], c["precision"], lw=2)
        if fb is not None:
            tp = fb["tpr"] * res["numbers"]["n_known_tests"]
            fp = fb["fpr"] * res["numbers"]["n_unknown_tests"]
            p = tp / max(tp + fp, 1e-12)
            ax.plot([fb["tpr"]], [p], "o", c="C3", label=f"F-beta threshold {fb['threshold']:.2f}")
            ax.legend(loc="lower left")
        ax.set(xlabel="recall (known tests accepted)", ylabel="precision", xlim=(0, 1.01), ylim=(0, 1.02),
               title="Precision-recall")
        made["pr"] = _save(fig, out / "pr.png")

        tf = _threshold(res, "TPR@FPR")
        fig, ax = plt.subplots(figsize=(5, 4.2))
        fpr = np.maximum(c["fpr"], 1e-3)
        ax.step(fpr, c["tpr"], where="post", lw=2)
        if tf is not None:
            ax.plot([max(tf["fpr"], 1e-3)], [tf["tpr"]], "o", c="C3",
                    label=f"TPR@FPR≤1 %: TPR {100 * tf['tpr']:.1f} % (t {tf['threshold']:.2f})")
        ax.plot([max(prod["fpr"], 1e-3)], [prod["tpr"]], "s", c="C2",
                label=f"product: TPR {100 * prod['tpr']:.1f} % (t {prod['threshold']:.2f})")
        ax.set_xscale("log")
        ax.set(xlabel="false-positive rate (log; 0 drawn at 0.1 %)", ylabel="true-positive rate", ylim=(0, 1.02),
               title="TPR vs FPR")
        ax.legend(loc="lower right", fontsize=8)
        made["tpr_fpr"] = _save(fig, out / "tpr_fpr.png")

    fig, ax = plt.subplots(figsize=(6, 4.2))
    groups = [("correct", c["top_correct"], "C2"), ("wrong", c["top_wrong"], "C1"), ("unknown", c["top_unknown"], "C3")]
    vals = np.concatenate([g[1] for g in groups if len(g[1])])
    bins = np.linspace(vals.min(), vals.max(), 40) if vals.size and vals.max() > vals.min() else 20
    for name, v, col in groups:
        if len(v):
            ax.hist(v, bins=bins, alpha=0.55, color=col, label=f"{name} ({len(v)})", density=True)
    ax.axvline(prod["threshold_logit"], c="k", ls="--", label=f"threshold (p = {prod['threshold']:.2f})")
    ax.set(xlabel="best candidate's calibrated score (log-odds)", ylabel="density", title="Score distributions")
    ax.legend()
    made["scores"] = _save(fig, out / "scores.png")

    labs = res["confusion"]["labels"]
    m = np.asarray(res["confusion"]["matrix"])
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(labs), 1.0 + 0.55 * len(labs)))
    ax.imshow(m, cmap="Blues")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if m[i, j] > m.max() / 2 else "black")
    ax.set_xticks(range(len(labs)), labs, rotation=45, ha="right")
    ax.set_yticks(range(len(labs)), labs)
    ax.set(xlabel="decision", ylabel="truth", title="Confusion matrix")
    made["confusion"] = _save(fig, out / "confusion.png")

    ps = res["per_speaker"]
    names = list(ps["closed_set"])
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * len(names) + 2), 4))
    ax.bar(x - 0.2, [100 * ps["closed_set"][n] for n in names], 0.4, label="closed-set")
    ax.bar(x + 0.2, [100 * ps["at_threshold"].get(n, np.nan) for n in names], 0.4, label="at threshold")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set(ylabel="accuracy (%)", ylim=(0, 105), title="Per-speaker accuracy")
    ax.legend(loc="lower right")
    made["per_speaker"] = _save(fig, out / "per_speaker.png")
    return made


def _pct(v) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{100 * v:.1f} %"


def _num(v, fmt="{:.3f}") -> str:
    return "–" if v is None or not np.isfinite(v) else fmt.format(v)


def eval_html(res: dict[str, Any], images: dict[str, Path]) -> str:
    n = res["numbers"]
    rows = [("Closed-set accuracy (known tests)", _pct(n.get("closed_acc"))),
            ("Weighted F1 (known tests)", _pct(n.get("weighted_f1"))),
            ("Open-set detection EER", _pct(n.get("open_eer"))),
            ("minDCF (P_target 0.01)", _num(n.get("min_dcf"))),
            ("DIR @ FAR 1 %", _pct(n.get("dir_far1"))), ("DIR @ FAR 5 %", _pct(n.get("dir_far5"))),
            ("Accuracy at the active threshold (unknown = right answer for strangers)",
             _pct(n.get("open_accuracy_at_threshold"))),
            ("Known tests accepted and named right", _pct(n.get("known_accepted_right_at_threshold"))),
            ("Unknown tests accepted (false accepts)", _pct(n.get("unknown_accepted_at_threshold"))),
            ("Tests", f"{n['n_known_tests']} known, {n['n_unknown_tests']} unknown")]
    num_rows = "".join(f"<tr><th>{html.escape(a)}</th><td>{html.escape(b)}</td></tr>" for a, b in rows)
    thr_rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v['threshold']:.3f}</td><td>{v['threshold_logit']:.2f}</td>"
        f"<td>{_pct(v['tpr'])}</td><td>{_pct(v['fpr'])}</td></tr>" for k, v in res["thresholds"].items())
    figs = []
    for name in PLOTS:
        p = images.get(name)
        if p is None:
            continue
        data = base64.b64encode(Path(p).read_bytes()).decode("ascii")
        figs.append(f'<figure><img src="data:image/png;base64,{data}" alt="{name}" data-file="{Path(p).name}">'
                    f"<figcaption>{html.escape(CAPTIONS[name])}</figcaption></figure>")
    if "roc" not in images:
        figs.insert(0, "<p><em>No unknown (non-enrolled) test speakers: ROC, DET and precision-recall curves "
                       "need some.</em></p>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>VoiceLive evaluation — {html.escape(res['title'])}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; max-width: 1100px; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: left; }}
figure {{ display: inline-block; margin: 0.5em; vertical-align: top; }}
figcaption {{ font-size: 0.85em; color: #555; max-width: 520px; }}
</style></head><body>
<h1>VoiceLive evaluation</h1>
<p>{html.escape(res['title'])}. Enrolled speakers: {html.escape(', '.join(res['speakers']))}.</p>
<h2>Numbers</h2>
<table>{num_rows}</table>
<h2>Thresholds</h2>
<table><tr><th>method</th><th>score threshold</th><th>log-odds</th><th>TPR (known accepted)</th>
<th>FPR (unknown accepted)</th></tr>{thr_rows}</table>
<h2>Plots</h2>
{''.join(figs)}
</body></html>
"""


def write_eval_report(res: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``index.html``, the PNGs and ``results.json`` into ``out_dir``; returns the HTML path."""
    from voicelive.analysis.evaluate import json_summary

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = plot_all(res, out)
    (out / "results.json").write_text(json.dumps(json_summary(res), indent=2))
    page = out / "index.html"
    page.write_text(eval_html(res, images), encoding="utf-8")
    return page
