"""`voicelive bench-replay`: the kiosk against recordings of earlier visits played back at the door
(see :mod:`voicelive.evaluation.replay_bench`)."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench-replay", help="kiosk: replayed recordings of granted visits, with and without the guard",
                       description="Enroll each seed's speakers (PROTOCOL.md split), let every session stream visit "
                                   "the kiosk, then play every visit that opened the door back through several "
                                   "loudspeaker/room/noise paths. Reports how often the door opens for a replay with "
                                   "and without the replay guard, and how often a genuine visit is called a replay.")
    p.add_argument("--manifest", required=True, help="corpus manifest.csv (see PROTOCOL.md)")
    p.add_argument("--seeds", type=int, default=3, metavar="N", help="seeds 0..N-1 (default 3)")
    p.add_argument("--k", type=int, default=10, help="enrollment utterances per speaker (default 10)")
    p.add_argument("--backend", default=None, help="recognition backend (default: the product default)")
    p.add_argument("--replay-similarity", type=float, default=None, metavar="S",
                   help="replay threshold (default: the kiosk's)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from voicelive.errors import ConfigError
    from voicelive.evaluation.replay_bench import markdown_table, run_replay_bench, to_json
    from voicelive.kiosk.access import KioskPolicy
    from voicelive.recognition.registry import DEFAULT_BACKEND

    if not Path(args.manifest).is_file():
        raise ConfigError(f"manifest {args.manifest} not found; give a corpus manifest.csv (see PROTOCOL.md)")
    if not 1 <= args.seeds <= 100:
        raise ConfigError(f"--seeds must be between 1 and 100, got {args.seeds}")
    if not 1 <= args.k <= 10:
        raise ConfigError(f"--k must be between 1 and 10 (the protocol's enrollment pool), got {args.k}")
    policy = KioskPolicy(**({"replay_similarity": args.replay_similarity} if args.replay_similarity is not None else {}))

    def say(msg: str) -> None:
        if not args.quiet:
            print(f"[bench-replay] {msg}", file=sys.stderr, flush=True)

    res = run_replay_bench(args.manifest, seeds=range(args.seeds), k=args.k, policy=policy,
                           backend=args.backend or DEFAULT_BACKEND, progress=say)
    print(to_json(res) if args.json else markdown_table(res))
    return 0
