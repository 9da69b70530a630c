"""`voicelive setup-models`: download Resemblyzer's pretrained GE2E weights once and convert them to
``.npz`` in the models cache (no torch needed). Safe to run again: it only checks the file then."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "setup-models",
        help="download and convert the pretrained GE2E speaker-encoder weights",
        description="Download resemblyzer==0.1.4 with pip (nothing is installed), convert its "
                    "pretrained GE2E encoder to a torch-free .npz in the models folder and print "
                    "where it is. Does nothing when the weights are already there.",
    )
    p.add_argument("--models-dir", metavar="DIR", default=None,
                   help="where to keep the weights (default: $VOICELIVE_MODELS_DIR or the user cache)")
    p.add_argument("--wheel", metavar="FILE", default=None,
                   help="use an already downloaded Resemblyzer-0.1.4-py3-none-any.whl (offline machines)")
    p.add_argument("--force", action="store_true", help="convert again even if the weights exist")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the path of the weights")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from voicelive.recognition.weights import setup_models

    path = setup_models(args.models_dir, quiet=args.quiet, wheel=args.wheel, force=args.force)
    print(path)
    return 0
