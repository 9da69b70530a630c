"""`voicelive speakers close-voices`: each enrolled person judged by the model without them, on real
speech. On the split where the benchmark's stranger test took Allison for June, the check finds
that pair from enrollment data alone."""

from __future__ import annotations

import json

import pytest

from corpus_clips import long_utterances
from voicelive.analysis.close_voices import close_voices
from voicelive.cli import main

pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def asterisk(corpora_dir):
    from voicelive.evaluation.corpus import load_manifest

    return load_manifest(corpora_dir / "asterisk_prompts" / "manifest.csv")


def test_the_pair_the_stranger_test_found_is_found_from_enrollment_data(asterisk, ge2e_weights):
    from voicelive.evaluation.corpus import protocol_split
    from voicelive.recognition.recognizer import Recognizer

    enr = protocol_split(asterisk, 4).enrollment(10)
    rec = Recognizer.create("fusion")
    rec.enroll({s: [asterisk.audio(u) for u in us] for s, us in enr.items()})
    before = (list(rec.speakers), rec.threshold)
    seen = []
    res = close_voices(rec, progress=lambda done, total: seen.append((done, total)))
    assert sorted(c.speaker for c in res) == sorted(enr) and seen[-1] == (len(enr), len(enr))
    first = res[0]
    assert first.speaker == "allison_smith_en" and first.taken_for[0][0] == "june_wallack_frca"
    assert 0 < first.accepted < first.trials and first.best_margin > 0
    # ordered by share; voices far from everyone are never taken for anyone
    assert [c.share for c in res] == sorted((c.share for c in res), reverse=True)
    assert next(c for c in res if c.speaker == "carlo_flora_it").accepted == 0
    # clips and live-sized windows were judged, and the recognizer itself is untouched
    assert all(c.trials > len(enr[c.speaker]) for c in res)
    assert (list(rec.speakers), rec.threshold) == before


def test_cli_lists_everyone_and_refuses_a_roster_it_cannot_check(asterisk, ge2e_weights, tmp_path, capsys):
    from voicelive.enrollment.model_update import sync_model
    from voicelive.store import Store

    names = {"allison_smith_en": "Allison", "carlo_flora_it": "Carlo", "june_wallack_frca": "June"}
    with Store.open(tmp_path / "three") as store:
        for spk, name in names.items():
            store.add_speaker_with_clips(name, long_utterances(asterisk, spk, start=0, count=5, min_s=2.0))
        sync_model(store)
    assert main(["speakers", "close-voices", "--data-dir", str(tmp_path / "three"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["speaker"] for r in rows) == ["Allison", "Carlo", "June"]
    assert all(r["trials"] > 0 and 0 <= r["accepted"] <= r["trials"] for r in rows)
    assert main(["speakers", "close-voices", "--data-dir", str(tmp_path / "three")]) == 0
    out = capsys.readouterr().out
    assert "judged by the model without them" in out and all(f"  {n}" in out for n in names.values())

    assert main(["speakers", "close-voices", "--data-dir", str(tmp_path / "empty")]) == 2
    assert "nobody is enrolled" in capsys.readouterr().err
    with Store.open(tmp_path / "one") as store:
        store.add_speaker_with_clips("Carlo", long_utterances(asterisk, "carlo_flora_it", start=0, count=4, min_s=2.0))
        sync_model(store)
    assert main(["speakers", "close-voices", "--data-dir", str(tmp_path / "one")]) == 2
    err = capsys.readouterr().err
    assert "needs at least 2 enrolled people" in err and "Traceback" not in err
