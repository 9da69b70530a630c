"""Starting and stopping the desktop app: QApplication, logging, error hooks, orderly shutdown.

:func:`create_app` builds the main window around injected parts (a pipeline, a store, inputs) —
tests use it directly. :func:`run_gui` is ``voicelive gui`` / ``python main.py``: it reads the
options, opens the roster, starts the window and, at the end, takes everything down in an order
that cannot crash the interpreter: windows closed and deleted, posted deletions processed, the
store closed, hooks removed, and only then the QApplication.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import threading
import time
import traceback
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Callable, Sequence

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, QtMsgType, Signal, qInstallMessageHandler
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QWidget

from voicelive import __version__
from voicelive.config import PipelineConfig, from_toml
from voicelive.errors import ConfigError, StoreError
from voicelive.gui.dialogs import show_error
from voicelive.gui.live import DEFAULT_MIC_KEY, InputChoice, LiveSession, file_choice, mic_choices
from voicelive.gui.main_window import MainWindow
from voicelive.gui.settings import GuiSettings
from voicelive.pipeline import Pipeline

__all__ = ["create_app", "run_gui", "ensure_qapp", "gui_config", "setup_logging", "limit_blas_threads",
           "ErrorHooks", "PerfProbe",
           "ASSETS_DIR", "LOG_FILENAME", "SETTINGS_FILENAME"]

log = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"
LOG_FILENAME = "voicelive-gui.log"
SETTINGS_FILENAME = "gui.ini"

GUI_DEFAULTS = {"audio.block_size": 512, "display.publish_s": 0.02}
"""32-ms blocks and a snapshot per block: ~31 new pictures a second for the 30-Hz drawing timer
(the CLI's 1024-sample blocks would give ~16)."""


# ---------------------------------------------------------------------------------------------
# application object, style, logging, hooks
# ---------------------------------------------------------------------------------------------
def ensure_qapp(argv: Sequence[str] | None = None) -> QApplication:
    """The QApplication (created once, with VoiceLive's name, icon and style sheet)."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setApplicationName("VoiceLive")
    app.setOrganizationName("VoiceLive")
    app.setApplicationVersion(__version__)
    icon = ASSETS_DIR / "icons" / "voicelive.svg"
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    qss = ASSETS_DIR / "style.qss"
    if qss.exists() and not app.styleSheet():
        app.setStyleSheet(qss.read_text(encoding="utf-8"))
    pg.setConfigOptions(antialias=False, useOpenGL=False)
    return app


def setup_logging(*, verbose: bool = False, log_dir: Path | None = None) -> tuple[Path, logging.Handler]:
    """Log INFO and above to a rotating file (1 MB x 3) under the user log dir; stderr keeps
    showing warnings only (everything with ``-v``). Returns the file and its handler."""
    if log_dir is None:
        from voicelive.paths import log_dir as _log_dir

        log_dir = _log_dir()
    path = Path(log_dir) / LOG_FILENAME
    handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG if verbose else logging.INFO)
    root = logging.getLogger()
    for h in root.handlers:
        if h.level == logging.NOTSET:
            h.setLevel(logging.DEBUG if verbose else logging.WARNING)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    return path, handler


class _Relay(QObject):
    """Carries an error from any thread to the GUI thread (queued signal)."""

    error = Signal(str, str, str)


class ErrorHooks:
    """``sys.excepthook`` and ``threading.excepthook`` that log and show a dialog, and a Qt message
    handler that sends Qt's own messages to the log. :meth:`remove` puts the previous ones back."""

    def __init__(self, parent: Callable[[], QWidget | None], *, log_file: Path | None = None) -> None:
        self._parent = parent
        self._log_file = log_file
        self._relay = _Relay()
        self._relay.error.connect(self._show, Qt.ConnectionType.QueuedConnection)
        self._prev_sys = sys.excepthook
        self._prev_thread = threading.excepthook
        self.shown = 0
        sys.excepthook = self._sys_hook
        threading.excepthook = self._thread_hook
        self._prev_qt = qInstallMessageHandler(self._qt_message)

    def _sys_hook(self, etype, value, tb) -> None:
        if issubclass(etype, KeyboardInterrupt):
            self._prev_sys(etype, value, tb)
            return
        log.critical("unexpected error: %s: %s", etype.__name__, value, exc_info=(etype, value, tb))
        self._relay.error.emit(etype.__name__, str(value), "".join(traceback.format_exception(etype, value, tb)))

    def _thread_hook(self, args) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        log.critical("unexpected error in thread %s: %s: %s", name, args.exc_type.__name__, args.exc_value,
                     exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
        self._relay.error.emit(args.exc_type.__name__, f"{args.exc_value} (in thread {name})",
                               "".join(traceback.format_exception(args.exc_type, args.exc_value,
                                                                  args.exc_traceback)))

    def _show(self, etype: str, message: str, details: str) -> None:
        self.shown += 1
        where = f" ({self._log_file})" if self._log_file else ""
        show_error(self._parent(), "Unexpected error",
                   f"{etype}: {message}\nVoiceLive keeps running. The details are in the log file{where}.",
                   details=details)

    @staticmethod
    def _qt_message(mode, context, message) -> None:
        level = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
                 QtMsgType.QtWarningMsg: logging.WARNING}.get(mode, logging.ERROR)
        if message.startswith("This plugin does not support"):   # offscreen/minimal platform limits
            level = logging.DEBUG
        logging.getLogger("qt").log(level, "%s", message)

    def remove(self) -> None:
        sys.excepthook = self._prev_sys
        threading.excepthook = self._prev_thread
        qInstallMessageHandler(self._prev_qt)


def limit_blas_threads():
    """One BLAS thread: the worker is the app's one numeric thread (DESIGN: audio callback, worker,
    GUI). A BLAS pool of its own spins on the cores the GUI thread needs to draw; measured here it
    made windows slower, not faster (p95 53 -> 39 ms per window on 2 cores). Returns the
    threadpoolctl limiter (None without threadpoolctl)."""
    try:
        import scipy.linalg  # noqa: F401  (load scipy's own OpenBLAS too, so the limit covers it)
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=1, user_api="blas")


# ---------------------------------------------------------------------------------------------
# performance probe (--perf)
# ---------------------------------------------------------------------------------------------
def _cpu_s(stat_path: str) -> float | None:
    """User + system CPU seconds from a /proc .../stat file (None where there is no /proc)."""
    try:
        with open(stat_path, encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PerfProbe:
    """Frames drawn per second and CPU use (whole process and GUI thread) over a live run."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self._tid = threading.get_native_id()
        self._t0: float | None = None

    def _sample(self) -> tuple[float, int, int, float | None, float | None]:
        return (time.monotonic(), self.window.frames, self.window.ticks, _cpu_s("/proc/self/stat"),
                _cpu_s(f"/proc/self/task/{self._tid}/stat"))

    def begin(self) -> None:
        self._start = self._sample()
        self._t0 = self._start[0]

    def report(self) -> dict:
        if self._t0 is None:
            return {}
        t1, f1, k1, c1, g1 = self._sample()
        t0, f0, k0, c0, g0 = self._start
        dt = max(1e-9, t1 - t0)
        snap = self.window.live.pipeline.latest()
        st = snap.stats
        return {
            "duration_s": round(dt, 2),
            "fps": round((f1 - f0) / dt, 1),
            "timer_hz": round((k1 - k0) / dt, 1),
            "cpu_process_pct": None if c0 is None or c1 is None else round(100 * (c1 - c0) / dt, 1),
            "cpu_gui_thread_pct": None if g0 is None or g1 is None else round(100 * (g1 - g0) / dt, 1),
            "cpus": os.cpu_count(),
            "worker_latency_p95_ms": None if st.latency_p95_ms is None else round(st.latency_p95_ms, 1),
            "rtf": None if st.rtf is None else round(st.rtf, 4),
            "dropped_blocks": st.dropped_blocks,
            "speakers": list(self.window.live.pipeline.scorer.speakers) if self.window.live.pipeline.scorer else [],
            "verdict": snap.verdict.label(),
        }


# ---------------------------------------------------------------------------------------------
# building the window
# ---------------------------------------------------------------------------------------------
def gui_config(path: str | None = None, overrides: dict | None = None) -> PipelineConfig:
    """The pipeline configuration for the GUI: the TOML file, the GUI's defaults, then overrides."""
    base = dict(GUI_DEFAULTS)
    base.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return from_toml(path, base)


def create_app(*, pipeline: Pipeline | None = None, store=None, store_error: str | None = None,
               config: PipelineConfig | None = None, inputs: Sequence[InputChoice] | None = None,
               input_key: str | None = None, settings: GuiSettings | None = None, data_dir: Path | None = None,
               backend: str | None = None, start: bool = True, show: bool = True,
               input_problem: str | None = None, rescan_inputs: Callable[[], Sequence[InputChoice]] | None = None,
               enroll_target_speech_s: float = 25.0, log_file: Path | None = None) -> MainWindow:
    """Build (and by default show and start) the main window around injected parts.

    Parameters
    ----------
    pipeline : Pipeline, optional
        Use this pipeline (its source plays until another input is picked). Default: a new one.
    store : Store, optional
        The roster; None runs without (``store_error`` says why).
    config : PipelineConfig, optional
        For a new pipeline (default: :func:`gui_config`).
    inputs : sequence of InputChoice, optional
        The input picker's entries (default: the microphones PortAudio lists).
    input_key : str, optional
        Which input to use first.
    start : bool
        Start listening at once (a device problem then shows a dialog; the window still opens).
    show : bool
        Show the window.
    """
    ensure_qapp()
    cfg = config if config is not None else (pipeline.config if pipeline is not None else gui_config())
    if inputs is None:
        inputs, problem = mic_choices(cfg)
        input_problem = input_problem or problem
        if rescan_inputs is None:
            rescan_inputs = lambda: mic_choices(cfg)[0]  # noqa: E731
    live = LiveSession(cfg, inputs, current=input_key, pipeline=pipeline)
    window = MainWindow(live, store=store, store_error=store_error, settings=settings, data_dir=data_dir,
                        backend=backend, input_problem=input_problem, rescan_inputs=rescan_inputs,
                        enroll_target_speech_s=enroll_target_speech_s, log_file=log_file)
    if show:
        window.show()
    if store_error:
        show_error(window, "Roster unavailable",
                   f"The speaker database cannot be opened: {store_error}\nThe live display works, but "
                   "nobody can be identified or enrolled. Check it with `voicelive speakers check`, or "
                   "start with another --data-dir.")
    if start:
        window.start_live()
    return window


def close_window(window: QWidget | None) -> None:
    """Close and delete a window now (posted deletions processed), before the QApplication goes."""
    if window is None:
        return
    app = QApplication.instance()
    try:
        window.close()
        window.deleteLater()
    except RuntimeError:  # already deleted
        return
    if app is not None:
        app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        app.processEvents()


# ---------------------------------------------------------------------------------------------
# `voicelive gui`
# ---------------------------------------------------------------------------------------------
def _initial_inputs(args, cfg: PipelineConfig, settings: GuiSettings):
    choices, problem = mic_choices(cfg)
    key = settings.input_key
    first_source = None
    if getattr(args, "device", None) is not None:
        from voicelive.audio.sources import MicSource

        dev = args.device
        spec = int(dev) if str(dev).strip().isdigit() else dev
        a = cfg.audio
        explicit = InputChoice(f"mic:{dev}", f"Device {dev}",
                               lambda: MicSource(spec, block_size=a.block_size, queue_blocks=a.queue_blocks))
        choices = [explicit] + [c for c in choices if c.key != explicit.key]
        key = explicit.key
    if getattr(args, "source", None):
        fc = file_choice(args.source, cfg)
        first_source = fc.make()   # a missing or unreadable file is a command-line error, said at once
        choices = [fc] + choices
        key = fc.key
    if key is None or all(c.key != key for c in choices):
        key = DEFAULT_MIC_KEY
    return choices, key, problem, first_source


def check_display() -> None:
    """Fail with a clear message where Qt would abort: Linux without any display to draw on."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ConfigError("no graphical display (neither DISPLAY nor WAYLAND_DISPLAY is set): start VoiceLive "
                          "from a desktop session, or set QT_QPA_PLATFORM=offscreen to run it headless; "
                          "`voicelive stream` identifies speakers without a window")


def run_gui(args) -> int:
    """``voicelive gui``: the desktop window until it is closed (or ``--exit-after-s``)."""
    check_display()
    exit_after = getattr(args, "exit_after_s", None)
    if exit_after is not None and not exit_after > 0:
        raise ConfigError(f"--exit-after-s must be positive, got {exit_after}")
    from voicelive.paths import data_dir as _data_dir

    data = _data_dir(getattr(args, "data_dir", None))
    log_file, log_handler = setup_logging(verbose=bool(getattr(args, "verbose", False)))
    limit_blas_threads()
    app = ensure_qapp()
    settings = GuiSettings(data / SETTINGS_FILENAME)
    overrides = {"window.hop_s": getattr(args, "hop_s", None) or settings.hop_s}
    cfg = gui_config(getattr(args, "config", None), overrides)
    choices, key, problem, first_source = _initial_inputs(args, cfg, settings)
    pipeline = Pipeline(source=first_source, config=cfg) if first_source is not None else None

    store, store_error = None, None
    try:
        from voicelive.store import Store

        store = Store.open(data)
    except (StoreError, OSError) as exc:
        store_error = str(exc)
        log.error("cannot open the roster in %s: %s", data, exc)

    window: MainWindow | None = None
    hooks = ErrorHooks(lambda: window, log_file=log_file)
    probe: PerfProbe | None = None
    rc = 0
    try:
        window = create_app(pipeline=pipeline, store=store, store_error=store_error, config=cfg, inputs=choices,
                            input_key=key, settings=settings, data_dir=data, backend=getattr(args, "backend", None),
                            input_problem=problem, rescan_inputs=lambda: _initial_inputs(args, cfg, settings)[0],
                            log_file=log_file)
        window.destroyed.connect(app.quit)
        if getattr(args, "fullscreen", False):
            window.showFullScreen()
        log.info("ready: VoiceLive %s window shown (input %s, data dir %s)", __version__,
                 window.live.current.label if window.live.current else "none", data)
        if getattr(args, "perf", False):
            probe = PerfProbe(window)
            QTimer.singleShot(2000, probe.begin)   # after start-up and model loading settle
        if exit_after is not None:
            def quit_now():
                if probe is not None:
                    print(json.dumps(probe.report()), flush=True)
                window.close()
                app.quit()

            QTimer.singleShot(int(exit_after * 1000), quit_now)
        app.setQuitOnLastWindowClosed(True)
        rc = app.exec()
    finally:
        if window is not None:
            window.shutdown()
        close_window(window)
        window = None
        if pipeline is not None:
            pipeline.stop()
        if store is not None:
            store.close()
        hooks.remove()
        gc.collect()
        logging.getLogger().removeHandler(log_handler)
        log_handler.close()
    log.debug("event loop ended with %s", rc)
    return 0 if rc in (0, None) else int(rc)
