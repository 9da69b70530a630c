"""Does enrolling people one at a time, the way users do, reach the accuracy of `voicelive bench`?

For each seed of PROTOCOL.md's split, the enrolled speakers' k = 10 pool files go through the
product's file-enrollment path one speaker at a time (`voicelive enroll NAME FILE...`: the quality
check, the store, `sync_model` after each speaker), and the resulting active model is scored on the
split's known and unknown tests exactly as the bench scores a model built from all speakers at
once (which this script also builds, from the same clips, for the comparison in one run).

    python scripts/enroll_one_by_one.py --manifest ../shared/corpora/asterisk_prompts/manifest.csv --seeds 3
    python scripts/enroll_one_by_one.py --manifest ../shared/corpora/fsdd/manifest.csv --seeds 3 --no-quality-check

(fsdd's 0.4-s digits are refused by the enrollment quality check as too short: that is the product
telling the user to record again; `--no-quality-check` is `voicelive enroll --no-quality-check`.)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from voicelive.commands.enroll import check_clips
from voicelive.enrollment.model_update import sync_model
from voicelive.evaluation import metrics as M
from voicelive.evaluation.corpus import load_manifest, protocol_split
from voicelive.recognition.recognizer import Recognizer
from voicelive.store import Store

K = 10


def evaluate(rec: Recognizer, corpus, split) -> dict[str, float]:
    """The bench's utterance metrics plus the product threshold's FA / DIR, for one model."""
    tests = split.known_tests + split.unknown_tests
    n_k = len(split.known_tests)
    scores = np.stack([rec.logits(corpus.audio(u)) for u in tests])
    out = M.open_set_metrics(scores, rec.speakers, [u.speaker for u in split.known_tests], n_k)
    top, pred = scores.max(axis=1), scores.argmax(axis=1)
    right = np.array([rec.speakers[p] == u.speaker for p, u in zip(pred[:n_k], split.known_tests)])
    out["fa_at_threshold"] = float(np.mean(top[n_k:] > rec.threshold_logit))
    out["dir_at_threshold"] = float(np.mean((top[:n_k] > rec.threshold_logit) & right))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", required=True)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--backend", default="fusion")
    p.add_argument("--no-quality-check", action="store_true")
    args = p.parse_args(argv)
    corpus = load_manifest(args.manifest)
    keys = ("closed_acc", "open_eer", "dir_far1", "fa_at_threshold", "dir_at_threshold")
    rows: dict[str, list[dict[str, float]]] = {"all at once (bench)": [], "one at a time (product)": []}
    refused = 0
    reasons: dict[str, int] = {}
    for seed in range(args.seeds):
        split = protocol_split(corpus, seed)
        pool = split.enrollment(K)
        batch = Recognizer.create(args.backend)
        batch.enroll({s: [corpus.audio(u) for u in utts] for s, utts in pool.items()})
        rows["all at once (bench)"].append(evaluate(batch, corpus, split))
        with tempfile.TemporaryDirectory() as d:
            store = Store.open(Path(d) / "data")
            try:
                for s in sorted(pool):
                    waves, reports = check_clips([str(u.path) for u in pool[s]],
                                                 quality=not args.no_quality_check)
                    refused += len(reports) - len(waves)
                    for r in reports:
                        if r["verdict"] != "ok":
                            reasons[r["verdict"]] = reasons.get(r["verdict"], 0) + 1
                    if not waves:
                        print(f"seed {seed}: every clip of {s} refused ({reports[0]['message']})", file=sys.stderr)
                        continue
                    store.add_speaker_with_clips(s, waves, device="file")
                    res = sync_model(store, backend=args.backend)
                    print(f"seed {seed}: enrolled {s} from {len(waves)} clip(s), model updated in "
                          f"{res.seconds:.2f} s", file=sys.stderr)
                rec = sync_model(store, backend=args.backend).recognizer
            finally:
                store.close()
        if rec is None or sorted(rec.speakers) != sorted(pool):
            print(f"seed {seed}: not every speaker could be enrolled; skipped", file=sys.stderr)
            continue
        rows["one at a time (product)"].append(evaluate(rec, corpus, split))
        a, b = rows["all at once (bench)"][-1], rows["one at a time (product)"][-1]
        print(f"seed {seed}: " + ", ".join(f"{k} {100 * a[k]:.1f} / {100 * b[k]:.1f}" for k in keys), file=sys.stderr)
    print(f"\n**{corpus.name}**, {args.backend}, k = {K}, seeds 0–{args.seeds - 1}, quality check "
          f"{'off' if args.no_quality_check else 'on'} ({refused} pool clips refused"
          + (": " + ", ".join(f"{n} {v}" for v, n in sorted(reasons.items())) if reasons else "") + ")\n")
    print("| enrollment | closed acc % | open EER % | DIR@1% | unknown utts accepted % | known accepted and right % |")
    print("|---|---|---|---|---|---|")
    for name, rs in rows.items():
        if not rs:
            print(f"| {name} | – | – | – | – | – |")
            continue
        cells = [f"{100 * np.mean([r[k] for r in rs]):.1f} ± {100 * np.std([r[k] for r in rs]):.1f}" for k in keys]
        print(f"| {name} ({len(rs)} seeds) | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
