"""The main window as a user meets it: it starts from a file, draws, names an enrolled voice and
says "Unknown" for another, survives pausing, resizing, hot-switching and broken devices."""

from __future__ import annotations

import numpy as np
import pytest
from synth import synth_silence, synth_speaker_wave

from voicelive.audio.sources import ArraySource, Source
from voicelive.errors import DeviceError

pytestmark = pytest.mark.timeout(120)


def synthetic_talk(speaker_id: int = 1, seconds: float = 6.0) -> np.ndarray:
    return np.concatenate([synth_speaker_wave(speaker_id, seconds, seed=7), synth_silence(1.0)])


def wait_frames(qtbot, window, n: int = 10, timeout: int = 5000) -> None:
    start = window.frames
    qtbot.waitUntil(lambda: window.frames >= start + n, timeout=timeout)


# ---------------------------------------------------------------------------------------------
def test_starts_from_a_file_and_draws(make_window, gui_inputs, speech_files, qtbot, tmp_path):
    w = make_window(inputs=[gui_inputs.file(speech_files["known"])], data_dir=tmp_path / "empty")
    assert w.live.running
    qtbot.waitUntil(lambda: w.live.pipeline.latest().t_s > 2.5, timeout=8000)
    wait_frames(qtbot, w)
    # waveform: the preallocated curve holds the newest audio
    x, y = w.waveform._curve.getOriginalDataset()
    assert x.size == y.size == int(w.live.config.display.tail_s * 16000)
    assert np.max(np.abs(y)) > 0.01
    # spectrogram: columns arrived and show more than the floor level
    img = w.spectrogram.image.image
    assert img.dtype == np.float32 and img.shape == (257, w.spectrogram.n_cols)
    assert w.spectrogram.columns_drawn > 100
    assert np.max(img) > w.spectrogram.levels_db[0] + 30
    assert tuple(w.spectrogram.image.levels) == w.spectrogram.levels_db       # fixed levels, never auto
    # nobody enrolled: the window still runs and says how to start
    qtbot.waitUntil(lambda: w.verdict.text in ("Listening…", "Silence"), timeout=3000)
    assert "Nobody is enrolled" in w.verdict.hint.text()
    assert w.fps > 10
    assert "fps" in w.status_fps.text() and "p95" in w.status_latency.text()
    assert w.level_meter.level_db > -60


def test_names_the_enrolled_voice_and_unknown_for_another(make_window, gui_inputs, speech_files, enrolled_dir,
                                                          qtbot):
    known, stranger = gui_inputs.file(speech_files["known"]), gui_inputs.file(speech_files["stranger"])
    w = make_window(inputs=[known, stranger], data_dir=enrolled_dir)
    qtbot.waitUntil(lambda: w.live.pipeline.scorer is not None, timeout=30000)
    assert sorted(w.roster.names) == ["Allison", "Carlo", "June"]
    qtbot.waitUntil(lambda: w.verdict.text == "Allison", timeout=20000)
    assert w.verdict.state == "speaker"
    assert w.verdict.bar.score >= w.verdict.bar.threshold           # confidence bar with the threshold
    assert w.verdict._cand_rows[0][0].text() == "Allison"
    # hot switch to another "device" while running: a voice nobody enrolled
    assert w.switch_input(stranger.key)
    assert w.live.running
    qtbot.waitUntil(lambda: w.verdict.text == "Unknown", timeout=20000)
    assert w.verdict.state == "unknown"
    assert "Allison" not in w.verdict.text


def test_pause_resume_and_resize(make_window, gui_inputs, qtbot):
    w = make_window(inputs=[gui_inputs.wave("voice", synthetic_talk())])
    wait_frames(qtbot, w)
    w.start_action.trigger()                     # pause
    assert not w.live.running and w.start_action.text() == "Start"
    qtbot.waitUntil(lambda: w.verdict.text == "Paused", timeout=2000)
    t_paused = w.live.pipeline.latest().t_s
    qtbot.wait(400)
    assert w.live.pipeline.latest().t_s == t_paused
    w.start_action.trigger()                     # resume with a fresh source
    assert w.live.running and w.start_action.text() == "Pause"
    wait_frames(qtbot, w)
    for size in [(720, 480), (1600, 1000), (900, 600)]:
        w.resize(*size)
        wait_frames(qtbot, w, 3)
    assert w.width() <= 1600
    assert w.waveform.plot.getPlotItem().viewRange()[0] == pytest.approx([-4.0, 0.0])   # no auto-range


def test_hidden_window_does_not_draw(make_window, gui_inputs, qtbot):
    w = make_window(inputs=[gui_inputs.wave("voice", synthetic_talk())])
    wait_frames(qtbot, w)
    w.hide()
    frames = w.frames
    qtbot.wait(300)
    assert w.frames == frames
    w.show()
    wait_frames(qtbot, w, 3)


class BrokenDevice(Source):
    """A microphone that cannot be opened."""

    name = "broken microphone"

    def _start(self) -> None:
        raise DeviceError("device 7 'USB Mic' is busy or unavailable; close other programs using the microphone")


class VanishingDevice(ArraySource):
    """Delivers audio for a while, then disappears like an unplugged microphone."""

    def __init__(self, wave, *, after_s: float) -> None:
        super().__init__(wave, realtime=True, loop=True, block_size=512, name="vanishing mic")
        self.after = int(after_s * 16000)

    def _read(self, timeout):
        if self._delivered >= self.after:
            raise DeviceError("microphone 'USB Mic' stopped delivering audio (unplugged?); reconnect it")
        return super()._read(timeout)


def test_switching_to_a_broken_device_keeps_the_old_one(make_window, gui_inputs, qtbot):
    from voicelive.gui.dialogs import open_dialogs
    from voicelive.gui.live import InputChoice

    good = gui_inputs.wave("good mic", synthetic_talk())
    w = make_window(inputs=[good, InputChoice("mic:broken", "Broken mic", BrokenDevice)])
    wait_frames(qtbot, w)
    assert not w.switch_input("mic:broken")
    boxes = open_dialogs(w)
    assert boxes and "busy or unavailable" in boxes[-1].text()
    assert w.live.running and w.live.current.key == "good mic"
    assert w.input_combo.currentData() == "good mic"
    wait_frames(qtbot, w, 3)
    for b in boxes:
        b.close()


def test_a_lost_device_shows_a_dialog(make_window, gui_inputs, qtbot):
    from voicelive.gui.dialogs import open_dialogs
    from voicelive.gui.live import InputChoice

    wave = synthetic_talk()
    w = make_window(inputs=[InputChoice("mic:usb", "USB mic", lambda: VanishingDevice(wave, after_s=1.0))])
    qtbot.waitUntil(lambda: not w.live.running, timeout=5000)
    qtbot.waitUntil(lambda: bool(open_dialogs(w)), timeout=2000)
    box = open_dialogs(w)[-1]
    assert "input stopped" in box.windowTitle() or "stopped" in box.text()
    assert "unplugged" in box.text()
    assert w.start_action.text() == "Start" and w.verdict.text == "Paused"
    box.close()


def test_no_microphone_at_start(make_window, qtbot):
    """Without any input device the window opens anyway and says what to do."""
    from voicelive.gui.dialogs import open_dialogs
    from voicelive.gui.live import InputChoice

    def no_device():
        raise DeviceError("no audio input device found; connect a microphone (or start the sound server), "
                          "then run `voicelive devices` to check")

    w = make_window(inputs=[InputChoice("system-default-mic", "System default microphone", no_device)])
    assert not w.live.running
    boxes = open_dialogs(w)
    assert boxes and "no audio input device" in boxes[-1].text()
    assert w.isVisible()
    for b in boxes:
        b.close()


def test_hop_change_rebuilds_the_pipeline_and_keeps_drawing(make_window, gui_inputs, qtbot, tmp_path):
    w = make_window(inputs=[gui_inputs.wave("voice", synthetic_talk())])
    wait_frames(qtbot, w)
    first = w.live.pipeline
    assert w.live.config.window.hop_s == 0.25          # the default
    w.set_hop(0.5)
    assert w.live.pipeline is not first and w.live.config.window.hop_s == 0.5
    assert w.live.running
    qtbot.waitUntil(lambda: w.live.pipeline.latest().stats.windows >= 4, timeout=5000)
    wait_frames(qtbot, w, 5)
    assert w.waveform.hop_s == 0.5
    assert w.hop_combo.currentData() == 0.5
    assert w.settings.hop_s == 0.5


def test_settings_are_persisted(make_window, gui_inputs, tmp_path, qtbot):
    from voicelive.gui.settings import GuiSettings

    a, b = gui_inputs.wave("mic A", synthetic_talk(1)), gui_inputs.wave("mic B", synthetic_talk(2))
    path = tmp_path / "persist.ini"
    w = make_window(inputs=[a, b], settings_path=path)
    w.switch_input("mic B")
    w.set_target_far(0.05)
    w.set_hop(1.0)
    w.shutdown()
    s = GuiSettings(path)
    assert (s.input_key, s.target_far, s.hop_s) == ("mic B", 0.05, 1.0)
    assert s.geometry() is not None


def test_corrupt_store_is_reported_and_the_window_runs(make_window, gui_inputs, tmp_path, qtbot):
    from voicelive.errors import StoreError
    from voicelive.gui.dialogs import open_dialogs
    from voicelive.store import Store

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "voicelive.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError) as err:
        Store.open(bad)
    w = make_window(inputs=[gui_inputs.wave("voice", synthetic_talk())], store_error=str(err.value))
    boxes = open_dialogs(w)
    assert boxes and "cannot be opened" in boxes[-1].text()
    assert not w.roster.add_btn.isEnabled()
    wait_frames(qtbot, w, 5)
    assert "roster could not be opened" in w.verdict.hint.text()
    for b in boxes:
        b.close()


def test_menus_shortcuts_and_about(make_window, gui_inputs, qtbot):
    import PySide6

    w = make_window(inputs=[gui_inputs.wave("voice", synthetic_talk())])
    assert w.quit_action.shortcut().toString() == "Ctrl+Q"
    assert w.fullscreen_action.shortcut().toString() == "F11"
    w.fullscreen_action.trigger()
    qtbot.waitUntil(w.isFullScreen, timeout=2000)
    w.fullscreen_action.trigger()
    qtbot.waitUntil(lambda: not w.isFullScreen(), timeout=2000)
    text = w.about_text()
    for part in ("VoiceLive", "PySide6", PySide6.__version__, "pyqtgraph", "Data folder"):
        assert part in text
    w.show_about().close()


def test_excepthook_logs_and_shows_a_dialog(make_window, gui_inputs, qtbot, caplog):
    from voicelive.gui.app import ErrorHooks
    from voicelive.gui.dialogs import open_dialogs

    w = make_window(inputs=[gui_inputs.wave("voice", synthetic_talk())])
    hooks = ErrorHooks(lambda: w)
    try:
        try:
            raise RuntimeError("something odd happened")
        except RuntimeError as exc:
            import sys

            sys.excepthook(type(exc), exc, exc.__traceback__)
        qtbot.waitUntil(lambda: hooks.shown == 1, timeout=2000)
    finally:
        hooks.remove()
    assert any("something odd happened" in r.getMessage() for r in caplog.records)
    box = open_dialogs(w)[-1]
    assert "RuntimeError" in box.text() and "keeps running" in box.informativeText()
    box.close()


def test_bindings_no_longer_drop_singleton_references(qapp):
    """Thousands of emits and void calls (minutes of drawing) leave None/True alive."""
    import sys

    from PySide6.QtCore import QObject, Signal

    class Pinger(QObject):
        ping = Signal(object)

    p = Pinger()
    p.ping.connect(lambda _x: None)
    before = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(5000):
        p.ping.emit(1)
        p.setObjectName("p")
    assert sys.getrefcount(True) > 1000 and sys.getrefcount(None) > 1000
    assert before[0] > 1000
