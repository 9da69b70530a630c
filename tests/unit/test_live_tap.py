"""The live tap on a real enrolled model: recent embeddings, kept unknown speech only when
allowed, and the path from kept segments to a "new voice?" suggestion to an enrolled speaker."""

from __future__ import annotations

import numpy as np
import pytest

from voicelive.analysis.live_tap import LiveTap, unwrap
from voicelive.pipeline import run_offline

pytestmark = pytest.mark.corpus

GAP = np.zeros(4800, dtype=np.float32)


@pytest.fixture(scope="module")
def asterisk(corpora_dir):
    from voicelive.evaluation.corpus import load_manifest

    return load_manifest(corpora_dir / "asterisk_prompts" / "manifest.csv")


@pytest.fixture(scope="module")
def rec(asterisk, ge2e_weights):
    from corpus_clips import long_utterances
    from voicelive.recognition.recognizer import Recognizer

    r = Recognizer.create("ge2e")
    r.enroll({n: long_utterances(asterisk, s, start=0, count=4, min_s=2.0)
              for n, s in (("Allison", "allison_smith_en"), ("Carlo", "carlo_flora_it"))})
    return r


def stream(asterisk, speaker, start, count):
    from corpus_clips import long_utterances

    return np.concatenate([x for w in long_utterances(asterisk, speaker, start=start, count=count, min_s=2.0)
                           for x in (w, GAP)])


def test_tap_scores_like_the_recognizer_and_collects_embeddings(asterisk, rec):
    tap = LiveTap(rec, keep_unknown=False)
    w = stream(asterisk, "allison_smith_en", 20, 1)[:32000]
    assert tap.score_window(w) == pytest.approx(rec.score_window(w))
    assert tap.speakers == rec.speakers and tap.threshold == rec.threshold and tap.name == rec.name
    assert unwrap(tap) is rec and unwrap(rec) is rec
    emb, unk = tap.drain()
    assert len(emb) == 1 and unk == [] and emb[0]["embedding"].shape == (256,)
    assert emb[0]["embedding_hash"] == rec.backends[0].feature_hash
    assert tap.recent_embeddings().shape == (1, 256)


def test_unknown_speech_is_kept_only_when_allowed_and_becomes_a_suggestion(asterisk, rec, tmp_path):
    from voicelive.analysis.unknown import enroll_suggestion, suggest_new_voices
    from voicelive.store import Store

    stranger = stream(asterisk, "ivrvoice_ru", 40, 8)
    off = LiveTap(rec, keep_unknown=False)
    run_offline(stranger, off)
    assert off.windows > 10 and off.drain()[1] == []

    on = LiveTap(rec, keep_unknown=True, stride=4)
    run_offline(stranger, on)
    with Store.open(tmp_path) as store:
        n_emb, n_seg = on.flush_to(store)
        assert n_emb == on.windows and n_seg == on.unknown_kept >= 4
        sugg = suggest_new_voices(store, min_segments=3, min_speech_s=4.0)
        assert sugg, "the stranger's segments should form a suggestion"
        top = sugg[0]
        assert top.closest_speaker in ("Allison", "Carlo") and len(top.segment_ids) >= 3
        info = enroll_suggestion(store, top, "Ivan")
        assert info.n_clips == len(top.segment_ids)
        assert store.count_unknown_segments() == n_seg - len(top.segment_ids)
