"""`voicelive enroll NAME FILE...` (files) and `voicelive enroll NAME --mic` (guided recording).

From files: each file is one clip, checked for quality (a report per file). With ``--mic`` (or
``--source FILE``, the same session fed from a file): an :class:`EnrollmentSession` shows prompts,
a live level meter and progress bar, cuts clips at pauses and reports on each, and stores the
speaker once enough speech has been accepted.
"""

from __future__ import annotations

import argparse
import sys
import time

from voicelive.commands._common import add_data_args, print_json

__all__ = ["add_parser", "check_clips", "run", "similar_speakers"]

DEFAULT_SECONDS = 90.0
MIN_SPEECH_FRACTION = 0.4
"""Stopped early (time limit, Ctrl-C, end of file), the session is still stored when at least this
fraction of the target speech was accepted (10 s of the default 25 s)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("enroll", help="enroll a speaker from audio files or the microphone",
                       description="Enroll NAME from audio files, or by reading prompts into the microphone "
                                   "(--mic). Every clip is checked (too short, no voice, too quiet, clipping, "
                                   "too noisy, different speaker) and only good clips are used. The active model "
                                   "is updated: embedding/GMM backends add the speaker without retraining the "
                                   "others.",
                       epilog="examples:  voicelive enroll Alice a.wav b.wav c.wav    "
                              "voicelive enroll Alice --mic --device 2")
    p.add_argument("name", help="the speaker's display name")
    p.add_argument("files", nargs="*", metavar="FILE", help="WAV/FLAC/OGG/MP3 recordings of this speaker")
    add_data_args(p)
    p.add_argument("--backend", default=None,
                   help="backend for a new model (default: the active model's, else 'fusion')")
    p.add_argument("--replace", action="store_true", help="re-enroll: drop this speaker's previous clips")
    p.add_argument("--no-quality-check", action="store_true", help="(files) use every readable file as is")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    g = p.add_argument_group("guided recording")
    g.add_argument("--mic", action="store_true",
                   help="record from the microphone: read the prompts aloud until the progress bar is full")
    g.add_argument("--device", metavar="D", default=None,
                   help="input device for --mic: index or part of its name (see `voicelive devices`)")
    g.add_argument("--seconds", type=float, metavar="S", default=DEFAULT_SECONDS,
                   help=f"stop recording after S seconds (default {DEFAULT_SECONDS:g})")
    g.add_argument("--source", metavar="FILE", default=None,
                   help="run the guided session on an audio file instead of the microphone (tests, demos)")
    g.add_argument("--realtime", action="store_true", help="with --source: play the file at real-time pace")
    g.add_argument("--target-speech", type=float, metavar="S", default=None, dest="target_speech_s",
                   help="seconds of good speech to collect (default 25)")
    g.add_argument("--prompts", metavar="FILE", default=None,
                   help="sentences to read, one a line (default: the bundled prompts)")
    p.set_defaults(run=run, _parser=p)


# -- files ------------------------------------------------------------------------------------------

def similar_speakers(rec, name: str, waves) -> list[tuple[str, float]]:
    """Other enrolled speakers that the new clips also pass as (possible duplicate enrollment);
    see :func:`voicelive.enrollment.session.similar_speakers`."""
    from voicelive.enrollment.session import similar_speakers as _similar

    return _similar(rec, name, waves)


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


def run(args: argparse.Namespace) -> int:
    guided = args.mic or args.source is not None
    parser = getattr(args, "_parser", None)

    def usage(msg: str) -> None:
        if parser is not None:
            parser.error(msg)  # prints the usage line, exits with status 2
        from voicelive.errors import ConfigError
        raise ConfigError(msg)

    if args.device is not None and not guided:
        usage("--device is for recording: add --mic (e.g. `voicelive enroll NAME --mic --device 2`)")
    if guided and args.files:
        usage("give either audio FILEs or --mic/--source, not both")
    if args.mic and args.source is not None:
        usage("--mic and --source both name the audio to record; choose one")
    if not guided and not args.files:
        usage("nothing to enroll from: give audio files (`voicelive enroll NAME a.wav b.wav`) or record "
              "with `voicelive enroll NAME --mic`")
    if guided:
        if args.model_dir:
            usage("--mic/--source enroll into the roster database; drop --model-dir")
        if args.no_quality_check:
            usage("--no-quality-check is for files; recorded clips are always checked")
        return _run_session(args)
    return _run_files(args)


def _run_files(args: argparse.Namespace) -> int:
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
        _warn_similar(args.name, close)
    return 0


def _warn_similar(name: str, close) -> None:
    for s, p in close:
        print(f"warning: '{name}' sounds like already-enrolled '{s}' (score {p:.2f}); "
              "is this the same person enrolled twice?")


def _store(args):
    from voicelive.commands._common import open_store

    return open_store(args)


def _enroll_standalone(args, waves):
    """Enroll into a model file of its own (``--model-dir``), without the roster database."""
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


# -- guided session -----------------------------------------------------------------------------------

class _Terminal:
    """Prompts and per-clip lines on stdout; a one-line live meter (carriage return) on stderr
    when stdout is a terminal, nothing of it otherwise."""

    METER_EVERY_S = 0.1
    BAR = 24

    def __init__(self, *, quiet: bool, interactive: bool) -> None:
        self.quiet = quiet
        self.interactive = interactive and not quiet
        self._meter_shown = False
        self._last_meter = 0.0
        self._prompt: str | None = None

    def line(self, text: str) -> None:
        if self.quiet:
            return
        self.clear_meter()
        print(text, flush=True)

    def prompt(self, text: str, *, again: bool = False) -> None:
        if text != self._prompt or again:
            self._prompt = text
            self.line(f'{"Again" if again else "Say"}: "{text}"')

    def feedback(self, fb, session) -> None:
        mark = "ok " if fb.ok else "BAD"
        self.line(f"  [{mark}] clip {fb.clip_index + 1}: {fb.message}  (progress {100 * fb.progress:.0f} %)")
        if not session.done:
            self.prompt(session.current_prompt, again=not fb.ok)

    def meter(self, session, *, force: bool = False) -> None:
        if not self.interactive:
            return
        now = time.monotonic()
        if not force and now - self._last_meter < self.METER_EVERY_S:
            return
        self._last_meter = now
        level = max(-60.0, min(0.0, session.level_dbfs))
        n_lvl = int(round((level + 60.0) / 60.0 * self.BAR))
        n_prog = int(round(min(1.0, session.progress) * self.BAR))
        talk = "speaking" if session.speaking else "        "
        text = (f"\r  level [{'#' * n_lvl}{' ' * (self.BAR - n_lvl)}] {session.level_dbfs:6.1f} dBFS  {talk}  "
                f"progress [{'=' * n_prog}{'.' * (self.BAR - n_prog)}] {100 * session.progress:3.0f} %")
        sys.stderr.write(text)
        sys.stderr.flush()
        self._meter_shown = True

    def clear_meter(self) -> None:
        if self._meter_shown:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()
            self._meter_shown = False


def _device_spec(text: str | None):
    if text is None:
        return None
    t = text.strip()
    return int(t) if t.lstrip("-").isdigit() else t


def _run_session(args: argparse.Namespace) -> int:
    from voicelive.audio.sources import FileSource, MicSource
    from voicelive.enrollment.session import DEFAULT_TARGET_SPEECH_S, EnrollmentSession, load_prompts
    from voicelive.errors import AudioError, ConfigError

    if not (args.seconds > 0):
        raise ConfigError(f"--seconds must be a positive number of seconds, got {args.seconds:g}")
    target = args.target_speech_s if args.target_speech_s is not None else DEFAULT_TARGET_SPEECH_S
    prompts = load_prompts(args.prompts) if args.prompts else None
    if args.source is not None:
        source = FileSource(args.source, realtime=args.realtime)
        device_name = "file"
    else:
        source = MicSource(_device_spec(args.device))
        device_name = None
    ui = _Terminal(quiet=args.json, interactive=sys.stdout.isatty())
    store = _store(args)
    try:
        session = EnrollmentSession(args.name, store=store, target_speech_s=target, prompts=prompts,
                                    backend=args.backend, replace=args.replace, device_name=device_name)
        session.warm_up()
        source.start()  # DeviceError names `voicelive devices`
        if device_name is None:
            session.device_name = source.name
        if not args.json:
            what = "re-enrolling" if args.replace and store.has_speaker(session.name) else "enrolling"
            ui.line(f"{what} '{session.name}' from {source.name}: read each sentence aloud at your normal "
                    f"pace; {target:g} s of good speech are needed (stops after {args.seconds:g} s, Ctrl-C to end)")
        ui.prompt(session.current_prompt)
        audio_s = 0.0
        interrupted = False
        try:
            while not session.done and audio_s < args.seconds:
                block = source.read(timeout=0.1)
                if block is None:
                    if source.finished:
                        break
                    ui.meter(session)
                    continue
                audio_s += block.size / source.sr
                for fb in session.feed(block):
                    ui.feedback(fb, session)
                ui.meter(session)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            source.stop()
        for fb in session.flush():
            ui.feedback(fb, session)
        ui.clear_meter()
        needed = MIN_SPEECH_FRACTION * target
        if not session.done and session.accepted_speech_s < needed:
            session.cancel()
            refused = sum(not fb.ok for fb in session.feedback)
            why = ("interrupted" if interrupted else
                   f"the {args.seconds:g}-s limit was reached" if audio_s >= args.seconds else "the recording ended")
            msg = (f"{why} with only {session.accepted_speech_s:.1f} s of good speech for '{session.name}' "
                   f"(needs at least {needed:.0f} s; {refused} clip(s) refused); nothing was saved. Run the "
                   "enrollment again and read the prompts in a quiet place, close to the microphone")
            if interrupted:
                print(f"voicelive: {msg}", file=sys.stderr)
                return 130
            raise AudioError(msg)
        if not args.json:
            ui.line(f"saving '{session.name}' ({session.clips_accepted} clips, {session.accepted_speech_s:.1f} s "
                    "of speech) and updating the model...")
        res = session.finish()
    finally:
        store.close()
    rec = res.recognizer
    if args.json:
        print_json({"speaker": res.speaker, "clips_used": res.clips_used, "speech_s": round(res.speech_s, 2),
                    "model_version": res.model_version, "speakers": list(res.speakers),
                    "threshold": res.threshold, "update_s": round(res.update_s, 3),
                    "clips": [{"verdict": fb.verdict, "message": fb.message, "speech_s": round(fb.speech_s, 2),
                               "duration_s": round(fb.duration_s, 2)} for fb in session.feedback],
                    "similar_to": [{"speaker": s, "score": round(p, 3)} for s, p in res.similar_to]})
    else:
        far = f" for FAR {rec.target_far:g}" if rec is not None else ""
        print(f"enrolled '{res.speaker}' from {res.clips_used} clip(s) ({res.speech_s:.1f} s of speech); roster: "
              f"{', '.join(res.speakers)}; model updated in {res.update_s:.2f} s (threshold "
              f"{res.threshold:.2f}{far})")
        _warn_similar(res.speaker, res.similar_to)
    return 0
