"""Roster side panel: enrolled speakers with clip counts and net speech, and the actions on them."""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QGridLayout, QHeaderView, QLabel, QListWidget, QListWidgetItem,
                               QProgressBar, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

__all__ = ["RosterPanel"]


class RosterPanel(QWidget):
    """Table of speakers and buttons; the window does the work (in its job thread).

    Signals carry the selected speaker's name where one is needed.
    """

    addRequested = Signal()
    reenrollRequested = Signal(str)
    renameRequested = Signal(str)
    removeRequested = Signal(str)
    importRequested = Signal()
    exportRequested = Signal()
    closeVoicesRequested = Signal()
    newVoiceEnrollRequested = Signal(int)   # suggestion number (see voicelive.analysis.unknown)

    COLUMNS = ("Speaker", "Clips", "Speech")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("rosterPanel")
        title = QLabel("Enrolled speakers")
        title.setObjectName("panelTitle")
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        hdr = self.table.horizontalHeader()
        hdr.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        hdr.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        hdr.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda _item: self._emit_named(self.renameRequested))

        self.empty = QLabel("Nobody is enrolled yet.\nClick “Add speaker…” to record a voice.")
        self.empty.setObjectName("rosterEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)

        self.add_btn = QPushButton("Add speaker…")
        self.add_btn.setObjectName("primaryButton")
        self.reenroll_btn = QPushButton("Re-enroll…")
        self.rename_btn = QPushButton("Rename…")
        self.remove_btn = QPushButton("Remove")
        self.import_btn = QPushButton("Import…")
        self.export_btn = QPushButton("Export…")
        self.close_voices_btn = QPushButton("Close voices…")
        self.close_voices_btn.setObjectName("closeVoicesButton")
        self.close_voices_btn.setToolTip("Judge each person by the model without them: could a stranger who "
                                         "sounds like them be taken for someone else?")
        self.add_btn.setToolTip("Enroll a new speaker with the guided recording wizard")
        self.reenroll_btn.setToolTip("Record the selected speaker again, replacing their clips")
        self.import_btn.setToolTip("Add speakers from a roster archive (.zip)")
        self.export_btn.setToolTip("Save the roster (voices and clips) to an archive (.zip)")
        self.add_btn.clicked.connect(self.addRequested.emit)
        self.reenroll_btn.clicked.connect(lambda: self._emit_named(self.reenrollRequested))
        self.rename_btn.clicked.connect(lambda: self._emit_named(self.renameRequested))
        self.remove_btn.clicked.connect(lambda: self._emit_named(self.removeRequested))
        self.import_btn.clicked.connect(self.importRequested.emit)
        self.export_btn.clicked.connect(self.exportRequested.emit)
        self.close_voices_btn.clicked.connect(self.closeVoicesRequested.emit)

        buttons = QGridLayout()
        buttons.setSpacing(6)
        buttons.addWidget(self.add_btn, 0, 0, 1, 2)
        buttons.addWidget(self.reenroll_btn, 1, 0)
        buttons.addWidget(self.rename_btn, 1, 1)
        buttons.addWidget(self.remove_btn, 2, 0)
        buttons.addWidget(self.export_btn, 2, 1)
        buttons.addWidget(self.import_btn, 3, 0)
        buttons.addWidget(self.close_voices_btn, 3, 1)

        self.model_info = QLabel("")
        self.model_info.setObjectName("modelInfo")
        self.model_info.setWordWrap(True)
        self.busy_label = QLabel("")
        self.busy_label.setObjectName("modelInfo")
        self.busy_label.setWordWrap(True)
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setFixedHeight(6)
        self.busy_label.hide()
        self.busy_bar.hide()

        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 10, 10, 10)
        lay.setSpacing(8)
        lay.addWidget(title)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.empty, 1)
        lay.addLayout(buttons)
        lay.addWidget(self._build_new_voices())
        lay.addWidget(self.busy_label)
        lay.addWidget(self.busy_bar)
        lay.addWidget(self.model_info)
        self._names: list[str] = []
        self._enabled = True
        self.set_speakers([])

    def _build_new_voices(self) -> QWidget:
        """'New voices?': groups of kept unknown speech that sound like one new person each."""
        box = QWidget()
        box.setObjectName("newVoices")
        title = QLabel("New voices?")
        title.setObjectName("panelTitle")
        self.new_voices_list = QListWidget()
        self.new_voices_list.setObjectName("newVoicesList")
        self.new_voices_list.setMaximumHeight(110)
        # the app's style sheet themes tables, not lists: match the roster table here
        self.new_voices_list.setStyleSheet(
            "QListWidget#newVoicesList { background: #0d1117; color: #e6edf3; border: 1px solid #21262d; "
            "border-radius: 6px; } QListWidget#newVoicesList::item:selected { background: #1f6feb; }")
        self.new_voices_list.setToolTip("Unknown voices heard while listening, grouped by voice. "
                                        "Select one and enroll it as a new speaker.")
        self.new_voices_list.itemSelectionChanged.connect(self._update_buttons)
        self.new_voices_list.itemDoubleClicked.connect(lambda _i: self._emit_new_voice())
        self.enroll_new_btn = QPushButton("Enroll as new speaker…")
        self.enroll_new_btn.setObjectName("enrollNewVoiceButton")
        self.enroll_new_btn.clicked.connect(self._emit_new_voice)
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 4, 0, 0)
        v.setSpacing(4)
        v.addWidget(title)
        v.addWidget(self.new_voices_list)
        v.addWidget(self.enroll_new_btn)
        self.new_voices_box = box
        box.hide()
        return box

    def set_new_voices(self, suggestions: Sequence) -> None:
        """Show :class:`~voicelive.analysis.unknown.Suggestion` rows (hidden when there are none)."""
        self.new_voices_list.clear()
        for s in suggestions:
            item = QListWidgetItem(f"Voice {s.number}: {len(s.segment_ids)} segments, {s.speech_s:.0f} s")
            item.setData(Qt.ItemDataRole.UserRole, int(s.number))
            item.setToolTip(s.label())
            self.new_voices_list.addItem(item)
        self.new_voices_box.setVisible(bool(suggestions))
        self._update_buttons()

    def _emit_new_voice(self) -> None:
        item = self.new_voices_list.currentItem()
        if item is not None and self._enabled:
            self.newVoiceEnrollRequested.emit(int(item.data(Qt.ItemDataRole.UserRole)))

    # -------------------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self._names)

    def set_speakers(self, speakers: Sequence) -> None:
        """Show ``SpeakerInfo``-like rows (``name``, ``n_clips``, ``speech_s``); keeps the selection."""
        keep = self.selected_name()
        self.table.setRowCount(len(speakers))
        self._names = []
        for row, s in enumerate(speakers):
            self._names.append(s.name)
            items = (QTableWidgetItem(s.name), QTableWidgetItem(str(s.n_clips)),
                     QTableWidgetItem(_fmt_speech(s.speech_s)))
            items[1].setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            items[2].setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            items[2].setToolTip(f"{s.speech_s:.1f} s of net speech in {s.n_clips} clip(s)")
            for col, item in enumerate(items):
                self.table.setItem(row, col, item)
            if s.name == keep:
                self.table.selectRow(row)
        has = bool(speakers)
        self.table.setVisible(has)
        self.empty.setVisible(not has)
        self._update_buttons()

    def selected_name(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        r = rows[0].row()
        return self._names[r] if 0 <= r < len(self._names) else None

    def select(self, name: str) -> None:
        if name in self._names:
            self.table.selectRow(self._names.index(name))

    def set_actions_enabled(self, enabled: bool) -> None:
        """Disable every action (no store, or a roster change is in progress)."""
        self._enabled = enabled
        self._update_buttons()

    def set_busy(self, text: str | None) -> None:
        if text:
            self.busy_label.setText(text)
            self.busy_label.show()
            self.busy_bar.show()
        else:
            self.busy_label.hide()
            self.busy_bar.hide()

    def set_model_info(self, text: str, tooltip: str = "") -> None:
        self.model_info.setText(text)
        self.model_info.setToolTip(tooltip)

    def _update_buttons(self) -> None:
        sel = self.selected_name() is not None
        on = self._enabled
        self.add_btn.setEnabled(on)
        self.import_btn.setEnabled(on)
        self.export_btn.setEnabled(on and bool(self._names))
        self.close_voices_btn.setEnabled(on and len(self._names) >= 2)
        for b in (self.reenroll_btn, self.rename_btn, self.remove_btn):
            b.setEnabled(on and sel)
        if hasattr(self, "enroll_new_btn"):
            self.enroll_new_btn.setEnabled(on and self.new_voices_list.currentItem() is not None)

    def _emit_named(self, signal) -> None:
        name = self.selected_name()
        if name is not None and self._enabled:
            signal.emit(name)


def _fmt_speech(seconds: float) -> str:
    s = float(seconds or 0.0)
    if s < 60:
        return f"{s:.0f} s"
    return f"{int(s // 60)} min {int(round(s % 60)):02d} s"
