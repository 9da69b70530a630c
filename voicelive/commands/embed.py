"""`voicelive embed FILE...`: print speaker embeddings."""

from __future__ import annotations

import argparse

from voicelive.commands._common import print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="print the speaker embedding of audio files",
                       description="Compute a fixed-size speaker embedding per file (GE2E: 256 numbers, L2-normalised).")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--backend", default="ge2e", help="a backend with an embedding (default: ge2e)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from voicelive.audio.io import load_audio
    from voicelive.errors import ConfigError
    from voicelive.recognition.registry import make_backends

    backends = [b for b in make_backends(args.backend) if b.has_embedding]
    if not backends:
        raise ConfigError(f"backend '{args.backend}' has no embedding; use --backend ge2e")
    b = backends[0]
    for f in args.files:
        e = b.embed(load_audio(f))
        if args.json:
            print_json({"file": f, "backend": b.name, "embedding": [round(float(x), 6) for x in e]})
        else:
            print(f"{f}: " + " ".join(f"{x:.4f}" for x in e))
    return 0
