"""The roster store: speakers, their enrollment clips, model versions, the access log and settings.

All of it lives in one SQLite database (see :mod:`voicelive.store.db`); model files live next to it
in ``<data_dir>/models/``. Rules that keep a crash or ``kill -9`` from losing anything:

* every change that belongs together is one transaction (a speaker and its clips, a model version
  and its activation), so another reader, or the next start after a crash, sees all or nothing;
* model files are written to a temporary file, fsynced, moved into place with ``os.replace`` and
  the directory fsynced *before* the transaction that makes them the active version commits, so
  a committed version always has its complete file;
* clip audio carries a SHA-256 checked on every read.

Threads: each thread gets its own connection (WAL readers never block the writer); writes from
threads of one process are serialised by a lock, writes from other processes by SQLite's lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import json
import logging
import math
import os
import sqlite3
import threading
import time as _time
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence

import numpy as np

from voicelive import SAMPLE_RATE
from voicelive.audio.io import resample, validate_wave
from voicelive.errors import ConfigError, ModelError, ModelMissingError, StoreError, UnknownSpeakerError
from voicelive.paths import data_dir as _default_data_dir
from voicelive.paths import sync_dir
from voicelive.store import codec
from voicelive.store import db
from voicelive.store.segments import SegmentsMixin
from voicelive.units import samples_to_s

log = logging.getLogger(__name__)

MAX_NAME_LEN = 80
"""Longest display name; it has to fit the verdict label and the kiosk's welcome line."""

STALE_TMP_S = 24 * 3600
"""Temporary model files (``.tmp-<pid>-<random>.<ext>``) are left-overs of a crashed save, and
deleted, when the process that made them is gone or they are older than this (a file system
shared between machines, where another host's pid means nothing)."""

ROSTER_REVISION_KEY = "roster_revision"

CLASH_POLICIES = ("refuse", "skip", "replace")


class SpeakerExistsError(StoreError, ValueError):
    """A display name that is already taken."""


# -- records ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SpeakerInfo:
    """One roster entry with totals over its clips."""

    id: int
    name: str
    created: str
    updated: str
    notes: str
    n_clips: int
    duration_s: float
    speech_s: float
    """Net speech (from the clips' quality checks; a clip without one counts its whole length)."""

    @property
    def clip_count(self) -> int:
        """Same as ``n_clips``."""
        return self.n_clips

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ClipData:
    """A clip ready to be inserted: encoded audio and its metadata."""

    flac: bytes = field(repr=False)
    sha256: str
    duration_s: float
    sr: int = SAMPLE_RATE
    speech_s: float | None = None
    device: str | None = None
    quality: dict[str, Any] | None = None
    created: str | None = None


@dataclass(frozen=True)
class ClipRecord:
    """A stored clip's metadata; ``flac`` (checksum-verified) only when asked for."""

    id: int
    speaker: str
    sha256: str
    duration_s: float
    speech_s: float | None
    sr: int
    device: str | None
    quality: dict[str, Any] | None
    created: str
    flac: bytes | None = field(default=None, repr=False)

    def wave(self) -> np.ndarray:
        """The audio as mono float32 at 16 kHz (needs ``with_audio=True`` when read)."""
        if self.flac is None:
            raise StoreError(f"clip {self.id} was read without its audio; use with_audio=True")
        wave, sr = codec.decode_flac(self.flac, what=f"clip {self.id} of '{self.speaker}'")
        return wave if sr == SAMPLE_RATE else resample(wave, sr, SAMPLE_RATE)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("flac")
        return d


@dataclass(frozen=True)
class SpeakerData:
    """A whole speaker to insert at once (import)."""

    name: str
    clips: Sequence[ClipData]
    notes: str = ""
    created: str | None = None


class ActiveModel(NamedTuple):
    version_id: int
    backend: str
    card: dict[str, Any]
    path: Path

    @property
    def id(self) -> int:
        """Same as ``version_id``."""
        return self.version_id


@dataclass(frozen=True)
class ModelVersion:
    id: int
    backend: str
    card: dict[str, Any]
    path: Path
    created: str
    active: bool
    file_sha256: str | None
    file_size: int | None


@dataclass(frozen=True)
class AccessRecord:
    """One door decision of the kiosk."""

    id: int
    time: str
    decision: str
    state: str | None
    speaker: str | None
    score: float | None
    threshold: float | None
    speech_s: float | None

    FIELDS = ("time", "decision", "state", "speaker", "score", "threshold", "speech_s")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ImportResult:
    added: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


# -- helpers ---------------------------------------------------------------------------------

def clean_name(name: str) -> str:
    """Normalise a display name (NFC, outer spaces stripped) and check it is usable."""
    if not isinstance(name, str):
        raise ConfigError(f"a speaker name must be text, got {type(name).__name__}")
    n = unicodedata.normalize("NFC", name).strip()
    if not n:
        raise ConfigError("a speaker name cannot be empty; give the person's name, e.g. 'Alice'")
    if len(n) > MAX_NAME_LEN:
        raise ConfigError(f"speaker name '{n[:20]}…' is {len(n)} characters long; "
                          f"use at most {MAX_NAME_LEN}")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in n):
        raise ConfigError(f"speaker name {n!r} contains control characters or line breaks; "
                          "use plain text")
    return n


def _json_safe(value: Any) -> Any:
    """Make a quality/card value storable: non-finite floats -> None, numpy scalars -> Python."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _quality_dict(quality: Any) -> dict[str, Any] | None:
    if quality is None:
        return None
    if isinstance(quality, Mapping):
        q = dict(quality)
    elif hasattr(quality, "to_dict"):
        q = dict(quality.to_dict())
    elif dataclasses.is_dataclass(quality) and not isinstance(quality, type):
        q = dataclasses.asdict(quality)
    else:
        raise ConfigError(f"clip quality must be a mapping or a ClipQuality, got {type(quality).__name__}")
    return _json_safe(q)


def prepare_clip(wave: np.ndarray, *, sr: int = SAMPLE_RATE, device: str | None = None,
                 quality: Any = None, what: str = "clip") -> ClipData:
    """Validate a wave (mono, finite, not silent), bring it to 16 kHz and encode it as FLAC."""
    w = validate_wave(wave, what=what)
    if sr != SAMPLE_RATE:
        w = resample(w, sr, SAMPLE_RATE)
    flac = codec.encode_flac(w)
    q = _quality_dict(quality)
    speech = q.get("speech_s") if q else None
    return ClipData(flac=flac, sha256=codec.sha256_hex(flac), duration_s=samples_to_s(w.size),
                    sr=SAMPLE_RATE, speech_s=float(speech) if speech is not None else None,
                    device=device, quality=q)


def _hash_and_sync(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
        os.fsync(f.fileno())
    return h.hexdigest(), size


SHARED_FILES_DIR = "shards"
"""Folder of ``models/`` for files that model versions share (see ``Store.save_model``)."""


def _card_files(card: Mapping[str, Any]) -> list[str]:
    """The files beside the model file that a model card lists (checked to stay inside
    :data:`SHARED_FILES_DIR`)."""
    files = card.get("files", []) if isinstance(card, Mapping) else []
    out = []
    for f in files if isinstance(files, list) else []:
        parts = str(f).split("/")
        if len(parts) != 2 or parts[0] != SHARED_FILES_DIR or parts[1] in ("", ".", "..") or "\\" in parts[1]:
            raise ModelError(f"model card lists '{f}', which is not a file in models/{SHARED_FILES_DIR}/; "
                             "the model or its card is damaged")
        out.append(str(f))
    return out


def _pid_alive(text: str) -> bool:
    """Whether process ``text`` (a pid as text) exists here; True when unsure."""
    if not text.isdigit():
        return True
    pid = int(text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True
    return True


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _quality_json(text: str | None, clip_id: int) -> dict[str, Any] | None:
    """Stored quality metrics; unreadable metrics are not worth failing a read over."""
    if not text:
        return None
    try:
        q = json.loads(text)
    except ValueError:
        log.warning("clip %s: quality metrics are not valid JSON; ignored", clip_id)
        return None
    return q if isinstance(q, dict) else None


_SPEAKER_SELECT = """
    SELECT s.id, s.name, s.created, s.updated, s.notes, count(c.id),
           coalesce(sum(c.duration_s), 0.0), coalesce(sum(coalesce(c.speech_s, c.duration_s)), 0.0)
    FROM speakers s LEFT JOIN clips c ON c.speaker_id = s.id
"""

_CLIP_COLUMNS = "c.id, s.name, c.sha256, c.duration_s, c.speech_s, c.sr, c.device, c.quality, c.created"


# -- the store -------------------------------------------------------------------------------

class Store(SegmentsMixin):
    """The roster database and model files under one data dir.

    Parameters
    ----------
    path
        The database file (``<data_dir>/voicelive.db``); created (mode 0600) and migrated to the
        current schema when needed. Model files go to ``<path's folder>/models/``.

    Raises
    ------
    StoreError
        The file is not a VoiceLive database, was written by a newer version, or cannot be opened.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).expanduser().resolve()
        self.data_dir = self.path.parent
        self.models_dir = self.data_dir / "models"
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a folder; give the database file or use Store.open(data_dir)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._closed = False
        db.restrict_mode(self.path)
        try:
            db.migrate(self._conn(), self.path)
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, data_dir: str | os.PathLike | None = None) -> "Store":
        """The store in ``data_dir`` (default: ``--data-dir`` / ``VOICELIVE_DATA_DIR`` / user data dir)."""
        return cls(_default_data_dir(data_dir) / db.DB_FILENAME)

    # -- connections and transactions ------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"the store {self.path} is closed; open it again")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = db.connect(self.path)
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: all statements inside see one consistent snapshot."""
        conn = self._conn()
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise db.translate(exc, self.path) from exc

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``); rolled back on any exception."""
        with self._write_lock:
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise db.translate(exc, self.path) from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise db.translate(exc, self.path) from exc
                raise

    def close(self) -> None:
        """Close every connection this store opened (from any thread)."""
        self._closed = True
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error as exc:
                log.warning("closing %s: %s", self.path, exc)

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @property
    def schema_version(self) -> int:
        with self._read() as conn:
            return db.user_version(conn)

    # -- speakers --------------------------------------------------------------------------
    def _speaker_id(self, conn: sqlite3.Connection, name: str) -> int:
        n = clean_name(name)
        row = conn.execute("SELECT id FROM speakers WHERE name = ?", (n,)).fetchone()
        if row is None:
            raise self._unknown(conn, n)
        return int(row[0])

    def _unknown(self, conn: sqlite3.Connection, name: str) -> UnknownSpeakerError:
        names = [r[0] for r in conn.execute("SELECT name FROM speakers ORDER BY name COLLATE NOCASE")]
        if not names:
            return UnknownSpeakerError(f"unknown speaker '{name}': the roster is empty; "
                                       "enroll someone with `voicelive enroll NAME`")
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        close += [n for n in names if n.lower() == name.lower() and n not in close]
        hint = f"did you mean '{close[0]}'? " if close else ""
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        return UnknownSpeakerError(f"unknown speaker '{name}'; {hint}enrolled: {shown} "
                                   "(see `voicelive speakers list`)")

    def _require_free(self, conn: sqlite3.Connection, name: str) -> None:
        if conn.execute("SELECT 1 FROM speakers WHERE name = ?", (name,)).fetchone():
            raise SpeakerExistsError(f"speaker '{name}' already exists; choose another name, add "
                                     f"clips to the existing speaker, or remove it first "
                                     f"(`voicelive speakers remove '{name}'`)")

    def _speaker_info(self, conn: sqlite3.Connection, name: str) -> SpeakerInfo:
        row = conn.execute(_SPEAKER_SELECT + " WHERE s.name = ? GROUP BY s.id", (name,)).fetchone()
        if row is None:
            raise self._unknown(conn, name)
        return SpeakerInfo(*row)

    @staticmethod
    def _bump_revision(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO settings(key, value) VALUES (?, '1') ON CONFLICT(key) DO UPDATE "
                     "SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)", (ROSTER_REVISION_KEY,))

    def _insert_speaker(self, conn: sqlite3.Connection, name: str, notes: str,
                        created: str | None = None) -> int:
        now = db.utc_now()
        cur = conn.execute("INSERT INTO speakers(name, created, updated, notes) VALUES (?, ?, ?, ?)",
                           (name, created or now, now, str(notes or "")))
        return int(cur.lastrowid)

    def _insert_clips(self, conn: sqlite3.Connection, speaker_id: int, clips: Iterable[ClipData]) -> list[int]:
        ids = []
        now = db.utc_now()
        for c in clips:
            cur = conn.execute(
                "INSERT INTO clips(speaker_id, sha256, duration_s, sr, device, quality, created, speech_s) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (speaker_id, c.sha256, float(c.duration_s), int(c.sr), c.device,
                 json.dumps(c.quality, allow_nan=False) if c.quality is not None else None,
                 c.created or now, c.speech_s))
            clip_id = int(cur.lastrowid)
            conn.execute("INSERT INTO clip_audio(clip_id, audio) VALUES (?, ?)", (clip_id, c.flac))
            ids.append(clip_id)
        if ids:
            conn.execute("UPDATE speakers SET updated = ? WHERE id = ?", (now, speaker_id))
        return ids

    def add_speaker(self, name: str, notes: str = "") -> SpeakerInfo:
        """Add a speaker without clips. SpeakerExistsError when the name is taken."""
        n = clean_name(name)
        with self._write() as conn:
            self._require_free(conn, n)
            self._insert_speaker(conn, n, notes)
            self._bump_revision(conn)
            return self._speaker_info(conn, n)

    def add_speaker_with_clips(self, name: str, waves: Sequence[np.ndarray], *, notes: str = "",
                               device: str | None = None, qualities: Sequence[Any] | None = None,
                               sr: int = SAMPLE_RATE) -> SpeakerInfo:
        """Add a speaker and all their clips in one transaction: readers see both or neither."""
        n = clean_name(name)
        clips = self._prepare_many(n, waves, device=device, qualities=qualities, sr=sr)
        with self._write() as conn:
            self._require_free(conn, n)
            sid = self._insert_speaker(conn, n, notes)
            self._insert_clips(conn, sid, clips)
            self._bump_revision(conn)
            return self._speaker_info(conn, n)

    def _prepare_many(self, name: str, waves: Sequence[np.ndarray], *, device: str | None,
                      qualities: Sequence[Any] | None, sr: int) -> list[ClipData]:
        waves = list(waves)
        if qualities is not None and len(qualities) != len(waves):
            raise ConfigError(f"{len(waves)} clips but {len(qualities)} quality reports; give one per clip")
        return [prepare_clip(w, sr=sr, device=device, quality=None if qualities is None else qualities[i],
                             what=f"clip {i + 1} of '{name}'") for i, w in enumerate(waves)]

    def add_clip(self, speaker: str, wave: np.ndarray, *, device: str | None = None,
                 quality: Any = None, sr: int = SAMPLE_RATE) -> int:
        """Store one clip for an existing speaker; returns the clip id."""
        return self.add_clips(speaker, [wave], device=device,
                              qualities=None if quality is None else [quality], sr=sr)[0]

    def add_clips(self, speaker: str, waves: Sequence[np.ndarray], *, device: str | None = None,
                  qualities: Sequence[Any] | None = None, replace: bool = False,
                  sr: int = SAMPLE_RATE) -> list[int]:
        """Store several clips in one transaction; ``replace=True`` first drops the speaker's old
        clips (re-enrollment) in that same transaction."""
        n = clean_name(speaker)
        clips = self._prepare_many(n, waves, device=device, qualities=qualities, sr=sr)
        with self._write() as conn:
            sid = self._speaker_id(conn, n)
            if replace:
                conn.execute("DELETE FROM clips WHERE speaker_id = ?", (sid,))
            ids = self._insert_clips(conn, sid, clips)
            self._bump_revision(conn)
            return ids

    def remove_clip(self, clip_id: int) -> None:
        with self._write() as conn:
            row = conn.execute("SELECT speaker_id FROM clips WHERE id = ?", (int(clip_id),)).fetchone()
            if row is None:
                raise StoreError(f"there is no clip {clip_id}; see `voicelive speakers show NAME`")
            conn.execute("DELETE FROM clips WHERE id = ?", (int(clip_id),))
            conn.execute("UPDATE speakers SET updated = ? WHERE id = ?", (db.utc_now(), row[0]))
            self._bump_revision(conn)

    def rename_speaker(self, old: str, new: str) -> SpeakerInfo:
        o, n = clean_name(old), clean_name(new)
        with self._write() as conn:
            sid = self._speaker_id(conn, o)
            if n != o:
                self._require_free(conn, n)
                conn.execute("UPDATE speakers SET name = ?, updated = ? WHERE id = ?", (n, db.utc_now(), sid))
                self._bump_revision(conn)
            return self._speaker_info(conn, n)

    def set_notes(self, name: str, notes: str) -> None:
        with self._write() as conn:
            sid = self._speaker_id(conn, name)
            conn.execute("UPDATE speakers SET notes = ?, updated = ? WHERE id = ?", (str(notes), db.utc_now(), sid))

    def remove_speaker(self, name: str) -> SpeakerInfo:
        """Delete a speaker and (cascading) all their clips; returns what was removed."""
        n = clean_name(name)
        with self._write() as conn:
            info = self._speaker_info(conn, n)
            conn.execute("DELETE FROM speakers WHERE id = ?", (info.id,))
            self._bump_revision(conn)
        return info

    def list_speakers(self) -> list[SpeakerInfo]:
        """All speakers by name, with clip count, total and net speech seconds."""
        with self._read() as conn:
            rows = conn.execute(_SPEAKER_SELECT + " GROUP BY s.id ORDER BY s.name COLLATE NOCASE, s.name").fetchall()
        return [SpeakerInfo(*r) for r in rows]

    def get_speaker(self, name: str) -> SpeakerInfo:
        """One speaker; UnknownSpeakerError (listing the enrolled names) when absent."""
        n = clean_name(name)
        with self._read() as conn:
            return self._speaker_info(conn, n)

    def has_speaker(self, name: str) -> bool:
        n = clean_name(name)
        with self._read() as conn:
            return conn.execute("SELECT 1 FROM speakers WHERE name = ?", (n,)).fetchone() is not None

    def roster_revision(self) -> int:
        """A counter bumped by every roster change (speakers or clips), in the same transaction.
        A model card that records it tells whether the model is out of date."""
        value = self.get_setting(ROSTER_REVISION_KEY, 0)
        return int(value)

    # -- clips -----------------------------------------------------------------------------
    def _clip_rows(self, conn: sqlite3.Connection, where: str, params: tuple, with_audio: bool) -> list[ClipRecord]:
        cols = _CLIP_COLUMNS + (", a.audio" if with_audio else "")
        join = " LEFT JOIN clip_audio a ON a.clip_id = c.id" if with_audio else ""
        rows = conn.execute(f"SELECT {cols} FROM clips c JOIN speakers s ON s.id = c.speaker_id{join} "
                            f"WHERE {where} ORDER BY c.id", params).fetchall()
        out = []
        for r in rows:
            flac = None
            if with_audio:
                what = f"clip {r[0]} of '{r[1]}'"
                if r[9] is None:
                    raise StoreError(f"{what} has no audio (corrupt database); restore the roster "
                                     "from an export or re-enroll the speaker")
                flac = bytes(r[9])
                codec.verify(flac, r[2], what=what)
            out.append(ClipRecord(id=r[0], speaker=r[1], sha256=r[2], duration_s=r[3], speech_s=r[4],
                                  sr=r[5], device=r[6], quality=_quality_json(r[7], r[0]),
                                  created=r[8], flac=flac))
        return out

    def clip_records(self, speaker: str, *, with_audio: bool = False) -> list[ClipRecord]:
        """A speaker's clips, oldest first. With audio, every checksum is verified (StoreError)."""
        n = clean_name(speaker)
        with self._read() as conn:
            sid = self._speaker_id(conn, n)
            return self._clip_rows(conn, "c.speaker_id = ?", (sid,), with_audio)

    def clips(self, speaker: str) -> list[np.ndarray]:
        """A speaker's clips as mono float32 waves at 16 kHz (checksums verified)."""
        return [c.wave() for c in self.clip_records(speaker, with_audio=True)]

    def clips_by_speaker(self) -> dict[str, list[np.ndarray]]:
        """Every speaker's clips from one consistent snapshot (for training a backend)."""
        with self._read() as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM speakers ORDER BY name COLLATE NOCASE, name")]
            records = self._clip_rows(conn, "1", (), True)
        out: dict[str, list[np.ndarray]] = {n: [] for n in names}
        for rec in records:
            out[rec.speaker].append(rec.wave())
        return out

    # -- import (used by voicelive.store.archive) ------------------------------------------
    def import_speakers(self, speakers: Sequence[SpeakerData], *, on_clash: str = "refuse") -> ImportResult:
        """Insert whole speakers (already verified) in ONE transaction.

        ``on_clash`` says what happens when a name already exists: ``"refuse"`` (StoreError,
        nothing changes), ``"skip"`` (keep ours, ignore theirs) or ``"replace"`` (drop ours with
        its clips, insert theirs).
        """
        if on_clash not in CLASH_POLICIES:
            raise ConfigError(f"on_clash must be one of {', '.join(CLASH_POLICIES)}, got '{on_clash}'")
        names = [clean_name(s.name) for s in speakers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise StoreError(f"the import lists speaker(s) {', '.join(dup)} more than once; it is not "
                             "a valid roster")
        added, replaced, skipped = [], [], []
        with self._write() as conn:
            existing = {r[0] for r in conn.execute("SELECT name FROM speakers")}
            clashes = [n for n in names if n in existing]
            if clashes and on_clash == "refuse":
                raise SpeakerExistsError(
                    f"already in the roster: {', '.join(clashes)}; nothing was imported. Use "
                    "--skip-existing to keep those, or --replace-existing to overwrite them")
            for n, s in zip(names, speakers):
                if n in existing:
                    if on_clash == "skip":
                        skipped.append(n)
                        continue
                    conn.execute("DELETE FROM speakers WHERE name = ?", (n,))
                    replaced.append(n)
                else:
                    added.append(n)
                sid = self._insert_speaker(conn, n, s.notes, s.created)
                self._insert_clips(conn, sid, s.clips)
            if added or replaced:
                self._bump_revision(conn)
        return ImportResult(tuple(added), tuple(replaced), tuple(skipped))

    # -- models ----------------------------------------------------------------------------
    def _clean_stale_tmp(self) -> None:
        cutoff = _time.time() - STALE_TMP_S
        for p in [*self.models_dir.glob(".tmp-*"), *(self.models_dir / SHARED_FILES_DIR).glob(".tmp-*")]:
            try:
                if p.stat().st_mtime < cutoff or not _pid_alive(p.name.split("-")[1]):
                    p.unlink()
                    log.info("removed temporary model file %s left by a crashed save", p)
            except OSError as exc:
                log.warning("cannot remove stale %s: %s", p, exc)

    def save_model(self, backend: str, card: Mapping[str, Any], writer: Callable[[Path], None], *,
                   ext: str = "npz") -> int:
        """Write a model file and make it the active version; returns the version id.

        ``writer(tmp_path)`` writes the complete model to ``tmp_path`` (which already exists,
        empty, mode 0600). The file is then fsynced, moved to ``<data_dir>/models/v<id>.<ext>``
        with ``os.replace``, and the new version row is inserted and activated (the previous one
        deactivated) in one transaction. If anything fails or the process dies, the previous
        active model stays active and intact.

        ``card["files"]`` may list files the model file needs beside it (paths relative to
        ``models/``, inside :data:`SHARED_FILES_DIR`; content-addressed: each name starts with the
        SHA-256 of its bytes, so a name never changes meaning). The caller writes and fsyncs them
        before; they must exist when the version is committed, and :meth:`prune_models` keeps
        them while any kept version lists them.
        """
        ext = str(ext).lstrip(".")
        if not ext or not ext.replace("_", "").replace(".", "").isalnum():
            raise ConfigError(f"model file extension must be letters/digits, got '{ext}'")
        try:
            card_json = json.dumps(dict(card), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"the model card must be JSON-serialisable without NaN/inf: {exc}") from exc
        files = _card_files(card)
        self.models_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._clean_stale_tmp()
        tmp = self.models_dir / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}.{ext}"
        db.create_private_file(tmp)
        final: Path | None = None
        committed = False
        try:
            writer(tmp)
            if not tmp.is_file() or tmp.stat().st_size == 0:
                raise ModelError(f"the {backend} model writer wrote nothing to {tmp}; "
                                 "this is a bug in the backend's save code")
            db.restrict_mode(tmp)
            sha, size = _hash_and_sync(tmp)
            with self._write() as conn:
                # under the write lock: prune_models cannot delete a listed file between this
                # check and the commit
                missing = [f for f in files if not (self.models_dir / f).is_file()]
                if missing:
                    raise ModelError(f"the {backend} model needs {missing[0]} beside it, which is missing; "
                                     "save the model again")
                cur = conn.execute(
                    "INSERT INTO model_versions(backend, card, path, created, active, file_sha256, file_size) "
                    "VALUES (?, ?, '', ?, 0, ?, ?)", (str(backend), card_json, db.utc_now(), sha, size))
                vid = int(cur.lastrowid)
                rel = f"models/v{vid:06d}.{ext}"
                conn.execute("UPDATE model_versions SET path = ? WHERE id = ?", (rel, vid))
                final = self.data_dir / rel
                os.replace(tmp, final)
                sync_dir(self.models_dir)
                conn.execute("UPDATE model_versions SET active = 0 WHERE active = 1")
                conn.execute("UPDATE model_versions SET active = 1 WHERE id = ?", (vid,))
            committed = True
        finally:
            tmp.unlink(missing_ok=True)
            if final is not None and not committed:
                final.unlink(missing_ok=True)
        log.info("model v%d (%s) saved and activated: %s", vid, backend, final)
        return vid

    def _version(self, row: Sequence[Any]) -> ModelVersion:
        return ModelVersion(id=row[0], backend=row[1], card=json.loads(row[2]), path=self.data_dir / row[3],
                            created=row[4], active=bool(row[5]), file_sha256=row[6], file_size=row[7])

    _MODEL_COLS = "id, backend, card, path, created, active, file_sha256, file_size"

    def active_model(self) -> ActiveModel | None:
        """(version_id, backend, card, absolute path) of the active model, or None if none yet.

        Raises ModelMissingError when the active version's file has disappeared.
        """
        with self._read() as conn:
            row = conn.execute(f"SELECT {self._MODEL_COLS} FROM model_versions WHERE active = 1").fetchone()
        if row is None:
            return None
        v = self._version(row)
        if not v.path.is_file():
            raise ModelMissingError(f"the active model file {v.path} (version {v.id}) is missing; "
                                    "activate an older version or run `voicelive train` again")
        return ActiveModel(v.id, v.backend, v.card, v.path)

    def list_models(self) -> list[ModelVersion]:
        with self._read() as conn:
            rows = conn.execute(f"SELECT {self._MODEL_COLS} FROM model_versions ORDER BY id").fetchall()
        return [self._version(r) for r in rows]

    def activate_model(self, version_id: int) -> None:
        """Make an earlier (or any) saved version the active one, in one transaction."""
        with self._write() as conn:
            row = conn.execute("SELECT path FROM model_versions WHERE id = ?", (int(version_id),)).fetchone()
            if row is None:
                raise ModelMissingError(f"there is no model version {version_id}")
            if not (self.data_dir / row[0]).is_file():
                raise ModelMissingError(f"model version {version_id}'s file {self.data_dir / row[0]} is missing")
            conn.execute("UPDATE model_versions SET active = 0 WHERE active = 1")
            conn.execute("UPDATE model_versions SET active = 1 WHERE id = ?", (int(version_id),))

    def verify_model(self, version_id: int | None = None) -> Path:
        """Check a model file (default: the active one) against its saved size and SHA-256.

        Returns its path; raises ModelMissingError / ModelError when missing or altered.
        """
        with self._read() as conn:
            if version_id is None:
                row = conn.execute(f"SELECT {self._MODEL_COLS} FROM model_versions WHERE active = 1").fetchone()
            else:
                row = conn.execute(f"SELECT {self._MODEL_COLS} FROM model_versions WHERE id = ?",
                                   (int(version_id),)).fetchone()
        if row is None:
            raise ModelMissingError("no model has been saved yet; run `voicelive train`" if version_id is None
                                    else f"there is no model version {version_id}")
        v = self._version(row)
        if not v.path.is_file():
            raise ModelMissingError(f"model file {v.path} (version {v.id}) is missing; "
                                    "activate an older version or run `voicelive train` again")
        if v.file_size is not None and v.path.stat().st_size != v.file_size:
            raise ModelError(f"model file {v.path} has {v.path.stat().st_size} bytes, {v.file_size} were "
                             "saved (truncated or replaced); run `voicelive train` again")
        if v.file_sha256 is not None and _file_sha256(v.path) != v.file_sha256:
            raise ModelError(f"model file {v.path} does not match its checksum (corrupt); "
                             "run `voicelive train` again")
        for f in _card_files(v.card):
            p = self.models_dir / f
            if not p.is_file():
                raise ModelMissingError(f"{p}, which model version {v.id} needs, is missing; "
                                        "activate an older version or run `voicelive train` again")
            if not _file_sha256(p).startswith(p.name.split(".")[0]):
                raise ModelError(f"{p}, which model version {v.id} needs, does not match its checksum "
                                 "(corrupt); run `voicelive train` again")
        return v.path

    def prune_models(self, *, keep: int = 5, min_age_s: float = 0.0) -> list[int]:
        """Delete all but the newest ``keep`` inactive versions (and orphaned model files left by
        a crash between moving a file into place and committing). Returns deleted version ids.

        Files no version lists (orphans, unused shards) are deleted only when older than
        ``min_age_s``: another process may have just written the shard its next version needs
        and not committed yet (that is the save path's order), and an old enough file is no such
        file. Versions themselves are always pruned by count."""
        keep = max(0, int(keep))
        newest_mtime = _time.time() - float(min_age_s)

        def old_enough(p: Path) -> bool:
            try:
                return p.stat().st_mtime <= newest_mtime
            except OSError:
                return False

        doomed: list[tuple[int, str]] = []
        orphans: list[Path] = []
        with self._write() as conn:
            rows = conn.execute("SELECT id, path FROM model_versions WHERE active = 0 ORDER BY id DESC").fetchall()
            doomed = [(int(r[0]), r[1]) for r in rows[keep:]]
            conn.executemany("DELETE FROM model_versions WHERE id = ?", [(d[0],) for d in doomed])
            # Holding the write lock: no other save is between os.replace and its commit now.
            kept = conn.execute("SELECT path, card FROM model_versions").fetchall()
            known = {r[0] for r in kept}
            if self.models_dir.is_dir():
                orphans = [p for p in self.models_dir.iterdir()
                           if p.is_file() and not p.name.startswith(".tmp-")
                           and f"models/{p.name}" not in known and old_enough(p)]
            # files beside the models (shards) that no kept version lists; deleted while holding
            # the lock, so a save that checked its files exist cannot lose one before its commit
            # (a save in another process that wrote its shard but has not committed yet fails
            # cleanly at that check, "missing", and writes it again when retried)
            needed = {f for r in kept for f in _card_files(json.loads(r[1]))}
            shared = self.models_dir / SHARED_FILES_DIR
            for p in shared.iterdir() if shared.is_dir() else []:
                if p.is_file() and not p.name.startswith(".tmp-") and f"{SHARED_FILES_DIR}/{p.name}" not in needed \
                        and old_enough(p):
                    try:
                        p.unlink()
                    except OSError as exc:
                        log.warning("cannot delete unused model file %s: %s", p, exc)
        for p in [self.data_dir / d[1] for d in doomed] + orphans:
            try:
                p.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("cannot delete old model file %s: %s", p, exc)
        return sorted(d[0] for d in doomed)

    # -- access log ------------------------------------------------------------------------
    def log_access(self, decision: str, *, speaker: str | None = None, state: str | None = None,
                   score: float | None = None, threshold: float | None = None,
                   speech_s: float | None = None, time: datetime | str | None = None,
                   fingerprint: bytes | None = None) -> int:
        """Record one door decision ('granted' or 'denied'); ``speaker`` None = unknown voice.
        ``fingerprint``: the acoustic fingerprint of a grant (kiosk replay guard), kept with it in
        the same transaction."""
        if decision not in ("granted", "denied"):
            raise ConfigError(f"access decision must be 'granted' or 'denied', got '{decision}'")
        t = db.format_time(db.parse_time(time)) if time is not None else db.utc_now()

        def num(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(float(x)) else float(x)

        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO access_log(time, decision, state, speaker, score, threshold, speech_s) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (t, decision, state, speaker, num(score), num(threshold), num(speech_s)))
            access_id = int(cur.lastrowid)
            if fingerprint is not None:
                conn.execute("INSERT INTO access_fingerprints(access_id, fingerprint) VALUES (?, ?)",
                             (access_id, sqlite3.Binary(bytes(fingerprint))))
            return access_id

    def set_access_fingerprint(self, access_id: int, fingerprint: bytes) -> None:
        """Replace a logged grant's fingerprint (the visit went on after the door opened)."""
        with self._write() as conn:
            conn.execute("INSERT INTO access_fingerprints(access_id, fingerprint) VALUES (?, ?) "
                         "ON CONFLICT(access_id) DO UPDATE SET fingerprint = excluded.fingerprint",
                         (int(access_id), sqlite3.Binary(bytes(fingerprint))))

    def prune_access_fingerprints(self, *, before: datetime | str, keep_newest: int) -> int:
        """Delete the fingerprints of grants logged before ``before`` and of all but the newest
        ``keep_newest`` grants (the access-log rows stay). Returns how many were deleted."""
        cutoff = db.format_time(db.parse_time(before))
        with self._write() as conn:
            return conn.execute(
                "DELETE FROM access_fingerprints WHERE access_id IN (SELECT a.id FROM access_log a "
                "JOIN access_fingerprints f ON f.access_id = a.id WHERE a.time < ? OR a.id NOT IN "
                "(SELECT a2.id FROM access_log a2 JOIN access_fingerprints f2 ON f2.access_id = a2.id "
                "ORDER BY a2.time DESC, a2.id DESC LIMIT ?))", (cutoff, int(keep_newest))).rowcount

    def access_fingerprints(self, since: datetime | str | None = None, *, limit: int | None = None
                            ) -> list[tuple[int, str, str | None, bytes]]:
        """``(access id, time, speaker, fingerprint bytes)`` of logged grants, oldest first;
        ``limit`` keeps the newest ones."""
        where, params = db.time_range("a.time", since)
        with self._read() as conn:
            rows = db.newest_rows(conn, "SELECT a.id, a.time, a.speaker, f.fingerprint FROM access_log a "
                                        "JOIN access_fingerprints f ON f.access_id = a.id", where, params, limit)
        return [(int(r[0]), r[1], r[2], bytes(r[3])) for r in rows]

    def access_log(self, since: datetime | str | None = None, *, until: datetime | str | None = None,
                   limit: int | None = None) -> list[AccessRecord]:
        """Access log entries in time order; ``since``/``until`` as datetimes or ISO 8601 text
        (a date alone means its local midnight). ``limit`` keeps the newest ones."""
        where, params = db.time_range("time", since, until)
        with self._read() as conn:
            rows = db.newest_rows(conn, "SELECT id, time, decision, state, speaker, score, threshold, speech_s "
                                        "FROM access_log", where, params, limit)
        return [AccessRecord(*r) for r in rows]

    # -- settings --------------------------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        with self._read() as conn:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (str(key),)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_setting(self, key: str, value: Any) -> None:
        """Store any JSON-able value under ``key``."""
        try:
            text = json.dumps(_json_safe(value), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"setting '{key}' must be JSON-serialisable: {exc}") from exc
        with self._write() as conn:
            conn.execute("INSERT INTO settings(key, value) VALUES (?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(key), text))

    def delete_setting(self, key: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM settings WHERE key = ?", (str(key),))

    # -- health ----------------------------------------------------------------------------
    def check(self) -> list[str]:
        """Full health check: SQLite integrity, foreign keys, every clip's audio checksum and the
        active model file. Returns a list of problems (empty = all good)."""
        problems: list[str] = []
        with self._read() as conn:
            res = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            if res != ["ok"]:
                problems += [f"integrity: {r}" for r in res]
            problems += [f"foreign key: {r[0]} row {r[1]} -> {r[2]}"
                         for r in conn.execute("PRAGMA foreign_key_check")]
            for cid, sha, audio in conn.execute(
                    "SELECT c.id, c.sha256, a.audio FROM clips c LEFT JOIN clip_audio a ON a.clip_id = c.id"):
                if audio is None:
                    problems.append(f"clip {cid}: audio missing")
                elif codec.sha256_hex(bytes(audio)) != sha:
                    problems.append(f"clip {cid}: checksum mismatch")
            n_active = conn.execute("SELECT count(*) FROM model_versions WHERE active = 1").fetchone()[0]
        if n_active:
            try:
                self.verify_model()
            except ModelError as exc:
                problems.append(str(exc))
        return problems
