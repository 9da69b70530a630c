"""Streaming sessions (PROTOCOL.md) under several live decision settings: window hop and patience
(``--group hop``, the default), the smoothing of scores across windows (``--group smoothing``), or
what happens at speech onset (``--group onset``: the newest window superseding the earlier ones,
one decisive window).

For each seed the default recognizer is enrolled once (k = 10); every setting then runs the same
session streams through the app's pipeline (`voicelive.pipeline.run_offline`). Window scores are
memoised by the window's samples, so settings with the same hop share the scoring. With
``--left-out`` each enrolled person is also left out of the roster in turn (the recognizer enrolled
on the others) and their own streams are judged as a stranger's, as `voicelive bench` does.

    python scripts/decision_settings.py --corpus asterisk_prompts --seeds 5 [--group onset] [--left-out]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicelive.config import PipelineConfig, with_overrides  # noqa: E402
from voicelive.evaluation import bench as B  # noqa: E402
from voicelive.evaluation.corpus import protocol_split  # noqa: E402
from voicelive.evaluation.sessions import (CHECK_S, Session, build_sessions, evaluate_sessions,  # noqa: E402
                                          merge_session_results, sessions_summary)
from voicelive.pipeline import run_offline  # noqa: E402
from corpora import open_corpus  # noqa: E402

SETTINGS = {   # name -> PipelineConfig overrides
    "hop": {
        "hop 0.5 s, patience 2 (the old default)": {"window.hop_s": 0.5, "decision.patience": 2},
        "hop 0.5 s, patience 1": {"window.hop_s": 0.5, "decision.patience": 1},
        "hop 0.25 s, patience 2 (default)": {"window.hop_s": 0.25, "decision.patience": 2},
        "hop 0.25 s, patience 3": {"window.hop_s": 0.25, "decision.patience": 3},
        "hop 0.25 s, patience 1": {"window.hop_s": 0.25, "decision.patience": 1},
    },
    "smoothing": {
        "EMA alpha 0.5 (default)": {},
        "EMA alpha 0.7": {"decision.ema_alpha": 0.7},
        "EMA alpha 0.9": {"decision.ema_alpha": 0.9},
        "mean of 2 windows": {"decision.smoothing": "mean", "decision.mean_windows": 2},
        "EMA alpha 0.7, full weight at 0.5 s": {"decision.ema_alpha": 0.7, "decision.full_weight_speech_s": 0.5},
    },
    "onset": {
        "patience 2, averaged from the first window (before)": {
            "decision.patience": 2, "decision.onset_supersede": False, "decision.decisive_window": False},
        "patience 2, newest window supersedes at onset": {
            "decision.patience": 2, "decision.decisive_window": False},
        "patience 2, one decisive window": {"decision.patience": 2, "decision.onset_supersede": False},
        "patience 2, both": {"decision.patience": 2},
        "patience 3, both (default)": {},
        "patience 4, both": {"decision.patience": 4},
    },
}


class MemoScorer:
    """The recognizer's window scores, computed once per distinct window."""

    def __init__(self, rec) -> None:
        self.rec = rec
        self.speakers = rec.speakers
        self.threshold = rec.threshold
        self.decisive_threshold = rec.decisive_threshold
        self._memo: dict[bytes, dict[str, float]] = {}

    def score_window(self, wave: np.ndarray) -> dict[str, float]:
        key = hashlib.sha1(np.ascontiguousarray(wave, dtype=np.float32).tobytes()).digest()
        if key not in self._memo:
            self._memo[key] = self.rec.score_window(wave)
        return self._memo[key]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--group", choices=sorted(SETTINGS), default="hop")
    ap.add_argument("--left-out", action="store_true",
                    help="also judge each enrolled person's streams by a roster enrolled without them")
    args = ap.parse_args(argv)
    settings = SETTINGS[args.group]
    corpus = open_corpus(args.corpus)
    cache = B.FeatureCache(corpus)
    per = {name: [] for name in settings}
    # between the check times too: unknown streams named at any moment, known streams ever shown
    # as someone else
    ever = {name: [0, 0, 0, 0] for name in settings}   # unknown named, unknown, known wrong, known
    left = {name: [] for name in settings}   # per (seed, person left out): evaluate_sessions result
    for seed in range(args.seeds):
        split = protocol_split(corpus, seed)
        enr = split.enrollment(args.k)
        scorer = MemoScorer(enrolled(corpus, cache, enr))
        sessions = build_sessions(corpus, split)
        rosters = []
        if args.left_out:
            for held in sorted(enr):
                mine = [Session(s.speaker, False, s.wave) for s in sessions if s.known and s.speaker == held]
                rest = {s: u for s, u in enr.items() if s != held}
                rosters.append((MemoScorer(enrolled(corpus, cache, rest)), mine))
        for name, overrides in settings.items():
            cfg = with_overrides(PipelineConfig(), overrides)
            per[name].append(evaluate_sessions(scorer, sessions, cfg))
            for sess in sessions:
                named = {v.speaker for v in run_offline(sess.wave, scorer, cfg) if v.state == "speaker"}
                if sess.known:
                    ever[name][2] += bool(named - {sess.speaker})
                    ever[name][3] += 1
                else:
                    ever[name][0] += bool(named)
                    ever[name][1] += 1
            left[name] += [evaluate_sessions(sc, mine, cfg) for sc, mine in rosters]
        print(f"seed {seed} done", file=sys.stderr, flush=True)
    print(f"**{corpus.name}**, k = {args.k}, seeds 0–{args.seeds - 1}, default fusion\n")
    print("| setting | " + " | ".join(f"acc@{t:g}s" for t in CHECK_S) + " | FA (max over check times) | unknown streams ever named | known streams ever shown as someone else | first correct median / p95 s |")
    print("|---|" + "---|" * (len(CHECK_S) + 4))
    for name, runs in per.items():
        sm = sessions_summary(runs)
        accs = " | ".join(f"{100 * sm[f'acc@{t:g}s']['mean']:.1f}" for t in CHECK_S)
        fa = max(100 * sm[f"far@{t:g}s"]["mean"] for t in CHECK_S)
        e = ever[name]
        print(f"| {name} | {accs} | {fa:.1f} | {e[0]}/{e[1]} | {e[2]}/{e[3]} | "
              f"{sm['ttfc_median_s']:.2f} / {sm['ttfc_p95_s']:.2f} |")
    if args.left_out:
        print("\nEach enrolled person left out of the roster in turn, their own streams judged as a stranger's:\n")
        print("| setting | " + " | ".join(f"FA@{t:g}s" for t in CHECK_S) + " | streams ever named |")
        print("|---|" + "---|" * (len(CHECK_S) + 1))
        for name, parts in left.items():
            m = merge_session_results(parts)
            n = len(m["ever_named"])
            fas = " | ".join(f"{m['far_streams'][t]}/{n}" for t in CHECK_S)
            print(f"| {name} | {fas} | {sum(m['ever_named'])}/{n} |")
    return 0


def enrolled(corpus, cache, enr):
    """The default recognizer enrolled on ``enr`` (speaker -> utterances), from cached features."""
    system = B.BenchSystem("fusion").fresh()
    system.fit([{s: [cache.get(b, u) for u in utts] for s, utts in enr.items()} for b in system.backends],
               {s: [corpus.audio(u) for u in utts] for s, utts in enr.items()})
    return system.rec


if __name__ == "__main__":
    raise SystemExit(main())
