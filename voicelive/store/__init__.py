"""Durable roster: speakers, enrollment clips, model versions, access log and settings in one
SQLite database under the data dir, plus model files written atomically beside it.

>>> store = Store.open()                      # <data_dir>/voicelive.db
>>> store.add_speaker_with_clips("Alice", [wave1, wave2])
>>> store.clips("Alice")                      # checksum-verified float32 waves
"""

from voicelive.store.archive import ARCHIVE_FORMAT_VERSION, export_roster, import_roster, read_archive
from voicelive.store.db import DB_FILENAME, SCHEMA_VERSION
from voicelive.store.roster import (
    AccessRecord,
    ActiveModel,
    ClipData,
    ClipRecord,
    ImportResult,
    ModelVersion,
    SpeakerData,
    SpeakerExistsError,
    SpeakerInfo,
    Store,
    clean_name,
    prepare_clip,
)

__all__ = [
    "ARCHIVE_FORMAT_VERSION", "AccessRecord", "ActiveModel", "ClipData", "ClipRecord", "DB_FILENAME",
    "ImportResult", "ModelVersion", "SCHEMA_VERSION", "SpeakerData", "SpeakerExistsError", "SpeakerInfo",
    "Store", "clean_name", "export_roster", "import_roster", "prepare_clip", "read_archive",
]
