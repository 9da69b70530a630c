"""Options and helpers shared by several subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


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
