"""Shared pyqtgraph set-up: fixed views (no auto-range, no mouse zoom), aligned left axes."""

from __future__ import annotations

import pyqtgraph as pg

__all__ = ["fixed_plot", "LEFT_AXIS_WIDTH", "BACKGROUND", "FOREGROUND"]

LEFT_AXIS_WIDTH = 58
"""Both plots use this left-axis width so their time axes line up."""

BACKGROUND = "#11151c"
FOREGROUND = "#aeb7c4"


def fixed_plot(*, x_range: tuple[float, float], y_range: tuple[float, float], x_label: str | None,
               y_label: str, y_units: str | None = None, parent=None) -> pg.PlotWidget:
    """A PlotWidget whose view never moves by itself or by the mouse."""
    w = pg.PlotWidget(parent=parent, background=BACKGROUND)
    item = w.getPlotItem()
    item.setMenuEnabled(False)
    item.hideButtons()
    item.setMouseEnabled(x=False, y=False)
    item.disableAutoRange()
    item.setXRange(*x_range, padding=0.0)
    item.setYRange(*y_range, padding=0.0)
    item.showGrid(x=True, y=False, alpha=0.15)
    for name in ("left", "bottom"):
        ax = item.getAxis(name)
        ax.setPen(pg.mkPen(FOREGROUND))
        ax.setTextPen(pg.mkPen(FOREGROUND))
    item.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
    item.setLabel("left", y_label, units=y_units)
    if x_label:
        item.setLabel("bottom", x_label, units="s")
    else:
        item.getAxis("bottom").setStyle(showValues=False)
    return w
