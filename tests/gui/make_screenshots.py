"""Screenshots of the real window for docs/screenshots/ (run by hand, not by pytest).

    QT_QPA_PLATFORM=offscreen python tests/gui/make_screenshots.py            # widget grabs
    xvfb-run -a -s "-screen 0 1400x900x24" python tests/gui/make_screenshots.py --suffix -xvfb \\
        --only main,dialog                                                    # a real X server

Three speakers of ../shared/corpora/asterisk_prompts are enrolled in a temporary data dir with
the Store and sync_model (product default backend); the window then replays held-out sentences
as its microphone: an enrolled voice, a stranger, and a newcomer whom the wizard enrolls.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from corpus_clips import long_utterances  # noqa: E402
CORPUS = REPO.parent / "shared" / "corpora" / "asterisk_prompts" / "manifest.csv"
SR = 16_000


def sentences_file(path, waves, gap_s=1.0):
    gap = np.zeros(int(gap_s * SR), dtype=np.float32)
    sf.write(path, np.concatenate([x for w in waves for x in (w, gap)]), SR)
    return path


def wait(app, seconds):
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def wait_until(app, cond, timeout, what):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"timed out waiting for {what}")
        wait(app, 0.1)


def composite(window, dialog):
    """The window with the dialog centred over it, as on a screen (offscreen windows are separate)."""
    from PySide6.QtGui import QColor, QPainter

    base = window.grab()
    top = dialog.grab()
    p = QPainter(base)
    p.fillRect(base.rect(), QColor(0, 0, 0, 90))
    x = (base.width() - top.width()) // 2
    y = (base.height() - top.height()) // 3
    p.fillRect(x + 6, y + 8, top.width(), top.height(), QColor(0, 0, 0, 120))
    p.drawPixmap(x, y, top)
    p.end()
    return base


def screen_shot(app, widget):
    """Under a real X server: what the screen shows where the window is (dialogs included)."""
    geo = widget.frameGeometry()
    return app.primaryScreen().grabWindow(0, geo.x(), geo.y(), geo.width(), geo.height())


class VanishingMic:
    """A FileSource that raises the microphone's 'stopped delivering audio' error after 2 s."""

    def __new__(cls, path):
        from voicelive.audio.sources import FileSource
        from voicelive.errors import DeviceError

        class _Mic(FileSource):
            def _read(self, timeout):
                if self._delivered >= 2 * SR:
                    raise DeviceError("microphone #3 'USB Audio Device' (ALSA) stopped delivering audio "
                                      "(unplugged, or taken by another program?); reconnect it or pick another "
                                      "device with --device")
                return super()._read(timeout)

        return _Mic(path, realtime=True, block_size=512, name="microphone #3 'USB Audio Device'")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    ap.add_argument("--suffix", default="")
    ap.add_argument("--only", default="main,unknown,first,wizard,dialog,about,close")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from voicelive.enrollment.model_update import sync_model
    from voicelive.evaluation.corpus import load_manifest
    from voicelive.gui.app import close_window, create_app, ensure_qapp, gui_config, limit_blas_threads
    from voicelive.gui.dialogs import open_dialogs
    from voicelive.gui.live import InputChoice, file_choice
    from voicelive.gui.settings import GuiSettings
    from voicelive.store import Store

    limit_blas_threads()
    tmp = Path(tempfile.mkdtemp(prefix="vl-shots-"))
    corpus = load_manifest(CORPUS)
    files = {
        "Allison (enrolled)": sentences_file(tmp / "allison.wav", long_utterances(corpus, "allison_smith_en",
                                                                               start=100, count=8, min_s=1.5)),
        "Stranger": sentences_file(tmp / "stranger.wav", long_utterances(corpus, "ivrvoice_ru", start=40, count=8,
                                                                        min_s=1.5)),
        "Paola (new)": sentences_file(tmp / "paola.wav", long_utterances(corpus, "paola_dalzot_it", start=40,
                                                                        count=10, min_s=2.5)),
    }
    data = tmp / "data"
    with Store.open(data) as store:
        for speaker, name in (("allison_smith_en", "Allison"), ("carlo_flora_it", "Carlo"),
                              ("june_wallack_frca", "June")):
            store.add_speaker_with_clips(name, long_utterances(corpus, speaker, start=0, count=8, min_s=2.0))
        sync_model(store)

    app = ensure_qapp()
    offscreen = app.platformName() == "offscreen"
    cfg = gui_config()
    inputs = [file_choice(p, cfg) for p in files.values()]
    store = Store.open(data)
    w = create_app(config=cfg, inputs=inputs, store=store, settings=GuiSettings(tmp / "gui.ini"), data_dir=data,
                   enroll_target_speech_s=10.0)
    w.resize(1280, 800)
    w.move(40, 30)

    def save(name, widget_or_pixmap):
        path = out / f"{name}{args.suffix}.png"
        pm = widget_or_pixmap if hasattr(widget_or_pixmap, "save") else (
            widget_or_pixmap.grab() if offscreen else screen_shot(app, widget_or_pixmap))
        pm.save(str(path))
        print("wrote", path)

    wait_until(app, lambda: w.live.pipeline.scorer is not None and not w.jobs.busy, 120, "the model")
    if "main" in only:
        wait_until(app, lambda: w.verdict.text == "Allison" and "speaking for" in w.verdict.duration.text()
                   and float(w.verdict.duration.text().split()[2]) >= 2.5, 60, "Allison")
        save("main-window", w)
    if "unknown" in only:
        w.switch_input(inputs[1].key)
        wait_until(app, lambda: w.verdict.text == "Unknown", 60, "Unknown")
        wait(app, 1.2)
        save("main-window-unknown", w)
    if "dialog" in only:
        # a microphone that vanishes after two seconds, as when it is unplugged
        w.live.set_choices(w.live.choices + [InputChoice("mic:usb", "USB Audio Device (ALSA)",
                                                         lambda: VanishingMic(files["Stranger"]))])
        w._fill_inputs()
        w.switch_input("mic:usb")
        wait_until(app, lambda: bool(open_dialogs(w)), 20, "the device-lost dialog")
        wait(app, 0.5)
        box = open_dialogs(w)[-1]
        save("dialog-device-lost", composite(w, box) if offscreen else w)
        box.close()
    if "about" in only:
        box = w.show_about()
        wait(app, 0.4)
        save("dialog-about", composite(w, box) if offscreen else w)
        box.close()
    if "close" in only:
        w.check_close_voices()
        wait_until(app, lambda: bool(open_dialogs(w)) and not w.jobs.busy, 60, "the close-voices result")
        wait(app, 0.4)
        box = open_dialogs(w)[-1]
        save("dialog-close-voices", composite(w, box) if offscreen else w)
        box.close()
    if "wizard" in only:
        w.switch_input(inputs[2].key)
        wait(app, 1.0)
        wz = w.open_enroll_wizard()
        wz.move(220, 120)
        wz.name_page.name_edit.setText("Paola")
        wait(app, 0.4)
        save("wizard-1-name", wz)
        wz.next()
        wait_until(app, wz.mic_page.isComplete, 20, "the mic check")
        wait(app, 0.5)
        save("wizard-2-mic-check", wz)
        wz.next()
        wait_until(app, lambda: wz.session is not None and wz.session.progress >= 0.4
                   and wz.record_page.feedback.count() >= 2, 90, "recording progress")
        wait(app, 0.3)
        save("wizard-3-recording", wz)
        wait_until(app, wz.record_page.isComplete, 90, "the recording")
        wz.next()
        wait_until(app, wz.summary_page.isComplete, 120, "the model update")
        wait(app, 0.3)
        save("wizard-4-summary", wz)
        wz.button(wz.WizardButton.FinishButton).click()
        wait(app, 0.3)
    w.shutdown()
    close_window(w)
    store.close()
    if "first" in only:
        empty = tmp / "empty"
        store = Store.open(empty)
        w = create_app(config=cfg, inputs=inputs[:1], store=store, settings=GuiSettings(tmp / "gui2.ini"),
                       data_dir=empty)
        w.resize(1280, 800)
        wait(app, 4.0)
        save("main-window-first-start", w)
        w.shutdown()
        close_window(w)
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
