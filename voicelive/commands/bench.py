"""`voicelive bench`: PROTOCOL.md on any corpus with a manifest.csv."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run the speaker-identification benchmark (PROTOCOL.md) on a corpus",
                       description="Benchmark backends on a labelled corpus (manifest.csv) following PROTOCOL.md: "
                                   "closed/open-set metrics over seeds, per-window timing, enrollment time.")
    p.add_argument("--manifest", required=True, help="manifest.csv (or its folder) of the corpus")
    p.add_argument("--backends", nargs="+", default=None,
                   help="systems to run (default: the product default and the reference systems seed_svm, seed_catboost)")
    p.add_argument("--k", nargs="+", type=int, default=[5, 10], help="enrollment utterances per speaker (default: 5 10)")
    p.add_argument("--seeds", type=int, default=5, help="number of seeds 0..N-1 (default 5)")
    p.add_argument("--no-timing", action="store_true", help="skip the per-window and enrollment timing")
    p.add_argument("--no-sessions", action="store_true", help="skip the streaming-sessions part")
    p.add_argument("--test-channel", default="clean", metavar="NAME|all",
                   help="pass the TEST audio (known/unknown tests and streaming sessions; never enrollment) "
                        "through a simulated channel: clean, telephone, laptop, reverb, noisy, or 'all' for "
                        "every channel with each metric's ratio to clean (default: clean)")
    p.add_argument("--out", default=None, help="folder for results.json and results.md")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from voicelive.errors import ConfigError
    from voicelive.evaluation.bench import markdown_table, run_bench, write_results

    if any(k < 1 or k > 10 for k in args.k):
        raise ConfigError(f"--k values must be between 1 and 10 (the protocol keeps 10 enrollment utterances), got {args.k}")
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {args.seeds}")
    res = run_bench(args.manifest, backends=args.backends, ks=args.k, seeds=args.seeds,
                    timing=not args.no_timing, progress=not args.quiet,
                    sessions=not args.no_sessions, test_channel=args.test_channel)
    print(markdown_table(res))
    if args.out:
        print(f"\nwrote {write_results(res, args.out)}")
    return 0
