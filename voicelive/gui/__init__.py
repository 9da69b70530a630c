"""VoiceLive's desktop window (PySide6 + pyqtgraph). Only this package and the kiosk import Qt.

Importing the package applies :mod:`voicelive.gui.qt_compat`'s work-around for a reference-count
bug of the Qt bindings before any window exists.
"""

from voicelive.gui.qt_compat import guard_singleton_refcounts as _guard

_guard()
