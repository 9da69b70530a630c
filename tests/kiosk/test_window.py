"""The kiosk window, offscreen, on a real enrolled roster and real-time file input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from voicelive.kiosk.access import DENIED, GRANTED

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def make_kiosk(qtbot, qapp):
    from voicelive.enrollment.model_update import active_recognizer
    from voicelive.gui.app import close_window
    from voicelive.kiosk.app import create_kiosk
    from voicelive.kiosk.pin import PinGuard
    from voicelive.kiosk.session import KioskSession
    from voicelive.audio.sources import FileSource
    from voicelive.store import Store

    made = []

    def make(data_dir, wav, *, pin="4711", scorer=True):
        store = Store.open(data_dir)
        if pin:
            PinGuard(store).set_pin(pin)
        rec = active_recognizer(store) if scorer else None
        session = KioskSession(lambda: FileSource(wav, realtime=True, loop=True, block_size=512),
                               scorer=rec, store=store)
        w = create_kiosk(session, store=store, fullscreen=False, input_text=str(wav))
        made.append((w, store))
        return w

    yield make
    for w, store in made:
        w.allow_close = True
        w.shutdown()
        w.jobs.shutdown()
        close_window(w)
        store.close()


def test_enrolled_voice_opens_and_stranger_is_denied_on_screen(make_kiosk, enrolled_dir, speech_files, qtbot,
                                                               qt_warnings):
    w = make_kiosk(enrolled_dir, speech_files["known"])
    assert w.page == w.PAGE_KIOSK and w.title.text() == "Locked"
    qtbot.waitUntil(lambda: w.session.controller.state == GRANTED, timeout=15000)
    qtbot.waitUntil(lambda: w.title.text() == "Welcome, Allison", timeout=2000)
    assert "Door open" in w.subtitle.text() and w.session.door.is_open
    # the countdown ends: the door locks again
    qtbot.waitUntil(lambda: not w.session.door.is_open, timeout=8000)
    assert w.title.text() == "Locked"

    w2 = make_kiosk(enrolled_dir, speech_files["stranger"])
    qtbot.waitUntil(lambda: w2.session.controller.state == DENIED, timeout=20000)
    qtbot.waitUntil(lambda: w2.title.text() == "Access denied", timeout=2000)
    assert [(r.decision, r.speaker) for r in w2.store.access_log()][-1] == ("denied", None)


def test_a_replayed_visit_is_refused_on_screen_as_a_recording(make_kiosk, enrolled_dir, speech, speech_files,
                                                               tmp_path, qtbot, qt_warnings):
    import numpy as np
    import soundfile as sf

    from voicelive.audio.channels import apply_channel

    w = make_kiosk(enrolled_dir, speech_files["known"])
    qtbot.waitUntil(lambda: w.session.controller.state == GRANTED, timeout=15000)
    w.session.stop()                          # the visit is kept when the kiosk stops
    qtbot.waitUntil(lambda: not w.jobs.busy, timeout=30000)   # its close-voices check, before a second kiosk
    replay = tmp_path / "replay.wav"          # recorded at the door, played from a small loudspeaker
    sf.write(replay, np.concatenate([np.zeros(2345, np.float32),
                                     apply_channel(speech["known"], "laptop", utterance_id="w")]), 16000)
    w2 = make_kiosk(enrolled_dir, replay, pin=None)
    qtbot.waitUntil(lambda: w2.session.controller.state == DENIED, timeout=20000)
    qtbot.waitUntil(lambda: w2.title.text() == "Access denied", timeout=2000)
    assert "recording" in w2.subtitle.text() and not w2.session.door.is_open
    last = w2.store.access_log()[-1]
    assert (last.decision, last.speaker) == ("denied", "Allison") and last.state.startswith("replayed recording")
    w2.refresh_admin()                        # the admin screen's log says why (newest first)
    assert w2.log_table.item(0, 6).text() == "replayed recording" and "Allison" in w2.log_table.item(0, 6).toolTip()


def test_admin_needs_the_pin_and_shows_log_threshold_and_enrollment(make_kiosk, enrolled_dir, speech_files, qtbot,
                                                                    qt_warnings):
    from PySide6.QtCore import Qt

    w = make_kiosk(enrolled_dir, speech_files["known"])
    w.store.log_access("granted", speaker="Allison", state="3 windows agreed", score=0.9, threshold=0.55,
                       speech_s=2.0)
    # closing the kiosk without the PIN is refused
    w.close()
    assert w.isVisible()
    qtbot.keyClick(w, Qt.Key.Key_Escape)
    assert w.page == w.PAGE_PIN and w.session.paused
    w.pin_field.setText("0000")
    assert not w.submit_pin()
    assert "2 tries left" in w.pin_message.text() and w.page == w.PAGE_PIN
    w.pin_field.setText("4711")
    assert w.submit_pin() and w.page == w.PAGE_ADMIN
    assert w.log_table.rowCount() == 1 and w.log_table.item(0, 2).text() == "Allison"
    labels = {w.settings_form.itemAt(i, w.settings_form.ItemRole.LabelRole).widget().text():
              w.settings_form.itemAt(i, w.settings_form.ItemRole.FieldRole).widget()
              for i in range(w.settings_form.rowCount())}
    assert f"{w.session.threshold:.3f}" in labels["Accept threshold"].text()
    assert "Allison" in labels["Enrolled"].text()
    # the close-voices check ran in the background on the door's model; the row shows its outcome
    qtbot.waitUntil(lambda: not w.jobs.busy, timeout=30000)
    w.refresh_admin()
    labels = {w.settings_form.itemAt(i, w.settings_form.ItemRole.LabelRole).widget().text():
              w.settings_form.itemAt(i, w.settings_form.ItemRole.FieldRole).widget()
              for i in range(w.settings_form.rowCount())}
    close = labels["Close voices"].text()
    assert close.startswith("No close voices") or close.startswith("Close voices:"), close
    far_combo = labels["Target false-accept rate"]
    old_thr = w.session.threshold
    far_combo.setCurrentIndex(far_combo.findData(0.02))
    far_combo.activated.emit(far_combo.currentIndex())
    assert w.session.policy.target_far == 0.02 and w.session.threshold < old_thr
    assert w.store.get_setting("kiosk.settings")["target_far"] == 0.02
    wizard = w.start_enrollment()
    assert wizard is not None and wizard.isVisible()
    wizard.reject()
    qtbot.waitUntil(lambda: w.wizard is None, timeout=3000)
    qtbot.keyClick(w, Qt.Key.Key_Escape)
    assert w.page == w.PAGE_KIOSK and not w.session.paused


def test_wrong_pins_lock_the_keypad(make_kiosk, enrolled_dir, speech_files, qt_warnings):
    w = make_kiosk(enrolled_dir, speech_files["known"])
    w.request_admin()
    for pin in ("1111", "2222", "3333"):
        w.pin_field.setText(pin)
        assert not w.submit_pin()
    assert "locked for 30 s" in w.pin_message.text()
    w.pin_field.setText("4711")
    assert not w.submit_pin() and w.page == w.PAGE_PIN          # right PIN refused while locked
    assert "try again" in w.pin_message.text()


def test_first_run_asks_for_a_pin(make_kiosk, tmp_path, speech_files, qt_warnings):
    w = make_kiosk(tmp_path / "fresh", speech_files["known"], pin=None, scorer=False)
    assert w.page == w.PAGE_SETUP and w.session.paused
    w.setup_pin.setText("1234")
    w.setup_pin2.setText("1235")
    assert not w.submit_setup() and "differ" in w.setup_message.text()
    w.setup_pin.setText("12")
    w.setup_pin2.setText("12")
    assert not w.submit_setup() and "4 to 32" in w.setup_message.text()
    w.setup_pin.setText("123456")
    w.setup_pin2.setText("123456")
    assert w.submit_setup() and w.page == w.PAGE_KIOSK and w.guard.check("123456").ok
    w.tick()
    assert "Nobody is enrolled" in w.detail.text()


def test_kiosk_command_exits_cleanly_after_s(enrolled_dir, speech_files, tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "VOICELIVE_LOG_DIR": str(tmp_path / "logs"),
           "PYTHONPATH": str(REPO)}
    pin = subprocess.run([sys.executable, "-m", "voicelive", "kiosk", "set-pin", "--data-dir", str(enrolled_dir)],
                         input="4711\n", text=True, capture_output=True, env=env, timeout=60, cwd=REPO)
    assert pin.returncode == 0, pin.stderr
    run = subprocess.run([sys.executable, "-m", "voicelive", "kiosk", "--exit-after-s", "3", "--data-dir",
                          str(enrolled_dir), "--source", str(speech_files["known"])],
                         text=True, capture_output=True, env=env, timeout=90, cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    log = (tmp_path / "logs" / "voicelive-gui.log").read_text()
    assert "ready: VoiceLive" in log and "kiosk shown" in log
    bad = subprocess.run([sys.executable, "-m", "voicelive", "kiosk", "--exit-after-s", "3", "--data-dir",
                          str(enrolled_dir), "--source", str(tmp_path / "missing.wav")],
                         text=True, capture_output=True, env=env, timeout=60, cwd=REPO)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and "missing.wav" in bad.stderr
