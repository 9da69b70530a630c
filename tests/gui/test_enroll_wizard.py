"""The enrollment wizard over a running main window: name → mic check → guided sentences →
summary, with audio taken from the window's own (file) input."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(180)


def test_wizard_enrolls_a_new_speaker_from_the_live_input(make_window, gui_inputs, speech_files, enrolled_dir,
                                                          qtbot):
    from voicelive.gui.enroll_wizard import PipelineTap

    w = make_window(inputs=[gui_inputs.file(speech_files["newcomer"])], data_dir=enrolled_dir,
                    enroll_target_speech_s=6.0)
    qtbot.waitUntil(lambda: w.live.pipeline.scorer is not None and not w.jobs.busy, timeout=60000)
    frames = w.frames
    wz = w.open_enroll_wizard()
    assert wz is not None and isinstance(wz.tap, PipelineTap) and w.wizard is wz
    # 1. name
    assert not wz.button(wz.WizardButton.NextButton).isEnabled()
    wz.name_page.name_edit.setText("Paola")
    assert wz.button(wz.WizardButton.NextButton).isEnabled()
    wz.next()
    # 2. microphone check: the level meter moves, the page completes once a voice is heard
    assert wz.currentPage() is wz.mic_page
    qtbot.waitUntil(wz.mic_page.isComplete, timeout=10000)
    assert wz.mic_page.meter.level_db > -50
    wz.next()
    # 3. guided sentences: progress and per-clip feedback while the main window keeps drawing
    assert wz.currentPage() is wz.record_page
    assert wz.record_page.prompt.text()
    qtbot.waitUntil(lambda: wz.record_page.feedback.count() >= 1, timeout=30000)
    qtbot.waitUntil(wz.record_page.isComplete, timeout=45000)
    assert wz.record_page.progress.value() == 100
    assert any(wz.record_page.feedback.item(i).data(0x0100) == "ok" for i in range(wz.record_page.feedback.count()))
    assert w.frames > frames + 100                      # the window drew all along
    assert w.live.running
    wz.next()
    # 4. summary, after finish() ran in the job thread
    assert wz.currentPage() is wz.summary_page
    qtbot.waitUntil(wz.summary_page.isComplete, timeout=90000)
    assert wz.finish_error is None, wz.finish_error
    res = wz.result
    assert res.speaker == "Paola" and res.clips_used >= 1 and res.speech_s >= 6.0
    text = wz.summary_page.text.text()
    assert "Net speech" in text and "Clip quality" in text and "Closeness" in text
    # the main window took the new model and roster without restarting
    qtbot.waitUntil(lambda: "Paola" in w.roster.names, timeout=10000)
    qtbot.waitUntil(lambda: "Paola" in w.live.pipeline.scorer.speakers, timeout=5000)   # at the next window
    assert w.live.running
    wz.button(wz.WizardButton.FinishButton).click()
    qtbot.waitUntil(lambda: w.wizard is None, timeout=2000)


def test_cancelling_the_wizard_changes_nothing(make_window, gui_inputs, speech_files, enrolled_dir, qtbot):
    w = make_window(inputs=[gui_inputs.file(speech_files["newcomer"])], data_dir=enrolled_dir,
                    enroll_target_speech_s=6.0)
    qtbot.waitUntil(lambda: not w.jobs.busy and w.live.pipeline.scorer is not None, timeout=60000)
    before = w.store.roster_revision()
    wz = w.open_enroll_wizard()
    wz.name_page.name_edit.setText("Somebody")
    wz.next()
    qtbot.waitUntil(wz.mic_page.isComplete, timeout=10000)
    wz.next()
    qtbot.wait(1500)
    session = wz.session
    wz.reject()                                        # Cancel while recording
    qtbot.waitUntil(lambda: w.wizard is None, timeout=2000)
    assert session.cancelled
    assert not w.store.has_speaker("Somebody")
    assert w.store.roster_revision() == before
    assert w.live.running
