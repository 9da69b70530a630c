"""Streaming sessions of PROTOCOL.md: test speech joined into 6-s streams and fed through the very
pipeline the app uses (windows, speech gate, calibrated scores, smoothing), as fast as possible in
blocks of 1024 samples. Reports the verdict at 1, 2, 4 and 6 s after speech starts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from voicelive import SAMPLE_RATE
from voicelive.evaluation.corpus import Corpus, Split, Utterance

LEAD_SILENCE_S = 1.0
GAP_S = 0.3
STREAM_S = 6.0
MAX_STREAMS = 4
CHECK_S = (1.0, 2.0, 4.0, 6.0)
BLOCK_SIZE = 1024


@dataclass(frozen=True)
class Session:
    speaker: str
    known: bool
    wave: np.ndarray          # lead silence + STREAM_S of speech with gaps


def build_sessions(corpus: Corpus, split: Split, *, transform=None, channel: str = "clean") -> list[Session]:
    """At most :data:`MAX_STREAMS` streams per test speaker, from consecutive test utterances.

    ``transform(wave, utterance)`` is applied to each utterance. ``channel`` (one of
    :data:`voicelive.audio.channels.CHANNELS`) is applied to each WHOLE stream, lead silence and
    pauses included — noise does not stop between words and a room's reverberation runs on into the
    pauses — seeded by the stream's utterance ids."""
    from voicelive.audio.channels import apply_channel, channel_names

    channel_names(channel)
    out = []
    groups: dict[tuple[str, bool], list[Utterance]] = {}
    for u in split.known_tests:
        groups.setdefault((u.speaker, True), []).append(u)
    for u in split.unknown_tests:
        groups.setdefault((u.speaker, False), []).append(u)
    need = int(round(STREAM_S * SAMPLE_RATE))
    gap = np.zeros(int(round(GAP_S * SAMPLE_RATE)), dtype=np.float32)
    lead = np.zeros(int(round(LEAD_SILENCE_S * SAMPLE_RATE)), dtype=np.float32)
    for (spk, known), utts in sorted(groups.items()):
        i, made = 0, 0
        while made < MAX_STREAMS and i < len(utts):
            parts, n, ids = [], 0, []
            while n < need and i < len(utts):
                w = corpus.audio(utts[i])
                if transform is not None:
                    w = transform(w, utts[i])
                parts += [w, gap]
                ids.append(utts[i].utterance_id)
                n += w.size + gap.size
                i += 1
            if n < need:
                break  # not enough speech left for a full stream
            speech = np.concatenate(parts)[:need]
            wave = np.concatenate([lead, speech]).astype(np.float32)
            if channel != "clean":
                wave = apply_channel(wave, channel, utterance_id="session:" + "+".join(ids))
            out.append(Session(spk, known, wave))
            made += 1
    return out


def verdict_at(verdicts: Sequence[Any], t_s: float):
    """The verdict in force at stream time ``t_s`` (the last one made at or before it)."""
    cur = None
    for v in verdicts:
        if v.t_s <= t_s + 1e-9:
            cur = v
        else:
            break
    return cur


def evaluate_sessions(scorer, sessions: Sequence[Session], config=None) -> dict[str, Any]:
    """Session accuracy / false-accept rate at :data:`CHECK_S`, time to first correct verdict, and
    what the check times can miss: unknown streams named at ANY moment (``ever_named``) and known
    streams shown as someone else at any moment (``ever_wrong``), one boolean per stream."""
    from voicelive.pipeline import run_offline

    acc = {t: [] for t in CHECK_S}
    fa = {t: [] for t in CHECK_S}
    ttfc, ever_named, ever_wrong = [], [], []
    for s in sessions:
        verdicts = run_offline(s.wave, scorer, config, block_size=BLOCK_SIZE)
        for t in CHECK_S:
            v = verdict_at(verdicts, LEAD_SILENCE_S + t)
            named = v is not None and v.state == "speaker"
            if s.known:
                acc[t].append(bool(named and v.speaker == s.speaker))
            else:
                fa[t].append(bool(named))
        names = {v.speaker for v in verdicts if v.state == "speaker"}
        if s.known:
            first = next((v.t_s - LEAD_SILENCE_S for v in verdicts
                          if v.state == "speaker" and v.speaker == s.speaker), np.inf)
            ttfc.append(first)
            ever_wrong.append(bool(names - {s.speaker}))
        else:
            ever_named.append(bool(names))
    return {"acc": {t: float(np.mean(v)) if v else float("nan") for t, v in acc.items()},
            "far": {t: float(np.mean(v)) if v else float("nan") for t, v in fa.items()},
            "far_streams": {t: sum(v) for t, v in fa.items()}, "ttfc": ttfc,
            "ever_named": ever_named, "ever_wrong": ever_wrong}


def merge_session_results(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pool :func:`evaluate_sessions` results over disjoint sets of unknown streams (e.g. one per
    speaker left out of the roster) into one result of the same shape, weighted by stream count."""
    total = sum(len(p["ever_named"]) for p in parts)
    far = {t: (sum(p["far_streams"][t] for p in parts) / total if total else float("nan")) for t in CHECK_S}
    return {"acc": {t: float("nan") for t in CHECK_S}, "far": far,
            "far_streams": {t: sum(p["far_streams"][t] for p in parts) for t in CHECK_S}, "ttfc": [],
            "ever_named": [b for p in parts for b in p["ever_named"]], "ever_wrong": []}


def sessions_summary(per_seed: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std over seeds for each check time; pooled median/p95 time to first correct verdict."""
    out: dict[str, Any] = {}
    for key in ("acc", "far"):
        for t in CHECK_S:
            vals = np.array([r[key][t] for r in per_seed], dtype=np.float64)
            vals = vals[np.isfinite(vals)]
            out[f"{key}@{t:g}s"] = {"mean": float(vals.mean()) if vals.size else float("nan"),
                                    "std": float(vals.std(ddof=1)) if vals.size > 1 else 0.0,
                                    "per_seed": [finite_or_none(r[key][t]) for r in per_seed]}
    ttfc = np.concatenate([np.asarray(r["ttfc"], dtype=np.float64) for r in per_seed]) if per_seed else np.array([])
    # "higher" picks a real observation: a stream never named correctly counts as +inf, not NaN
    out["ttfc_median_s"] = float(np.percentile(ttfc, 50, method="higher")) if ttfc.size else float("nan")
    out["ttfc_p95_s"] = float(np.percentile(ttfc, 95, method="higher")) if ttfc.size else float("nan")
    out["never_correct"] = float(np.mean(~np.isfinite(ttfc))) if ttfc.size else float("nan")
    named = [b for r in per_seed for b in r.get("ever_named", [])]
    wrong = [b for r in per_seed for b in r.get("ever_wrong", [])]
    out["unknown_ever_named"] = [int(sum(named)), len(named)]
    out["known_ever_wrong"] = [int(sum(wrong)), len(wrong)]
    out["ttfc_median_s_per_seed"] = [
        finite_or_none(np.percentile(r["ttfc"], 50, method="higher")) if len(r["ttfc"]) else None for r in per_seed]
    return out


def finite_or_none(x: float | None) -> float | None:
    """A number for results.json: None stands for NaN or "never" (inf), which JSON cannot hold."""
    return float(x) if x is not None and np.isfinite(x) else None
