"""Small painted bars: input level meter and calibrated confidence bar with its threshold."""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

__all__ = ["LevelMeter", "ConfidenceBar", "ScoreBar"]

TRACK = QColor("#2a313c")


class LevelMeter(QWidget):
    """Horizontal input-level meter from ``floor_db`` to 0 dBFS with a peak-hold tick.

    Green up to -18 dBFS, yellow to -6, red above (near clipping).
    """

    def __init__(self, parent: QWidget | None = None, *, floor_db: float = -60.0,
                 min_width: int = 140, height: int = 14) -> None:
        super().__init__(parent)
        self.floor_db = float(floor_db)
        self._level = self.floor_db
        self._peak = self.floor_db
        self._peak_hold = 0
        self.setMinimumSize(min_width, height)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Input level (dBFS)")

    def sizeHint(self) -> QSize:
        return QSize(160, self.minimumHeight())

    @property
    def level_db(self) -> float:
        return self._level

    def set_level(self, level_db: float) -> None:
        lv = max(self.floor_db, min(0.0, float(level_db))) if math.isfinite(level_db) else self.floor_db
        if lv >= self._peak:
            self._peak, self._peak_hold = lv, 30
        elif self._peak_hold > 0:
            self._peak_hold -= 1
        else:
            self._peak = max(lv, self._peak - 1.0)
        if lv != self._level:
            self._level = lv
            self.update()

    def _frac(self, db: float) -> float:
        return (db - self.floor_db) / -self.floor_db

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        p = QPainter(self)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.fillRect(r, TRACK)
        w = r.width()
        f = self._frac(self._level)
        for lo, hi, colour in ((-200.0, -18.0, "#48c978"), (-18.0, -6.0, "#e8c547"), (-6.0, 1.0, "#e8554e")):
            a = max(0.0, self._frac(max(lo, self.floor_db)))
            b = min(f, self._frac(hi))
            if b > a:
                p.fillRect(QRectF(r.left() + a * w, r.top(), (b - a) * w, r.height()), QColor(colour))
        x = r.left() + self._frac(self._peak) * w
        p.setPen(QPen(QColor("#f0f0f0"), 2))
        p.drawLine(int(x), int(r.top()), int(x), int(r.bottom()))
        p.end()


class ScoreBar(QWidget):
    """A thin bar for a score in [0, 1], optionally with a threshold tick."""

    def __init__(self, parent: QWidget | None = None, *, height: int = 10, colour: str = "#58c4dd") -> None:
        super().__init__(parent)
        self._score: float | None = None
        self._threshold: float | None = None
        self._colour = QColor(colour)
        self.setMinimumHeight(height)
        self.setMinimumWidth(60)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_value(self, score: float | None, threshold: float | None = None, colour: str | None = None) -> None:
        c = QColor(colour) if colour else self._colour
        if (score, threshold, c) != (self._score, self._threshold, self._colour):
            self._score, self._threshold, self._colour = score, threshold, c
            self.update()

    @property
    def score(self) -> float | None:
        return self._score

    @property
    def threshold(self) -> float | None:
        return self._threshold

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(TRACK)
        p.drawRoundedRect(r, 3, 3)
        if self._score is not None:
            f = max(0.0, min(1.0, float(self._score)))
            p.setBrush(self._colour)
            p.drawRoundedRect(QRectF(r.left(), r.top(), max(2.0, f * r.width()), r.height()), 3, 3)
        if self._threshold is not None:
            x = r.left() + max(0.0, min(1.0, float(self._threshold))) * r.width()
            p.setPen(QPen(QColor("#ffffff"), 2))
            p.drawLine(int(x), int(r.top()) - 1, int(x), int(r.bottom()) + 1)
        p.end()


class ConfidenceBar(ScoreBar):
    """The verdict's calibrated confidence, with the accept threshold marked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, height=22)
        self.setToolTip("Calibrated confidence; the white tick is the accept threshold for the chosen "
                        "false-accept rate")
