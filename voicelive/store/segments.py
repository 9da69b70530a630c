"""Analysis data in the roster database: unknown-voice segments and recent live embeddings.

A mixin of :class:`voicelive.store.roster.Store` (it uses the store's ``_read``/``_write``
transactions). Both tables are bounded: the oldest rows go first once there are more than
:data:`MAX_UNKNOWN_SEGMENTS` / :data:`MAX_LIVE_EMBEDDINGS`. Keeping unknown voices is the user's
choice (:attr:`SegmentsMixin.keep_unknown_segments`, off by default): it stores other people's
speech.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from voicelive import SAMPLE_RATE
from voicelive.audio.io import validate_wave
from voicelive.errors import StoreError
from voicelive.store import codec
from voicelive.store import db
from voicelive.units import samples_to_s

KEEP_UNKNOWN_KEY = "keep_unknown_segments"
MAX_UNKNOWN_SEGMENTS = 500
"""About 17 minutes of 2-s segments; older ones are deleted first."""
MAX_LIVE_EMBEDDINGS = 5000


@dataclass(frozen=True)
class UnknownSegment:
    """A stored stretch of speech nobody enrolled was accepted for."""

    id: int
    time: str
    duration_s: float
    best_speaker: str | None
    score: float | None
    embedding: np.ndarray | None = field(default=None, repr=False)
    embedding_hash: str | None = None
    flac: bytes | None = field(default=None, repr=False)

    def wave(self) -> np.ndarray:
        if self.flac is None:
            raise StoreError(f"unknown segment {self.id} was read without its audio; use with_audio=True")
        w, _ = codec.decode_flac(self.flac, what=f"unknown segment {self.id}")
        return w


@dataclass(frozen=True)
class LiveEmbeddings:
    """Recent live windows: times, best candidates, scores, accepted flags and embeddings ``(n, d)``."""

    times: list[str]
    speakers: list[str | None]
    scores: np.ndarray
    accepted: np.ndarray
    embeddings: np.ndarray

    def __len__(self) -> int:
        return len(self.times)


def _num(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _emb_bytes(e) -> bytes:
    return np.ascontiguousarray(np.asarray(e, dtype="<f4").reshape(-1)).tobytes()


def _emb(b) -> np.ndarray | None:
    return None if b is None else np.frombuffer(bytes(b), dtype="<f4").astype(np.float32)


class SegmentsMixin:
    """Unknown segments and live embeddings (see the module docstring)."""

    # -- setting -------------------------------------------------------------------------------
    @property
    def keep_unknown_segments(self) -> bool:
        """Whether the live app keeps speech of unknown voices (default False)."""
        return bool(self.get_setting(KEEP_UNKNOWN_KEY, False))

    @keep_unknown_segments.setter
    def keep_unknown_segments(self, on: bool) -> None:
        self.set_setting(KEEP_UNKNOWN_KEY, bool(on))

    # -- unknown segments ----------------------------------------------------------------------
    def add_unknown_segments(self, items: Sequence[dict], *, keep: int = MAX_UNKNOWN_SEGMENTS) -> list[int]:
        """Store segments in one transaction; each item has ``wave`` and optionally ``embedding``,
        ``embedding_hash``, ``best_speaker``, ``score``, ``time`` (ISO text or datetime).
        The oldest segments beyond ``keep`` are deleted. Returns the new ids."""
        rows = []
        for it in items:
            w = validate_wave(it["wave"], what="unknown segment")
            flac = codec.encode_flac(w)
            t = it.get("time")
            emb = it.get("embedding")
            rows.append((db.format_time(db.parse_time(t)) if t is not None else db.utc_now(),
                         samples_to_s(w.size, SAMPLE_RATE), codec.sha256_hex(flac), flac,
                         None if emb is None else _emb_bytes(emb), it.get("embedding_hash"),
                         it.get("best_speaker"), _num(it.get("score"))))
        ids = []
        with self._write() as conn:
            for r in rows:
                cur = conn.execute("INSERT INTO unknown_segments(time, duration_s, sha256, audio, embedding, "
                                   "embedding_hash, best_speaker, score) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", r)
                ids.append(int(cur.lastrowid))
            conn.execute("DELETE FROM unknown_segments WHERE id NOT IN "
                         "(SELECT id FROM unknown_segments ORDER BY time DESC, id DESC LIMIT ?)", (int(keep),))
        return ids

    def add_unknown_segment(self, wave: np.ndarray, **kw) -> int:
        return self.add_unknown_segments([dict(wave=wave, **kw)])[0]

    def unknown_segments(self, *, with_audio: bool = False, ids: Sequence[int] | None = None
                         ) -> list[UnknownSegment]:
        """Stored segments, oldest first (checksums verified when the audio is read)."""
        cols = "id, time, duration_s, best_speaker, score, embedding, embedding_hash, sha256"
        cols += ", audio" if with_audio else ""
        sql = f"SELECT {cols} FROM unknown_segments"
        params: list = []
        if ids is not None:
            ids = [int(i) for i in ids]
            sql += f" WHERE id IN ({','.join('?' * len(ids))})" if ids else " WHERE 0"
            params = ids
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY time, id", params).fetchall()
        out = []
        for r in rows:
            flac = None
            if with_audio:
                flac = bytes(r[8])
                codec.verify(flac, r[7], what=f"unknown segment {r[0]}")
            out.append(UnknownSegment(r[0], r[1], r[2], r[3], r[4], _emb(r[5]), r[6], flac))
        return out

    def count_unknown_segments(self) -> int:
        with self._read() as conn:
            return int(conn.execute("SELECT count(*) FROM unknown_segments").fetchone()[0])

    def remove_unknown_segments(self, ids: Sequence[int] | None = None) -> int:
        """Delete the given segments (all of them with None); returns how many went."""
        with self._write() as conn:
            if ids is None:
                return conn.execute("DELETE FROM unknown_segments").rowcount
            ids = [int(i) for i in ids]
            if not ids:
                return 0
            return conn.execute(f"DELETE FROM unknown_segments WHERE id IN ({','.join('?' * len(ids))})",
                                ids).rowcount

    # -- live embeddings -----------------------------------------------------------------------
    def add_live_embeddings(self, items: Sequence[dict], *, keep: int = MAX_LIVE_EMBEDDINGS) -> int:
        """Store live windows' embeddings: items with ``embedding``, ``embedding_hash`` and
        optionally ``speaker``, ``score``, ``accepted``, ``time``. Keeps the newest ``keep``."""
        rows = []
        for it in items:
            t = it.get("time")
            rows.append((db.format_time(db.parse_time(t)) if t is not None else db.utc_now(), it.get("speaker"),
                         _num(it.get("score")), 1 if it.get("accepted") else 0, _emb_bytes(it["embedding"]),
                         str(it["embedding_hash"])))
        if not rows:
            return 0
        with self._write() as conn:
            conn.executemany("INSERT INTO live_embeddings(time, speaker, score, accepted, embedding, embedding_hash) "
                             "VALUES (?, ?, ?, ?, ?, ?)", rows)
            conn.execute("DELETE FROM live_embeddings WHERE id NOT IN "
                         "(SELECT id FROM live_embeddings ORDER BY time DESC, id DESC LIMIT ?)", (int(keep),))
        return len(rows)

    def live_embeddings(self, *, embedding_hash: str | None = None, limit: int | None = None,
                        since: str | None = None) -> LiveEmbeddings:
        """The newest live embeddings (optionally of one embedding backend), oldest first."""
        where, params = db.time_range("time", since)
        if embedding_hash is not None:
            where.append("embedding_hash = ?")
            params.append(embedding_hash)
        with self._read() as conn:
            rows = db.newest_rows(conn, "SELECT time, speaker, score, accepted, embedding FROM live_embeddings",
                                  where, params, limit)
        embs = [_emb(r[4]) for r in rows]
        return LiveEmbeddings([r[0] for r in rows], [r[1] for r in rows],
                              np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=np.float64),
                              np.array([bool(r[3]) for r in rows], dtype=bool),
                              np.stack(embs) if embs else np.zeros((0, 0), dtype=np.float32))

    def clear_live_embeddings(self) -> int:
        with self._write() as conn:
            return conn.execute("DELETE FROM live_embeddings").rowcount
