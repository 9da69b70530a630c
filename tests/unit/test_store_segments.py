"""Unknown-voice segments and live embeddings in the roster database (schema migration 3)."""

from __future__ import annotations

import numpy as np
import pytest

from synth import synth_speaker_wave
from voicelive.errors import StoreError
from voicelive.store import Store, db


def test_migrates_a_version_2_database_keeping_its_speakers(tmp_path):
    path = tmp_path / "voicelive.db"
    conn = db.connect(path)
    assert db.migrate(conn, path, up_to=2) == 2
    conn.execute("INSERT INTO speakers(name, created, updated) VALUES ('Ann', 't', 't')")
    conn.close()
    with Store(path) as s:
        assert s.schema_version >= 3
        assert [x.name for x in s.list_speakers()] == ["Ann"]
        assert s.unknown_segments() == [] and len(s.live_embeddings()) == 0


def test_keep_unknown_segments_is_off_by_default(tmp_path):
    with Store.open(tmp_path) as s:
        assert s.keep_unknown_segments is False
        s.keep_unknown_segments = True
    with Store.open(tmp_path) as s:
        assert s.keep_unknown_segments is True


def test_unknown_segments_round_trip_prune_and_remove(tmp_path):
    rng = np.random.default_rng(0)
    with Store.open(tmp_path) as s:
        waves = [synth_speaker_wave(3, 1.0, seed=i) for i in range(4)]
        embs = [rng.standard_normal(8).astype(np.float32) for _ in waves]
        ids = s.add_unknown_segments([dict(wave=w, embedding=e, embedding_hash="h1", best_speaker="Ann", score=0.2,
                                           time=f"2024-01-0{i + 1}T10:00:00+00:00")
                                      for i, (w, e) in enumerate(zip(waves, embs))], keep=3)
        segs = s.unknown_segments(with_audio=True)
        assert [g.id for g in segs] == ids[1:]              # the oldest one was pruned
        g = segs[0]
        assert g.best_speaker == "Ann" and g.score == pytest.approx(0.2) and g.embedding_hash == "h1"
        assert np.allclose(g.embedding, embs[1])
        assert g.duration_s == pytest.approx(1.0)
        assert np.max(np.abs(g.wave() - waves[1])) < 1e-4    # 16-bit FLAC
        with pytest.raises(StoreError, match="without its audio"):
            s.unknown_segments()[0].wave()
        assert s.remove_unknown_segments([ids[1]]) == 1
        assert s.count_unknown_segments() == 2
        assert [x.id for x in s.unknown_segments(ids=[ids[3]])] == [ids[3]]
        assert s.remove_unknown_segments() == 2


def test_live_embeddings_keep_the_newest(tmp_path):
    with Store.open(tmp_path) as s:
        items = [dict(embedding=np.full(4, i, np.float32), embedding_hash="h" if i % 2 else "g", speaker="Ann",
                      score=0.1 * i, accepted=i > 2, time=f"2024-01-01T10:00:0{i}+00:00") for i in range(6)]
        assert s.add_live_embeddings(items, keep=5) == 6
        le = s.live_embeddings()
        assert len(le) == 5 and le.embeddings[:, 0].tolist() == [1, 2, 3, 4, 5]
        assert le.accepted.tolist() == [False, False, True, True, True]
        h = s.live_embeddings(embedding_hash="h", limit=2)
        assert h.embeddings[:, 0].tolist() == [3, 5]
        assert s.clear_live_embeddings() == 5
