"""The main window: live waveform and spectrogram, the verdict, the roster, controls and status.

Threads: the window only draws. A QTimer polls :meth:`Pipeline.latest` at ~30 Hz and draws what
is new (nothing while hidden or minimised); text is refreshed at ~4 Hz. Everything slow (store
reads and writes, model updates, loading models) goes to the :class:`~voicelive.gui.jobs.JobRunner`
thread and comes back through its callbacks on this thread.
"""

from __future__ import annotations

import logging
import math
import platform
import time
from pathlib import Path
from typing import Callable, Sequence

from PySide6.QtCore import QSize, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDockWidget, QFileDialog, QInputDialog, QLabel,
                               QMainWindow, QMessageBox, QSizePolicy, QSplitter, QToolBar, QToolButton,
                               QVBoxLayout, QWidget)

from voicelive import __version__
from voicelive.errors import DeviceError, StoreError, VoiceliveError
from voicelive.gui.dialogs import show_error, show_message, show_warning
from voicelive.gui.jobs import JobRunner
from voicelive.gui.live import InputChoice, LiveSession
from voicelive.gui.settings import HOP_CHOICES_S, TARGET_FAR_CHOICES, GuiSettings
from voicelive.gui.widgets.meters import LevelMeter
from voicelive.gui.widgets.roster import RosterPanel
from voicelive.gui.widgets.spectrogram import SpectrogramView
from voicelive.gui.widgets.verdict import VerdictPanel

__all__ = ["MainWindow", "FRAME_MS", "TEXT_S"]

log = logging.getLogger(__name__)

FRAME_MS = 33
"""Drawing timer period (~30 Hz)."""

TEXT_S = 0.25
"""Text (verdict, status bar) refresh period (~4 Hz)."""

LEVEL_WINDOW_N = 800
"""Samples (50 ms) whose peak the level meter shows."""

ROSTER_POLL_S = 5.0
"""How often the roster's revision counter is read (in the job thread) to notice changes made by
another program, e.g. `voicelive enroll` in a terminal."""


def _far_label(far: float) -> str:
    pct = far * 100.0
    return f"{pct:g} % false accepts"


class MainWindow(QMainWindow):
    """VoiceLive's desktop window.

    Parameters
    ----------
    live : LiveSession
        The pipeline and its inputs.
    store : Store or None
        The roster; None when it could not be opened (``store_error`` says why): the window then
        shows live audio only.
    settings : GuiSettings, optional
        Where choices are persisted (none: nothing is saved).
    backend : str, optional
        Backend for new models (default: the active model's, else the registry default).
    input_problem : str, optional
        Why the device list is incomplete (shown in the input picker's tooltip).
    rescan_inputs : callable, optional
        Returns a fresh list of :class:`InputChoice` (the picker's "re-scan" button).
    enroll_target_speech_s : float
        Net speech the enrollment wizard asks for.
    log_file : Path, optional
        Shown in the About box.
    """

    def __init__(self, live: LiveSession, *, store=None, store_error: str | None = None,
                 settings: GuiSettings | None = None, jobs: JobRunner | None = None,
                 data_dir: Path | None = None, backend: str | None = None, input_problem: str | None = None,
                 rescan_inputs: Callable[[], Sequence[InputChoice]] | None = None,
                 enroll_target_speech_s: float = 25.0, log_file: Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.live = live
        self.store = store
        self.store_error = store_error
        self.settings = settings
        self.jobs = jobs if jobs is not None else JobRunner(self)
        if self.jobs.parent() is None:
            self.jobs.setParent(self)
        self.data_dir = data_dir if data_dir is not None else (store.data_dir if store is not None else None)
        self.log_file = log_file
        self.input_problem = input_problem
        self.rescan_inputs = rescan_inputs
        self.enroll_target_speech_s = float(enroll_target_speech_s)
        from voicelive.recognition.registry import BACKEND_NAMES, DEFAULT_BACKEND

        self._backend_names = tuple(BACKEND_NAMES)
        saved_backend = settings.backend if settings is not None else None
        self.backend = backend or saved_backend or DEFAULT_BACKEND
        saved_far = settings.target_far if settings is not None else None
        self.target_far: float | None = saved_far
        self.speakers: list = []
        self.model_loading = False
        self.roster_revision: int | None = None
        self._last_roster_poll = time.monotonic()
        self.wizard = None
        self._shut = False
        self._want_running = False       # the user wants the input running
        self._error_shown_for = None     # the pipeline error already reported
        self._last_seq = -1
        self._last_text = -math.inf
        self._generation = live.generation
        self._talk_key: tuple | None = None
        self._talk_start = 0.0
        self._speech_start: float | None = None
        self.frames = 0                  # frames drawn (new snapshot shown)
        self.ticks = 0                   # timer ticks
        self.fps = 0.0
        self._fps_frames = 0
        self._fps_t0 = time.monotonic()

        self.setWindowTitle("VoiceLive")
        self.resize(1280, 800)
        self.setMinimumSize(QSize(720, 480))
        self._build_central()
        self._build_roster_dock()
        self._build_toolbar()
        self._build_status_bar()
        self._build_menus()
        self._build_analysis()
        self.jobs.busyChanged.connect(self._on_jobs_busy)
        self.jobs.failed.connect(lambda label, msg: show_error(self, "Background task failed",
                                                               f"{label} failed.\n{msg}"))
        if settings is not None:
            geo, state = settings.geometry(), settings.window_state()
            if geo is not None:
                self.restoreGeometry(geo)
            if state is not None:
                self.restoreState(state)

        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(FRAME_MS)
        self.timer.timeout.connect(self.tick)
        self.timer.start()

        if store is None:
            self.roster.set_actions_enabled(False)
            self.roster.set_model_info("Roster unavailable" + (f": {store_error}" if store_error else ""))
        else:
            self.refresh_roster(load_model=True)
        self._update_text(self.live.pipeline.latest(), force=True)

    # =========================================================================================
    # construction
    # =========================================================================================
    def _build_central(self) -> None:
        cfg = self.live.config
        snap = self.live.pipeline.latest()
        self.verdict = VerdictPanel()
        from voicelive.gui.widgets.waveform import WaveformView

        self.waveform = WaveformView(tail_s=cfg.display.tail_s, window_s=cfg.window.window_s,
                                     hop_s=cfg.window.hop_s)
        self.spectrogram = SpectrogramView(history_s=cfg.display.tail_s, freqs_hz=snap.spec_freqs_hz,
                                           hop_s=snap.spec_hop_s or cfg.display.spec_hop_s)
        plots = QSplitter(Qt.Orientation.Vertical)
        plots.setObjectName("plotSplitter")
        plots.addWidget(self.waveform)
        plots.addWidget(self.spectrogram)
        plots.setStretchFactor(0, 2)
        plots.setStretchFactor(1, 3)
        plots.setChildrenCollapsible(False)
        self.waveform.setMinimumHeight(90)
        self.spectrogram.setMinimumHeight(120)
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(8, 8, 8, 4)
        lay.setSpacing(8)
        lay.addWidget(self.verdict, 0)
        lay.addWidget(plots, 1)
        self.setCentralWidget(central)

    def _build_roster_dock(self) -> None:
        self.roster = RosterPanel()
        self.roster.addRequested.connect(lambda: self.open_enroll_wizard())
        self.roster.reenrollRequested.connect(lambda n: self.open_enroll_wizard(n, replace=True))
        self.roster.renameRequested.connect(self.ask_rename)
        self.roster.removeRequested.connect(self.ask_remove)
        self.roster.importRequested.connect(self.ask_import)
        self.roster.exportRequested.connect(self.ask_export)
        self.roster.closeVoicesRequested.connect(self.check_close_voices)
        self.roster_dock = QDockWidget("Roster", self)
        self.roster_dock.setObjectName("rosterDock")
        self.roster_dock.setWidget(self.roster)
        self.roster_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                                     | QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.roster_dock.setMinimumWidth(260)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.roster_dock)

    def _build_toolbar(self) -> None:
        tb = QToolBar("Controls", self)
        tb.setObjectName("controlsToolbar")
        tb.setMovable(False)
        tb.setIconSize(QSize(18, 18))
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        self.toolbar = tb

        self.start_action = QAction("Start", self)
        self.start_action.setObjectName("startAction")
        self.start_action.setCheckable(True)
        self.start_action.setShortcut(QKeySequence(Qt.Key.Key_Space))
        self.start_action.setToolTip("Start or pause listening (Space)")
        self.start_action.triggered.connect(self._on_start_toggled)
        tb.addAction(self.start_action)
        tb.widgetForAction(self.start_action).setObjectName("startButton")
        tb.addSeparator()

        tb.addWidget(_caption("Input"))
        self.input_combo = QComboBox()
        self.input_combo.setObjectName("inputCombo")
        self.input_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.input_combo.setMinimumContentsLength(18)
        self.input_combo.setMaximumWidth(340)
        self._fill_inputs()
        self.input_combo.activated.connect(self._on_input_picked)
        tb.addWidget(self.input_combo)
        self.rescan_button = QToolButton()
        self.rescan_button.setText("↻")
        self.rescan_button.setToolTip("Look for audio devices again")
        self.rescan_button.clicked.connect(self.rescan_devices)
        self.rescan_button.setEnabled(self.rescan_inputs is not None)
        tb.addWidget(self.rescan_button)
        tb.addSeparator()

        tb.addWidget(_caption("Backend"))
        self.backend_combo = QComboBox()
        self.backend_combo.setObjectName("backendCombo")
        self.backend_combo.addItems(list(self._backend_names))
        self.backend_combo.setToolTip("Recognition engine; changing it rebuilds the model from the stored clips "
                                      "in the background")
        self._set_combo_text(self.backend_combo, self.backend)
        self.backend_combo.activated.connect(lambda _i: self.set_backend(self.backend_combo.currentText()))
        tb.addWidget(self.backend_combo)
        tb.addSeparator()

        tb.addWidget(_caption("Accept at"))
        self.far_combo = QComboBox()
        self.far_combo.setObjectName("farCombo")
        self.far_combo.setToolTip("Accept threshold as a target false-accept rate: how often a stranger may be "
                                  "taken for an enrolled speaker (lower = stricter)")
        for far in TARGET_FAR_CHOICES:
            self.far_combo.addItem(_far_label(far), far)
        self._select_far(self.target_far)
        self.far_combo.activated.connect(lambda i: self.set_target_far(float(self.far_combo.itemData(i))))
        tb.addWidget(self.far_combo)
        tb.addSeparator()

        tb.addWidget(_caption("Hop"))
        self.hop_combo = QComboBox()
        self.hop_combo.setObjectName("hopCombo")
        self.hop_combo.setToolTip("Time between analysis windows (each window is "
                                  f"{self.live.config.window.window_s:g} s long)")
        for hop in HOP_CHOICES_S:
            self.hop_combo.addItem(f"{hop:g} s", hop)
        self._select_hop(self.live.config.window.hop_s)
        self.hop_combo.activated.connect(lambda i: self.set_hop(float(self.hop_combo.itemData(i))))
        tb.addWidget(self.hop_combo)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        sb.setObjectName("statusBar")
        self.level_meter = LevelMeter()
        self.level_meter.setMaximumWidth(200)
        self.status_level = QLabel("Level")
        self.status_drops = QLabel("")
        self.status_latency = QLabel("")
        self.status_rtf = QLabel("")
        self.status_fps = QLabel("")
        for w in (self.status_drops, self.status_latency, self.status_rtf, self.status_fps):
            w.setObjectName("statusField")
        self.status_drops.setToolTip("Blocks dropped because the worker fell behind / input overflows "
                                     "reported by the device")
        self.status_latency.setToolTip("Worker time per analysis window, 95th percentile")
        self.status_rtf.setToolTip("Real-time factor: worker busy time / audio time (lower is better)")
        self.status_fps.setToolTip("Frames drawn per second")
        sb.addPermanentWidget(self.status_level)
        sb.addPermanentWidget(self.level_meter)
        for w in (self.status_drops, self.status_latency, self.status_rtf, self.status_fps):
            sb.addPermanentWidget(w)

    def _build_analysis(self) -> None:
        """Drift warning, 'Keep unknown voices' and 'New voices?' (voicelive.gui.live_analysis)."""
        from voicelive.gui.live_analysis import LiveAnalysis

        self.analysis = LiveAnalysis(self)
        self.status_drift = QLabel("")
        self.status_drift.setObjectName("driftWarning")
        self.status_drift.setStyleSheet("color: #b35c00; font-weight: bold;")
        self.status_drift.hide()
        self.statusBar().addWidget(self.status_drift)
        self.keep_unknown_action = QAction("&Keep unknown voices", self)
        self.keep_unknown_action.setObjectName("keepUnknownAction")
        self.keep_unknown_action.setCheckable(True)
        self.keep_unknown_action.setChecked(self.analysis.keep_unknown)
        self.keep_unknown_action.setEnabled(self.store is not None)
        self.keep_unknown_action.setToolTip("Keep the speech of voices nobody enrolled is recognised in, so they "
                                            "can be offered as new speakers (stored in the roster database)")
        self.keep_unknown_action.toggled.connect(self.analysis.set_keep_unknown)
        self.speakers_menu.addSeparator()
        self.speakers_menu.addAction(self.keep_unknown_action)
        self.analysis.driftChanged.connect(self._show_drift)
        self.analysis.suggestionsChanged.connect(self.roster.set_new_voices)
        self.roster.newVoiceEnrollRequested.connect(self.ask_enroll_new_voice)
        if self.store is not None:
            self.analysis.refresh_suggestions()

    def _show_drift(self, report) -> None:
        if report is not None and report.warn:
            self.status_drift.setText("⚠ Microphone sounds different from enrollment")
            self.status_drift.setToolTip(report.summary())
            self.status_drift.show()
        else:
            self.status_drift.hide()

    def ask_enroll_new_voice(self, number: int) -> None:
        sugg = self.analysis.suggestion(number)
        if sugg is None or self.store is None:
            return
        name = self.ask_text("Enroll new voice", f"{sugg.label()}\nName of this person:")
        if name:
            self.analysis.enroll(number, name)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m_file = mb.addMenu("&File")
        self.import_action = m_file.addAction("&Import roster…", self.ask_import)
        self.import_action.setShortcut(QKeySequence("Ctrl+I"))
        self.export_action = m_file.addAction("&Export roster…", self.ask_export)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        m_file.addSeparator()
        self.quit_action = m_file.addAction("&Quit", self.close)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        if self.quit_action.shortcut().isEmpty():
            self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        m_sp = mb.addMenu("&Speakers")
        self.speakers_menu = m_sp
        self.add_action = m_sp.addAction("&Add speaker…", lambda: self.open_enroll_wizard())
        self.add_action.setShortcut(QKeySequence("Ctrl+N"))
        m_sp.addAction("&Re-enroll selected…", lambda: self._with_selected(
            lambda n: self.open_enroll_wizard(n, replace=True)))
        a = m_sp.addAction("Re&name selected…", lambda: self._with_selected(self.ask_rename))
        a.setShortcut(QKeySequence(Qt.Key.Key_F2))
        a = m_sp.addAction("Re&move selected", lambda: self._with_selected(self.ask_remove))
        a.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.roster.addAction(a)
        m_sp.addSeparator()
        a = m_sp.addAction("Re&fresh", lambda: self.refresh_roster(load_model=True))
        a.setShortcut(QKeySequence(QKeySequence.StandardKey.Refresh))

        m_view = mb.addMenu("&View")
        m_view.addAction(self.start_action)
        self.fullscreen_action = m_view.addAction("&Full screen", self.toggle_fullscreen)
        self.fullscreen_action.setCheckable(True)
        self.fullscreen_action.setShortcut(QKeySequence(Qt.Key.Key_F11))
        m_view.addAction(self.roster_dock.toggleViewAction())
        m_view.addAction(self.toolbar.toggleViewAction())

        m_help = mb.addMenu("&Help")
        m_help.addAction("Open &log folder", self.open_log_folder)
        self.about_action = m_help.addAction("&About VoiceLive", self.show_about)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)

    # =========================================================================================
    # drawing
    # =========================================================================================
    def tick(self) -> None:
        """Timer: draw the newest snapshot if it is new and the window can be seen; text at ~4 Hz."""
        self.ticks += 1
        pipe = self.live.pipeline
        if self.live.generation != self._generation:
            self._on_new_pipeline()
        snap = pipe.latest()
        visible = self.isVisible() and not self.isMinimized()
        if visible and snap.seq != self._last_seq:
            self._last_seq = snap.seq
            self._draw(snap)
        now = time.monotonic()
        if now - self._last_text >= TEXT_S:
            self._last_text = now
            dt = now - self._fps_t0
            if dt >= 1.0:
                self.fps = self._fps_frames / dt
                self._fps_frames, self._fps_t0 = 0, now
            self._check_pipeline()
            self.analysis.tick()
            if visible:
                self._update_text(snap)
            if now - self._last_roster_poll >= ROSTER_POLL_S:
                self._last_roster_poll = now
                self._poll_roster()

    def _draw(self, snap) -> None:
        self.waveform.draw(snap.wave_tail, snap.t_s, snap.stats.windows, snap.stats.speech_windows)
        self.spectrogram.draw(snap.new_spec_columns, snap.spec_end_col)
        tail = snap.wave_tail
        if tail.size and snap.running:
            seg = tail[-LEVEL_WINDOW_N:]
            peak = float(max(seg.max(), -seg.min()))
            self.level_meter.set_level(20.0 * math.log10(peak) if peak > 1e-6 else -120.0)
        else:
            self.level_meter.set_level(-120.0)
        self.frames += 1
        self._fps_frames += 1

    def _on_new_pipeline(self) -> None:
        self._generation = self.live.generation
        cfg = self.live.config
        self.waveform.set_timing(window_s=cfg.window.window_s, hop_s=cfg.window.hop_s)
        self.waveform.reset()
        self.spectrogram.reset()
        self._last_seq = -1
        self._talk_key = None
        self._speech_start = None

    def _update_text(self, snap, *, force: bool = False) -> None:
        v = snap.verdict
        scorer = self.live.pipeline.scorer
        threshold = float(scorer.threshold) if scorer is not None and list(scorer.speakers) else None
        # speaking time: from the first window of this stretch of speech, or from a change of voice
        key = (v.state, v.speaker)
        if v.state == "silence":
            self._speech_start = None
        elif self._speech_start is None:
            self._speech_start = v.t_s
        if v.state in ("speaker", "unknown"):
            if self._talk_key is None or (key != self._talk_key and self._talk_key[0] == v.state):
                # a new stretch of speech (counted from its start), or another named voice
                self._talk_start = self._speech_start if self._talk_key is None else v.t_s
            elif key != self._talk_key and v.state == "unknown":
                self._talk_start = v.t_s          # a named voice became an unknown one
            self._talk_key = key
            speaking = max(0.0, snap.t_s - (self._talk_start if self._talk_start is not None else v.t_s))
        else:
            if v.state == "silence":
                self._talk_key = None
            speaking = None
        paused = not self.live.running and not snap.running
        self.verdict.show_verdict(v, threshold=threshold, speaking_s=speaking, paused=paused)
        self.verdict.set_hint(self._hint(paused))
        st = snap.stats
        self.status_drops.setText(f"dropped {st.dropped_blocks} · overflows {st.overflows}")
        p95 = "–" if st.latency_p95_ms is None else f"{st.latency_p95_ms:.0f} ms"
        self.status_latency.setText(f"worker p95 {p95}")
        self.status_rtf.setText("RTF –" if st.rtf is None else f"RTF {st.rtf:.3f}")
        self.status_fps.setText(f"{self.fps:.0f} fps")

    def _hint(self, paused: bool) -> str | None:
        if self.store is None:
            if self.store_error:
                return "The roster could not be opened: live audio only. See Help ▸ Open log folder."
            return "No roster: live audio only."
        if self.model_loading:
            return "Loading the speaker model…"
        if not self.speakers:
            return "Nobody is enrolled yet — click “Add speaker…” to record a voice."
        if paused:
            return "Input paused — press Start (Space) to listen."
        return None

    # =========================================================================================
    # live input
    # =========================================================================================
    def start_live(self) -> bool:
        """Start listening; a device problem is shown in a dialog. True if running."""
        try:
            self.live.start()
        except (DeviceError, VoiceliveError) as exc:
            self._want_running = False
            self._sync_start_action()
            self._device_dialog("Cannot start the audio input", exc)
            return False
        self._want_running = True
        self._error_shown_for = None
        self._sync_start_action()
        return True

    def pause_live(self) -> None:
        self._want_running = False
        self.live.pause()
        self._sync_start_action()

    def _on_start_toggled(self, checked: bool) -> None:
        if checked:
            self.start_live()
        else:
            self.pause_live()

    def _sync_start_action(self) -> None:
        running = self.live.running
        self.start_action.blockSignals(True)
        self.start_action.setChecked(running)
        self.start_action.setText("Pause" if running else "Start")
        self.start_action.blockSignals(False)
        cur = self.live.current
        self.setWindowTitle("VoiceLive" + (f" — {cur.label}" if cur is not None else ""))

    def _check_pipeline(self) -> None:
        """Notice a worker that stopped by itself (device lost, end of file, internal error)."""
        if not self._want_running or self.live.running:
            return
        self._want_running = False
        self._sync_start_action()
        err = self.live.pipeline.error
        if err is not None and err is not self._error_shown_for:
            self._error_shown_for = err
            self._device_dialog("The audio input stopped", err)
        elif self.live.pipeline.finished:
            self.statusBar().showMessage("The input ended.", 5000)

    def _device_dialog(self, title: str, exc: BaseException) -> None:
        if isinstance(exc, DeviceError):
            text = (f"{exc}\nPick another input in the toolbar (↻ looks for devices again), "
                    "then press Start.")
        elif isinstance(exc, VoiceliveError):
            text = f"{exc}\nPick another input in the toolbar, then press Start."
        else:
            text = f"Internal error: {type(exc).__name__}: {exc}\nThe details are in the log file."
        show_error(self, title, text)

    def _fill_inputs(self) -> None:
        combo = self.input_combo
        combo.blockSignals(True)
        combo.clear()
        for c in self.live.choices:
            combo.addItem(c.label, c.key)
        cur = self.live.current
        if cur is not None:
            i = combo.findData(cur.key)
            if i >= 0:
                combo.setCurrentIndex(i)
        combo.setToolTip(self.input_problem or "Audio input; switching while listening is seamless")
        combo.blockSignals(False)

    def _on_input_picked(self, index: int) -> None:
        key = self.input_combo.itemData(index)
        if key is not None:
            self.switch_input(str(key))

    def switch_input(self, key: str) -> bool:
        """Use another input (hot while listening). A device error keeps the old input."""
        old = self.live.current
        try:
            self.live.switch(key)
        except VoiceliveError as exc:
            self._fill_inputs()
            self._device_dialog("Cannot switch the audio input", exc)
            return False
        if self.settings is not None:
            self.settings.input_key = key
        self._fill_inputs()
        self._sync_start_action()
        if old is None or old.key != key:
            self.statusBar().showMessage(f"Input: {self.live.current.label}", 4000)
        return True

    def rescan_devices(self) -> None:
        if self.rescan_inputs is None:
            return
        if not self.live.running:
            try:
                from voicelive.audio.devices import rescan_devices

                rescan_devices()
            except DeviceError as exc:
                log.warning("device re-scan failed: %s", exc)
        self.live.set_choices(self.rescan_inputs())
        self._fill_inputs()
        self.statusBar().showMessage(f"{len(self.live.choices)} input(s) available", 4000)

    def set_hop(self, hop_s: float) -> None:
        """Analyse a window every ``hop_s`` (rebuilds the pipeline; the display starts over)."""
        try:
            self.live.set_hop(hop_s)
        except VoiceliveError as exc:
            self._device_dialog("Cannot change the hop", exc)
        self._select_hop(self.live.config.window.hop_s)
        if self.settings is not None:
            self.settings.hop_s = self.live.config.window.hop_s
        self._sync_start_action()

    # =========================================================================================
    # model and roster (background jobs)
    # =========================================================================================
    def _apply_far(self, rec) -> None:
        """Job thread: use the chosen target false-accept rate on a freshly loaded model."""
        if rec is not None and self.target_far is not None and hasattr(rec, "set_target_far"):
            rec.set_target_far(self.target_far)

    def refresh_roster(self, *, load_model: bool = False) -> None:
        """Re-read the speakers (and with ``load_model`` bring the model in line with them)."""
        if self.store is None:
            return
        store = self.store
        backend = self.backend

        def work():
            revision = store.roster_revision()
            speakers = store.list_speakers()
            res = None
            if load_model:
                from voicelive.enrollment.model_update import sync_model

                res = sync_model(store, backend=backend if _has_clips(speakers) and _model_backend(store) is None
                                 else None)
                self._apply_far(res.recognizer)
            return speakers, res, revision

        if load_model:
            self.model_loading = True
        self.jobs.submit(work, label="Loading the roster and model" if load_model else "Reading the roster",
                         on_done=lambda r: self._roster_loaded(*r, load_model=load_model),
                         on_error=lambda e: self._roster_failed(e, load_model=load_model))

    def _poll_roster(self) -> None:
        """Notice roster changes made outside this window (another program on the same store)."""
        if self.store is None or self.jobs.busy or self.wizard is not None or self.roster_revision is None:
            return
        store = self.store

        def changed(rev):
            if self.roster_revision is not None and rev != self.roster_revision:
                log.info("the roster changed outside the window (revision %s -> %s); reloading",
                         self.roster_revision, rev)
                self.refresh_roster(load_model=True)

        self.jobs.submit(store.roster_revision, label="Checking the roster", on_done=changed, quiet=True,
                         on_error=lambda e: log.warning("cannot read the roster revision: %s", e))

    def _roster_loaded(self, speakers, res, revision, *, load_model: bool) -> None:
        self.roster_revision = revision
        self.speakers = list(speakers)
        self.roster.set_speakers(self.speakers)
        if load_model:
            self.model_loading = False
            self._use_model(res.recognizer if res is not None else None)

    def _roster_failed(self, exc: BaseException, *, load_model: bool) -> None:
        if load_model:
            self.model_loading = False
        what = "The speaker database cannot be read" if isinstance(exc, StoreError) else \
            "The speaker model cannot be loaded"
        show_error(self, "Roster", f"{what}: {exc}\nThe live display keeps running; enrollments are disabled "
                                   "until this is fixed (see `voicelive speakers check`).")
        if isinstance(exc, StoreError):
            self.roster.set_actions_enabled(False)

    def _use_model(self, rec) -> None:
        from voicelive.analysis.live_tap import unwrap

        rec = unwrap(rec)
        self.live.set_scorer(self.analysis.wrap(rec))
        if rec is not None:
            self.backend = rec.name
            self._set_combo_text(self.backend_combo, rec.name)
            if self.target_far is None:
                self.target_far = float(rec.target_far)
            self._select_far(self.target_far)
            info = (f"Model: {rec.name} · {len(rec.speakers)} speaker(s) · threshold "
                    f"{rec.threshold:.2f} at {self.target_far * 100:g} % false accepts")
            tip = ""
            if getattr(rec, "small_roster", False):
                info += " · few people: less certain"
                tip = ("With fewer than 8 people enrolled, the threshold learns what a stranger sounds like "
                       "from too few voices (the enrolled people and voice-shifted copies of them). A stranger "
                       "who sounds close to one of them can pass more often than the target rate. Each person "
                       "enrolled makes it firmer.")
            self.roster.set_model_info(info, tooltip=tip)
        else:
            self.roster.set_model_info(f"Model: none yet (backend {self.backend})")

    def _roster_changed(self, work: Callable[[], object], label: str, done_msg: Callable[[object], str]) -> None:
        """Run a roster change, then bring the model in line, all in the job thread."""
        store, backend = self.store, self.backend

        def job():
            out = work()
            from voicelive.enrollment.model_update import sync_model

            res = sync_model(store, backend=backend)
            self._apply_far(res.recognizer)
            return out, res, store.list_speakers(), store.roster_revision()

        def done(r):
            out, res, speakers, revision = r
            self.roster_revision = revision
            self.speakers = list(speakers)
            self.roster.set_speakers(self.speakers)
            self._use_model(res.recognizer)
            self.statusBar().showMessage(done_msg(out), 6000)

        def failed(exc):
            show_error(self, label, f"{label} failed: {exc}")
            self.refresh_roster()

        self.jobs.submit(job, label=label, on_done=done, on_error=failed)

    def rename_speaker(self, old: str, new: str) -> None:
        store = self.store
        self._roster_changed(lambda: store.rename_speaker(old, new), f"Renaming {old}",
                             lambda info: f"Renamed {old} to {info.name}")

    def remove_speaker(self, name: str) -> None:
        store = self.store
        self._roster_changed(lambda: store.remove_speaker(name), f"Removing {name}",
                             lambda info: f"Removed {info.name} ({info.n_clips} clips)")

    def import_roster(self, path: str | Path) -> None:
        from voicelive.store import import_roster

        store = self.store

        def msg(res):
            parts = [f"imported {len(res.added)} speaker(s)"]
            if res.skipped:
                parts.append(f"skipped {', '.join(res.skipped)} (already enrolled)")
            return "; ".join(parts)

        self._roster_changed(lambda: import_roster(store, path, on_clash="skip"), "Importing the roster", msg)

    def export_roster(self, path: str | Path) -> None:
        from voicelive.store import export_roster

        store = self.store
        self.jobs.submit(lambda: export_roster(store, path), label="Exporting the roster",
                         on_done=lambda s: self.statusBar().showMessage(
                             f"Exported {s['speakers']} speaker(s), {s['clips']} clip(s) to {s['path']}", 8000),
                         on_error=lambda e: show_error(self, "Export", f"Exporting the roster failed: {e}"))

    def check_close_voices(self) -> None:
        """Judge each enrolled person by the model without them (in the background) and show who
        could be taken for whom (see :mod:`voicelive.analysis.close_voices`)."""
        from voicelive.analysis.close_voices import close_voices, describe

        rec = self.live.pipeline.scorer
        if rec is None or not hasattr(rec, "save") or len(list(rec.speakers)) < 2:
            show_message(self, "Close voices", "The check needs a model with at least two enrolled people.")
            return

        def done(res) -> None:
            lines = "\n".join(c.line() for c in res)
            show_message(self, "Close voices", f"{describe(res)}\nEach person was judged by the model without "
                         f"them, on their own enrollment speech:\n{lines}",
                         icon=QMessageBox.Icon.Warning if any(c.accepted for c in res)
                         else QMessageBox.Icon.Information)

        self.jobs.submit(lambda: close_voices(rec), label="Checking for close voices", on_done=done,
                         on_error=lambda e: show_error(self, "Close voices", f"The check failed: {e}"))

    def set_backend(self, name: str) -> None:
        """Use another recognition backend: the model is rebuilt from the stored clips in the background."""
        if name == self.backend:
            return
        self.backend = name
        if self.settings is not None:
            self.settings.backend = name
        if self.store is None or not self.speakers:
            if self.live.pipeline.scorer is None:
                self._use_model(None)
            return
        store = self.store

        def job():
            from voicelive.enrollment.model_update import sync_model

            res = sync_model(store, backend=name)
            self._apply_far(res.recognizer)
            return res

        self.jobs.submit(job, label=f"Rebuilding the model with {name}",
                         on_done=lambda res: (self._use_model(res.recognizer),
                                              self.statusBar().showMessage(
                                                  f"Model rebuilt with {name} in {res.seconds:.1f} s", 6000)),
                         on_error=lambda e: show_error(self, "Backend", f"Cannot use backend {name}: {e}"))

    def set_target_far(self, far: float) -> None:
        """Accept threshold for a target false-accept rate (applied in the background)."""
        self.target_far = float(far)
        if self.settings is not None:
            self.settings.target_far = self.target_far
        self._select_far(far)
        rec = self.live.pipeline.scorer
        if rec is None or not hasattr(rec, "set_target_far"):
            return
        self.jobs.submit(lambda: rec.set_target_far(far), label="Setting the threshold",
                         on_done=lambda _r: self._use_model(self.live.pipeline.scorer))

    # -- dialogs (thin; tests replace them) ------------------------------------------------------
    def ask_text(self, title: str, label: str, text: str = "") -> str | None:
        value, ok = QInputDialog.getText(self, title, label, text=text)
        return value.strip() if ok and value.strip() else None

    def confirm(self, title: str, text: str) -> bool:
        return QMessageBox.question(self, title, text) == QMessageBox.StandardButton.Yes

    def ask_open_file(self, title: str, filters: str) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self, title, str(Path.home()), filters)
        return path or None

    def ask_save_file(self, title: str, default: str, filters: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, title, str(Path.home() / default), filters)
        return path or None

    def _with_selected(self, fn: Callable[[str], None]) -> None:
        name = self.roster.selected_name()
        if name is None:
            self.statusBar().showMessage("Select a speaker in the roster first", 4000)
        else:
            fn(name)

    def ask_rename(self, name: str) -> None:
        if self.store is None:
            return
        new = self.ask_text("Rename speaker", f"New name for {name}:", name)
        if new and new != name:
            self.rename_speaker(name, new)

    def ask_remove(self, name: str) -> None:
        if self.store is None:
            return
        if self.confirm("Remove speaker", f"Remove {name} and all their recordings?\nThis cannot be undone "
                                          "(export the roster first to keep a copy)."):
            self.remove_speaker(name)

    def ask_import(self) -> None:
        if self.store is None:
            return
        path = self.ask_open_file("Import roster", "VoiceLive roster (*.zip);;All files (*)")
        if path:
            self.import_roster(path)

    def ask_export(self) -> None:
        if self.store is None or not self.speakers:
            return
        path = self.ask_save_file("Export roster", "voicelive-roster.zip", "VoiceLive roster (*.zip)")
        if path:
            self.export_roster(path)

    # -- enrollment -------------------------------------------------------------------------------
    def open_enroll_wizard(self, name: str | None = None, *, replace: bool = False):
        """Open the enrollment wizard (one at a time); the window keeps running behind it."""
        if self.store is None:
            show_warning(self, "Enrollment", "The roster is not available, so nobody can be enrolled.")
            return None
        if self.wizard is not None:
            self.wizard.raise_()
            self.wizard.activateWindow()
            return self.wizard
        from voicelive.gui.enroll_wizard import EnrollWizard, PipelineTap

        if not self.live.running:
            self.start_live()
        tap = PipelineTap(lambda: self.live.pipeline)
        self.wizard = EnrollWizard(self, store=self.store, jobs=self.jobs, tap=tap, backend=self.backend,
                                   name=name, replace=replace, known=[s.name for s in self.speakers],
                                   target_speech_s=self.enroll_target_speech_s,
                                   is_live=lambda: self.live.running,
                                   on_result=lambda res: self._apply_far(res.recognizer))
        self.wizard.enrolled.connect(self._on_enrolled)
        self.wizard.finished.connect(self._on_wizard_closed)
        self.wizard.show()
        return self.wizard

    def _on_wizard_closed(self, _result: int) -> None:
        w, self.wizard = self.wizard, None
        if w is not None and not w.finishing:   # a wizard still saving deletes itself when done
            w.deleteLater()

    def _on_enrolled(self, result) -> None:
        self.statusBar().showMessage(f"Enrolled {result.speaker}: {result.speech_s:.0f} s of speech in "
                                     f"{result.clips_used} clip(s)", 8000)
        if result.recognizer is not None:
            self._use_model(result.recognizer)
        self.refresh_roster()

    # -- menus --------------------------------------------------------------------------------------
    def toggle_fullscreen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()
        self.fullscreen_action.setChecked(self.isFullScreen())

    def open_log_folder(self) -> None:
        folder = self.log_file.parent if self.log_file is not None else None
        if folder is None:
            from voicelive.paths import log_dir

            folder = log_dir()
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def about_text(self) -> str:
        import numpy
        import pyqtgraph
        import PySide6
        from PySide6.QtCore import qVersion

        rows = [
            ("VoiceLive", __version__),
            ("Python", platform.python_version()),
            ("Qt", qVersion()),
            ("PySide6", PySide6.__version__),
            ("pyqtgraph", pyqtgraph.__version__),
            ("NumPy", numpy.__version__),
            ("Data folder", str(self.data_dir) if self.data_dir else "–"),
            ("Log file", str(self.log_file) if self.log_file else "–"),
        ]
        scorer = self.live.pipeline.scorer
        if scorer is not None:
            rows.append(("Model", f"{getattr(scorer, 'name', type(scorer).__name__)}, "
                                  f"{len(list(scorer.speakers))} speaker(s)"))
        table = "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{_html(v)}</td></tr>" for k, v in rows)
        return ("<p>Real-time speaker identification: who is speaking — or an honest “unknown”.</p>"
                f"<table>{table}</table>")

    def show_about(self) -> QMessageBox:
        box = show_message(self, "About", "VoiceLive " + __version__)
        box.setInformativeText(self.about_text())
        box.setTextFormat(Qt.TextFormat.RichText)
        return box

    # =========================================================================================
    # helpers and shutdown
    # =========================================================================================
    def _on_jobs_busy(self, busy: bool, label: str) -> None:
        self.roster.set_busy((label or "Working") + "…" if busy else None)

    def _select_far(self, far: float | None) -> None:
        if far is None:
            from voicelive.recognition.recognizer import DEFAULT_TARGET_FAR

            far = DEFAULT_TARGET_FAR
        best = min(range(self.far_combo.count()), key=lambda i: abs(self.far_combo.itemData(i) - far))
        if abs(self.far_combo.itemData(best) - far) > 1e-12:
            self.far_combo.addItem(_far_label(far), far)
            best = self.far_combo.count() - 1
        self.far_combo.setCurrentIndex(best)

    def _select_hop(self, hop_s: float) -> None:
        i = next((i for i in range(self.hop_combo.count()) if abs(self.hop_combo.itemData(i) - hop_s) < 1e-9), -1)
        if i < 0:
            self.hop_combo.addItem(f"{hop_s:g} s", hop_s)
            i = self.hop_combo.count() - 1
        self.hop_combo.setCurrentIndex(i)

    @staticmethod
    def _set_combo_text(combo: QComboBox, text: str) -> None:
        i = combo.findText(text)
        if i < 0:
            combo.addItem(text)
            i = combo.count() - 1
        combo.setCurrentIndex(i)

    def shutdown(self) -> None:
        """Stop drawing, the wizard, the pipeline and the job thread; save settings. Idempotent."""
        if self._shut:
            return
        self._shut = True
        self.timer.stop()
        if self.wizard is not None:
            self.wizard.abort()
        if self.settings is not None:
            try:
                self.settings.save_window(self.saveGeometry(), self.saveState())
                self.settings.sync()
            except Exception as exc:  # never let saving settings stop the shutdown
                log.warning("could not save the window settings: %s", exc)
        self.live.stop()
        if self.analysis.tap is not None and self.store is not None:
            self.analysis.flush(then_suggest=False)   # keep what the last seconds collected
        self.jobs.shutdown()
        log.info("main window shut down")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt name)
        self.shutdown()
        super().closeEvent(event)


# ---------------------------------------------------------------------------------------------
def _caption(text: str) -> QLabel:
    lab = QLabel(f"  {text} ")
    lab.setObjectName("toolbarCaption")
    lab.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
    return lab


def _html(s: str) -> str:
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _has_clips(speakers) -> bool:
    return any(s.n_clips > 0 for s in speakers)


def _model_backend(store) -> str | None:
    m = store.active_model()
    return None if m is None else m.backend
