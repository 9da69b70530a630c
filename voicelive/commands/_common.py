"""Options and helpers shared by several subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable


def add_data_args(p: argparse.ArgumentParser, *, model_dir: bool = True) -> None:
    p.add_argument("--data-dir", default=None,
                   help="roster database and models (default: the user data dir, or $VOICELIVE_DATA_DIR)")
    if model_dir:
        p.add_argument("--model-dir", default=None,
                       help="use a standalone model file in this folder instead of the roster database")


def open_store(args: argparse.Namespace):
    from voicelive.store import Store

    return Store.open(getattr(args, "data_dir", None))


def load_scorer(args: argparse.Namespace):
    """The recognizer the user means: ``--model-dir`` file, else the store's active model."""
    from voicelive.errors import NotEnrolledError
    from voicelive.recognition.model_io import load_recognizer

    if getattr(args, "model_dir", None):
        return load_recognizer(args.model_dir)
    from voicelive.enrollment.model_update import active_recognizer

    store = open_store(args)
    try:
        rec = active_recognizer(store)
    finally:
        store.close()
    if rec is None:
        raise NotEnrolledError("nobody is enrolled yet; run `voicelive enroll NAME FILE...` "
                               "or `voicelive enroll NAME --mic` first")
    target_far = getattr(args, "target_far", None)
    if target_far is not None:
        rec.set_target_far(target_far)
    return rec


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def add_bench_args(p: argparse.ArgumentParser, *, seeds: int) -> None:
    """The options every door benchmark shares: corpus, seeds, backend, output."""
    p.add_argument("--manifest", required=True, help="corpus manifest.csv (see PROTOCOL.md)")
    p.add_argument("--seeds", type=int, default=seeds, metavar="N", help=f"seeds 0..N-1 (default {seeds})")
    p.add_argument("--backend", default=None, help="recognition backend (default: the product default)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def check_bench_args(args: argparse.Namespace) -> None:
    """One-line errors for a missing manifest or a seed count out of range."""
    from pathlib import Path

    from voicelive.errors import ConfigError

    if not Path(args.manifest).is_file():
        raise ConfigError(f"manifest {args.manifest} not found; give a corpus manifest.csv (see PROTOCOL.md)")
    if not 1 <= args.seeds <= 100:
        raise ConfigError(f"--seeds must be between 1 and 100, got {args.seeds}")


def progress_printer(tag: str, quiet: bool) -> Callable[[str], None]:
    """``say(msg)``: a progress line on stderr, ``[tag] msg``, unless quiet."""
    def say(msg: str) -> None:
        if not quiet:
            print(f"[{tag}] {msg}", file=sys.stderr, flush=True)
    return say
