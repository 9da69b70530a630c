"""Roster export/import: round trip, and every kind of damaged or incompatible archive is refused
with a clear message before anything changes."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from synth import synth_speaker_wave
from voicelive import __version__
from voicelive.errors import StoreError, UnknownSpeakerError
from voicelive.store import (ARCHIVE_FORMAT_VERSION, SpeakerExistsError, Store, export_roster, import_roster,
                             read_archive)
from voicelive.store.archive import MANIFEST

UNICODE_NAME = "Zoë O'Brien / 李"


def w(speaker: int, seed: int, seconds: float = 0.8) -> np.ndarray:
    return synth_speaker_wave(speaker, seconds, seed=seed)


@pytest.fixture
def source(tmp_path):
    s = Store(tmp_path / "src" / "voicelive.db")
    s.add_speaker_with_clips("Alice", [w(0, 1), w(0, 2)], notes="front desk", device="USB mic",
                             qualities=[{"verdict": "ok", "speech_s": 0.6}, None])
    s.add_speaker_with_clips(UNICODE_NAME, [w(1, 1)])
    s.add_speaker("Empty")
    yield s
    s.close()


@pytest.fixture
def archive(source, tmp_path) -> Path:
    path = tmp_path / "roster.zip"
    summary = export_roster(source, path)
    assert summary == {"path": str(path), "speakers": 3, "clips": 3}
    return path


@pytest.fixture
def target(tmp_path):
    s = Store(tmp_path / "dst" / "voicelive.db")
    s.add_speaker_with_clips("Local", [w(5, 5)])
    yield s
    s.close()


def snapshot(store: Store):
    return ([s.to_dict() for s in store.list_speakers()], store.roster_revision(),
            {s.name: [c.sha256 for c in store.clip_records(s.name)] for s in store.list_speakers()})


def rewrite(src: Path, dst: Path, *, manifest=None, members: dict[str, bytes] | None = None,
            drop: tuple[str, ...] = ()) -> Path:
    """Copy an archive, replacing its manifest and/or some members."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = zin.read(info.filename)
            if info.filename == MANIFEST and manifest is not None:
                data = json.dumps(manifest).encode()
            if members and info.filename in members:
                data = members[info.filename]
            zout.writestr(info.filename, data)
    return dst


def manifest_of(path: Path) -> dict:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read(MANIFEST))


# -- round trip ------------------------------------------------------------------------------

def test_export_writes_a_private_self_describing_zip(archive):
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    m = manifest_of(archive)
    assert m["format"] == "voicelive-roster" and m["format_version"] == ARCHIVE_FORMAT_VERSION
    assert m["app_version"] == __version__ and m["sample_rate"] == 16000 and m["created"]
    assert [s["name"] for s in m["speakers"]] == ["Alice", "Empty", UNICODE_NAME]
    clip = m["speakers"][0]["clips"][0]
    assert set(clip) >= {"file", "sha256", "duration_s", "speech_s", "sr", "device", "quality", "created"}
    with zipfile.ZipFile(archive) as z:
        assert z.testzip() is None
        assert all(n == MANIFEST or (n.startswith("clips/") and n.endswith(".flac")) for n in z.namelist())
    assert not list(archive.parent.glob(".*.tmp"))


def test_round_trip_keeps_every_bit(source, archive, tmp_path):
    with Store(tmp_path / "fresh" / "voicelive.db") as fresh:
        result = import_roster(fresh, archive)
        assert sorted(result.added) == sorted(["Alice", UNICODE_NAME, "Empty"])
        assert result.replaced == () and result.skipped == ()
        for name in ("Alice", UNICODE_NAME, "Empty"):
            a, b = source.clip_records(name, with_audio=True), fresh.clip_records(name, with_audio=True)
            assert [c.sha256 for c in a] == [c.sha256 for c in b]
            assert [c.flac for c in a] == [c.flac for c in b]
            assert [(c.device, c.quality, c.speech_s, c.created) for c in a] == \
                   [(c.device, c.quality, c.speech_s, c.created) for c in b]
        assert fresh.get_speaker("Alice").notes == "front desk"
        assert fresh.get_speaker("Alice").created == source.get_speaker("Alice").created
        for x, y in zip(source.clips("Alice"), fresh.clips("Alice")):
            np.testing.assert_array_equal(x, y)
        assert fresh.check() == []


def test_export_a_subset(source, tmp_path):
    path = tmp_path / "one.zip"
    assert export_roster(source, path, speakers=["Alice"])["speakers"] == 1
    assert [s.name for s in read_archive(path)[1]] == ["Alice"]
    with pytest.raises(UnknownSpeakerError, match="Alice"):
        export_roster(source, tmp_path / "x.zip", speakers=["Nobody"])


def test_export_to_a_missing_folder_or_a_folder(source, tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        export_roster(source, tmp_path / "no" / "such" / "dir" / "r.zip")
    with pytest.raises(StoreError, match="is a folder"):
        export_roster(source, tmp_path)


def test_export_refuses_a_roster_with_a_corrupt_clip(source, tmp_path):
    conn = source._conn()
    clip_id, audio = conn.execute("SELECT clip_id, audio FROM clip_audio ORDER BY clip_id LIMIT 1").fetchone()
    conn.execute("UPDATE clip_audio SET audio = ? WHERE clip_id = ?", (audio[:100] + bytes([audio[100] ^ 0xFF]) + audio[101:], clip_id))
    dest = tmp_path / "bad.zip"
    with pytest.raises(StoreError, match="corrupt"):
        export_roster(source, dest)
    assert not dest.exists() and not list(tmp_path.glob(".*.tmp"))


# -- name clashes ----------------------------------------------------------------------------

def test_clash_is_refused_by_default_and_nothing_changes(source, archive, target):
    target.add_speaker_with_clips("Alice", [w(7, 7)])
    before = snapshot(target)
    with pytest.raises(SpeakerExistsError, match="already in the roster: Alice.*nothing was imported.*--skip-existing"):
        import_roster(target, archive)
    assert snapshot(target) == before


def test_clash_skip_keeps_ours(archive, target):
    target.add_speaker_with_clips("Alice", [w(7, 7)])
    ours = target.clip_records("Alice")[0].sha256
    res = import_roster(target, archive, on_clash="skip")
    assert res.skipped == ("Alice",) and set(res.added) == {UNICODE_NAME, "Empty"}
    assert [c.sha256 for c in target.clip_records("Alice")] == [ours]
    assert target.has_speaker("Local")


def test_clash_replace_takes_theirs(source, archive, target):
    target.add_speaker_with_clips("Alice", [w(7, 7)])
    res = import_roster(target, archive, on_clash="replace")
    assert res.replaced == ("Alice",)
    assert [c.sha256 for c in target.clip_records("Alice")] == [c.sha256 for c in source.clip_records("Alice")]
    assert target.get_speaker("Alice").notes == "front desk"


def test_unknown_clash_policy(archive, target):
    from voicelive.errors import ConfigError
    with pytest.raises(ConfigError, match="refuse, skip, replace"):
        import_roster(target, archive, on_clash="merge")


# -- damaged and incompatible archives -------------------------------------------------------

def _flip_byte_in_member(archive: Path, member: str) -> None:
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo(member)
    raw = bytearray(archive.read_bytes())
    # local header: 30 bytes + name + extra, then the (stored, uncompressed) data
    name_len = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
    data_at = info.header_offset + 30 + name_len + extra_len
    raw[data_at + info.compress_size // 2] ^= 0x55
    archive.write_bytes(bytes(raw))


def test_flipped_byte_in_a_clip_is_refused(archive, target):
    member = manifest_of(archive)["speakers"][0]["clips"][1]["file"]
    _flip_byte_in_member(archive, member)
    before = snapshot(target)
    with pytest.raises(StoreError, match=r"cannot import .*clip 2 of 'Alice'.*damaged.*nothing was imported"):
        import_roster(target, archive)
    assert snapshot(target) == before


def test_clip_not_matching_its_checksum_is_refused(archive, target, tmp_path):
    m = manifest_of(archive)
    member = m["speakers"][2]["clips"][0]["file"]
    other = m["speakers"][0]["clips"][0]["file"]
    with zipfile.ZipFile(archive) as z:
        swapped = z.read(other)  # valid FLAC, wrong recording
    bad = rewrite(archive, tmp_path / "bad.zip", members={member: swapped})
    before = snapshot(target)
    with pytest.raises(StoreError, match=f"clip 1 of '{UNICODE_NAME}'.*does not match its checksum"):
        import_roster(target, bad)
    assert snapshot(target) == before


def test_undecodable_clip_with_matching_checksum_is_refused(archive, target, tmp_path):
    import hashlib
    m = manifest_of(archive)
    junk = b"not flac at all" * 50
    m["speakers"][0]["clips"][0]["sha256"] = hashlib.sha256(junk).hexdigest()
    bad = rewrite(archive, tmp_path / "bad.zip", manifest=m, members={m["speakers"][0]["clips"][0]["file"]: junk})
    with pytest.raises(StoreError, match="not usable.*cannot be decoded"):
        import_roster(target, bad)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(format_version=ARCHIVE_FORMAT_VERSION + 1), "newer VoiceLive.*upgrade"),
    (lambda m: m.update(format_version="one"), "unknown archive format version"),
    (lambda m: m.update(format="something-else"), "not a VoiceLive roster manifest"),
    (lambda m: m.update(sample_rate=8000), "8000 Hz is not 16000 Hz"),
    (lambda m: m.update(speakers=None), "no speaker list"),
    (lambda m: m["speakers"][0]["clips"][0].update(sha256="abc"), "no valid sha256"),
    (lambda m: m["speakers"][0]["clips"][0].update(file="clips/missing.flac"), "missing from the archive"),
    (lambda m: m["speakers"][0]["clips"][0].update(duration_s=9.0), "the manifest says 9.00 s"),
    (lambda m: m["speakers"][0].update(name=""), "invalid name"),
    (lambda m: m["speakers"][1].update(name="Alice"), "'Alice' appears twice"),
    (lambda m: m["speakers"].append("oops"), "malformed"),
], ids=["newer", "bad-version", "format", "rate", "no-speakers", "sha", "missing-file", "duration",
        "empty-name", "duplicate", "malformed"])
def test_incompatible_manifests_are_refused(archive, target, tmp_path, edit, message):
    m = manifest_of(archive)
    edit(m)
    bad = rewrite(archive, tmp_path / "bad.zip", manifest=m)
    before = snapshot(target)
    with pytest.raises(StoreError, match=message):
        import_roster(target, bad)
    assert snapshot(target) == before


def test_files_that_are_not_archives(target, tmp_path, archive):
    before = snapshot(target)
    not_zip = tmp_path / "notes.zip"
    not_zip.write_text("hello")
    with pytest.raises(StoreError, match="not a VoiceLive roster export"):
        import_roster(target, not_zip)
    truncated = tmp_path / "cut.zip"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(StoreError, match="cannot import"):
        import_roster(target, truncated)
    no_manifest = rewrite(archive, tmp_path / "nomani.zip", drop=(MANIFEST,))
    with pytest.raises(StoreError, match="no manifest.json"):
        import_roster(target, no_manifest)
    garbled = tmp_path / "garbled.zip"
    with zipfile.ZipFile(garbled, "w") as z:
        z.writestr(MANIFEST, b"{not json")
    with pytest.raises(StoreError, match="manifest.json is damaged"):
        import_roster(target, garbled)
    with pytest.raises(StoreError, match="not found"):
        import_roster(target, tmp_path / "nowhere.zip")
    assert snapshot(target) == before
