"""``voicelive eval``: score labelled test recordings and compute everything the report shows.

Two ways in:

- a corpus manifest: the benchmark's split (PROTOCOL.md, one seed and one k) enrolls a fresh
  system and scores the known and unknown test utterances — exactly the data ``voicelive bench``
  uses for that seed;
- the active roster and labelled test files (a manifest, or a folder with one sub-folder per
  speaker; a sub-folder whose name is not enrolled holds unknown voices).

The numbers come from :mod:`voicelive.evaluation.metrics` (the benchmark's implementation) and the
thresholds from :mod:`voicelive.decision.thresholds`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from voicelive.errors import ConfigError

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
FBETA = 0.5
MAX_FPR = 0.01


@dataclass
class EvalData:
    """Scores of labelled tests against an enrolled system.

    Attributes
    ----------
    speakers : list of str
        Enrolled speakers, in score-column order.
    scores : (n_tests, n_speakers)
        Calibrated log-odds (higher = more likely that speaker).
    labels : list of str
        True speaker of each test; one that is not enrolled is an unknown voice.
    threshold_logit : float
        The product's accept threshold in force (log-odds).
    """

    speakers: list[str]
    scores: np.ndarray
    labels: list[str]
    threshold_logit: float
    target_far: float
    backend: str
    title: str
    files: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def known(self) -> np.ndarray:
        return np.array([lab in self.speakers for lab in self.labels], dtype=bool)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def eval_manifest(manifest: str | Path, *, backend: str | None = None, k: int = 10, seed: int = 0,
                  target_far: float | None = None, progress: Callable[[int, int], None] | None = None) -> EvalData:
    """Enroll a fresh system on the protocol split of ``seed`` (``k`` utterances per enrolled
    speaker) and score its known and unknown tests."""
    from voicelive.evaluation.corpus import load_manifest, protocol_split
    from voicelive.recognition.recognizer import DEFAULT_TARGET_FAR, Recognizer
    from voicelive.recognition.registry import DEFAULT_BACKEND

    if not 1 <= k <= 10:
        raise ConfigError(f"--k must be between 1 and 10 (the protocol keeps 10 enrollment utterances), got {k}")
    corpus = load_manifest(manifest)
    split = protocol_split(corpus, seed)
    name = backend or DEFAULT_BACKEND
    rec = Recognizer.create(name, target_far=target_far or DEFAULT_TARGET_FAR)
    rec.enroll({s: [corpus.audio(u) for u in utts] for s, utts in split.enrollment(k).items()})
    tests = split.known_tests + split.unknown_tests
    rows = []
    for i, u in enumerate(tests):
        rows.append(rec.logits(corpus.audio(u)))
        if progress is not None:
            progress(i + 1, len(tests))
    return EvalData(rec.speakers, np.stack(rows), [u.speaker for u in tests], rec.threshold_logit, rec.target_far,
                    name, f"{corpus.name}: seed {seed}, k = {k}, backend {name}", [str(u.path) for u in tests],
                    {"corpus": corpus.name, "seed": seed, "k": k, "enrolled": split.enrolled,
                     "unknown_speakers": split.unknown})


def labelled_items(source: str | Path):
    """Labelled test recordings: a manifest, or a folder with one sub-folder per speaker."""
    from voicelive.analysis.embeddings import AudioItem, list_audio

    items = list_audio(source)
    if all(it.label is not None for it in items):
        return items
    root = Path(source)
    out = []
    for it in items:
        rel = it.path.relative_to(root)
        if len(rel.parts) < 2:
            raise ConfigError(f"{it.path} is not in a speaker folder; put each speaker's test files in a folder "
                              f"named after them (e.g. {root}/Alice/1.wav; other names count as unknown voices)")
        out.append(AudioItem(it.path, rel.parts[0], it.item_id))
    return out


def eval_roster(rec, source: str | Path, *, progress: Callable[[int, int], None] | None = None) -> EvalData:
    """Score labelled test files with an enrolled recognizer (the active roster's model)."""
    from voicelive.audio.io import load_audio

    items = labelled_items(source)
    rows, labels, files = [], [], []
    for i, it in enumerate(items):
        rows.append(rec.logits(load_audio(it.path)))
        labels.append(it.label)
        files.append(str(it.path))
        if progress is not None:
            progress(i + 1, len(items))
    data = EvalData(list(rec.speakers), np.stack(rows), labels, rec.threshold_logit, rec.target_far, rec.name,
                    f"active roster ({rec.name}) on {Path(source).name}", files)
    if not data.known.any():
        raise ConfigError(f"none of the test speakers in {source} is enrolled (enrolled: {', '.join(rec.speakers)}); "
                          "name the folders after enrolled speakers")
    return data


def compute(data: EvalData) -> dict[str, Any]:
    """Numbers, curves and thresholds of a scored test set (JSON-able except numpy arrays in ``curves``)."""
    from voicelive.decision import thresholds as T
    from voicelive.evaluation import metrics as M

    spk = data.speakers
    known = data.known
    order = np.argsort(~known, kind="stable")           # known tests first, as open_set_metrics wants
    scores = data.scores[order]
    labels = [data.labels[i] for i in order]
    n_known = int(known.sum())
    top = scores.max(axis=1)
    best = [spk[i] for i in scores.argmax(axis=1)]
    t = data.threshold_logit
    accepted = top > t
    pred_open = [b if a else UNKNOWN for b, a in zip(best, accepted)]
    truth_open = [lab if lab in spk else UNKNOWN for lab in labels]
    numbers: dict[str, Any] = dict(M.open_set_metrics(scores, spk, labels[:n_known], n_known))
    numbers["n_known_tests"] = n_known
    numbers["n_unknown_tests"] = len(labels) - n_known
    numbers["open_accuracy_at_threshold"] = float(np.mean(np.array(pred_open) == np.array(truth_open)))
    numbers["known_accepted_right_at_threshold"] = float(np.mean([p == l for p, l in zip(pred_open[:n_known],
                                                                                           labels[:n_known])]))
    numbers["unknown_accepted_at_threshold"] = float(np.mean(accepted[n_known:])) if len(labels) > n_known \
        else float("nan")
    correct = np.array([b == l for b, l in zip(best[:n_known], labels[:n_known])])
    curves: dict[str, Any] = {
        "top_correct": top[:n_known][correct], "top_wrong": top[:n_known][~correct], "top_unknown": top[n_known:]}
    thresholds: dict[str, dict[str, float]] = {
        f"target FAR={data.target_far:g} (product)": {
            "threshold_logit": float(t), "threshold": float(_sigmoid(t)),
            "tpr": float(np.mean(top[:n_known] > t)),
            "fpr": float(np.mean(top[n_known:] > t)) if len(labels) > n_known else float("nan")}}
    if len(labels) > n_known:
        pos, neg = top[:n_known], top[n_known:]
        fpr, tpr, thr = M.roc_curve(pos, neg)
        _, fnr, _ = M.det_curve(pos, neg)
        prec, rec_, pthr = M.precision_recall_curve(pos, neg)
        eer_rate, eer_t = M.eer(pos, neg)
        curves.update(fpr=fpr, tpr=tpr, fnr=fnr, roc_thr=thr, precision=prec, recall=rec_, pr_thr=pthr,
                      eer=eer_rate, eer_threshold=eer_t)
        for c in (T.fbeta_threshold(pos, neg, beta=FBETA), T.tpr_at_fpr_threshold(pos, neg, max_fpr=MAX_FPR),
                  T.eer_threshold(pos, neg)):
            thresholds[c.method] = {"threshold_logit": c.threshold, "threshold": float(_sigmoid(c.threshold)),
                                    "tpr": c.tpr, "fpr": c.fpr}
    classes = spk + ([UNKNOWN] if len(labels) > n_known else [])
    conf = M.confusion_matrix(truth_open, pred_open, classes + ([] if UNKNOWN in classes else [UNKNOWN]))
    per_closed = M.per_class_accuracy(labels[:n_known], best[:n_known], spk)
    per_open = M.per_class_accuracy(truth_open, pred_open, classes)
    return {"title": data.title, "backend": data.backend, "speakers": spk, "numbers": numbers,
            "thresholds": thresholds, "per_speaker": {"closed_set": per_closed, "at_threshold": per_open},
            "confusion": {"labels": classes + ([] if UNKNOWN in classes else [UNKNOWN]), "matrix": conf.tolist()},
            "details": data.details, "curves": curves}


def json_summary(res: dict[str, Any]) -> dict[str, Any]:
    """Everything but the curves, with NaN as None (for --json and results.json)."""
    def clean(v):
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, (float, np.floating)):
            return None if not np.isfinite(v) else float(v)
        if isinstance(v, np.integer):
            return int(v)
        return v

    return clean({k: v for k, v in res.items() if k != "curves"})
