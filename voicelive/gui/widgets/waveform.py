"""Waveform of the last seconds, with the current analysis window and speech shaded."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QGraphicsRectItem, QVBoxLayout, QWidget

from voicelive import SAMPLE_RATE
from voicelive.gui.widgets.plotting import fixed_plot
from voicelive.units import s_to_samples

__all__ = ["WaveformView"]

SPEECH_BRUSH = (72, 201, 120, 40)
WINDOW_BRUSH = (96, 150, 255, 22)
Y_LIMIT = 1.08
WAVE_PEN = "#58c4dd"


class WaveformView(QWidget):
    """The newest ``tail_s`` seconds of audio on a fixed time axis (seconds before now).

    Every array is allocated once; :meth:`draw` only copies the snapshot's samples in and calls
    ``setData``. Speech shading has the resolution of the window hop: the newest ``hop_s`` of
    each analysed window is shaded when the speech gate passed that window.
    """

    def __init__(self, *, tail_s: float, window_s: float, hop_s: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tail_s = float(tail_s)
        self.plot = fixed_plot(x_range=(-self.tail_s, 0.0), y_range=(-Y_LIMIT, Y_LIMIT), x_label=None,
                               y_label="Amplitude")
        self.plot.getPlotItem().getAxis("left").setTicks([[(-1.0, "-1"), (-0.5, ""), (0.0, "0"), (0.5, ""),
                                                           (1.0, "1")]])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)
        n = s_to_samples(self.tail_s)
        self._x = ((np.arange(n, dtype=np.float64) - (n - 1)) / SAMPLE_RATE).astype(np.float32)
        self._y = np.zeros(n, dtype=np.float32)
        item = self.plot.getPlotItem()
        self._speech = pg.PlotCurveItem(x=np.zeros(2), y=np.full(1, -Y_LIMIT), stepMode="center", fillLevel=-Y_LIMIT, brush=pg.mkBrush(*SPEECH_BRUSH),
                                        pen=None)
        # a plain rectangle: LinearRegionItem.setRegion at 30 Hz crashed PySide6 6.12 at exit (a
        # refcount error on a bool, "bool_dealloc", in the final garbage collection)
        self._region = QGraphicsRectItem(QRectF(-2.0, -Y_LIMIT, 2.0, 2 * Y_LIMIT))
        self._region.setBrush(pg.mkBrush(*WINDOW_BRUSH))
        pen = pg.mkPen((120, 165, 255, 170), width=1)
        pen.setCosmetic(True)
        self._region.setPen(pen)
        self._curve = pg.PlotDataItem(self._x, self._y, pen=pg.mkPen(WAVE_PEN, width=1), skipFiniteCheck=True)
        item.addItem(self._speech)
        item.addItem(self._region)
        item.addItem(self._curve)
        legend = pg.TextItem(html="<span style='color:#48c978'>■</span> <span style='color:#8b949e'>speech "
                                  "windows</span>&nbsp;&nbsp;<span style='color:#78a5ff'>□</span> <span "
                                  "style='color:#8b949e'>analysis window</span>", anchor=(0, 0))
        legend.setPos(-self.tail_s, Y_LIMIT)
        item.addItem(legend, ignoreBounds=True)
        # only once the curve is in its view box (before, pyqtgraph asks the widget for the view range)
        self._curve.setDownsampling(auto=True, method="peak")
        self._curve.setClipToView(True)
        self.set_timing(window_s=window_s, hop_s=hop_s)

    def set_timing(self, *, window_s: float, hop_s: float) -> None:
        """The analysis window and hop (when the hop changes); forgets the speech history."""
        self.window_s = float(window_s)
        self.hop_s = float(hop_s)
        m = int(math.ceil(self.tail_s / self.hop_s)) + 2
        self._seg_end = np.full(m, -np.inf)          # absolute window ends (s), oldest first
        self._seg_speech = np.zeros(m, dtype=bool)
        self._seg_x = np.zeros(m + 1, dtype=np.float32)
        self._seg_y = np.full(m, -Y_LIMIT, dtype=np.float32)
        self._windows = None
        self._speech_windows = 0
        self._t_s = 0.0

    def reset(self) -> None:
        """Forget everything drawn (the pipeline was replaced)."""
        self.set_timing(window_s=self.window_s, hop_s=self.hop_s)
        self._y[:] = 0.0
        self._curve.setData(self._x, self._y)

    def _note_windows(self, t_s: float, windows: int, speech_windows: int) -> None:
        if self._windows is None or windows < self._windows or t_s < self._t_s:
            self._windows, self._speech_windows = windows, speech_windows
            return
        new = windows - self._windows
        if new <= 0:
            return
        new_speech = min(new, max(0, speech_windows - self._speech_windows))
        self._windows, self._speech_windows = windows, speech_windows
        last_end = math.floor(t_s / self.hop_s + 1e-6) * self.hop_s
        k = min(new, self._seg_end.size)
        self._seg_end[:-k] = self._seg_end[k:]
        self._seg_speech[:-k] = self._seg_speech[k:]
        self._seg_end[-k:] = last_end - self.hop_s * np.arange(k - 1, -1, -1)
        # which of several windows since the last frame were speech is unknown: the newest ones
        self._seg_speech[-k:] = np.arange(k) >= k - new_speech

    def draw(self, wave_tail: np.ndarray, t_s: float, windows: int, speech_windows: int) -> None:
        """Show a snapshot's waveform tail ending at stream time ``t_s``."""
        n = min(wave_tail.size, self._y.size)
        if n < self._y.size:
            self._y[:self._y.size - n] = 0.0
        if n:
            np.copyto(self._y[self._y.size - n:], wave_tail[wave_tail.size - n:])
        self._curve.setData(self._x, self._y)
        self._note_windows(t_s, windows, speech_windows)
        self._t_s = t_s
        # speech shading: segment [end - hop, end] of each analysed window, relative to now
        rel_end = (self._seg_end - t_s).astype(np.float32)
        self._seg_x[1:] = rel_end
        self._seg_x[0] = rel_end[0] - self.hop_s
        np.clip(self._seg_x, -self.tail_s - self.hop_s, 0.0, out=self._seg_x)
        self._seg_y[:] = np.where(self._seg_speech & np.isfinite(self._seg_end), Y_LIMIT, -Y_LIMIT)
        self._speech.setData(self._seg_x, self._seg_y)
        # the newest analysis window: ends on the hop grid
        end = math.floor(t_s / self.hop_s + 1e-6) * self.hop_s
        start = max(0.0, end - self.window_s)
        self._region.setRect(QRectF(start - t_s, -Y_LIMIT, end - start, 2 * Y_LIMIT))
