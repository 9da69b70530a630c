"""SQLite connection set-up, schema and migrations of the roster database.

One database file, ``voicelive.db`` in the data dir, in WAL mode (readers never block the writer)
with foreign keys on and ``synchronous=FULL`` (a committed transaction survives a power cut, not
only a killed process). The schema version lives in ``PRAGMA user_version``; :data:`MIGRATIONS`
is the ordered list of steps, migration *i* (1-based) takes the database from version *i - 1* to
*i*, and each step runs in its own ``BEGIN IMMEDIATE`` transaction together with the version bump,
so a crash mid-migration leaves the previous version intact.

Nothing here knows about speakers; :mod:`voicelive.store.roster` builds the API on top.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from voicelive.errors import StoreError

log = logging.getLogger(__name__)

DB_FILENAME = "voicelive.db"

APPLICATION_ID = 0x564C4956
"""``PRAGMA application_id`` of a VoiceLive database ("VLIV"), set by migration 1. It tells our
file apart from any other SQLite database someone put at the same path."""

BUSY_TIMEOUT_MS = 15_000
"""How long a connection waits for another process's write lock before giving up. Our write
transactions last milliseconds; 15 s only runs out when another process hangs with a lock held."""

FILE_MODE = 0o600
"""Voice recordings are biometric data: database, WAL/SHM and model files are readable by the
owner only."""


@dataclass(frozen=True)
class Migration:
    """One schema step: ``statements`` run in order inside one transaction."""

    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "first schema: speakers, clips, model versions, access log, settings", (
        f"PRAGMA application_id = {APPLICATION_ID}",
        """CREATE TABLE speakers (
            id       INTEGER PRIMARY KEY,
            name     TEXT NOT NULL UNIQUE,
            created  TEXT NOT NULL,
            updated  TEXT NOT NULL,
            notes    TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE clips (
            id          INTEGER PRIMARY KEY,
            speaker_id  INTEGER NOT NULL REFERENCES speakers(id) ON DELETE CASCADE,
            sha256      TEXT NOT NULL,          -- hex digest of the FLAC bytes in clip_audio
            duration_s  REAL NOT NULL,
            sr          INTEGER NOT NULL,
            device      TEXT,
            quality     TEXT,                   -- JSON object or NULL
            created     TEXT NOT NULL
        )""",
        "CREATE INDEX clips_by_speaker ON clips(speaker_id)",
        # The audio sits in its own table: SQLite stores a row's columns one after the other, so
        # metadata queries (roster listing, progress) over rows holding 100 kB blobs would walk
        # every blob's overflow pages. Always inserted in the same transaction as its clip row.
        """CREATE TABLE clip_audio (
            clip_id  INTEGER PRIMARY KEY REFERENCES clips(id) ON DELETE CASCADE,
            audio    BLOB NOT NULL                -- FLAC, 16-bit, mono
        )""",
        """CREATE TABLE model_versions (
            id       INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: 'model v7' is unique
            backend  TEXT NOT NULL,
            card     TEXT NOT NULL,                     -- JSON object
            path     TEXT NOT NULL,                     -- relative to the data dir
            created  TEXT NOT NULL,
            active   INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1))
        )""",
        # At most one active model overall: the partial unique index enforces it in the database.
        "CREATE UNIQUE INDEX one_active_model ON model_versions(active) WHERE active = 1",
        """CREATE TABLE access_log (
            id         INTEGER PRIMARY KEY,
            time       TEXT NOT NULL,             -- ISO 8601, UTC
            decision   TEXT NOT NULL CHECK (decision IN ('granted', 'denied')),
            state      TEXT,                      -- verdict state, e.g. 'match', 'unknown'
            speaker    TEXT,                      -- NULL = unknown voice
            score      REAL,
            threshold  REAL,
            speech_s   REAL
        )""",
        "CREATE INDEX access_log_by_time ON access_log(time)",
        """CREATE TABLE settings (
            key    TEXT PRIMARY KEY,
            value  TEXT NOT NULL                  -- JSON
        )""",
    )),
    Migration(2, "net speech per clip; size and checksum of model files", (
        # Net speech (from the quality check) is what enrollment progress counts; version 1 only
        # had it inside the quality JSON. Backfill from there, else from the clip duration.
        "ALTER TABLE clips ADD COLUMN speech_s REAL",
        """UPDATE clips SET speech_s = COALESCE(
               CASE WHEN json_valid(quality) THEN json_extract(quality, '$.speech_s') END,
               duration_s)""",
        # A model file's checksum lets `verify_model` prove the file is the one that was saved.
        # Rows from version 1 keep NULL (unknown) and are checked for existence only.
        "ALTER TABLE model_versions ADD COLUMN file_sha256 TEXT",
        "ALTER TABLE model_versions ADD COLUMN file_size INTEGER",
    )),
    Migration(3, "analysis: unknown-voice segments kept from live use; recent live embeddings", (
        # Speech the live app could not name, kept only when the user allows it (setting
        # keep_unknown_segments, off by default), to be grouped into "new voice?" suggestions.
        """CREATE TABLE unknown_segments (
            id              INTEGER PRIMARY KEY,
            time            TEXT NOT NULL,          -- ISO 8601, UTC
            duration_s      REAL NOT NULL,
            sha256          TEXT NOT NULL,          -- of the FLAC bytes in audio
            audio           BLOB NOT NULL,          -- FLAC, 16-bit, mono, 16 kHz
            embedding       BLOB,                   -- float32 little-endian, unit length
            embedding_hash  TEXT,                   -- feature hash of the embedding backend
            best_speaker    TEXT,                   -- closest enrolled speaker at the time
            score           REAL                    -- that speaker's calibrated score
        )""",
        "CREATE INDEX unknown_segments_by_time ON unknown_segments(time)",
        # Embeddings of recent live windows (no audio), for the microphone-drift monitor.
        """CREATE TABLE live_embeddings (
            id              INTEGER PRIMARY KEY,
            time            TEXT NOT NULL,
            speaker         TEXT,                   -- best candidate (accepted or not)
            score           REAL,
            accepted        INTEGER NOT NULL DEFAULT 0 CHECK (accepted IN (0, 1)),
            embedding       BLOB NOT NULL,
            embedding_hash  TEXT NOT NULL
        )""",
        "CREATE INDEX live_embeddings_by_time ON live_embeddings(time)",
    )),
    Migration(4, "kiosk replay guard: fingerprints of granted accesses", (
        # Acoustic fingerprints (voicelive.dsp.fingerprint, not audio) of the windows an access
        # was granted on, so that a recording of that visit played back later is refused.
        """CREATE TABLE access_fingerprints (
            access_id    INTEGER PRIMARY KEY REFERENCES access_log(id) ON DELETE CASCADE,
            fingerprint  BLOB NOT NULL            -- int32 little-endian: hashes, then frames
        )""",
    )),
)

SCHEMA_VERSION = MIGRATIONS[-1].version


def utc_now() -> str:
    """Now as the ISO 8601 UTC string used in every time column (sorts as text)."""
    return format_time(datetime.now(timezone.utc))


def format_time(t: datetime) -> str:
    """A datetime as the stored text form; naive datetimes are taken as local time."""
    if t.tzinfo is None:
        t = t.astimezone()
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def parse_time(value: str | datetime) -> datetime:
    """ISO 8601 text (date or date-time, naive = local time) or a datetime -> aware datetime."""
    if isinstance(value, datetime):
        t = value
    else:
        try:
            t = datetime.fromisoformat(str(value).strip())
        except ValueError as exc:
            from voicelive.errors import ConfigError
            raise ConfigError(f"'{value}' is not an ISO 8601 date or time; "
                              "use e.g. 2024-05-01 or 2024-05-01T14:30") from exc
    if t.tzinfo is None:
        t = t.astimezone()
    return t


def time_range(column: str, since: datetime | str | None = None, until: datetime | str | None = None
               ) -> tuple[list[str], list[str]]:
    """``WHERE`` clauses and parameters for ``since <= column < until`` (either may be None)."""
    where, params = [], []
    if since is not None:
        where.append(f"{column} >= ?")
        params.append(format_time(parse_time(since)))
    if until is not None:
        where.append(f"{column} < ?")
        params.append(format_time(parse_time(until)))
    return where, params


def newest_rows(conn: sqlite3.Connection, select_sql: str, where: list[str], params: list,
                limit: int | None = None) -> list[tuple]:
    """Rows of ``select_sql`` (a table with ``time`` and ``id``) matching all ``where`` clauses,
    the newest ``limit`` of them (all if None), returned oldest first."""
    sql = select_sql + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY time DESC, id DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return conn.execute(sql, params).fetchall()[::-1]


def not_voicelive_message(path: Path) -> str:
    return f"{path} is not a VoiceLive database (corrupt?); move it aside or restore a backup"


def translate(exc: sqlite3.Error, path: Path) -> StoreError:
    """Turn an sqlite3 exception into a :class:`StoreError` whose message says what to do."""
    text = str(exc)
    low = text.lower()
    if "locked" in low or "busy" in low:
        return StoreError(f"the database {path} is busy (another VoiceLive process holds it "
                          f"for more than {BUSY_TIMEOUT_MS // 1000} s); close it and try again")
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return StoreError(not_voicelive_message(path))
    if "disk is full" in low or "disk i/o" in low:
        return StoreError(f"cannot write {path}: {text}; free some disk space or check the drive")
    if "readonly" in low or "read-only" in low or "unable to open" in low:
        return StoreError(f"cannot open {path} for writing ({text}); check the permissions of "
                          f"{path.parent} or choose another --data-dir")
    return StoreError(f"database error in {path}: {text}")


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (no window where others can read it)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def restrict_mode(path: Path) -> None:
    """chmod 0600 when we own ``path``; quietly leave files we may not change (logged)."""
    try:
        if path.exists() and (path.stat().st_mode & 0o777) != FILE_MODE:
            os.chmod(path, FILE_MODE)
    except OSError as exc:
        log.warning("cannot restrict permissions of %s: %s", path, exc)


def connect(path: Path) -> sqlite3.Connection:
    """Open one connection with our pragmas. Autocommit mode: transactions are explicit."""
    create_private_file(path)
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error as exc:
        raise translate(exc, path) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("%s: journal mode is %s, not WAL (file system without shared memory?)", path, mode)
        conn.execute("PRAGMA synchronous = FULL")
        # Overwrite deleted content: a removed speaker's voice must not linger in free pages.
        conn.execute("PRAGMA secure_delete = ON")
    except sqlite3.Error as exc:
        conn.close()
        raise translate(exc, path) from exc
    for suffix in ("-wal", "-shm"):  # SQLite copies the db file's mode; make sure anyway
        restrict_mode(path.with_name(path.name + suffix))
    return conn


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolls back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def check_identity(conn: sqlite3.Connection, path: Path) -> int:
    """Return the schema version, refusing files that are not (or not yet understood) ours."""
    version = user_version(conn)
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    if version == 0:
        n_tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if n_tables:
            raise StoreError(not_voicelive_message(path))
    elif app_id != APPLICATION_ID:
        raise StoreError(not_voicelive_message(path))
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer VoiceLive (schema version {version}, this "
                         f"version understands up to {SCHEMA_VERSION}); upgrade VoiceLive")
    return version


def migrate(conn: sqlite3.Connection, path: Path, *, up_to: int = SCHEMA_VERSION) -> int:
    """Bring the database to schema version ``up_to`` (default: current); returns the version.

    Each step re-reads the version inside its write transaction, so two processes opening an old
    database at once do not run a step twice.
    """
    try:
        version = check_identity(conn, path)
        for m in MIGRATIONS:
            if m.version <= version or m.version > up_to:
                continue
            with immediate(conn):
                now = check_identity(conn, path)
                if now >= m.version:
                    version = now
                    continue
                if now != m.version - 1:
                    raise StoreError(f"{path}: cannot migrate from schema {now} to {m.version}")
                for stmt in m.statements:
                    conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {m.version}")
            log.info("%s: migrated to schema %d (%s)", path, m.version, m.description)
            version = m.version
        return version
    except sqlite3.Error as exc:
        raise translate(exc, path) from exc
