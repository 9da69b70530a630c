"""Enrollment wizard: Name → microphone check → guided sentences → summary.

The wizard never does numeric work on the GUI thread. A dedicated enrollment thread
(``voicelive-enroll``) reads audio from a *tap* — by default the running pipeline's own audio,
taken from its snapshots (:class:`PipelineTap`), so the main window keeps identifying while
someone enrolls — measures the level during the microphone check and feeds the
:class:`~voicelive.enrollment.session.EnrollmentSession` while recording. The wizard's timer only
reads the session's plain attributes (progress, prompt, level, feedback) and draws them.
:meth:`EnrollmentSession.finish` (store write + model update) runs in the job thread.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from typing import Callable, Protocol, Sequence

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QCheckBox, QFormLayout, QFrame, QGridLayout, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QProgressBar, QVBoxLayout, QWidget, QWizard, QWizardPage)

from voicelive import SAMPLE_RATE
from voicelive.errors import VoiceliveError
from voicelive.gui.jobs import JobRunner
from voicelive.gui.widgets.meters import LevelMeter

__all__ = ["EnrollWizard", "PipelineTap", "AudioTap", "EnrollFeeder", "ENROLL_THREAD_NAME"]

log = logging.getLogger(__name__)

ENROLL_THREAD_NAME = "voicelive-enroll"

VOICE_LEVEL_DBFS = -42.0
"""During the microphone check, blocks louder than this (RMS) count as someone speaking."""

VOICE_HEARD_S = 0.5
"""...and this much of them passes the check."""

GOOD_LEVEL = (-35.0, -8.0)
"""Comfortable speech level (RMS dBFS): quieter is 'move closer', louder is 'too loud'."""

VERDICT_TEXT = {
    "ok": "Good",
    "too_short": "Too short",
    "no_voice": "No voice",
    "too_quiet": "Too quiet",
    "clipping": "Too loud (clipping)",
    "too_noisy": "Too noisy",
    "inconsistent_speaker": "Different voice?",
}


class AudioTap(Protocol):
    """Where the wizard's audio comes from: ``read(timeout) -> block or None`` (mono float32 16 kHz)."""

    def read(self, timeout: float = 0.0) -> np.ndarray | None: ...


class PipelineTap:
    """The audio a running :class:`~voicelive.pipeline.Pipeline` receives, taken from its snapshots.

    Each snapshot carries the newest ``display.tail_s`` seconds and the stream time; the samples
    that arrived since the previous read are the end of the newest tail. Reading at least once
    per ``tail_s`` loses nothing (``lost_samples`` counts what was missed otherwise). A new
    pipeline (e.g. after a hop change) or a restarted stream is followed from its current end.

    Parameters
    ----------
    get_pipeline : callable
        Returns the current pipeline (it may be replaced while the tap is in use).
    """

    def __init__(self, get_pipeline: Callable[[], object], *, poll_s: float = 0.01) -> None:
        self._get = get_pipeline
        self._poll_s = poll_s
        self._pipe = None
        self._written: int | None = None
        self.lost_samples = 0

    def read(self, timeout: float = 0.0) -> np.ndarray | None:
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            pipe = self._get()
            snap = pipe.latest()
            written = int(round(snap.t_s * SAMPLE_RATE))
            if pipe is not self._pipe or self._written is None or written < self._written:
                self._pipe, self._written = pipe, written
            elif written > self._written:
                n = written - self._written
                tail = snap.wave_tail
                take = min(n, tail.size)
                self.lost_samples += n - take
                self._written = written
                if take:
                    return np.array(tail[tail.size - take:], dtype=np.float32)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(self._poll_s, left))


class EnrollFeeder:
    """The enrollment thread: reads the tap; measures the level (``monitor``) or feeds the
    session (``record``). Feedback goes to :attr:`feedback_queue` for the GUI thread."""

    def __init__(self, tap: AudioTap) -> None:
        self.tap = tap
        self.session = None
        self.mode = "monitor"              # monitor | record | pause
        self.level_dbfs = -120.0
        self.voice_s = 0.0                 # seconds of loud-enough audio heard while monitoring
        self.voice_dbfs: float | None = None   # smoothed level of those blocks (judged by the mic check)
        self.error: BaseException | None = None
        self.feedback_queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=ENROLL_THREAD_NAME, daemon=False)

    def start(self) -> None:
        self._thread.start()

    def record(self, session) -> None:
        self.session = session
        self.mode = "record"

    def pause(self) -> None:
        self.mode = "pause"

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                block = self.tap.read(0.05)
                if block is None or not block.size:
                    continue
                mode = self.mode
                if mode == "monitor":
                    rms = float(np.sqrt(np.mean(np.square(block, dtype=np.float64))))
                    self.level_dbfs = 20.0 * math.log10(rms) if rms > 1e-6 else -120.0
                    if self.level_dbfs > VOICE_LEVEL_DBFS:
                        self.voice_s += block.size / SAMPLE_RATE
                        v = self.voice_dbfs
                        self.voice_dbfs = self.level_dbfs if v is None else 0.9 * v + 0.1 * self.level_dbfs
                elif mode == "record" and self.session is not None:
                    for fb in self.session.feed(block):
                        self.feedback_queue.put(fb)
                    self.level_dbfs = float(self.session.level_dbfs)
        except Exception as exc:  # shown by the wizard; never kills the app
            self.error = exc
            log.exception("enrollment audio thread stopped")


# =============================================================================================
# pages
# =============================================================================================
class NamePage(QWizardPage):
    def __init__(self, wizard: "EnrollWizard") -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Who is enrolling?")
        self.setSubTitle("Type the name VoiceLive should show for this voice.")
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("enrollName")
        self.name_edit.setPlaceholderText("e.g. Alice")
        self.name_edit.setMaxLength(64)
        self.replace_box = QCheckBox("Replace this speaker's previous recordings")
        self.replace_box.setObjectName("enrollReplace")
        self.note = QLabel("")
        self.note.setObjectName("wizardNote")
        self.note.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("Name", self.name_edit)
        form.addRow("", self.replace_box)
        form.addRow("", self.note)
        self.name_edit.textChanged.connect(self._changed)
        self.replace_box.toggled.connect(self._changed)
        if wizard.initial_name:
            self.name_edit.setText(wizard.initial_name)
        self.replace_box.setChecked(bool(wizard.initial_replace))
        self._changed()

    def name(self) -> str:
        return self.name_edit.text().strip()

    def _changed(self, *_a) -> None:
        n = self.name()
        exists = n in self.w.known
        self.replace_box.setVisible(exists)
        if not n:
            self.note.setText("")
        elif exists and self.replace_box.isChecked():
            self.note.setText(f"{n} is already enrolled: the new recordings will replace the old ones.")
        elif exists:
            self.note.setText(f"{n} is already enrolled: the new recordings will be added to theirs.")
        else:
            self.note.setText("A new speaker. Next: a quick microphone check.")
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        from voicelive.store import clean_name

        try:
            clean_name(self.name())
        except VoiceliveError:
            return False
        return True


class MicCheckPage(QWizardPage):
    def __init__(self, wizard: "EnrollWizard") -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Microphone check")
        self.setSubTitle("Speak now — say a few words at your normal volume.")
        self.meter = LevelMeter(min_width=320, height=20)
        self.meter.setObjectName("micCheckMeter")
        self.status = QLabel("Waiting for your voice…")
        self.status.setObjectName("wizardStatus")
        self.status.setWordWrap(True)
        self.source_label = QLabel("")
        self.source_label.setObjectName("wizardNote")
        lay = QVBoxLayout(self)
        lay.addSpacing(12)
        lay.addWidget(self.meter)
        lay.addWidget(self.status)
        lay.addStretch(1)
        lay.addWidget(self.source_label)
        self._heard = False

    def initializePage(self) -> None:  # noqa: N802
        self._heard = False
        self.w.feeder_monitor()
        self.source_label.setText(self.w.source_text())

    def refresh(self) -> None:
        f = self.w.feeder
        if f is None:
            return
        level = f.level_dbfs
        self.meter.set_level(level)
        if not self.w.is_live():
            self.status.setText("The audio input is paused: press Start in the main window.")
        elif f.voice_s >= VOICE_HEARD_S:
            lo, hi = GOOD_LEVEL
            voice = f.voice_dbfs if f.voice_dbfs is not None else level
            if voice > hi:
                self.status.setText("Heard you — a little loud; sit a bit further from the microphone.")
            elif voice < lo:
                self.status.setText("Heard you — a bit quiet; move closer to the microphone if you can.")
            else:
                self.status.setText("Your voice comes through well. Click Next.")
            if not self._heard:
                self._heard = True
                self.completeChanged.emit()
        else:
            self.status.setText("Waiting for your voice… speak now.")

    def isComplete(self) -> bool:  # noqa: N802
        return self._heard


class RecordPage(QWizardPage):
    def __init__(self, wizard: "EnrollWizard") -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Read the sentences aloud")
        self.setSubTitle("Read each sentence at your normal pace; pause briefly after each one.")
        self.prompt = QLabel("")
        self.prompt.setObjectName("enrollPrompt")
        self.prompt.setWordWrap(True)
        self.prompt.setMinimumHeight(72)
        self.prompt.setAlignment(Qt.AlignmentFlag.AlignCenter)
        frame = QFrame()
        frame.setObjectName("promptFrame")
        fl = QVBoxLayout(frame)
        fl.addWidget(self.prompt)
        self.progress = QProgressBar()
        self.progress.setObjectName("enrollProgress")
        self.progress.setRange(0, 100)
        self.progress.setFormat("%p %")
        self.meter = LevelMeter(min_width=200, height=12)
        self.speaking = QLabel("")
        self.speaking.setObjectName("wizardStatus")
        self.counts = QLabel("")
        self.counts.setObjectName("wizardNote")
        self.feedback = QListWidget()
        self.feedback.setObjectName("clipFeedback")
        self.feedback.setMinimumHeight(110)
        grid = QGridLayout()
        grid.addWidget(QLabel("Progress"), 0, 0)
        grid.addWidget(self.progress, 0, 1)
        grid.addWidget(QLabel("Level"), 1, 0)
        grid.addWidget(self.meter, 1, 1)
        grid.addWidget(self.speaking, 2, 1)
        lay = QVBoxLayout(self)
        lay.addWidget(frame)
        lay.addLayout(grid)
        lay.addWidget(self.counts)
        lay.addWidget(QLabel("Clips"))
        lay.addWidget(self.feedback, 1)
        self._done = False
        self._last_prompt = None

    def initializePage(self) -> None:  # noqa: N802
        self._done = False
        self.feedback.clear()
        self.w.begin_recording()
        self.refresh()

    def cleanupPage(self) -> None:  # noqa: N802 (Back pressed: drop this recording)
        self.w.cancel_recording()

    def refresh(self) -> None:
        s = self.w.session
        f = self.w.feeder
        if s is None or f is None:
            return
        if s.current_prompt != self._last_prompt:
            self._last_prompt = s.current_prompt
            self.prompt.setText(f"“{s.current_prompt}”")
        self.progress.setValue(int(round(100 * s.progress)))
        self.meter.set_level(s.level_dbfs)
        if not self.w.is_live():
            self.speaking.setText("The audio input is paused: press Start in the main window.")
        else:
            self.speaking.setText("● hearing speech" if s.speaking else "listening…")
        while True:
            try:
                fb = f.feedback_queue.get_nowait()
            except queue.Empty:
                break
            self._add_feedback(fb)
        self.counts.setText(f"{s.accepted_speech_s:.1f} s of {s.target_speech_s:.0f} s speech · "
                            f"{s.clips_accepted} good clip(s)")
        if f.error is not None and not self._done:
            self.speaking.setText(f"Recording stopped: {f.error}")
        if s.done and not self._done:
            self._done = True
            self.speaking.setText("Done — that is enough speech. Click Next to save.")
            self.completeChanged.emit()

    def _add_feedback(self, fb) -> None:
        mark = "✓" if fb.ok else "✗"
        text = f"{mark} Clip {fb.clip_index + 1}: {VERDICT_TEXT.get(fb.verdict, fb.verdict)} — {fb.speech_s:.1f} s"
        if not fb.ok:
            text += f". {fb.message}"
        item = QListWidgetItem(text)
        item.setForeground(QColor("#48c978" if fb.ok else "#f0883e"))
        item.setData(Qt.ItemDataRole.UserRole, fb.verdict)
        self.feedback.addItem(item)
        self.feedback.scrollToBottom()

    def isComplete(self) -> bool:  # noqa: N802
        return self._done

    def validatePage(self) -> bool:  # noqa: N802 (Next: stop recording, save in the background)
        self.w.finish_recording()
        return True


class SummaryPage(QWizardPage):
    def __init__(self, wizard: "EnrollWizard") -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Saving")
        self.setSubTitle("The clips are stored and the model is updated in the background — "
                         "the main window keeps running.")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.busy.setFixedHeight(8)
        self.text = QLabel("Updating the speaker model…")
        self.text.setObjectName("summaryText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        lay = QVBoxLayout(self)
        lay.addWidget(self.busy)
        lay.addWidget(self.text)
        lay.addStretch(1)
        self._done = False

    def initializePage(self) -> None:  # noqa: N802
        self._done = False
        self.busy.show()
        self.setTitle("Saving")
        self.text.setText("Updating the speaker model…")

    def show_result(self, result, feedback: Sequence) -> None:
        self._done = True
        self.busy.hide()
        self.setTitle("Enrolled")
        self.setSubTitle(f"{result.speaker} can now be recognised.")
        self.text.setText(summary_html(result, feedback))
        self.completeChanged.emit()

    def show_error(self, exc: BaseException) -> None:
        self._done = True
        self.busy.hide()
        self.setTitle("Not enrolled")
        self.setSubTitle("Nothing was changed.")
        self.text.setText(f"<p><b>Saving failed:</b> {_html(str(exc))}</p>"
                          "<p>Close the wizard and try again.</p>")
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        return self._done


def summary_html(result, feedback: Sequence) -> str:
    """The summary page's text: net speech, clip quality, closeness to other speakers."""
    ok = [f for f in feedback if f.ok]
    refused = [f for f in feedback if not f.ok]
    snrs = [f.quality.snr_db for f in ok if f.quality is not None and f.quality.snr_db is not None]
    levels = [f.quality.level_dbfs for f in ok if f.quality is not None]
    rows = [
        ("Net speech", f"{result.speech_s:.1f} s in {result.clips_used} clip(s)"),
        ("Clip quality", f"{len(ok)} good, {len(refused)} refused"
                         + (f" ({', '.join(sorted({VERDICT_TEXT.get(f.verdict, f.verdict) for f in refused}))})"
                            if refused else "")),
    ]
    if snrs:
        lo, hi = min(snrs), max(snrs)
        span = f"{lo:.0f} dB" if hi - lo < 1 else f"{lo:.0f}–{hi:.0f} dB"
        if lo >= 60:
            span = "over 60 dB (no audible noise)"
        elif hi > 60:
            span = f"{lo:.0f} dB or better"
        rows.append(("Signal-to-noise", span))
    if levels:
        rows.append(("Speech level", f"{np.mean(levels):.0f} dBFS"))
    if result.similar_to:
        close = ", ".join(f"{_html(n)} ({s:.2f})" for n, s in result.similar_to)
        rows.append(("Closeness", f"<span style='color:#f0883e'>sounds like {close} — the same person "
                                  "enrolled twice?</span>"))
    else:
        rows.append(("Closeness", "not mistaken for anyone else enrolled"))
    rows.append(("Model", f"version {result.model_version}, updated in {result.update_s:.1f} s; "
                          f"{len(result.speakers)} speaker(s)"))
    table = "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;&nbsp;</td><td>{v}</td></tr>" for k, v in rows)
    return f"<table cellspacing='4'>{table}</table>"


def _html(s: str) -> str:
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# =============================================================================================
class EnrollWizard(QWizard):
    """Guided enrollment over a running main window (non-modal).

    Parameters
    ----------
    parent : QWidget
    store : Store
    jobs : JobRunner
        Runs :meth:`EnrollmentSession.finish`.
    tap : AudioTap
        Audio source (normally :class:`PipelineTap` on the main window's pipeline).
    backend : str, optional
        Backend for a new model.
    name, replace : optional
        Pre-filled name (re-enroll) and whether to replace the old clips.
    known : sequence of str
        Names already enrolled.
    target_speech_s : float
        Net speech to collect.
    is_live : callable
        Whether the audio input runs (else the pages say it is paused).
    session_factory : callable, optional
        ``(name, **kwargs) -> EnrollmentSession`` (tests).
    on_result : callable, optional
        Called with the finished :class:`~voicelive.enrollment.session.EnrollmentResult` on the
        job thread before it is shown (e.g. to set the threshold on the new model).

    Signals
    -------
    enrolled(object)
        The EnrollmentResult, once stored and the model updated.
    """

    enrolled = Signal(object)

    PAGE_NAME, PAGE_MIC, PAGE_RECORD, PAGE_SUMMARY = range(4)

    def __init__(self, parent: QWidget | None, *, store, jobs: JobRunner, tap: AudioTap, backend: str | None = None,
                 name: str | None = None, replace: bool = False, known: Sequence[str] = (),
                 target_speech_s: float = 25.0, is_live: Callable[[], bool] = lambda: True,
                 session_factory: Callable | None = None, on_result: Callable | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("enrollWizard")
        self.setWindowTitle("Add a speaker" if not replace else f"Re-enroll {name}")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.setMinimumSize(620, 520)
        self.store = store
        self.jobs = jobs
        self.tap = tap
        self.backend = backend
        self.initial_name = name
        self.initial_replace = replace
        self.known = set(known)
        self.target_speech_s = float(target_speech_s)
        self.is_live = is_live
        self.session_factory = session_factory
        self.on_result = on_result
        self.session = None
        self.feeder: EnrollFeeder | None = None
        self.result = None
        self.finish_error: BaseException | None = None
        self._finishing = False
        self._aborted = False

        self.name_page = NamePage(self)
        self.mic_page = MicCheckPage(self)
        self.record_page = RecordPage(self)
        self.summary_page = SummaryPage(self)
        self.setPage(self.PAGE_NAME, self.name_page)
        self.setPage(self.PAGE_MIC, self.mic_page)
        self.setPage(self.PAGE_RECORD, self.record_page)
        self.setPage(self.PAGE_SUMMARY, self.summary_page)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Done")

        self.timer = QTimer(self)
        self.timer.setInterval(66)
        self.timer.timeout.connect(self._refresh)
        self.timer.start()

    @property
    def finishing(self) -> bool:
        """``finish()`` is running in the job thread."""
        return self._finishing

    # -- audio thread ------------------------------------------------------------------------------
    def _ensure_feeder(self) -> EnrollFeeder:
        if self.feeder is None:
            self.feeder = EnrollFeeder(self.tap)
            self.feeder.start()
        return self.feeder

    def feeder_monitor(self) -> None:
        f = self._ensure_feeder()
        f.voice_s, f.voice_dbfs = 0.0, None
        f.mode = "monitor"

    def source_text(self) -> str:
        return "Audio: the main window's input" if isinstance(self.tap, PipelineTap) else "Audio: dedicated input"

    def speaker_name(self) -> str:
        return self.name_page.name()

    def begin_recording(self) -> None:
        from voicelive.enrollment.session import EnrollmentSession

        factory = self.session_factory or EnrollmentSession
        name = self.speaker_name()
        replace = name in self.known and self.name_page.replace_box.isChecked()
        self.session = factory(name, store=self.store, target_speech_s=self.target_speech_s,
                               backend=self.backend, replace=replace)
        self._ensure_feeder().record(self.session)
        self.setWindowTitle(f"Enrolling {name}")
        warm_up = getattr(self.session, "warm_up", None)
        if warm_up is not None:  # load the voice check and the calibration's imports off the GUI thread
            self.jobs.submit(warm_up, label="Preparing the voice check", quiet=True,
                             on_error=lambda exc: log.warning("enrollment warm-up failed: %s", exc))

    def cancel_recording(self) -> None:
        if self.feeder is not None:
            self.feeder.mode = "monitor"
        if self.session is not None and not self._finishing:
            self.session.cancel()
            self.session = None

    def finish_recording(self) -> None:
        """Stop feeding and run ``finish()`` in the job thread."""
        s = self.session
        if s is None or self._finishing:
            return
        if self.feeder is not None:
            self.feeder.pause()
        self._finishing = True
        on_result = self.on_result

        def work():
            res = s.finish()
            if on_result is not None:
                on_result(res)
            return res

        self.jobs.submit(work, label=f"Saving the enrollment of {s.name}", on_done=self._finished_ok,
                         on_error=self._finished_error)

    def _finished_ok(self, result) -> None:
        self._finishing = False
        self.result = result
        feedback = self.session.feedback if self.session is not None else []
        self._stop_feeder()
        self.enrolled.emit(result)
        if not self._aborted:
            self.summary_page.show_result(result, feedback)
        if not self.isVisible():
            self.deleteLater()

    def _finished_error(self, exc: BaseException) -> None:
        self._finishing = False
        self.finish_error = exc
        self._stop_feeder()
        if not self._aborted:
            self.summary_page.show_error(exc)

    def _stop_feeder(self) -> None:
        if self.feeder is not None:
            self.feeder.stop()

    def _refresh(self) -> None:
        if not self.isVisible():
            return
        cur = self.currentPage()
        if cur is self.mic_page:
            self.mic_page.refresh()
        elif cur is self.record_page:
            self.record_page.refresh()

    # -- closing -------------------------------------------------------------------------------------
    def abort(self) -> None:
        """The main window is closing: drop a recording in progress; a save in progress finishes
        (in the job thread, which the main window waits for)."""
        self._aborted = True
        self.timer.stop()
        if not self._finishing and self.session is not None:
            self.session.cancel()
        self._stop_feeder()
        self.close()

    def done(self, result: int) -> None:  # noqa: D401 (Qt: Cancel, Done or window closed)
        self.timer.stop()
        if not self._finishing:
            if self.session is not None and self.result is None:
                self.session.cancel()
            self._stop_feeder()
        super().done(result)
