"""The analysis commands on a user's own roster: `eval --tests`, `drift FILE...`, and
`cluster --unknown` (list, then enroll a suggested new voice)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from corpus_clips import long_utterances
from voicelive.cli import main

pytestmark = pytest.mark.corpus
SR = 16_000
ENROLLED = {"allison_smith_en": "Allison", "carlo_flora_it": "Carlo", "june_wallack_frca": "June"}


@pytest.fixture(scope="module")
def asterisk(corpora_dir):
    from voicelive.evaluation.corpus import load_manifest

    return load_manifest(corpora_dir / "asterisk_prompts" / "manifest.csv")


@pytest.fixture(scope="module")
def roster(asterisk, ge2e_weights, tmp_path_factory):
    from voicelive.enrollment.model_update import sync_model
    from voicelive.store import Store

    d = tmp_path_factory.mktemp("roster")
    with Store.open(d) as store:
        for spk, name in ENROLLED.items():
            store.add_speaker_with_clips(name, long_utterances(asterisk, spk, start=0, count=5, min_s=2.0))
        assert sync_model(store, backend="ge2e").recognizer is not None
    return d


def test_eval_on_the_active_roster_with_a_folder_of_labelled_files(roster, asterisk, tmp_path, capsys):
    tests = tmp_path / "tests"
    for spk, folder in [*ENROLLED.items(), ("ivrvoice_ru", "visitor")]:
        (tests / folder).mkdir(parents=True)
        for i, w in enumerate(long_utterances(asterisk, spk, start=60, count=4, min_s=1.5)):
            sf.write(tests / folder / f"{i}.wav", w, SR)
    out = tmp_path / "report"
    assert main(["eval", "--tests", str(tests), "--data-dir", str(roster), "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["speakers"] == ["Allison", "Carlo", "June"]
    assert res["numbers"]["n_known_tests"] == 12 and res["numbers"]["n_unknown_tests"] == 4
    assert res["numbers"]["closed_acc"] >= 0.9
    assert res["confusion"]["labels"] == ["Allison", "Carlo", "June", "unknown"]
    assert sum(map(sum, res["confusion"]["matrix"])) == 16
    assert (out / "index.html").exists() and (out / "roc.png").exists()
    # files outside speaker folders are a user error, said in one line
    sf.write(tests / "loose.wav", np.zeros(SR, np.float32) + 0.01, SR)
    assert main(["eval", "--tests", str(tests), "--data-dir", str(roster), "--out", str(out)]) == 2
    assert "is not in a speaker folder" in capsys.readouterr().err


def test_drift_of_files_same_microphone_and_telephone_band(roster, asterisk, tmp_path, capsys):
    import scipy.signal

    same, phone = [], []
    sos = scipy.signal.butter(4, [300, 3400], btype="band", fs=SR, output="sos")
    for spk in ENROLLED:
        for i, w in enumerate(long_utterances(asterisk, spk, start=30, count=5, min_s=1.5)):
            p = tmp_path / f"{spk}_{i}.wav"
            sf.write(p, w, SR)
            same.append(str(p))
            q = tmp_path / f"{spk}_{i}_phone.wav"
            sf.write(q, scipy.signal.sosfilt(sos, w).astype(np.float32), SR)
            phone.append(str(q))
    assert main(["drift", *same, "--data-dir", str(roster), "--json"]) == 0
    a = json.loads(capsys.readouterr().out)
    assert a["verdict"] == "same" and not a["warn"], a
    assert set(a["speakers"]) <= set(ENROLLED.values())
    assert main(["drift", *phone, "--data-dir", str(roster), "--json"]) == 0
    b = json.loads(capsys.readouterr().out)
    assert b["warn"] and b["ratio"] > 1.5 * a["ratio"], (a, b)
    assert main(["drift", *phone, "--data-dir", str(roster)]) == 0
    text = capsys.readouterr().out
    assert "Fréchet distance" in text and "NDB" in text and "JSD" in text
    assert "re-enroll or add clips" in text or "a little different" in text


def test_cluster_unknown_lists_and_enrolls_a_new_voice(roster, asterisk, tmp_path, capsys):
    import shutil

    from voicelive.store import Store

    d = tmp_path / "data"
    shutil.copytree(roster, d)
    assert main(["cluster", "--unknown", "--data-dir", str(d)]) == 0
    assert "Keep unknown voices" in capsys.readouterr().out          # nothing kept: the setting is off
    with Store.open(d) as store:
        store.add_unknown_segments([dict(wave=w, best_speaker="June", score=0.05)
                                    for w in long_utterances(asterisk, "paola_dalzot_it", start=10, count=5,
                                                             min_s=2.0)])
    assert main(["cluster", "--unknown", "--data-dir", str(d), "--json"]) == 0
    sugg = json.loads(capsys.readouterr().out)["suggestions"]
    # one new voice; an odd segment may sit out (too unlike the rest to be sure)
    assert len(sugg) == 1 and len(sugg[0]["segments"]) >= 4 and sugg[0]["closest_speaker"] == "June"
    n = len(sugg[0]["segments"])
    assert main(["cluster", "--unknown", "--enroll", "1", "--data-dir", str(d)]) == 2
    assert "--name" in capsys.readouterr().err
    assert main(["cluster", "--unknown", "--enroll", "1", "--name", "Paola", "--data-dir", str(d)]) == 0
    assert f"enrolled Paola from {n} segment(s)" in capsys.readouterr().out
    with Store.open(d) as store:
        assert store.count_unknown_segments() == 5 - n
        store.add_unknown_segments([dict(wave=long_utterances(asterisk, "paola_dalzot_it", start=30, count=1,
                                                              min_s=2.0)[0])])
        assert "Paola" in [s.name for s in store.list_speakers()]
        from voicelive.enrollment.model_update import active_recognizer

        assert "Paola" in active_recognizer(store).speakers
    assert main(["cluster", "--unknown", "--forget", "--data-dir", str(d)]) == 0
    assert f"deleted {6 - n} kept unknown segment(s)" in capsys.readouterr().out
    with Store.open(d) as store:
        assert store.count_unknown_segments() == 0
