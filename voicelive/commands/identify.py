"""`voicelive identify FILE...`: who speaks in each file (or `unknown`)."""

from __future__ import annotations

import argparse

from voicelive.commands._common import add_data_args, load_scorer, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("identify", help="name the speaker of audio files (or say 'unknown')",
                       description="Score whole files against the enrolled roster. Prints the speaker or "
                                   "'unknown', the calibrated score, the threshold and the top-3 candidates.")
    p.add_argument("files", nargs="+", metavar="FILE", help="WAV/FLAC/OGG/MP3 files")
    add_data_args(p)
    p.add_argument("--target-far", type=float, default=None,
                   help="accept threshold as a target false-accept rate (default: the model's, 0.01)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from voicelive.audio.io import load_audio
    from voicelive.errors import VoiceliveError

    rec = load_scorer(args)
    failures = 0
    for f in args.files:
        try:
            res = rec.identify(load_audio(f))
        except VoiceliveError as exc:
            failures += 1
            if args.json:
                print_json({"file": f, "error": str(exc)})
            else:
                print(f"{f}: error: {exc}")
            continue
        if args.json:
            print_json({"file": f, "speaker": res.speaker, "score": round(res.score, 4),
                        "threshold": round(res.threshold, 4),
                        "candidates": [{"speaker": s, "score": round(v, 4)} for s, v in res.candidates]})
        else:
            who = res.speaker if res.speaker is not None else "unknown"
            cands = ", ".join(f"{s} {v:.2f}" for s, v in res.candidates)
            print(f"{f}: {who} (score {res.score:.2f}, threshold {res.threshold:.2f}; top: {cands})")
    return 1 if failures else 0
