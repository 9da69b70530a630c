"""Persisted window settings (input, backend, target false-accept rate, hop, geometry).

Stored with :class:`QSettings` in an INI file beside the roster database
(``<data dir>/gui.ini``), so a test's or a demo's ``--data-dir`` keeps its own settings and never
touches the user's.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

__all__ = ["GuiSettings", "TARGET_FAR_CHOICES", "HOP_CHOICES_S"]

TARGET_FAR_CHOICES = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1)
"""Accept thresholds offered, as target false-accept rates."""

HOP_CHOICES_S = (0.25, 0.5, 1.0)
"""Window hops offered (seconds between analysis windows)."""


class GuiSettings:
    """Typed access to the settings file; values are validated on read (a hand-edited or stale
    file falls back to the defaults)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._q = QSettings(str(self.path), QSettings.Format.IniFormat)

    def _get(self, key: str, default=None):
        return self._q.value(key, default)

    def _set(self, key: str, value) -> None:
        self._q.setValue(key, value)

    def sync(self) -> None:
        self._q.sync()

    # -- values ------------------------------------------------------------------------------
    @property
    def input_key(self) -> str | None:
        v = self._get("live/input")
        return str(v) if v else None

    @input_key.setter
    def input_key(self, key: str | None) -> None:
        self._set("live/input", key or "")

    @property
    def backend(self) -> str | None:
        v = self._get("model/backend")
        return str(v) if v else None

    @backend.setter
    def backend(self, name: str | None) -> None:
        self._set("model/backend", name or "")

    @property
    def target_far(self) -> float | None:
        try:
            v = float(self._get("model/target_far", 0.0))
        except (TypeError, ValueError):
            return None
        return v if 0.0 < v < 1.0 else None

    @target_far.setter
    def target_far(self, far: float) -> None:
        self._set("model/target_far", float(far))

    @property
    def hop_s(self) -> float | None:
        try:
            v = float(self._get("live/hop_s", 0.0))
        except (TypeError, ValueError):
            return None
        return v if 0.1 <= v <= 2.0 else None

    @hop_s.setter
    def hop_s(self, hop_s: float) -> None:
        self._set("live/hop_s", float(hop_s))

    def geometry(self) -> QByteArray | None:
        v = self._get("window/geometry")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    def window_state(self) -> QByteArray | None:
        v = self._get("window/state")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self._set("window/geometry", geometry)
        self._set("window/state", state)
