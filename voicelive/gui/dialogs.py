"""Readable error dialogs that never block the event loop (``open()``, not ``exec()``)."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

__all__ = ["show_message", "show_error", "show_warning", "open_dialogs"]

log = logging.getLogger(__name__)

_OPEN: list[QMessageBox] = []   # parentless boxes are kept alive here until closed


def show_message(parent: QWidget | None, title: str, text: str, *, details: str | None = None,
                 icon: QMessageBox.Icon = QMessageBox.Icon.Information, log_level: int | None = None) -> QMessageBox:
    """Show a message box window-modally and return at once; the box deletes itself when closed.

    The first line of ``text`` is what happened; the rest says what to do. ``details`` (a
    traceback, a path) goes behind "Show Details…".
    """
    if log_level is not None:
        log.log(log_level, "%s: %s", title, text.replace("\n", " "))
    box = QMessageBox(parent)
    box.setObjectName("voiceliveMessage")
    box.setIcon(icon)
    box.setWindowTitle(f"VoiceLive — {title}")
    lines = text.strip().split("\n", 1)
    box.setText(f"<b>{_escape(lines[0])}</b>")
    if len(lines) > 1:
        box.setInformativeText(lines[1].strip())
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    if parent is None:
        _OPEN.append(box)
        box.finished.connect(lambda _r, b=box: _OPEN.remove(b) if b in _OPEN else None)
    box.open()
    return box


def show_error(parent: QWidget | None, title: str, text: str, *, details: str | None = None) -> QMessageBox:
    return show_message(parent, title, text, details=details, icon=QMessageBox.Icon.Critical,
                        log_level=logging.ERROR)


def show_warning(parent: QWidget | None, title: str, text: str, *, details: str | None = None) -> QMessageBox:
    return show_message(parent, title, text, details=details, icon=QMessageBox.Icon.Warning,
                        log_level=logging.WARNING)


def open_dialogs(parent: QWidget | None = None) -> list[QMessageBox]:
    """Message boxes currently shown (of ``parent``, or parentless ones) — for tests."""
    if parent is None:
        return [b for b in _OPEN if b.isVisible()]
    return [b for b in parent.findChildren(QMessageBox) if b.isVisible()]


def _escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
