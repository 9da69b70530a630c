"""Qt warnings fail GUI and kiosk tests: one message handler for both test folders."""

from __future__ import annotations

import contextlib
from typing import Iterator

# Messages of Qt's offscreen platform plugin about what it cannot do (not our code's fault).
IGNORED_QT_MESSAGES = ("This plugin does not support propagateSizeHints()",
                       "This plugin does not support raise()",
                       "This plugin does not support setParent()")


@contextlib.contextmanager
def failing_on_qt_warnings() -> Iterator[list[str]]:
    """Collect every Qt warning (or worse) while inside; on leaving, fail if there was any."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    records: list[str] = []

    def handler(mode, context, message):
        if mode not in (QtMsgType.QtDebugMsg, QtMsgType.QtInfoMsg) and not message.startswith(IGNORED_QT_MESSAGES):
            records.append(f"{mode.name}: {message}")

    previous = qInstallMessageHandler(handler)
    try:
        yield records
    finally:
        qInstallMessageHandler(previous)
    assert not records, "Qt warnings during the test:\n" + "\n".join(records)
