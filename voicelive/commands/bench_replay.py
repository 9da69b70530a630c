"""`voicelive bench-replay`: the kiosk against recordings of earlier visits played back at the door
(see :mod:`voicelive.evaluation.replay_bench`)."""

from __future__ import annotations

import argparse

from voicelive.commands._common import add_bench_args, check_bench_args, progress_printer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench-replay", help="kiosk: replayed recordings of granted visits, with and without the guard",
                       description="Enroll each seed's speakers (PROTOCOL.md split), let every session stream visit "
                                   "the kiosk, then play every visit that opened the door back through several "
                                   "loudspeaker/room/noise paths. Reports how often the door opens for a replay with "
                                   "and without the replay guard, and how often a genuine visit is called a replay.")
    add_bench_args(p, seeds=5)
    p.add_argument("--k", type=int, default=10, help="enrollment utterances per speaker (default 10)")
    p.add_argument("--replay-similarity", type=float, default=None, metavar="S",
                   help="replay threshold (default: the kiosk's)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from voicelive.errors import ConfigError
    from voicelive.evaluation.replay_bench import markdown_table, run_replay_bench, to_json
    from voicelive.kiosk.access import KioskPolicy
    from voicelive.recognition.registry import DEFAULT_BACKEND

    check_bench_args(args)
    if not 1 <= args.k <= 10:
        raise ConfigError(f"--k must be between 1 and 10 (the protocol's enrollment pool), got {args.k}")
    policy = KioskPolicy(**({"replay_similarity": args.replay_similarity} if args.replay_similarity is not None else {}))

    res = run_replay_bench(args.manifest, seeds=range(args.seeds), k=args.k, policy=policy,
                           backend=args.backend or DEFAULT_BACKEND, progress=progress_printer("bench-replay", args.quiet))
    print(to_json(res) if args.json else markdown_table(res))
    return 0
