"""Where VoiceLive keeps things: roster data (user data dir) apart from downloaded model weights (cache)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "voicelive"


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """Roster database, enrolled models, logs. ``--data-dir`` > ``VOICELIVE_DATA_DIR`` > user data dir."""
    p = override or os.environ.get("VOICELIVE_DATA_DIR") or platformdirs.user_data_dir(APP)
    path = Path(p).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir(override: str | os.PathLike | None = None) -> Path:
    """Pretrained weights (e.g. GE2E). ``VOICELIVE_MODELS_DIR`` > user cache dir / models."""
    p = override or os.environ.get("VOICELIVE_MODELS_DIR") or Path(platformdirs.user_cache_dir(APP)) / "models"
    path = Path(p).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_dir() -> Path:
    path = Path(os.environ.get("VOICELIVE_LOG_DIR") or platformdirs.user_log_dir(APP))
    path.mkdir(parents=True, exist_ok=True)
    return path


def sync_dir(folder: str | os.PathLike) -> None:
    """fsync a directory so the names of files just moved into it (``os.replace``) survive a power
    cut. A no-op where directories cannot be opened (Windows, where the rename is durable anyway)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
