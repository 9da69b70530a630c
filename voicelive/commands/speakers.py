"""`voicelive speakers list|show|rename|remove|export|import|check|close-voices`: look after the roster.

Exit codes: 0 done; 2 a user error (unknown speaker, name taken, damaged archive, ...: one line on
stderr); 1 the roster changed but the model could not be brought up to date (run `voicelive
train`). After ``remove``, ``rename`` and ``import`` the active model is updated through
``voicelive.enrollment.model_update.on_roster_changed(store)`` when that module is present
(``--no-update`` skips it, e.g. before several changes in a row followed by one `voicelive train`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)

MODEL_UPDATE_MODULE = "voicelive.enrollment.model_update"


def _data_dir_arg(p: argparse.ArgumentParser, *, default: Any = None) -> None:
    p.add_argument("--data-dir", default=default,
                   help="roster database and models (default: the user data dir, or $VOICELIVE_DATA_DIR)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("speakers", help="list, show, rename, remove, export or import enrolled speakers; check for close voices",
                       description="Look after the roster of enrolled speakers. Without an action: list.")
    _data_dir_arg(p)
    p.set_defaults(run=run, action="list", json=False)
    acts = p.add_subparsers(dest="action", metavar="ACTION")

    def action(name: str, help_: str) -> argparse.ArgumentParser:
        a = acts.add_parser(name, help=help_, description=help_[0].upper() + help_[1:] + ".")
        _data_dir_arg(a, default=argparse.SUPPRESS)  # either before or after the action
        return a

    a = action("list", "list enrolled speakers with clip counts and seconds of speech")
    a.add_argument("--json", action="store_true", help="print a JSON list")
    a = action("show", "details and clips of one speaker")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--json", action="store_true", help="print a JSON object")
    a = action("rename", "change a speaker's display name (clips and model follow)")
    a.add_argument("old", metavar="OLD")
    a.add_argument("new", metavar="NEW")
    a.add_argument("--no-update", action="store_true", help="do not update the model now")
    a = action("remove", "delete a speaker and all their clips, then update the model")
    a.add_argument("name", metavar="NAME")
    a.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    a.add_argument("--no-update", action="store_true", help="do not update the model now")
    a = action("export", "write the roster (clips and names) to one portable zip file")
    a.add_argument("file", metavar="FILE")
    a.add_argument("--speaker", action="append", metavar="NAME", help="only this speaker (repeatable)")
    a = action("import", "add the speakers of an exported zip file (verified before anything changes)")
    a.add_argument("file", metavar="FILE")
    clash = a.add_mutually_exclusive_group()
    clash.add_argument("--skip-existing", action="store_true",
                       help="keep speakers already in the roster, ignore the archive's copy")
    clash.add_argument("--replace-existing", action="store_true",
                       help="replace speakers already in the roster by the archive's copy")
    a.add_argument("--no-update", action="store_true", help="do not update the model now")
    action("check", "verify the database, every clip's checksum and the active model file")
    a = action("close-voices", "judge each enrolled person by the model without them: could a stranger "
                               "who sounds like them be taken for someone else?")
    a.add_argument("--json", action="store_true", help="print a JSON list")


# -- helpers ---------------------------------------------------------------------------------

def _local(ts: str | None) -> str:
    """Stored UTC ISO time -> local 'YYYY-MM-DD HH:MM'."""
    if not ts:
        return "-"
    try:
        return datetime.fromisoformat(ts).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return ts


def _model_speakers(store) -> set[str] | None:
    """Speakers the active model knows (from its card), or None when unknown/no model."""
    from voicelive.errors import ModelError

    try:
        active = store.active_model()
    except ModelError:
        return None
    if active is None or not isinstance(active.card.get("speakers"), list):
        return None
    return {str(s) for s in active.card["speakers"]}


def _update_model(store, what: str, args: argparse.Namespace) -> int:
    """Run the model-update hook after a roster change; returns the exit code."""
    from voicelive.errors import VoiceliveError

    if getattr(args, "no_update", False):
        print(f"{what}; the model was not updated (--no-update): run `voicelive train` when done",
              file=sys.stderr)
        return 0
    try:
        mod = importlib.import_module(MODEL_UPDATE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != MODEL_UPDATE_MODULE:
            raise
        mod = None
    hook = getattr(mod, "on_roster_changed", None)
    if hook is None:
        if store.list_models():
            print(f"note: {what}, but the active model still reflects the old roster; "
                  "run `voicelive train` to update it", file=sys.stderr)
        return 0
    try:
        result = hook(store)
    except VoiceliveError as exc:
        print(f"voicelive: error: {what}, but the model could not be updated: {exc}; "
              "run `voicelive train` to retry", file=sys.stderr)
        return 1
    version = getattr(result, "version_id", None)
    seconds = getattr(result, "seconds", None)
    if version is not None:
        took = f" in {seconds:.2f} s" if isinstance(seconds, (int, float)) else ""
        print(f"model updated{took} (version {version})")
    elif getattr(result, "recognizer", "absent") is None:
        print("the roster has nobody with clips left; no model is in use until someone enrolls")
    return 0


# -- actions ---------------------------------------------------------------------------------

def _list(store, args: argparse.Namespace) -> int:
    speakers = store.list_speakers()
    if args.json:
        print_json([s.to_dict() for s in speakers])
        return 0
    if not speakers:
        print("No speakers enrolled yet; run `voicelive enroll NAME --mic` or `voicelive enroll NAME FILE...`.")
        return 0
    in_model = _model_speakers(store)
    width = max(4, *(len(s.name) for s in speakers))
    head = f"{'NAME':<{width}}  {'CLIPS':>5}  {'SPEECH':>8}  {'UPDATED':<16}"
    print(head + ("  IN MODEL" if in_model is not None else ""))
    for s in speakers:
        line = f"{s.name:<{width}}  {s.n_clips:>5}  {s.speech_s:>6.1f} s  {_local(s.updated):<16}"
        if in_model is not None:
            line += "  " + ("yes" if s.name in in_model else "no")
        print(line)
    summary = f"{len(speakers)} speaker{'s' if len(speakers) != 1 else ''}"
    active = _active_summary(store)
    print(summary + (f"; active model: {active}" if active else "; no model yet"))
    if in_model is not None and in_model != {s.name for s in speakers if s.n_clips}:
        print("the active model does not match the roster; run `voicelive train` to update it")
    return 0


def _active_summary(store) -> str | None:
    from voicelive.errors import ModelError

    try:
        active = store.active_model()
    except ModelError as exc:
        return f"unusable ({exc})"
    if active is None:
        return None
    return f"version {active.version_id} ({active.backend})"


def _show(store, args: argparse.Namespace) -> int:
    info = store.get_speaker(args.name)
    clips = store.clip_records(info.name)
    in_model = _model_speakers(store)
    if args.json:
        d = info.to_dict()
        d["in_model"] = None if in_model is None else info.name in in_model
        d["clips"] = [c.to_dict() for c in clips]
        print_json(d)
        return 0
    print(info.name)
    if info.notes:
        print(f"  notes:    {info.notes}")
    print(f"  created:  {_local(info.created)}   updated: {_local(info.updated)}")
    print(f"  clips:    {info.n_clips} ({info.speech_s:.1f} s of speech in {info.duration_s:.1f} s recorded)")
    if in_model is not None:
        print(f"  in model: {'yes' if info.name in in_model else 'no (run `voicelive train`)'}")
    if clips:
        print(f"  {'ID':>6}  {'LENGTH':>7}  {'SPEECH':>7}  {'QUALITY':<20}  {'DEVICE':<16}  CREATED")
        for c in clips:
            verdict = (c.quality or {}).get("verdict", "-")
            speech = f"{c.speech_s:.1f} s" if c.speech_s is not None else "-"
            print(f"  {c.id:>6}  {c.duration_s:>5.1f} s  {speech:>7}  {str(verdict):<20}  "
                  f"{(c.device or '-')[:16]:<16}  {_local(c.created)}")
    return 0


def _rename(store, args: argparse.Namespace) -> int:
    info = store.rename_speaker(args.old, args.new)
    print(f"renamed '{args.old}' to '{info.name}'")
    return _update_model(store, f"'{args.old}' was renamed to '{info.name}'", args)


def _remove(store, args: argparse.Namespace) -> int:
    info = store.get_speaker(args.name)  # unknown -> error before asking anything
    if not args.yes and sys.stdin is not None and sys.stdin.isatty():
        answer = input(f"Remove '{info.name}' and their {info.n_clips} clip(s)? This cannot be undone "
                       "(export first to keep a copy). [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 0
    removed = store.remove_speaker(info.name)
    print(f"removed '{removed.name}' and {removed.n_clips} clip(s)")
    return _update_model(store, f"'{removed.name}' was removed from the roster", args)


def _export(store, args: argparse.Namespace) -> int:
    from voicelive.store.archive import export_roster

    summary = export_roster(store, args.file, speakers=args.speaker)
    print(f"exported {summary['speakers']} speaker(s) with {summary['clips']} clip(s) to {summary['path']}")
    return 0


def _import(store, args: argparse.Namespace) -> int:
    from voicelive.store.archive import import_roster

    policy = "skip" if args.skip_existing else "replace" if args.replace_existing else "refuse"
    res = import_roster(store, args.file, on_clash=policy)
    parts = [f"added {len(res.added)}"]
    if res.replaced:
        parts.append(f"replaced {len(res.replaced)} ({', '.join(res.replaced)})")
    if res.skipped:
        parts.append(f"skipped {len(res.skipped)} already enrolled ({', '.join(res.skipped)})")
    print(f"imported {args.file}: " + "; ".join(parts))
    if not (res.added or res.replaced):
        return 0
    return _update_model(store, "the roster changed by the import", args)


def _check(store, args: argparse.Namespace) -> int:
    from voicelive.errors import StoreError

    problems = store.check()
    if problems:
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        raise StoreError(f"{store.path} has {len(problems)} problem(s), listed above; restore a backup or "
                         "an export (`voicelive speakers import FILE`), or re-enroll the affected speakers")
    n = len(store.list_speakers())
    print(f"{store.path}: OK ({n} speaker(s), every clip checksum verified"
          f"{', active model verified' if store.list_models() and _active_summary(store) else ''})")
    return 0


def _close_voices(store, args: argparse.Namespace) -> int:
    from voicelive.analysis.close_voices import close_voices, describe
    from voicelive.enrollment.model_update import active_recognizer
    from voicelive.errors import NotEnrolledError

    rec = active_recognizer(store)
    if rec is None:
        raise NotEnrolledError("nobody is enrolled yet; run `voicelive enroll NAME FILE...` first")

    def progress(done: int, total: int) -> None:
        if not args.json and sys.stderr.isatty():
            print(f"\r  judged {done}/{total} people", end="" if done < total else "\n", file=sys.stderr)

    res = close_voices(rec, progress=progress)
    if args.json:
        print_json([c.to_json() for c in res])
        return 0
    print(f"Each person judged by the model without them (their own enrollment speech; threshold at "
          f"{rec.target_far * 100:g} % false accepts):")
    for c in res:
        print(f"  {c.line()}")
    print(describe(res) + (' (docs/BENCHMARKS.md, "A stricter stranger test")' if any(c.accepted for c in res) else ""))
    return 0


ACTIONS = {"list": _list, "show": _show, "rename": _rename, "remove": _remove, "export": _export,
           "import": _import, "check": _check, "close-voices": _close_voices}


def print_json(obj: Any) -> None:
    import json

    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    from voicelive.store import Store

    store = Store.open(args.data_dir)
    try:
        return ACTIONS[args.action or "list"](store, args)
    finally:
        store.close()
