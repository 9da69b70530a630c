"""Roster export/import: one portable zip file.

Layout::

    manifest.json            format name and version, app version, creation time, sample rate,
                             speakers (name, notes, created) with their clips (file, sha256,
                             duration_s, speech_s, sr, device, quality, created)
    clips/0001-0001.flac     one FLAC per clip (speaker index - clip index; names never appear in
                             paths, so any display name is safe)

Import reads and verifies *everything* first: the format and its version, every entry's zip CRC,
every clip's SHA-256, that every clip decodes as 16 kHz mono FLAC of the stated length. Only then
does it write, in one transaction. A damaged or incompatible archive raises :class:`StoreError`
and leaves the roster untouched.

Name clashes (a speaker in the archive already in the roster) follow ``on_clash``:
``"refuse"`` (default: StoreError naming the clashes, nothing imported), ``"skip"`` (keep the
roster's speaker, ignore the archive's) or ``"replace"`` (the archive's speaker, with its clips,
replaces the roster's).
"""

from __future__ import annotations

import json
import os
import re
import uuid
import zipfile
from pathlib import Path
from typing import Any, Sequence

from voicelive import SAMPLE_RATE, __version__
from voicelive.errors import StoreError, VoiceliveError
from voicelive.store import codec, db
from voicelive.store.roster import ClipData, ImportResult, SpeakerData, Store, clean_name

ARCHIVE_FORMAT = "voicelive-roster"
ARCHIVE_FORMAT_VERSION = 1
MANIFEST = "manifest.json"

MAX_CLIP_BYTES = 64 * 1024 * 1024
"""Largest clip entry accepted on import (about 30 minutes of 16 kHz FLAC): a bigger entry is
not an enrollment clip, and refusing it keeps a hostile archive from exhausting memory."""

DURATION_TOLERANCE_S = 0.01

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def export_roster(store: Store, path: str | os.PathLike, *, speakers: Sequence[str] | None = None) -> dict[str, Any]:
    """Write the roster (or the named ``speakers``) to a zip at ``path``.

    The file is written beside its destination and moved into place when complete (mode 0600:
    it holds voice recordings). Every clip's checksum is verified while reading it.

    Returns a summary ``{"path", "speakers", "clips"}``.
    """
    dest = Path(path).expanduser()
    if dest.is_dir():
        raise StoreError(f"{dest} is a folder; give a file name such as {dest / 'roster.zip'}")
    if not dest.parent.exists():
        raise StoreError(f"folder {dest.parent} does not exist; create it or choose another path")
    infos = store.list_speakers()
    if speakers is not None:
        wanted = [clean_name(s) for s in speakers]
        for s in wanted:
            store.get_speaker(s)  # UnknownSpeakerError with the list of names
        infos = [i for i in infos if i.name in set(wanted)]
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
    db.create_private_file(tmp)
    n_clips = 0
    manifest: dict[str, Any] = {
        "format": ARCHIVE_FORMAT,
        "format_version": ARCHIVE_FORMAT_VERSION,
        "app_version": __version__,
        "created": db.utc_now(),
        "sample_rate": SAMPLE_RATE,
        "speakers": [],
    }
    try:
        with zipfile.ZipFile(tmp, "w") as zf:
            for si, info in enumerate(infos, start=1):
                entry = {"name": info.name, "notes": info.notes, "created": info.created, "clips": []}
                for ci, rec in enumerate(store.clip_records(info.name, with_audio=True), start=1):
                    member = f"clips/{si:04d}-{ci:04d}.flac"
                    # FLAC is already compressed: store it as is.
                    zf.writestr(member, rec.flac, compress_type=zipfile.ZIP_STORED)
                    entry["clips"].append({
                        "file": member, "sha256": rec.sha256, "duration_s": rec.duration_s,
                        "speech_s": rec.speech_s, "sr": rec.sr, "device": rec.device,
                        "quality": rec.quality, "created": rec.created,
                    })
                    n_clips += 1
                manifest["speakers"].append(entry)
            zf.writestr(MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False),
                        compress_type=zipfile.ZIP_DEFLATED)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except OSError as exc:
        raise StoreError(f"cannot write {dest}: {exc}; check the folder and free space") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return {"path": str(dest), "speakers": len(infos), "clips": n_clips}


def _bad(path: Path, problem: str) -> StoreError:
    return StoreError(f"cannot import {path}: {problem}; nothing was imported")


def read_archive(path: str | os.PathLike) -> tuple[dict[str, Any], list[SpeakerData]]:
    """Open and fully verify an archive; returns (manifest, speakers ready for import).

    Raises StoreError naming the first problem found; never touches any store.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise StoreError(f"archive {p} not found" + (" (it is a folder)" if p.is_dir() else ""))
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _bad(p, f"it is not a VoiceLive roster export (not a readable zip file: {exc})") from exc
    with zf:
        names = set(zf.namelist())
        if MANIFEST not in names:
            raise _bad(p, f"it has no {MANIFEST}, so it is not a VoiceLive roster export")
        try:
            manifest = json.loads(zf.read(MANIFEST).decode("utf-8"))
        except (zipfile.BadZipFile, UnicodeDecodeError, ValueError, OSError) as exc:
            raise _bad(p, f"its {MANIFEST} is damaged ({exc}); export the roster again") from exc
        _check_header(p, manifest)
        speakers = [_read_speaker(p, zf, names, s, i) for i, s in enumerate(manifest["speakers"], start=1)]
    seen: set[str] = set()
    for s in speakers:
        if s.name in seen:
            raise _bad(p, f"speaker '{s.name}' appears twice in the manifest")
        seen.add(s.name)
    return manifest, speakers


def _check_header(p: Path, manifest: Any) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
        raise _bad(p, f"its {MANIFEST} is not a VoiceLive roster manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _bad(p, f"unknown archive format version {version!r}")
    if version > ARCHIVE_FORMAT_VERSION:
        raise _bad(p, f"it was made by a newer VoiceLive ({manifest.get('app_version', '?')}, archive "
                      f"format {version}; this version reads up to {ARCHIVE_FORMAT_VERSION}); upgrade VoiceLive")
    if manifest.get("sample_rate") != SAMPLE_RATE:
        raise _bad(p, f"its sample rate {manifest.get('sample_rate')!r} Hz is not {SAMPLE_RATE} Hz")
    if not isinstance(manifest.get("speakers"), list):
        raise _bad(p, f"its {MANIFEST} has no speaker list")


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)


def _read_speaker(p: Path, zf: zipfile.ZipFile, names: set[str], entry: Any, index: int) -> SpeakerData:
    if not isinstance(entry, dict) or not isinstance(entry.get("clips"), list):
        raise _bad(p, f"speaker entry {index} in {MANIFEST} is malformed")
    try:
        name = clean_name(entry.get("name"))
    except VoiceliveError as exc:
        raise _bad(p, f"speaker entry {index} has an invalid name ({exc})") from exc
    clips = []
    for ci, c in enumerate(entry["clips"], start=1):
        what = f"clip {ci} of '{name}'"
        if not isinstance(c, dict):
            raise _bad(p, f"{what} is malformed in {MANIFEST}")
        member, sha = c.get("file"), c.get("sha256")
        if not isinstance(member, str) or member not in names:
            raise _bad(p, f"{what}: file {member!r} is missing from the archive")
        if not isinstance(sha, str) or not _SHA_RE.match(sha):
            raise _bad(p, f"{what}: the manifest has no valid sha256")
        if zf.getinfo(member).file_size > MAX_CLIP_BYTES:
            raise _bad(p, f"{what} is larger than {MAX_CLIP_BYTES >> 20} MB; not an enrollment clip")
        try:
            data = zf.read(member)  # zipfile checks the entry's CRC-32
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise _bad(p, f"{what} ({member}) is damaged: {exc}") from exc
        if codec.sha256_hex(data) != sha:
            raise _bad(p, f"{what} ({member}) does not match its checksum (damaged or altered)")
        try:
            wave, sr = codec.decode_flac(data, what=what)
            duration = float(c.get("duration_s"))
            quality = c.get("quality")
            if quality is not None and not isinstance(quality, dict):
                raise ValueError("quality must be an object")
            speech_s = _opt_float(c.get("speech_s"))
        except (StoreError, TypeError, ValueError) as exc:
            raise _bad(p, f"{what} ({member}) is not usable: {exc}") from exc
        if sr != SAMPLE_RATE:
            raise _bad(p, f"{what} is at {sr} Hz, not {SAMPLE_RATE} Hz")
        if abs(wave.size / SAMPLE_RATE - duration) > DURATION_TOLERANCE_S:
            raise _bad(p, f"{what} lasts {wave.size / SAMPLE_RATE:.2f} s, the manifest says {duration:.2f} s")
        device = c.get("device")
        created = c.get("created")
        clips.append(ClipData(flac=data, sha256=sha, duration_s=duration, sr=sr, speech_s=speech_s,
                              device=str(device) if device is not None else None, quality=quality,
                              created=str(created) if created else None))
    notes = entry.get("notes") or ""
    created = entry.get("created")
    return SpeakerData(name=name, clips=clips, notes=str(notes), created=str(created) if created else None)


def import_roster(store: Store, path: str | os.PathLike, *, on_clash: str = "refuse") -> ImportResult:
    """Verify the archive completely, then add its speakers in one transaction.

    ``on_clash``: ``"refuse"`` | ``"skip"`` | ``"replace"`` (see the module docstring).
    """
    _, speakers = read_archive(path)
    return store.import_speakers(speakers, on_clash=on_clash)
