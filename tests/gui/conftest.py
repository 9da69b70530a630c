"""GUI test set-up: offscreen Qt, a Qt message handler that fails tests on warnings, real speech
files and an enrolled roster built once per session, and a window factory that shuts down in order.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")   # before any QApplication exists

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402

from corpus_clips import long_utterances  # noqa: E402
from qt_messages import failing_on_qt_warnings  # noqa: E402
import voicelive.gui  # noqa: E402,F401  (applies the bindings work-around before Qt is used)

SR = 16_000
ENROLLED = {"allison_smith_en": "Allison", "carlo_flora_it": "Carlo", "june_wallack_frca": "June"}
STRANGER = "ivrvoice_ru"          # never enrolled
NEWCOMER = "paola_dalzot_it"      # enrolled by the wizard test
ENROLL_CLIPS = 8



@pytest.fixture(autouse=True)
def fail_on_qt_warnings(qapp):
    """Install a Qt message handler for the test; any warning (or worse) from Qt fails it."""
    with failing_on_qt_warnings() as records:
        yield records


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """As in the app (voicelive.gui.app.limit_blas_threads): one BLAS thread, restored afterwards."""
    from voicelive.gui.app import limit_blas_threads

    limiter = limit_blas_threads()
    yield
    if limiter is not None:
        limiter.restore_original_limits()


@pytest.fixture(autouse=True)
def _gui_log_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICELIVE_LOG_DIR", str(tmp_path / "logs"))


# ---------------------------------------------------------------------------------------------
# real speech
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def asterisk(corpora_dir):
    from voicelive.evaluation.corpus import load_manifest

    return load_manifest(corpora_dir / "asterisk_prompts" / "manifest.csv")


def _write_sentences(path: Path, waves, gap_s: float = 1.0) -> Path:
    gap = np.zeros(int(gap_s * SR), dtype=np.float32)
    sf.write(path, np.concatenate([x for w in waves for x in (w, gap)]), SR)
    return path


@pytest.fixture(scope="session")
def speech_files(asterisk, tmp_path_factory):
    """Sentence files (1-s pauses between sentences) of held-out utterances: ``known`` (Allison,
    enrolled), ``stranger`` (never enrolled), ``newcomer`` (for the wizard)."""
    d = tmp_path_factory.mktemp("speech")
    return {
        "known": _write_sentences(d / "known.wav", long_utterances(asterisk, "allison_smith_en", start=100,
                                                                    count=8, min_s=1.5)),
        "stranger": _write_sentences(d / "stranger.wav", long_utterances(asterisk, STRANGER, start=40,
                                                                          count=8, min_s=1.5)),
        "newcomer": _write_sentences(d / "newcomer.wav", long_utterances(asterisk, NEWCOMER, start=40,
                                                                          count=10, min_s=2.5)),
    }


def _enroll_template(asterisk, d: Path, clips: int) -> Path:
    from voicelive.enrollment.model_update import sync_model
    from voicelive.gui.app import limit_blas_threads
    from voicelive.store import Store

    limiter = limit_blas_threads()    # session fixtures start before the module-scoped limit
    try:
        with Store.open(d) as store:
            for speaker, name in ENROLLED.items():
                store.add_speaker_with_clips(name, long_utterances(asterisk, speaker, start=0, count=clips,
                                                                    min_s=2.0))
            res = sync_model(store)
            assert res.recognizer is not None and sorted(res.recognizer.speakers) == sorted(ENROLLED.values())
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
    return d


@pytest.fixture(scope="session")
def enrolled_template(asterisk, ge2e_weights, tmp_path_factory):
    """A data dir with three speakers enrolled (8 sentences each) through the Store and sync_model:
    enough for the calibrated threshold to name them live."""
    return _enroll_template(asterisk, tmp_path_factory.mktemp("enrolled"), ENROLL_CLIPS)


@pytest.fixture(scope="session")
def small_roster_template(asterisk, ge2e_weights, tmp_path_factory):
    """Three speakers with three sentences each: cheap model updates for roster-management tests."""
    return _enroll_template(asterisk, tmp_path_factory.mktemp("small"), 3)


@pytest.fixture
def small_roster_dir(small_roster_template, tmp_path):
    d = tmp_path / "small"
    shutil.copytree(small_roster_template, d)
    return d


@pytest.fixture
def enrolled_dir(enrolled_template, tmp_path):
    """A private copy of the enrolled data dir (tests may change the roster)."""
    d = tmp_path / "data"
    shutil.copytree(enrolled_template, d)
    return d


# ---------------------------------------------------------------------------------------------
# windows
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def make_window(qtbot, tmp_path):
    """``make_window(inputs=..., data_dir=..., **create_app_kwargs)`` -> a shown, started main window.

    Teardown: window shut down (pipeline and job thread stopped), closed and deleted, then the
    store closed — the order the app itself uses."""
    from voicelive.gui.app import close_window, create_app
    from voicelive.gui.settings import GuiSettings
    from voicelive.store import Store

    made = []

    def make(*, inputs, data_dir: Path | None = None, settings_path: Path | None = None, **kwargs):
        store = Store.open(data_dir) if data_dir is not None else None
        settings = GuiSettings(settings_path or (tmp_path / "gui.ini"))
        w = create_app(inputs=inputs, store=store, settings=settings, data_dir=data_dir, **kwargs)
        w.resize(1100, 720)
        made.append((w, store))
        return w

    yield make
    for w, store in made:
        w.shutdown()
        close_window(w)
        if store is not None:
            store.close()


def file_input(path, *, block_size: int = 512):
    from voicelive.gui.live import InputChoice
    from voicelive.audio.sources import FileSource

    return InputChoice(f"file:{path}", f"File: {Path(path).name}",
                       lambda: FileSource(path, realtime=True, loop=True, block_size=block_size))


def wave_input(key: str, wave, *, block_size: int = 512):
    from voicelive.audio.sources import ArraySource
    from voicelive.gui.live import InputChoice

    return InputChoice(key, key, lambda: ArraySource(wave, realtime=True, loop=True, block_size=block_size,
                                                     name=key))


@pytest.fixture
def gui_inputs():
    """Input-picker entries for tests: ``gui_inputs.file(path)``, ``gui_inputs.wave(key, wave)``."""
    from types import SimpleNamespace

    return SimpleNamespace(file=file_input, wave=wave_input)
