"""The kiosk's fullscreen window: large states for visitors, a PIN-guarded admin screen.

Pages (one :class:`QStackedWidget`):

* **kiosk** — what visitors see: *Locked — speak to enter*, *Listening…* (a ring that follows the
  voice level and fills as the evidence grows), *Welcome, NAME — door open* (countdown to relock),
  *Access denied* (cooldown), and *Microphone unavailable* (retrying);
* **pin** — a keypad to leave the kiosk (Esc, or the small "Admin" button); wrong PINs are counted
  and rate-limited by :class:`~voicelive.kiosk.pin.PinGuard`;
* **admin** — the access log, the threshold and the kiosk's settings, the target false-accept
  rate, a button that opens the enrollment wizard, "Back to kiosk" and "Exit kiosk";
* **setup** — on the first run (no PIN yet): choose the admin PIN.

The window only draws: :class:`~voicelive.kiosk.session.KioskSession` does the work, polled by a
timer. While any page other than the kiosk is shown, the session decides nothing (paused).
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import Callable

import numpy as np
import voicelive.gui  # noqa: F401  (the bindings work-around, before any widget exists)
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QColor, QKeyEvent, QPainter, QPen
from PySide6.QtWidgets import (QComboBox, QFormLayout, QGridLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QPushButton, QSizePolicy, QStackedWidget, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from voicelive import SAMPLE_RATE
from voicelive.errors import VoiceliveError
from voicelive.kiosk.access import COOLDOWN, DENIED, GRANTED, LISTENING, LOCKED
from voicelive.kiosk.pin import PinGuard, PinLockedError, validate_pin
from voicelive.kiosk.session import KioskSession, KioskView

__all__ = ["KioskWindow", "LevelRing", "STATE_COLOURS", "FAR_CHOICES"]

log = logging.getLogger(__name__)

STATE_COLOURS = {
    LOCKED: "#8b949e",
    LISTENING: "#58a6ff",
    GRANTED: "#3fb950",
    DENIED: "#f85149",
    COOLDOWN: "#8b949e",
    "problem": "#d29922",
}
FAR_CHOICES = (0.001, 0.002, 0.005, 0.01, 0.02)
LEVEL_FLOOR_DB, LEVEL_TOP_DB = -70.0, -10.0
LOG_ROWS = 200

KIOSK_QSS = """
QWidget#kiosk { background: #0d1117; }
QLabel#kioskTitle { font-size: 54pt; font-weight: 700; }
QLabel#kioskSubtitle { font-size: 24pt; color: #c9d1d9; }
QLabel#kioskDetail { font-size: 13pt; color: #8b949e; }
QLabel#kioskClock { font-size: 13pt; color: #6e7681; }
QPushButton#adminButton { background: transparent; border: 1px solid #21262d; color: #6e7681; padding: 4px 12px; }
QPushButton#keypadButton { font-size: 22pt; min-width: 84px; min-height: 64px; }
QLineEdit#pinField { font-size: 26pt; min-width: 300px; padding: 6px 12px; }
QLabel#pageTitle { font-size: 26pt; font-weight: 600; }
QLabel#pinMessage { font-size: 14pt; color: #f0883e; }
QLabel#adminValue { color: #e6edf3; }
QTableWidget { background: #0d1117; gridline-color: #21262d; alternate-background-color: #161b22; }
QHeaderView::section { background: #161b22; color: #8b949e; border: none; padding: 4px; }
"""


class LevelRing(QWidget):
    """A circle whose glow follows the voice level, an arc showing progress towards opening (or the
    time the door stays open), and a drawn symbol: padlock (closed/open), live level bars while
    listening, a cross when denied, an exclamation mark when the microphone is gone."""

    SYMBOLS = ("locked", "open", "listening", "denied", "problem")
    N_BARS = 15

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level = 0.0          # 0..1
        self.progress = 0.0       # 0..1
        self.colour = QColor(STATE_COLOURS[LOCKED])
        self.symbol = "locked"
        self.history = [0.0] * self.N_BARS
        self.setMinimumSize(220, 220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_state(self, *, level: float, progress: float, colour: str, symbol: str) -> None:
        self.level = float(min(1.0, max(0.0, level)))
        self.progress = float(min(1.0, max(0.0, progress)))
        self.colour = QColor(colour)
        self.symbol = symbol if symbol in self.SYMBOLS else "locked"
        self.history = self.history[1:] + [self.level]
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt name)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        side = min(self.width(), self.height()) - 16
        r = QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)
        inner = r.adjusted(side * 0.05, side * 0.05, -side * 0.05, -side * 0.05)
        glow = QColor(self.colour)
        glow.setAlphaF(0.10 + 0.35 * self.level)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(glow)
        grow = side * 0.08 * self.level
        p.drawEllipse(inner.adjusted(side * 0.06 - grow, side * 0.06 - grow, -side * 0.06 + grow, -side * 0.06 + grow))
        width = max(6.0, side * 0.045)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(QColor("#21262d"), width))
        p.drawEllipse(inner)
        if self.progress > 0:
            pen = QPen(self.colour, width)
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            p.setPen(pen)
            p.drawArc(inner, 90 * 16, -int(360 * 16 * self.progress))
        self._draw_symbol(p, r.center().x(), r.center().y(), side * 0.36)
        p.end()

    def _draw_symbol(self, p: QPainter, cx: float, cy: float, size: float) -> None:
        ink = QColor("#e6edf3")
        pen = QPen(ink, max(3.0, size * 0.09))
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        if self.symbol in ("locked", "open"):
            body = QRectF(cx - size * 0.42, cy - size * 0.05, size * 0.84, size * 0.62)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(ink)
            p.drawRoundedRect(body, size * 0.08, size * 0.08)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(pen)
            shackle = QRectF(cx - size * 0.27, cy - size * 0.5, size * 0.54, size * 0.7)
            if self.symbol == "open":
                shackle.translate(size * 0.36, -size * 0.14)
            p.drawArc(shackle, 0, 180 * 16)
            p.drawLine(shackle.left(), shackle.center().y(), shackle.left(),
                       body.top() if self.symbol == "locked" else shackle.center().y() + size * 0.08)
            p.drawLine(shackle.right(), shackle.center().y(), shackle.right(), body.top())
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor("#0d1117"))
            p.drawEllipse(QRectF(cx - size * 0.07, cy + size * 0.14, size * 0.14, size * 0.14))
        elif self.symbol == "listening":
            n = len(self.history)
            step = size * 1.6 / n
            bar_pen = QPen(self.colour.lighter(130), max(2.0, step * 0.55))
            bar_pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            p.setPen(bar_pen)
            for i, lv in enumerate(self.history):
                h = size * (0.06 + 0.7 * lv)
                x = cx - size * 0.8 + (i + 0.5) * step
                p.drawLine(x, cy - h / 2, x, cy + h / 2)
        elif self.symbol == "denied":
            p.setPen(pen)
            d = size * 0.42
            p.drawLine(cx - d, cy - d, cx + d, cy + d)
            p.drawLine(cx - d, cy + d, cx + d, cy - d)
        else:   # problem
            p.setPen(pen)
            p.drawLine(cx, cy - size * 0.5, cx, cy + size * 0.15)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(ink)
            dot = size * 0.13
            p.drawEllipse(QRectF(cx - dot / 2, cy + size * 0.36, dot, dot))


def _level_0_1(wave_tail: np.ndarray) -> float:
    """Loudness of the newest 100 ms, mapped from [-70, -10] dBFS to [0, 1]."""
    n = int(0.1 * SAMPLE_RATE)
    if wave_tail.size == 0:
        return 0.0
    x = np.asarray(wave_tail[-n:], dtype=np.float64)
    db = 10.0 * math.log10(float(np.mean(x * x)) + 1e-12)
    return (db - LEVEL_FLOOR_DB) / (LEVEL_TOP_DB - LEVEL_FLOOR_DB)


def _far_text(far: float) -> str:
    return f"{far * 100:g} %"


class KioskWindow(QWidget):
    """The kiosk. ``open_enrollment`` is called with the window when the admin asks to enroll.

    Parameters
    ----------
    session : KioskSession
    store : Store
        For the PIN and the access log.
    guard : PinGuard, optional
    on_exit : callable, optional
        Called when the admin leaves the kiosk (after :meth:`shutdown`); default closes the window.
    open_enrollment : callable, optional
        ``(window) -> wizard or None``.
    on_target_far : callable, optional
        Called with a new target false-accept rate chosen on the admin screen (to persist it).
    poll_ms : int
        Timer period (drawing and session polling).
    """

    PAGE_KIOSK, PAGE_PIN, PAGE_ADMIN, PAGE_SETUP = range(4)

    def __init__(self, session: KioskSession, *, store, guard: PinGuard | None = None,
                 on_exit: Callable[[], None] | None = None,
                 open_enrollment: Callable[["KioskWindow"], object] | None = None,
                 on_target_far: Callable[[float], None] | None = None, poll_ms: int = 50,
                 door_text: str = "on screen only", input_text: str = "") -> None:
        super().__init__()
        self.setObjectName("kiosk")
        self.setWindowTitle("VoiceLive kiosk")
        self.setStyleSheet(KIOSK_QSS)
        self.session = session
        self.store = store
        self.guard = guard if guard is not None else PinGuard(store)
        self.on_exit = on_exit
        self.open_enrollment = open_enrollment
        self.on_target_far = on_target_far
        self.door_text = door_text
        self.input_text = input_text
        self.jobs = None                 # the JobRunner create_kiosk gives the window
        self.close_voices_text = "–"     # the admin screen's "Close voices" row (check_close_voices)
        self.allow_close = False
        self._shut = False
        self.wizard = None
        self.frames = 0

        self.stack = QStackedWidget(self)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.stack)
        self.stack.addWidget(self._build_kiosk_page())
        self.stack.addWidget(self._build_pin_page())
        self.stack.addWidget(self._build_admin_page())
        self.stack.addWidget(self._build_setup_page())

        if self.guard.is_set:
            self.show_page(self.PAGE_KIOSK)
        else:
            self.show_page(self.PAGE_SETUP)

        self.timer = QTimer(self)
        self.timer.setInterval(int(poll_ms))
        self.timer.timeout.connect(self.tick)
        self.timer.start()

    # =========================================================================================
    # pages
    # =========================================================================================
    def _build_kiosk_page(self) -> QWidget:
        page = QWidget()
        self.title = QLabel("Locked")
        self.title.setObjectName("kioskTitle")
        self.subtitle = QLabel("Speak to enter")
        self.subtitle.setObjectName("kioskSubtitle")
        self.detail = QLabel("")
        self.detail.setObjectName("kioskDetail")
        self.detail.setWordWrap(True)
        for lab in (self.title, self.subtitle, self.detail):
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.ring = LevelRing()
        self.clock_label = QLabel("")
        self.clock_label.setObjectName("kioskClock")
        self.admin_button = QPushButton("Admin")
        self.admin_button.setObjectName("adminButton")
        self.admin_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.admin_button.clicked.connect(self.request_admin)

        lay = QVBoxLayout(page)
        lay.setContentsMargins(40, 30, 40, 20)
        lay.addStretch(1)
        lay.addWidget(self.ring, 6)
        lay.addSpacing(16)
        lay.addWidget(self.title)
        lay.addWidget(self.subtitle)
        lay.addSpacing(8)
        lay.addWidget(self.detail)
        lay.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.clock_label)
        bottom.addStretch(1)
        bottom.addWidget(self.admin_button)
        lay.addLayout(bottom)
        return page

    def _build_pin_page(self) -> QWidget:
        page = QWidget()
        title = QLabel("Administrator PIN")
        title.setObjectName("pageTitle")
        self.pin_field = QLineEdit()
        self.pin_field.setObjectName("pinField")
        self.pin_field.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin_field.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pin_field.setMaxLength(32)
        self.pin_field.returnPressed.connect(self.submit_pin)
        self.pin_message = QLabel("")
        self.pin_message.setObjectName("pinMessage")
        self.pin_message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        pad = QGridLayout()
        keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "Del", "0", "OK"]
        for i, k in enumerate(keys):
            b = QPushButton(k)
            b.setObjectName("keypadButton")
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            if k == "OK":
                b.clicked.connect(self.submit_pin)
            elif k == "Del":
                b.clicked.connect(self.pin_field.backspace)
            else:
                b.clicked.connect(lambda _=False, d=k: self.pin_field.insert(d))
            pad.addWidget(b, i // 3, i % 3)
        cancel = QPushButton("Back to kiosk")
        cancel.clicked.connect(self.back_to_kiosk)
        lay = QVBoxLayout(page)
        lay.addStretch(1)
        for w in (title, self.pin_field, self.pin_message):
            lay.addWidget(w, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addSpacing(12)
        holder = QWidget()
        holder.setLayout(pad)
        lay.addWidget(holder, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addSpacing(12)
        lay.addWidget(cancel, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addStretch(1)
        return page

    def _build_admin_page(self) -> QWidget:
        page = QWidget()
        title = QLabel("Kiosk administration")
        title.setObjectName("pageTitle")
        self.settings_form = QFormLayout()
        self.settings_form.setHorizontalSpacing(18)
        self.far_combo: QComboBox | None = None
        self.settings_box = QWidget()
        self.settings_box.setLayout(self.settings_form)

        self.log_table = QTableWidget(0, 7)
        self.log_table.setHorizontalHeaderLabels(["Time", "Decision", "Speaker", "Score", "Threshold", "Speech",
                                                  "Why"])
        self.log_table.verticalHeader().setVisible(False)
        self.log_table.setAlternatingRowColors(True)
        self.log_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.log_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.log_table.horizontalHeader().setStretchLastSection(True)
        self.log_summary = QLabel("")
        self.log_summary.setObjectName("kioskDetail")

        self.enroll_button = QPushButton("Enroll someone…")
        self.enroll_button.setObjectName("primaryButton")
        self.enroll_button.clicked.connect(self.start_enrollment)
        back = QPushButton("Back to kiosk")
        back.clicked.connect(self.back_to_kiosk)
        self.exit_button = QPushButton("Exit kiosk")
        self.exit_button.clicked.connect(self.exit_kiosk)

        left = QVBoxLayout()
        left.addWidget(QLabel("Settings"))
        left.addWidget(self.settings_box)
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(QLabel(f"Access log (newest first, up to {LOG_ROWS})"))
        right.addWidget(self.log_table, 1)
        right.addWidget(self.log_summary)
        body = QHBoxLayout()
        body.addLayout(left, 2)
        body.addSpacing(24)
        body.addLayout(right, 3)
        buttons = QHBoxLayout()
        buttons.addWidget(self.enroll_button)
        buttons.addStretch(1)
        buttons.addWidget(back)
        buttons.addWidget(self.exit_button)
        lay = QVBoxLayout(page)
        lay.setContentsMargins(30, 24, 30, 24)
        lay.addWidget(title)
        lay.addSpacing(10)
        lay.addLayout(body, 1)
        lay.addLayout(buttons)
        return page

    def _build_setup_page(self) -> QWidget:
        page = QWidget()
        title = QLabel("Welcome — choose the administrator PIN")
        title.setObjectName("pageTitle")
        text = QLabel("The PIN is needed to leave the kiosk, see the access log and enroll people.\n"
                      "Use 4 to 32 digits. It is stored only as a salted scrypt hash.")
        text.setObjectName("kioskDetail")
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setup_pin = QLineEdit()
        self.setup_pin2 = QLineEdit()
        for f, ph in ((self.setup_pin, "PIN"), (self.setup_pin2, "PIN again")):
            f.setObjectName("pinField")
            f.setEchoMode(QLineEdit.EchoMode.Password)
            f.setAlignment(Qt.AlignmentFlag.AlignCenter)
            f.setPlaceholderText(ph)
        self.setup_pin2.returnPressed.connect(self.submit_setup)
        self.setup_message = QLabel("")
        self.setup_message.setObjectName("pinMessage")
        ok = QPushButton("Set PIN and start")
        ok.setObjectName("primaryButton")
        ok.clicked.connect(self.submit_setup)
        lay = QVBoxLayout(page)
        lay.addStretch(1)
        for w in (title, text, self.setup_pin, self.setup_pin2, self.setup_message, ok):
            lay.addWidget(w, 0, Qt.AlignmentFlag.AlignHCenter)
            lay.addSpacing(6)
        lay.addStretch(1)
        return page

    # =========================================================================================
    # navigation
    # =========================================================================================
    @property
    def page(self) -> int:
        return self.stack.currentIndex()

    def show_page(self, index: int) -> None:
        self.stack.setCurrentIndex(index)
        self.session.set_paused(index != self.PAGE_KIOSK)
        if index == self.PAGE_PIN:
            self.pin_field.clear()
            self.pin_field.setFocus()
            self._show_lock_message()
        elif index == self.PAGE_ADMIN:
            self.refresh_admin()
        elif index == self.PAGE_SETUP:
            self.setup_pin.setFocus()

    def request_admin(self) -> None:
        """The admin button / Esc: ask for the PIN."""
        if self.page == self.PAGE_KIOSK:
            self.show_page(self.PAGE_PIN)

    def back_to_kiosk(self) -> None:
        if self.guard.is_set:
            self.show_page(self.PAGE_KIOSK)

    def _show_lock_message(self) -> bool:
        left = self.guard.locked_for_s()
        if left > 0:
            self.pin_message.setText(f"Too many wrong PINs — try again in {math.ceil(left)} s.")
            return True
        if self.pin_message.text().startswith("Too many"):
            self.pin_message.setText("")
        return False

    def submit_pin(self) -> bool:
        """Check the typed PIN; the admin screen opens when it is right."""
        pin = self.pin_field.text()
        self.pin_field.clear()
        try:
            res = self.guard.check(pin)
        except PinLockedError as exc:
            self.pin_message.setText(str(exc).capitalize() + ".")
            return False
        except VoiceliveError as exc:
            self.pin_message.setText(str(exc))
            return False
        if res.ok:
            self.pin_message.setText("")
            self.show_page(self.PAGE_ADMIN)
            return True
        self.pin_message.setText(res.message())
        return False

    def submit_setup(self) -> bool:
        a, b = self.setup_pin.text(), self.setup_pin2.text()
        try:
            pin = validate_pin(a)
        except VoiceliveError as exc:
            self.setup_message.setText(str(exc))
            return False
        if a.strip() != b.strip():
            self.setup_message.setText("The two PINs differ; type the same PIN twice.")
            self.setup_pin2.clear()
            return False
        try:
            self.guard.set_pin(pin)
        except VoiceliveError as exc:
            self.setup_message.setText(str(exc))
            return False
        self.setup_pin.clear()
        self.setup_pin2.clear()
        self.setup_message.setText("")
        self.show_page(self.PAGE_KIOSK)
        return True

    # =========================================================================================
    # admin screen
    # =========================================================================================
    def refresh_admin(self) -> None:
        s = self.session
        form = self.settings_form
        while form.rowCount():
            form.removeRow(0)
        self.far_combo = QComboBox()
        for far in sorted(set(FAR_CHOICES) | {s.policy.target_far}):
            self.far_combo.addItem(_far_text(far), far)
        self.far_combo.setCurrentIndex(self.far_combo.findData(s.policy.target_far))
        self.far_combo.activated.connect(self._far_picked)
        form.addRow("Target false-accept rate", self.far_combo)
        thr = s.threshold
        scorer = s.scorer
        thr_text = "– (nobody enrolled)" if thr is None else f"{thr:.3f}"
        if thr is not None and scorer is not None:
            thr_text += f"  (calibrated {float(scorer.threshold):.3f}, floor {s.policy.score_floor:.2f})"
        rows = [("Accept threshold", thr_text)]
        rows += [r for r in s.policy.describe() if not r[0].startswith("Target")]
        speakers = list(scorer.speakers) if scorer is not None else []
        rows += [("Enrolled", f"{len(speakers)}: {', '.join(speakers)}" if speakers else "nobody yet"),
                 ("Close voices", self.close_voices_text),
                 ("Model", getattr(scorer, "name", "–") if scorer is not None else "–"),
                 ("Door", self.door_text),
                 ("Input", self.input_text or "–"),
                 ("Input status", s.input_problem or "working")]
        for label, value in rows:
            v = QLabel(value)
            v.setObjectName("adminValue")
            v.setWordWrap(True)
            form.addRow(label, v)
        self._fill_log()

    def _fill_log(self) -> None:
        try:
            rows = self.store.access_log(limit=LOG_ROWS)
        except VoiceliveError as exc:
            self.log_summary.setText(f"The access log cannot be read: {exc}")
            return
        rows = list(reversed(rows))
        t = self.log_table
        t.setRowCount(len(rows))
        for i, r in enumerate(rows):
            when = datetime.fromisoformat(r.time).astimezone().strftime("%Y-%m-%d %H:%M:%S")
            cells = [when, r.decision, r.speaker or "unknown", "-" if r.score is None else f"{r.score:.3f}",
                     "-" if r.threshold is None else f"{r.threshold:.3f}",
                     "-" if r.speech_s is None else f"{r.speech_s:.1f} s", _why(r.state)]
            for j, c in enumerate(cells):
                item = QTableWidgetItem(c)
                if j == 6 and r.state:
                    item.setToolTip(r.state)
                if j == 1:
                    item.setForeground(QColor(STATE_COLOURS[GRANTED if r.decision == "granted" else DENIED]))
                t.setItem(i, j, item)
        granted = sum(r.decision == "granted" for r in rows)
        self.log_summary.setText(f"{len(rows)} decision(s) shown: {granted} granted, {len(rows) - granted} denied. "
                                 "Export: voicelive access-log --csv")

    def _far_picked(self, index: int) -> None:
        far = float(self.far_combo.itemData(index))
        self.session.set_target_far(far)
        if self.on_target_far is not None:
            self.on_target_far(far)
        self.check_close_voices()
        self.refresh_admin()

    def check_close_voices(self) -> None:
        """Judge each enrolled person by the door's model without them, in the background (see
        :mod:`voicelive.analysis.close_voices`); the admin screen's "Close voices" row shows it."""
        from voicelive.analysis.close_voices import MAX_SPEAKERS, close_voices, describe

        rec = self.session.scorer
        n = len(list(rec.speakers)) if rec is not None else 0
        if self.jobs is None or rec is None or not hasattr(rec, "save") or not 2 <= n <= MAX_SPEAKERS:
            self.close_voices_text = f"– (checked for 2 to {MAX_SPEAKERS} enrolled people)"
            return
        self.close_voices_text = "checking…"

        def done(res) -> None:
            if self.session.scorer is not rec:
                return   # the model changed meanwhile; its own check follows
            self.close_voices_text = "\n".join([describe(res), *(c.line() for c in res if c.accepted)])
            if self.page == self.PAGE_ADMIN:
                self.refresh_admin()

        def failed(exc: BaseException) -> None:
            self.close_voices_text = f"the check failed: {exc}"

        self.jobs.submit(lambda: close_voices(rec), label="Checking for close voices", on_done=done,
                         on_error=failed, quiet=True)

    def start_enrollment(self):
        if self.open_enrollment is None:
            return None
        self.wizard = self.open_enrollment(self)
        return self.wizard

    def exit_kiosk(self) -> None:
        """Leave the kiosk (only reachable from the admin screen)."""
        self.allow_close = True
        self.shutdown()
        if self.on_exit is not None:
            self.on_exit()
        self.close()

    # =========================================================================================
    # drawing
    # =========================================================================================
    def tick(self) -> None:
        try:
            self.session.poll()
        except Exception:   # the kiosk must keep running; the error is in the log
            log.exception("kiosk session poll failed")
        if self.page == self.PAGE_KIOSK and self.isVisible():
            self.draw(self.session.view())
        elif self.page == self.PAGE_PIN:
            self._show_lock_message()

    def draw(self, view: KioskView) -> None:
        a = view.access
        level = _level_0_1(view.snapshot.wave_tail) if view.snapshot.running else 0.0
        st = a.state
        detail = ""
        if view.input_problem is not None:
            colour, symbol = STATE_COLOURS["problem"], "problem"
            title, sub = "Microphone unavailable", "Retrying every few seconds…"
            detail = view.input_problem
            level, progress = 0.0, 0.0
        elif st == GRANTED:
            colour, symbol = STATE_COLOURS[GRANTED], "open"
            title = f"Welcome, {a.speaker}"
            sub = f"Door open — locks in {math.ceil(a.remaining_s)} s"
            progress = a.remaining_s / self.session.policy.unlock_s
        elif st == DENIED:
            colour, symbol = STATE_COLOURS[DENIED], "denied"
            why = ("This sounds like a recording" if a.last_decision is not None and a.last_decision.replay
                   else "Voice not recognised")
            title, sub = "Access denied", f"{why} — try again in {math.ceil(a.remaining_s)} s"
            progress = 0.0
        elif st == COOLDOWN:
            colour, symbol = STATE_COLOURS[COOLDOWN], "locked"
            title, sub = "Locked", f"One moment… {math.ceil(a.remaining_s)} s"
            progress = 0.0
        elif st == LISTENING:
            colour, symbol = STATE_COLOURS[LISTENING], "listening"
            title, sub = "Listening…", "Keep talking"
            progress = a.progress
        else:
            colour, symbol = STATE_COLOURS[LOCKED], "locked"
            title, sub = "Locked", "Speak to enter"
            progress = 0.0
        if view.input_problem is None and view.enrolled == 0:
            detail = "Nobody is enrolled yet — the administrator can enroll people (Admin)."
        self.ring.set_state(level=level, progress=progress, colour=colour, symbol=symbol)
        if self.title.text() != title:
            self.title.setText(title)
        self.title.setStyleSheet(f"color: {colour};")
        if self.subtitle.text() != sub:
            self.subtitle.setText(sub)
        if self.detail.text() != detail:
            self.detail.setText(detail)
        self.clock_label.setText(datetime.now().strftime("%H:%M"))
        self.frames += 1

    # =========================================================================================
    # keys, closing
    # =========================================================================================
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt name)
        if event.key() == Qt.Key.Key_Escape:
            if self.page == self.PAGE_KIOSK:
                self.request_admin()
            elif self.page in (self.PAGE_PIN, self.PAGE_ADMIN):
                self.back_to_kiosk()
            return
        super().keyPressEvent(event)

    def shutdown(self) -> None:
        """Stop the timer, the wizard and the session (the door locks). Idempotent."""
        if self._shut:
            return
        self._shut = True
        self.timer.stop()
        if self.wizard is not None:
            try:
                self.wizard.abort()
            except RuntimeError:   # already deleted by Qt
                pass
        self.session.stop()
        log.info("kiosk window shut down")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt name)
        if not self.allow_close:
            event.ignore()    # a kiosk is left through the admin screen (PIN), not Alt+F4
            return
        self.shutdown()
        super().closeEvent(event)


def _why(state: str | None) -> str:
    """The access log's reason, short enough for the admin table (the whole text is the tooltip)."""
    if not state:
        return "-"
    if state.startswith("replayed recording"):
        return "replayed recording"
    return state.split(" (")[0]
