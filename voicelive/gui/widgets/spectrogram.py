"""Scrolling spectrogram: an ImageItem fed only the columns that arrived since the last frame."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QVBoxLayout, QWidget

from voicelive.dsp.spectrogram import DEFAULT_LEVELS_DB
from voicelive.gui.widgets.plotting import fixed_plot

__all__ = ["SpectrogramView", "COLORMAP"]

COLORMAP = "inferno"
"""A perceptually uniform map (matplotlib's inferno), sampled to 256 entries."""


class SpectrogramView(QWidget):
    """Time (seconds before now) x frequency (Hz), colour = power in dB with fixed levels.

    The image buffer is allocated once, as ``(n_freq, 2 * n_cols)`` float32 (row-major, one row
    per frequency bin). Each new column is written twice, at ``i`` and ``i + n_cols`` (the
    double-write trick of Friture's ring buffer), so the newest ``n_cols`` columns are always the
    one slice ``[:, p:p + n_cols]`` — no roll, no copy before ``setImage``.
    """

    def __init__(self, *, history_s: float, freqs_hz: np.ndarray, hop_s: float,
                 levels_db: tuple[float, float] = DEFAULT_LEVELS_DB, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history_s = float(history_s)
        self.levels_db = (float(levels_db[0]), float(levels_db[1]))
        top_hz = float(freqs_hz[-1]) if len(freqs_hz) else 8000.0
        self.plot = fixed_plot(x_range=(-self.history_s, 0.0), y_range=(0.0, top_hz), x_label="Time",
                               y_label="Frequency", y_units="Hz")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)
        self.image = pg.ImageItem(axisOrder="row-major")
        lut = pg.colormap.get(COLORMAP).getLookupTable(0.0, 1.0, nPts=256, alpha=False)
        self.image.setLookupTable(lut)
        self.image.setLevels(self.levels_db)
        self.plot.getPlotItem().addItem(self.image)
        self.set_axis(freqs_hz=freqs_hz, hop_s=hop_s)

    def set_axis(self, *, freqs_hz: np.ndarray, hop_s: float) -> None:
        """(Re)allocate for a frequency axis and column hop; clears the picture."""
        self.n_freq = int(len(freqs_hz))
        self.hop_s = float(hop_s)
        self.n_cols = max(2, int(math.ceil(self.history_s / self.hop_s)))
        self._buf = np.full((self.n_freq, 2 * self.n_cols), self.levels_db[0], dtype=np.float32)
        self._pos = 0            # where the next column goes, in [0, n_cols)
        self._next_col = None    # absolute index of the next column to take from a snapshot
        top_hz = float(freqs_hz[-1]) if self.n_freq else 8000.0
        bin_hz = top_hz / max(1, self.n_freq - 1)
        # pixel centres on the bins and the columns: the image spans half a bin beyond each end
        self._rect = QRectF(-self.n_cols * self.hop_s, -bin_hz / 2, self.n_cols * self.hop_s,
                            top_hz + bin_hz)
        self._show()

    def reset(self) -> None:
        self._buf[:] = self.levels_db[0]
        self._pos = 0
        self._next_col = None
        self._show()

    def _show(self) -> None:
        view = self._buf[:, self._pos:self._pos + self.n_cols]
        self.image.setImage(view, autoLevels=False, levels=self.levels_db)
        self.image.setRect(self._rect)

    @property
    def columns_drawn(self) -> int:
        """Absolute index one past the newest column shown (0 before the first frame)."""
        return self._next_col or 0

    def draw(self, new_columns_fn, end_col: int) -> int:
        """Add the columns a snapshot carries beyond those already shown.

        Parameters
        ----------
        new_columns_fn : callable
            ``Snapshot.new_spec_columns``: absolute column index -> ``(k, n_freq)`` dB columns.
        end_col : int
            ``Snapshot.spec_end_col``.

        Returns the number of columns added.
        """
        if self._next_col is not None and end_col < self._next_col:   # a new pipeline: start over
            self.reset()
        since = self._next_col if self._next_col is not None else max(0, end_col - self.n_cols)
        cols = new_columns_fn(since)
        self._next_col = end_col
        k = cols.shape[0]
        if k == 0 or cols.shape[1] != self.n_freq:
            return 0
        if k > self.n_cols:
            cols = cols[k - self.n_cols:]
            k = self.n_cols
        idx = (self._pos + np.arange(k)) % self.n_cols
        block = cols.T
        self._buf[:, idx] = block
        self._buf[:, idx + self.n_cols] = block
        self._pos = int((self._pos + k) % self.n_cols)
        view = self._buf[:, self._pos:self._pos + self.n_cols]
        self.image.setImage(view, autoLevels=False, levels=self.levels_db)
        return k
