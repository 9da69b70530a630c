"""`voicelive bench-kiosk`: the kiosk's door on the protocol's streaming sessions — how often strangers
get in, and how fast enrolled people do (see :mod:`voicelive.evaluation.kiosk_bench`)."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench-kiosk", help="kiosk false-accept rate and time to open on streaming sessions",
                       description="Enroll each seed's speakers (PROTOCOL.md split), then feed every 6-s "
                                   "session stream through the kiosk (live pipeline + door state machine). "
                                   "Reports unknown streams that opened the door, wrong-person opens, and the "
                                   "time to open for enrolled speakers.")
    p.add_argument("--manifest", required=True, help="corpus manifest.csv (see PROTOCOL.md)")
    p.add_argument("--seeds", type=int, default=5, metavar="N", help="seeds 0..N-1 (default 5)")
    p.add_argument("--k", type=int, nargs="+", default=[5, 10], help="enrollment utterances per speaker (5 10)")
    p.add_argument("--backend", default=None, help="recognition backend (default: the product default)")
    p.add_argument("--target-far", type=float, default=None, metavar="F", help="kiosk target FAR (default 0.005)")
    p.add_argument("--min-windows", type=int, default=None, metavar="N", help="agreeing windows to open (default 3)")
    p.add_argument("--min-speech-s", type=float, default=None, metavar="S", help="speech they cover (default 1.5)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from voicelive.errors import ConfigError
    from voicelive.evaluation.kiosk_bench import markdown_table, run_kiosk_bench, to_json
    from voicelive.kiosk.access import KioskPolicy
    from voicelive.recognition.registry import DEFAULT_BACKEND

    if not Path(args.manifest).is_file():
        raise ConfigError(f"manifest {args.manifest} not found; give a corpus manifest.csv (see PROTOCOL.md)")
    if not 1 <= args.seeds <= 100:
        raise ConfigError(f"--seeds must be between 1 and 100, got {args.seeds}")
    kw = {k: v for k, v in (("target_far", args.target_far), ("min_windows", args.min_windows),
                            ("min_speech_s", args.min_speech_s)) if v is not None}
    policy = KioskPolicy(**kw)

    def say(msg: str) -> None:
        if not args.quiet:
            print(f"[bench-kiosk] {msg}", file=sys.stderr, flush=True)

    res = run_kiosk_bench(args.manifest, seeds=range(args.seeds), ks=args.k, policy=policy,
                          backend=args.backend or DEFAULT_BACKEND, progress=say)
    print(to_json(res) if args.json else markdown_table(res))
    return 0
