"""`voicelive enroll NAME FILE...`: add a speaker from audio files (each checked for quality)."""

from __future__ import annotations

import argparse

from voicelive.commands._common import add_data_args, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("enroll", help="enroll a speaker from audio files",
                       description="Enroll NAME from audio files. Each file is checked (too short, no voice, too "
                                   "quiet, clipping, too noisy, different speaker) and only good clips are used. "
                                   "The active model is updated: embedding/GMM backends add the speaker without "
                                   "retraining the others.")
    p.add_argument("name", help="the speaker's display name")
    p.add_argument("files", nargs="+", metavar="FILE", help="WAV/FLAC/OGG/MP3 recordings of this speaker")
    add_data_args(p)
    p.add_argument("--backend", default=None,
                   help="backend for a new model (default: the active model's, else 'fusion')")
    p.add_argument("--replace", action="store_true", help="re-enroll: drop this speaker's previous clips")
    p.add_argument("--no-quality-check", action="store_true", help="use every readable file as is")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(run=run)


def check_clips(files: list[str], *, quality: bool = True):
    """Load and assess each file; returns ``(good waves, reports)``."""
    from voicelive.audio.io import load_audio
    from voicelive.errors import AudioError

    reports, good = [], []
    assess = None
    if quality:
        from voicelive.enrollment.quality import assess_clip as assess
    for f in files:
        try:
            w = load_audio(f)
        except AudioError as exc:
            reports.append({"file": f, "verdict": "unreadable", "message": str(exc)})
            continue
        if assess is not None:
            q = assess(w)
            reports.append({"file": f, "verdict": q.verdict, "message": q.message,
                            "speech_s": round(q.speech_s, 2)})
            if q.verdict != "ok":
                continue
        else:
            reports.append({"file": f, "verdict": "ok", "message": "not checked", "speech_s": None})
        good.append(w)
    return good, reports


def similar_speakers(rec, name: str, waves) -> list[tuple[str, float]]:
    """Other enrolled speakers that the new clips also pass as (possible duplicate enrollment)."""
    import numpy as np

    others = [s for s in rec.speakers if s != name]
    if not others or not waves:
        return []
    probs = np.mean([list(rec.score_window(w).values()) for w in waves], axis=0)
    return [(s, float(p)) for s, p in zip(rec.speakers, probs) if s != name and p > rec.threshold]


def run(args: argparse.Namespace) -> int:
    from voicelive.errors import AudioError

    waves, reports = check_clips(args.files, quality=not args.no_quality_check)
    if not args.json:
        for r in reports:
            mark = "ok " if r["verdict"] == "ok" else "BAD"
            print(f"  [{mark}] {r['file']}: {r['message']}")
    if not waves:
        raise AudioError(f"none of the {len(args.files)} file(s) for '{args.name}' is usable; "
                         "record again in a quiet place, speaking normally, at least 2 s each")
    if args.model_dir:
        rec, added_s = _enroll_standalone(args, waves)
        version = None
    else:
        from voicelive.enrollment.model_update import sync_model

        store = _store(args)
        try:
            if store.has_speaker(args.name):
                store.add_clips(args.name, waves, replace=args.replace, device="file")
            else:
                store.add_speaker_with_clips(args.name, waves, device="file")
            res = sync_model(store, backend=args.backend)
        finally:
            store.close()
        rec, added_s, version = res.recognizer, res.seconds, res.version_id
    close = similar_speakers(rec, args.name, waves)
    if args.json:
        print_json({"speaker": args.name, "clips_used": len(waves), "files": reports, "model_version": version,
                    "speakers": rec.speakers, "threshold": rec.threshold, "update_s": round(added_s, 3),
                    "similar_to": [{"speaker": s, "score": round(p, 3)} for s, p in close]})
    else:
        print(f"enrolled '{args.name}' from {len(waves)} clip(s); roster: {', '.join(rec.speakers)}; "
              f"model updated in {added_s:.2f} s (threshold {rec.threshold:.2f} for FAR {rec.target_far:g})")
        for s, p in close:
            print(f"warning: '{args.name}' sounds like already-enrolled '{s}' (score {p:.2f}); "
                  "is this the same person enrolled twice?")
    return 0


def _store(args):
    from voicelive.commands._common import open_store

    return open_store(args)


def _enroll_standalone(args, waves):
    """Enroll into a model file of its own (``--model-dir``), without the roster database."""
    import time

    from voicelive.errors import ConfigError
    from voicelive.recognition.model_io import load_recognizer, model_path, save_recognizer
    from voicelive.recognition.recognizer import Recognizer
    from voicelive.recognition.registry import DEFAULT_BACKEND

    t0 = time.perf_counter()
    if model_path(args.model_dir).exists():
        rec = load_recognizer(args.model_dir)
        if args.backend and args.backend != rec.name:
            raise ConfigError(f"the model in {args.model_dir} uses backend '{rec.name}', not '{args.backend}'; "
                              "choose another --model-dir for a new model")
        if args.name in rec.speakers and not args.replace:
            raise ConfigError(f"'{args.name}' is already enrolled in {args.model_dir}; add --replace to re-enroll, "
                              "or drop --model-dir to keep clips in the roster database and add more")
        rec.add_speaker(args.name, waves)
    else:
        rec = Recognizer.create(args.backend or DEFAULT_BACKEND)
        rec.enroll({args.name: waves})
    save_recognizer(rec, args.model_dir)
    return rec, time.perf_counter() - t0
