"""Screenshots of every kiosk state for docs/screenshots/kiosk_*.png (run by hand, not by pytest).

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/kiosk/make_screenshots.py

Three speakers of ../shared/corpora/asterisk_prompts are enrolled in a temporary data dir (Store +
sync_model, the product's default backend); the kiosk then listens to held-out sentences replayed
in real time as its microphone — an enrolled voice (Listening…, Welcome), a stranger (Access
denied) — and to a microphone that vanishes after 2 s (Microphone unavailable). The PIN keypad,
the admin screen (with the access log those runs wrote) and the first-run PIN set-up complete it.
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
sys.path.insert(0, str(REPO))
from corpus_clips import long_utterances  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpora" / "asterisk_prompts" / "manifest.csv"
SR = 16_000
ENROLLED = {"allison_smith_en": "Allison", "carlo_flora_it": "Carlo", "june_wallack_frca": "June"}
STRANGER = "ivrvoice_ru"
SIZE = (1280, 800)


def sentences(path: Path, waves, lead_s=1.0, gap_s=0.4) -> Path:
    gap = np.zeros(int(gap_s * SR), dtype=np.float32)
    sf.write(path, np.concatenate([np.zeros(int(lead_s * SR), np.float32)] + [x for w in waves for x in (w, gap)]), SR)
    return path


def wait(seconds: float) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def wait_until(cond, timeout: float, what: str) -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"timed out waiting for {what}")
        wait(0.05)


def enroll(data_dir: Path) -> None:
    from voicelive.enrollment.model_update import sync_model
    from voicelive.evaluation.corpus import load_manifest
    from voicelive.store import Store

    corpus = load_manifest(CORPUS)
    with Store.open(data_dir) as store:
        for spk, name in ENROLLED.items():
            store.add_speaker_with_clips(name, long_utterances(corpus, spk, start=0, count=6, min_s=2.0))
        sync_model(store)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    ap.add_argument("--data-dir", default=None, help="an already enrolled data dir (copied), else one is made")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from voicelive.gui.app import close_window, ensure_qapp, limit_blas_threads
    from voicelive.audio.sources import FileSource
    from voicelive.enrollment.model_update import active_recognizer
    from voicelive.errors import DeviceError
    from voicelive.evaluation.corpus import load_manifest
    from voicelive.kiosk.app import create_kiosk
    from voicelive.kiosk.access import DENIED, GRANTED, LISTENING
    from voicelive.kiosk.pin import PinGuard
    from voicelive.kiosk.session import KioskSession
    from voicelive.store import Store

    limit_blas_threads()
    app = ensure_qapp()
    tmp = Path(tempfile.mkdtemp(prefix="kiosk-shots-"))
    data = tmp / "data"
    if args.data_dir:
        import shutil

        shutil.copytree(args.data_dir, data)
    else:
        enroll(data)
    corpus = load_manifest(CORPUS)
    known = sentences(tmp / "known.wav", long_utterances(corpus, "allison_smith_en", start=100, count=6, min_s=2.0))
    stranger = sentences(tmp / "stranger.wav", long_utterances(corpus, STRANGER, start=40, count=6, min_s=2.0))

    store = Store.open(data)
    PinGuard(store).set_pin("4711")
    rec = active_recognizer(store)

    def shoot(window, name):
        path = out / f"kiosk_{name}.png"
        window.grab().save(str(path))
        print("wrote", path)

    def kiosk(make_source, text):
        session = KioskSession(make_source, scorer=rec, store=store)
        w = create_kiosk(session, store=store, input_text=text, fullscreen=False)
        w.resize(*SIZE)
        return w

    def run_until(w, states, timeout):
        wait_until(lambda: w.session.controller.state in states, timeout, "/".join(states))
        wait(0.15)

    def done(w):
        w.allow_close = True
        w.shutdown()
        close_window(w)

    # locked, listening, welcome (enrolled voice)
    w = kiosk(lambda: FileSource(known, realtime=True, loop=True, block_size=512), "file known.wav")
    wait(0.6)
    shoot(w, "1_locked")
    wait_until(lambda: w.session.controller.state == LISTENING
               and w.session.view().access.progress > 0, 10, "evidence")
    w.tick()
    shoot(w, "2_listening")
    run_until(w, (GRANTED,), 15)
    wait(0.6)
    shoot(w, "3_granted")
    done(w)

    # access denied (stranger)
    w = kiosk(lambda: FileSource(stranger, realtime=True, loop=True, block_size=512), "file stranger.wav")
    run_until(w, (DENIED,), 20)
    wait(0.4)
    shoot(w, "4_denied")
    done(w)

    # access denied (a recording of Allison's visit played back through a small loudspeaker)
    from voicelive.audio.channels import apply_channel

    replay = tmp / "replay.wav"
    recorded, _ = sf.read(known, dtype="float32")
    sf.write(replay, np.concatenate([np.zeros(2345, np.float32),
                                     apply_channel(recorded, "laptop", utterance_id="shot")]), SR)
    w = kiosk(lambda: FileSource(replay, realtime=True, loop=True, block_size=512), "file replay.wav")
    run_until(w, (DENIED,), 20)
    wait(0.4)
    shoot(w, "4b_replay")
    done(w)

    # microphone unavailable
    class VanishingMic(FileSource):
        def _read(self, timeout):
            if self._delivered >= 2 * SR:
                raise DeviceError("microphone #3 'USB Audio Device' (ALSA) stopped delivering audio (unplugged, "
                                  "or taken by another program?)")
            return super()._read(timeout)

    calls = {"n": 0}

    def vanishing():
        calls["n"] += 1
        if calls["n"] > 1:
            raise DeviceError("no input device matches 'USB Audio Device'; run `voicelive devices`")
        return VanishingMic(known, realtime=True, block_size=512, name="microphone #3 'USB Audio Device'")

    w = kiosk(vanishing, "microphone 'USB Audio Device'")
    wait_until(lambda: w.session.input_problem is not None, 10, "the microphone to vanish")
    wait(2.5)
    shoot(w, "5_mic_unavailable")
    done(w)

    # PIN keypad (one wrong try), admin screen, first-run set-up
    w = kiosk(lambda: FileSource(known, realtime=True, loop=True, block_size=512), "file known.wav")
    w.request_admin()
    w.pin_field.setText("1234")
    w.submit_pin()
    w.pin_field.setText("47")
    wait(0.3)
    shoot(w, "6_pin")
    w.pin_field.setText("4711")
    w.submit_pin()
    wait_until(lambda: not w.jobs.busy, 60, "the close-voices check")
    w.refresh_admin()
    wait(0.3)
    shoot(w, "7_admin")
    done(w)
    store.close()

    fresh = Store.open(tmp / "fresh")
    session = KioskSession(lambda: FileSource(known, realtime=True, loop=True, block_size=512), store=fresh)
    w = create_kiosk(session, store=fresh, fullscreen=False)
    w.resize(*SIZE)
    wait(0.4)
    shoot(w, "8_first_run_pin")
    done(w)
    fresh.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
