"""`voicelive bench-enroll`: how long adding one speaker takes, from the last clip to an active
updated model, for growing rosters (see :mod:`voicelive.evaluation.enroll_bench`)."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    from voicelive.evaluation.enroll_bench import DEFAULT_BACKENDS, DEFAULT_RETRAIN, DEFAULT_SIZES, POOL_VOICES

    p = sub.add_parser("bench-enroll", help="time enrolling one more speaker into rosters of 10, 100, 1000",
                       description="Enroll a synthetic voice through an enrollment session into rosters of "
                                   "growing size and report the time from the last clip to an active updated "
                                   "model, split into store write, model load, features, calibration and save. "
                                   "Needs a source checkout (tests/synth.py) and, for GE2E, its weights.")
    p.add_argument("--sizes", nargs="+", type=int, default=list(DEFAULT_SIZES), metavar="N",
                   help=f"roster sizes (default: {' '.join(map(str, DEFAULT_SIZES))})")
    p.add_argument("--backends", nargs="+", default=list(DEFAULT_BACKENDS), metavar="B",
                   help=f"incremental backends (default: {' '.join(DEFAULT_BACKENDS)})")
    p.add_argument("--retrain-backends", nargs="*", default=list(DEFAULT_RETRAIN), metavar="B",
                   help=f"retraining backends, timed at --retrain-size only (default: {' '.join(DEFAULT_RETRAIN)})")
    p.add_argument("--retrain-size", type=int, default=POOL_VOICES, metavar="N",
                   help=f"roster size for the retraining backends (default {POOL_VOICES})")
    p.add_argument("--max-predicted-s", type=float, default=900.0, metavar="S",
                   help="skip a size predicted to take longer than this (default 900)")
    p.add_argument("--work-dir", default=None, metavar="DIR", help="where temporary rosters go (default: temp dir)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from voicelive.errors import ConfigError
    from voicelive.evaluation.enroll_bench import COMMAND, markdown_table, run_enroll_bench, to_json

    if not 1 <= args.retrain_size <= 100:
        raise ConfigError(f"--retrain-size must be between 1 and 100 speakers, got {args.retrain_size}")

    def say(msg: str) -> None:
        if not args.quiet:
            print(f"[bench-enroll] {msg}", file=sys.stderr, flush=True)

    res = run_enroll_bench(sizes=args.sizes, backends=args.backends, retrain_backends=args.retrain_backends,
                           retrain_size=args.retrain_size, max_predicted_s=args.max_predicted_s,
                           work_dir=args.work_dir, progress=say)
    if sys.argv[1:2] == ["bench-enroll"]:
        res.command = " ".join([COMMAND, *sys.argv[2:]])
    elif sys.argv[0].endswith("enroll_bench.py"):
        res.command = " ".join(["python -m voicelive.evaluation.enroll_bench", *sys.argv[1:]])
    print(to_json(res) if args.json else markdown_table(res))
    return 0
