"""`voicelive eval`: an HTML report with plots of how well the recognizer does on labelled data."""

from __future__ import annotations

import argparse
import sys

from voicelive.commands._common import add_data_args, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluation report (HTML + PNG plots) on labelled recordings",
                       description="Either enroll a fresh system on a corpus manifest (the benchmark split of one "
                                   "seed, k utterances per speaker) or use the active roster on labelled test files "
                                   "(--tests), and write a self-contained HTML report: ROC and DET with the EER, "
                                   "precision-recall with the F-beta threshold, TPR vs FPR with the TPR@FPR "
                                   "threshold, score distributions of correct/wrong/unknown tests with the active "
                                   "threshold, confusion matrix, per-speaker accuracy and the numbers.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--manifest", help="corpus manifest.csv (or its folder): enroll a fresh system on its split")
    src.add_argument("--tests", help="labelled test files for the ACTIVE roster: a manifest, or a folder with one "
                                     "sub-folder per speaker (other names = unknown voices)")
    p.add_argument("--backend", default=None, help="backend for --manifest (default: the product default, fusion)")
    p.add_argument("--k", type=int, default=10, help="enrollment utterances per speaker for --manifest (default 10)")
    p.add_argument("--seed", type=int, default=0, help="protocol split seed for --manifest (default 0)")
    p.add_argument("--target-far", type=float, default=None, help="accept threshold as a target false-accept rate")
    p.add_argument("--out", default="eval-report", help="report folder (default: ./eval-report)")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    add_data_args(p)
    p.set_defaults(run=run)


def _progress(done: int, total: int) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\rscoring {done}/{total}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    from voicelive.analysis.evaluate import compute, eval_manifest, eval_roster, json_summary
    from voicelive.analysis.report import write_eval_report

    if args.manifest:
        data = eval_manifest(args.manifest, backend=args.backend, k=args.k, seed=args.seed,
                             target_far=args.target_far, progress=_progress)
    else:
        from voicelive.commands._common import load_scorer

        data = eval_roster(load_scorer(args), args.tests, progress=_progress)
    res = compute(data)
    page = write_eval_report(res, args.out)
    if args.json:
        out = json_summary(res)
        out["report"] = str(page)
        print_json(out)
        return 0
    n = res["numbers"]

    def pct(key):
        v = n.get(key)
        return "–" if v is None or v != v else f"{100 * v:.1f} %"

    print(res["title"])
    print(f"  closed-set accuracy {pct('closed_acc')}, weighted F1 {pct('weighted_f1')}")
    print(f"  open-set EER {pct('open_eer')}, minDCF {n.get('min_dcf', float('nan')):.3f}, "
          f"DIR@FAR 1 % {pct('dir_far1')}, 5 % {pct('dir_far5')}")
    print(f"  at the active threshold: {pct('known_accepted_right_at_threshold')} of known tests named right, "
          f"{pct('unknown_accepted_at_threshold')} of unknown tests accepted")
    for k, v in res["thresholds"].items():
        print(f"  threshold {k}: {v['threshold']:.3f} (TPR {100 * v['tpr']:.1f} %, FPR {100 * v['fpr']:.1f} %)"
              if v["fpr"] == v["fpr"] else f"  threshold {k}: {v['threshold']:.3f}")
    print(f"report: {page}")
    return 0
