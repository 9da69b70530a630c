"""`voicelive bench-kiosk`: the kiosk's door on the protocol's streaming sessions — how often strangers
get in, and how fast enrolled people do (see :mod:`voicelive.evaluation.kiosk_bench`)."""

from __future__ import annotations

import argparse

from voicelive.commands._common import add_bench_args, check_bench_args, progress_printer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench-kiosk", help="kiosk false-accept rate and time to open on streaming sessions",
                       description="Enroll each seed's speakers (PROTOCOL.md split), then feed every 6-s "
                                   "session stream through the kiosk (live pipeline + door state machine). "
                                   "Reports unknown streams that opened the door, enrolled people let in by a "
                                   "roster that left them out, wrong-person opens, and the time to open for "
                                   "enrolled speakers.")
    add_bench_args(p, seeds=5)
    p.add_argument("--k", type=int, nargs="+", default=[5, 10], help="enrollment utterances per speaker (5 10)")
    p.add_argument("--target-far", type=float, default=None, metavar="F", help="kiosk target FAR (default 0.005)")
    p.add_argument("--min-windows", type=int, default=None, metavar="N", help="agreeing windows to open (default 3)")
    p.add_argument("--min-speech-s", type=float, default=None, metavar="S", help="speech they cover (default 1.5)")
    p.add_argument("--no-left-out", action="store_true",
                   help="skip judging each enrolled person as a stranger by a roster enrolled without them")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from voicelive.evaluation.kiosk_bench import markdown_table, run_kiosk_bench, to_json
    from voicelive.kiosk.access import KioskPolicy
    from voicelive.recognition.registry import DEFAULT_BACKEND

    check_bench_args(args)
    kw = {k: v for k, v in (("target_far", args.target_far), ("min_windows", args.min_windows),
                            ("min_speech_s", args.min_speech_s)) if v is not None}
    policy = KioskPolicy(**kw)

    res = run_kiosk_bench(args.manifest, seeds=range(args.seeds), ks=args.k, policy=policy,
                          backend=args.backend or DEFAULT_BACKEND, progress=progress_printer("bench-kiosk", args.quiet),
                          left_out=not args.no_left_out)
    print(to_json(res) if args.json else markdown_table(res))
    return 0
