"""Render a `voicelive eval` report headless (Qt's HTML renderer, offscreen) and save a PNG.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_report.py eval-report/index.html shot.png
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    from PySide6.QtWidgets import QApplication, QTextBrowser

    page, out = sys.argv[1], sys.argv[2]
    width = int(sys.argv[3]) if len(sys.argv) > 3 else 1100
    height = int(sys.argv[4]) if len(sys.argv) > 4 else 1400
    app = QApplication([])
    b = QTextBrowser()
    b.resize(width, height)
    with open(page, encoding="utf-8") as fh:
        b.setHtml(fh.read())
    b.show()
    app.processEvents()
    b.grab().save(out)
    b.close()
    del b
    app.processEvents()


if __name__ == "__main__":
    main()
