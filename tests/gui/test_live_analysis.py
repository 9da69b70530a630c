"""The analysis parts of the main window (offscreen, real roster, real speech): "Keep unknown
voices", the roster's "New voices?" list with one-click enrollment, and the drift warning."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from conftest import SR, STRANGER
from corpus_clips import long_utterances

pytestmark = pytest.mark.corpus


def _ready(w, qtbot):
    qtbot.waitUntil(lambda: not w.jobs.busy and w.live.pipeline.scorer is not None, timeout=120000)


def _shot(w, name):
    out = os.environ.get("VOICELIVE_SCREENSHOT_DIR")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        w.grab().save(str(Path(out) / name))


def test_keep_unknown_voices_new_voice_list_and_one_click_enroll(make_window, gui_inputs, enrolled_dir, asterisk,
                                                                  speech_files, qtbot, monkeypatch):
    from voicelive.analysis.embeddings import Embedder
    from voicelive.store import Store

    emb = Embedder()
    segs = long_utterances(asterisk, STRANGER, start=60, count=6, min_s=2.0)
    with Store.open(enrolled_dir) as s:
        assert s.keep_unknown_segments is False
        s.add_unknown_segments([dict(wave=x, embedding=emb.embed_wave(x), embedding_hash=emb.feature_hash,
                                     best_speaker="June", score=0.1) for x in segs])
    w = make_window(inputs=[gui_inputs.file(speech_files["known"])], data_dir=enrolled_dir)
    _ready(w, qtbot)
    # the tap is the pipeline's scorer, and the model is still the recognizer behind it
    assert w.live.pipeline.scorer is w.analysis.tap and w.live.pipeline.scorer.name == "fusion"
    assert not w.keep_unknown_action.isChecked()
    w.keep_unknown_action.setChecked(True)
    qtbot.waitUntil(lambda: not w.jobs.busy, timeout=10000)
    assert w.store.keep_unknown_segments is True and w.analysis.tap.keep_unknown

    lst = w.roster.new_voices_list
    qtbot.waitUntil(lambda: lst.count() >= 1, timeout=30000)
    assert w.roster.new_voices_box.isVisible()
    lst.setCurrentRow(0)
    assert w.roster.enroll_new_btn.isEnabled()
    _shot(w, "analysis_new_voices.png")
    monkeypatch.setattr(w, "ask_text", lambda *a, **k: "Ivan")
    w.roster.enroll_new_btn.click()
    qtbot.waitUntil(lambda: "Ivan" in w.live.pipeline.scorer.speakers, timeout=120000)
    qtbot.waitUntil(lambda: not w.jobs.busy, timeout=30000)
    assert "Ivan" in w.roster.names
    assert w.store.count_unknown_segments() == 6 - w.store.get_speaker("Ivan").n_clips
    assert lst.count() == 0 and not w.roster.new_voices_box.isVisible()


def test_drift_warning_in_the_status_bar(make_window, gui_inputs, enrolled_dir, asterisk, qtbot, tmp_path):
    # Allison through a telephone-band filter: not the microphone she enrolled with
    waves = long_utterances(asterisk, "allison_smith_en", start=100, count=8, min_s=1.5)
    gap = np.zeros(SR // 2, dtype=np.float32)
    x = np.concatenate([y for wv in waves for y in (wv, gap)])
    sos = scipy.signal.butter(4, [300, 3400], btype="band", fs=SR, output="sos")
    path = tmp_path / "phone.wav"
    sf.write(path, scipy.signal.sosfilt(sos, x).astype(np.float32), SR)
    w = make_window(inputs=[gui_inputs.file(path)], data_dir=enrolled_dir)
    _ready(w, qtbot)
    assert not w.status_drift.isVisible()
    qtbot.waitUntil(lambda: w.analysis.tap is not None and w.analysis.tap.windows >= 16, timeout=60000)
    w.analysis.check_drift()
    qtbot.waitUntil(lambda: w.analysis.drift is not None, timeout=60000)
    rep = w.analysis.drift
    assert rep.warn, rep.summary()
    assert w.status_drift.isVisible() and "Microphone" in w.status_drift.text()
    assert "re-enroll" in w.status_drift.toolTip() or "different" in w.status_drift.toolTip()
    _shot(w, "analysis_drift_warning.png")
    # the collected windows reach the store
    w.analysis.flush()
    qtbot.waitUntil(lambda: not w.jobs.busy, timeout=10000)
    assert len(w.store.live_embeddings()) >= 16
