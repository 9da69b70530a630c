"""`voicelive train`: rebuild the active model from the roster (e.g. with another backend)."""

from __future__ import annotations

import argparse

from voicelive.commands._common import add_data_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    from voicelive.recognition.registry import BACKEND_NAMES, DEFAULT_BACKEND

    p = sub.add_parser("train", help="rebuild the model from every enrolled clip",
                       description="Retrain the active model from the roster's clips, e.g. to switch backend or "
                                   "after an upgrade changed the features. The previous model stays active until "
                                   "the new one is complete.")
    add_data_args(p, model_dir=False)
    p.add_argument("--backend", default=DEFAULT_BACKEND, choices=BACKEND_NAMES,
                   help=f"recognition backend (default: {DEFAULT_BACKEND})")
    p.add_argument("--target-far", type=float, default=None,
                   help="accept threshold as a target false-accept rate (default 0.01)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from voicelive.commands._common import open_store
    from voicelive.enrollment.model_update import sync_model
    from voicelive.errors import NotEnrolledError

    store = open_store(args)
    try:
        res = sync_model(store, backend=args.backend, target_far=args.target_far, force_rebuild=True)
    finally:
        store.close()
    if res.recognizer is None:
        raise NotEnrolledError("the roster is empty; enroll someone first: `voicelive enroll NAME FILE...`")
    rec = res.recognizer
    print(f"trained '{rec.name}' on {len(rec.speakers)} speaker(s) in {res.seconds:.1f} s; model version "
          f"{res.version_id}; threshold {rec.threshold:.3f} for target FAR {rec.target_far:g}")
    print("thresholds on cross-validated enrollment trials (calibrated score, accepted targets, accepted impostors):")
    for method, v in rec.threshold_report().items():
        print(f"  {method:<32} {v['threshold']:.3f}   TPR {100 * v['tpr']:5.1f} %   FPR {100 * v['fpr']:5.1f} %")
    if rec.small_roster:
        print(f"note: with {len(rec.speakers)} enrolled speaker(s) the threshold learns what a stranger sounds like "
              f"from too few voices ({rec.impostors}); a stranger who sounds close to "
              f"one of them can pass more often than the target (benchmarks: up to 3.75 % of strangers' "
              f"utterances at a 1 % target). Each person enrolled makes it firmer; from 8 on it rests on them alone.")
    _print_close_voices(rec)
    return 0


def _print_close_voices(rec) -> None:
    """The close-voices check (`voicelive speakers close-voices`) on a roster small enough for it."""
    from voicelive.analysis.close_voices import MAX_SPEAKERS, close_voices, describe

    if not 2 <= len(rec.speakers) <= MAX_SPEAKERS:
        return
    res = close_voices(rec)
    print(f"close voices (each person judged by the model without them): {describe(res)}")
    for c in res:
        if c.accepted:
            print(f"  {c.line()}")
