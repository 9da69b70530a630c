"""Starting and stopping the kiosk: `voicelive kiosk`.

:func:`create_kiosk` builds the window around injected parts (tests use it); :func:`run_kiosk` reads
the command line, opens the store and the enrolled model, shows the window full screen and, at
the end, takes everything down in the order the desktop app uses (window closed and deleted, posted
deletions processed, store closed, hooks removed, then the QApplication goes).
"""

from __future__ import annotations

import gc
import logging
from typing import Callable

import voicelive.gui  # noqa: F401  (the bindings work-around, before any widget exists)
from PySide6.QtCore import QTimer, Qt

from voicelive import __version__
from voicelive.audio.sources import FileSource, MicSource, Source
from voicelive.config import PipelineConfig
from voicelive.errors import ConfigError
from voicelive.gui.app import (ErrorHooks, check_display, close_window, ensure_qapp, gui_config,
                               limit_blas_threads, setup_logging)
from voicelive.gui.jobs import JobRunner
from voicelive.kiosk.access import KioskPolicy
from voicelive.kiosk.door import CommandDoor, DoorActuator, OnScreenDoor
from voicelive.kiosk.pin import PinGuard
from voicelive.kiosk.session import KioskSession
from voicelive.kiosk.window import KioskWindow

__all__ = ["create_kiosk", "run_kiosk", "source_factory", "KIOSK_SETTINGS_KEY"]

log = logging.getLogger(__name__)

KIOSK_SETTINGS_KEY = "kiosk.settings"
"""Store setting with what the admin screen changed (``{"target_far": ...}``)."""


def source_factory(config: PipelineConfig, *, source_file: str | None = None,
                   device: str | int | None = None) -> tuple[Callable[[], Source], str]:
    """(make a new source, its description): a file replayed in a loop at real-time pace, or a
    microphone (index or part of its name; None = system default)."""
    a = config.audio
    if source_file:
        FileSource(source_file, block_size=a.block_size)      # a missing or unreadable file fails here, at once
        return (lambda: FileSource(source_file, realtime=True, loop=True, block_size=a.block_size),
                f"file {source_file} (looping)")
    spec = int(device) if device is not None and str(device).strip().isdigit() else device
    return (lambda: MicSource(spec, block_size=a.block_size, queue_blocks=a.queue_blocks),
            f"microphone {device}" if device is not None else "system default microphone")


def create_kiosk(session: KioskSession, *, store, guard: PinGuard | None = None, jobs: JobRunner | None = None,
                 backend: str | None = None, door_text: str = "on screen only", input_text: str = "",
                 start: bool = True, fullscreen: bool = True, on_exit: Callable[[], None] | None = None,
                 enroll_target_speech_s: float = 25.0) -> KioskWindow:
    """Build (and show, and start) the kiosk window around a session and a store."""
    ensure_qapp()
    jobs = jobs if jobs is not None else JobRunner()

    def persist_far(far: float) -> None:
        try:
            cur = store.get_setting(KIOSK_SETTINGS_KEY, {}) or {}
            store.set_setting(KIOSK_SETTINGS_KEY, {**cur, "target_far": far})
        except Exception as exc:   # the kiosk keeps working with the new value
            log.warning("cannot save the kiosk settings: %s", exc)

    def open_enrollment(window: KioskWindow):
        from voicelive.gui.enroll_wizard import EnrollWizard, PipelineTap

        if window.wizard is not None:
            try:
                window.wizard.raise_()
                return window.wizard
            except RuntimeError:
                window.wizard = None
        known = [s.name for s in store.list_speakers()]
        far = session.policy.target_far

        def on_result(res):   # job thread: the new model's threshold is the kiosk's
            if res.recognizer is not None:
                res.recognizer.set_target_far(far)

        w = EnrollWizard(window, store=store, jobs=jobs, tap=PipelineTap(lambda: session.pipeline),
                         backend=backend or getattr(session.scorer, "name", None), known=known,
                         target_speech_s=enroll_target_speech_s, is_live=lambda: session.pipeline.running,
                         on_result=on_result)
        w.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)

        def enrolled(result):
            if result.recognizer is not None:
                session.set_scorer(result.recognizer)
                window.check_close_voices()
            window.refresh_admin()

        def closed(_r):
            if window.wizard is w:
                window.wizard = None
            if not w.finishing:
                w.deleteLater()

        w.enrolled.connect(enrolled)
        w.finished.connect(closed)
        w.show()
        return w

    window = KioskWindow(session, store=store, guard=guard, on_exit=on_exit, open_enrollment=open_enrollment,
                         on_target_far=persist_far, door_text=door_text, input_text=input_text)
    window.jobs = jobs
    jobs.setParent(window)
    window.check_close_voices()
    if fullscreen:
        window.setWindowFlag(Qt.WindowType.FramelessWindowHint, True)
        window.showFullScreen()
    else:
        window.resize(1280, 800)
        window.show()
    if start:
        session.start()
    return window


def _policy(args, store) -> KioskPolicy:
    saved = store.get_setting(KIOSK_SETTINGS_KEY, {}) or {}
    kw = {}
    far = getattr(args, "target_far", None)
    if far is None and isinstance(saved, dict) and saved.get("target_far") is not None:
        far = float(saved["target_far"])
    if far is not None:
        kw["target_far"] = far
    for name in ("unlock_s", "min_windows", "min_speech_s", "cooldown_s", "replay_guard"):
        v = getattr(args, name, None)
        if v is not None:
            kw[name] = v
    return KioskPolicy(**kw)


def run_kiosk(args) -> int:
    """``voicelive kiosk``: the fullscreen kiosk until the admin leaves it (or ``--exit-after-s``)."""
    check_display()
    exit_after = getattr(args, "exit_after_s", None)
    if exit_after is not None and not exit_after > 0:
        raise ConfigError(f"--exit-after-s must be positive, got {exit_after}")
    from voicelive.enrollment.model_update import active_recognizer
    from voicelive.store import Store

    store = Store.open(getattr(args, "data_dir", None))
    window: KioskWindow | None = None
    hooks = None
    log_handler = None
    try:
        policy = _policy(args, store)
        cfg = gui_config(getattr(args, "config", None))
        make_source, input_text = source_factory(cfg, source_file=getattr(args, "source", None),
                                                 device=getattr(args, "device", None))
        rec = active_recognizer(store)
        door: DoorActuator
        if getattr(args, "door_command", None):
            door = CommandDoor(args.door_command, lock_command=getattr(args, "door_lock_command", None),
                               timeout_s=getattr(args, "door_timeout_s", None) or 10.0)
        else:
            door = OnScreenDoor()
        log_file, log_handler = setup_logging(verbose=bool(getattr(args, "verbose", False)))
        limit_blas_threads()
        app = ensure_qapp()
        hooks = ErrorHooks(lambda: window, log_file=log_file)
        session = KioskSession(make_source, scorer=rec, store=store, policy=policy, door=door, config=cfg)
        window = create_kiosk(session, store=store, door_text=door.describe(), input_text=input_text,
                              fullscreen=not getattr(args, "windowed", False), on_exit=app.quit)
        log.info("ready: VoiceLive %s kiosk shown (input %s, %d enrolled, threshold %s at %g %% target FAR)",
                 __version__, input_text, len(rec.speakers) if rec is not None else 0,
                 "-" if session.threshold is None else f"{session.threshold:.3f}", policy.target_far * 100)
        if exit_after is not None:
            def quit_now():
                window.allow_close = True
                window.shutdown()
                app.quit()

            QTimer.singleShot(int(exit_after * 1000), quit_now)
        app.setQuitOnLastWindowClosed(False)    # only the admin's "Exit kiosk" (or --exit-after-s) ends it
        rc = app.exec()
    finally:
        if window is not None:
            window.allow_close = True
            window.shutdown()
            jobs = getattr(window, "jobs", None)
            if jobs is not None:
                jobs.shutdown()
        close_window(window)
        window = None
        store.close()
        if hooks is not None:
            hooks.remove()
        gc.collect()
        if log_handler is not None:
            logging.getLogger().removeHandler(log_handler)
            log_handler.close()
    return 0 if rc in (0, None) else int(rc)
