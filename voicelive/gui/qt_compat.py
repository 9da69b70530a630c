"""Work-arounds for bugs in the Qt bindings, applied once when :mod:`voicelive.gui` is imported.

PySide6 6.12.0 on Python < 3.12 returns the singletons without taking a reference: every
``Signal.emit()`` drops a reference to ``True``, and every call of a ``void`` method (``update()``,
``processEvents()``, each repaint of a widget with a Python ``paintEvent``) drops one to ``None``.
pyqtgraph emits several signals per ``setData``/``setImage``, so at 30 frames a second the count
of ``True`` (about 2 000 at start-up) reaches zero within seconds to minutes — or at the final
garbage collection — and Python aborts ("Fatal Python error: bool_dealloc: deallocating True or
False", or "none_dealloc"). Python 3.12 made these objects immortal. For older Pythons
:func:`guard_singleton_refcounts` detects the bug (a few emits and void calls, comparing the counts)
and, only if it is there, gives ``None``, ``True`` and ``False`` a reference count so large
(2**40) that no run can exhaust it — the effect of 3.12's immortal objects. PySide6 6.11.3 does
not have the bug; excluding 6.12.0 in the dependencies avoids the work-around altogether.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

__all__ = ["bindings_drop_singleton_refs", "guard_singleton_refcounts"]

_BALLAST = 1 << 40
_applied = False


def bindings_drop_singleton_refs() -> bool:
    """True when emitting a Qt signal or calling a void method loses a reference to ``True`` or
    ``None`` (the PySide6 6.12.0 bug)."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    before_true, before_none = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(8):
        probe.ping.emit()
        probe.setObjectName("probe")
    lost_true = before_true - sys.getrefcount(True)
    lost_none = before_none - sys.getrefcount(None)
    probe.deleteLater()
    return lost_true > 4 or lost_none > 4


def guard_singleton_refcounts() -> bool:
    """Apply the work-around when needed; returns whether it is in force."""
    global _applied
    if _applied:
        return True
    if sys.version_info >= (3, 12) or not bindings_drop_singleton_refs():
        return False
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += _BALLAST
    _applied = True
    import PySide6

    log.info("PySide6 %s drops references to None/True on signal emits and void calls; None/True/False "
             "made effectively immortal (another PySide6 version avoids this work-around)", PySide6.__version__)
    return True
