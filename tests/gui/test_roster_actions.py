"""Roster actions from the side panel: rename, remove, export, import — done in the job thread
(the window keeps drawing) and followed by a model update."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(180)


def test_rename_remove_export_import(make_window, gui_inputs, speech_files, small_roster_dir, tmp_path, qtbot,
                                     monkeypatch):
    w = make_window(inputs=[gui_inputs.file(speech_files["known"])], data_dir=small_roster_dir)
    qtbot.waitUntil(lambda: not w.jobs.busy and w.live.pipeline.scorer is not None, timeout=60000)
    archive = tmp_path / "roster.zip"

    # export (the panel's button -> save dialog -> job)
    monkeypatch.setattr(w, "ask_save_file", lambda *a: str(archive))
    w.roster.export_btn.click()
    qtbot.waitUntil(lambda: archive.exists() and not w.jobs.busy, timeout=30000)
    assert "Exported 3 speaker(s)" in w.statusBar().currentMessage()

    # rename the selected speaker; the GUI keeps drawing while the model updates
    monkeypatch.setattr(w, "ask_text", lambda *a: "Carlos")
    w.roster.select("Carlo")
    frames = w.frames
    w.roster.rename_btn.click()
    assert w.jobs.busy
    qtbot.waitUntil(lambda: not w.jobs.busy, timeout=60000)
    assert w.roster.names == ["Allison", "Carlos", "June"]
    qtbot.waitUntil(lambda: sorted(w.live.pipeline.scorer.speakers) == ["Allison", "Carlos", "June"], timeout=5000)
    assert w.frames > frames

    # remove, after confirming
    monkeypatch.setattr(w, "confirm", lambda *a: True)
    w.roster.select("June")
    w.roster.remove_btn.click()
    qtbot.waitUntil(lambda: not w.jobs.busy, timeout=60000)
    assert w.roster.names == ["Allison", "Carlos"]
    assert not w.store.has_speaker("June")
    qtbot.waitUntil(lambda: "June" not in w.live.pipeline.scorer.speakers, timeout=5000)

    # import the archive: June comes back, the others are already there and are skipped
    monkeypatch.setattr(w, "ask_open_file", lambda *a: str(archive))
    w.import_action.trigger()
    qtbot.waitUntil(lambda: not w.jobs.busy, timeout=60000)
    assert "June" in w.roster.names and "Carlo" in w.roster.names
    assert "imported" in w.statusBar().currentMessage()
    qtbot.waitUntil(lambda: "June" in w.live.pipeline.scorer.speakers, timeout=5000)


def test_threshold_is_a_target_false_accept_rate(make_window, gui_inputs, speech_files, small_roster_dir, qtbot):
    w = make_window(inputs=[gui_inputs.file(speech_files["known"])], data_dir=small_roster_dir)
    qtbot.waitUntil(lambda: not w.jobs.busy and w.live.pipeline.scorer is not None, timeout=60000)
    rec = w.live.pipeline.scorer
    thresholds = {}
    for far in (0.1, 0.001):
        w.far_combo.setCurrentIndex(w.far_combo.findData(far))
        w.far_combo.activated.emit(w.far_combo.currentIndex())
        qtbot.waitUntil(lambda: not w.jobs.busy, timeout=10000)
        assert rec.target_far == far
        thresholds[far] = rec.threshold
    assert thresholds[0.001] >= thresholds[0.1]      # fewer false accepts -> a higher bar
    assert "0.1 %" in w.roster.model_info.text()
    # a small roster's threshold says it is less certain, and why
    assert "less certain" in w.roster.model_info.text() and "voice-shifted" in w.roster.model_info.toolTip()
    assert w.settings.target_far == 0.001


def test_changes_made_by_another_program_show_up(make_window, gui_inputs, speech_files, small_roster_dir, qtbot,
                                                 monkeypatch):
    """`voicelive speakers remove June` in a terminal while the window runs."""
    import voicelive.gui.main_window as mw
    from voicelive.store import Store

    monkeypatch.setattr(mw, "ROSTER_POLL_S", 0.5)
    w = make_window(inputs=[gui_inputs.file(speech_files["known"])], data_dir=small_roster_dir)
    qtbot.waitUntil(lambda: not w.jobs.busy and w.live.pipeline.scorer is not None, timeout=60000)
    with Store.open(small_roster_dir) as other:
        other.remove_speaker("June")
    qtbot.waitUntil(lambda: w.roster.names == ["Allison", "Carlo"], timeout=30000)
    qtbot.waitUntil(lambda: "June" not in w.live.pipeline.scorer.speakers, timeout=30000)


def test_switching_backend_rebuilds_the_model_in_the_background(make_window, gui_inputs, speech_files,
                                                                small_roster_dir, qtbot):
    w = make_window(inputs=[gui_inputs.file(speech_files["known"])], data_dir=small_roster_dir)
    qtbot.waitUntil(lambda: not w.jobs.busy and w.live.pipeline.scorer is not None, timeout=60000)
    assert w.live.pipeline.scorer.name == "fusion"
    frames = w.frames
    w.backend_combo.setCurrentText("ge2e")
    w.backend_combo.activated.emit(w.backend_combo.currentIndex())
    assert w.jobs.busy and w.roster.busy_label.isVisible()
    qtbot.waitUntil(lambda: not w.jobs.busy, timeout=60000)
    qtbot.waitUntil(lambda: w.live.pipeline.scorer.name == "ge2e", timeout=5000)
    assert sorted(w.live.pipeline.scorer.speakers) == ["Allison", "Carlo", "June"]
    assert w.store.active_model().backend == "ge2e"
    assert w.settings.backend == "ge2e"
    assert w.frames > frames                            # drawing went on during the rebuild


def test_close_voices_are_checked_in_the_background_and_shown(make_window, gui_inputs, speech_files,
                                                             small_roster_dir, qtbot):
    from voicelive.gui.dialogs import open_dialogs

    w = make_window(inputs=[gui_inputs.file(speech_files["known"])], data_dir=small_roster_dir)
    qtbot.waitUntil(lambda: not w.jobs.busy and w.live.pipeline.scorer is not None, timeout=60000)
    assert w.roster.close_voices_btn.isEnabled()      # three people enrolled
    frames = w.frames
    w.roster.close_voices_btn.click()
    assert w.jobs.busy
    qtbot.waitUntil(lambda: not w.jobs.busy and bool(open_dialogs(w)), timeout=60000)
    assert w.frames > frames                            # the window kept drawing
    (box,) = open_dialogs(w)
    assert box.windowTitle() == "VoiceLive — Close voices"
    text = box.text() + box.informativeText()
    assert "judged by the model without them" in text
    assert all(f"{name}:" in text for name in ("Allison", "Carlo", "June"))
    box.close()
    # one person left: nothing to compare, the button is off
    w.roster.set_speakers([s for s in w.store.list_speakers() if s.name == "Allison"])
    assert not w.roster.close_voices_btn.isEnabled()
