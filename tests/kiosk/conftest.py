"""Kiosk test set-up: offscreen Qt, real speech of ../shared/corpora/asterisk_prompts, one enrolled
roster (three speakers, product default backend) built once per test session."""

from __future__ import annotations

import os
import shutil

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")   # before any QApplication exists

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402

from corpus_clips import long_utterances  # noqa: E402
from qt_messages import failing_on_qt_warnings  # noqa: E402

SR = 16_000
ENROLLED = {"allison_smith_en": "Allison", "carlo_flora_it": "Carlo", "june_wallack_frca": "June"}
STRANGER = "ivrvoice_ru"


@pytest.fixture(scope="session")
def asterisk(corpora_dir):
    from voicelive.evaluation.corpus import load_manifest

    return load_manifest(corpora_dir / "asterisk_prompts" / "manifest.csv")


def stream(waves, *, lead_s: float = 1.0, gap_s: float = 0.3) -> np.ndarray:
    """Lead silence, then the waves with short pauses: what a visitor says at the door."""
    gap = np.zeros(int(gap_s * SR), dtype=np.float32)
    return np.concatenate([np.zeros(int(lead_s * SR), np.float32)] + [x for w in waves for x in (w, gap)])


@pytest.fixture(scope="session")
def speech(asterisk):
    """Held-out speech (never used for enrollment): ``known`` (Allison, enrolled), ``known2``
    (Carlo, enrolled) and ``stranger`` (never enrolled); ``known_again`` (Allison saying other
    sentences) and ``known_long`` (Allison, 8 more sentences) for the replay guard."""
    allison = long_utterances(asterisk, "allison_smith_en", start=100, count=4, min_s=2.0)
    carlo = long_utterances(asterisk, "carlo_flora_it", start=100, count=4, min_s=2.0)
    stranger = long_utterances(asterisk, STRANGER, start=40, count=4, min_s=2.0)
    again = long_utterances(asterisk, "allison_smith_en", start=130, count=4, min_s=2.0)
    long_ = long_utterances(asterisk, "allison_smith_en", start=140, count=8, min_s=2.0)
    return {"known": stream(allison), "known2": stream(carlo), "stranger": stream(stranger),
            "known_again": stream(again), "known_long": stream(long_)}


@pytest.fixture(scope="session")
def speech_files(speech, tmp_path_factory):
    d = tmp_path_factory.mktemp("kiosk-speech")
    out = {}
    for k, w in speech.items():
        sf.write(d / f"{k}.wav", w, SR)
        out[k] = d / f"{k}.wav"
    return out


@pytest.fixture(scope="session")
def enrolled_template(asterisk, ge2e_weights, tmp_path_factory):
    """A data dir with three speakers enrolled (6 sentences each) through the Store and sync_model."""
    from voicelive.enrollment.model_update import sync_model
    from voicelive.store import Store

    d = tmp_path_factory.mktemp("kiosk-enrolled")
    with Store.open(d) as store:
        for speaker, name in ENROLLED.items():
            store.add_speaker_with_clips(name, long_utterances(asterisk, speaker, start=0, count=6, min_s=2.0))
        res = sync_model(store)
        assert res.recognizer is not None and sorted(res.recognizer.speakers) == sorted(ENROLLED.values())
    return d


@pytest.fixture
def enrolled_dir(enrolled_template, tmp_path):
    """A private copy of the enrolled data dir."""
    d = tmp_path / "data"
    shutil.copytree(enrolled_template, d)
    return d


@pytest.fixture(scope="session")
def recognizer(enrolled_template):
    """The enrolled model (tests that change its target FAR must set it back)."""
    from voicelive.enrollment.model_update import active_recognizer
    from voicelive.store import Store

    with Store.open(enrolled_template) as store:
        return active_recognizer(store)


@pytest.fixture
def qt_warnings(qapp):
    """Fail the test on any Qt warning (except the offscreen plugin's own limits)."""
    with failing_on_qt_warnings() as records:
        yield records
