"""Clip audio as stored: FLAC (lossless), 16-bit, mono, 16 kHz, with a SHA-256 of the bytes.

The float32 wave is quantised to 16 bits once, when it enters the store; from then on the bytes
never change, so the checksum written at insert time proves every later read (and every archive
copy) is the same recording.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import soundfile as sf

from voicelive import SAMPLE_RATE
from voicelive.errors import StoreError


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_flac(wave: np.ndarray, *, sr: int = SAMPLE_RATE) -> bytes:
    """Mono float32 ``(n,)`` in [-1, 1] -> FLAC bytes (PCM_16). Values beyond ±1 are clipped."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(wave, dtype=np.float32), -1.0, 1.0), sr, format="FLAC",
             subtype="PCM_16")
    return buf.getvalue()


def decode_flac(data: bytes, *, what: str = "clip") -> tuple[np.ndarray, int]:
    """FLAC bytes -> (mono float32 ``(n,)``, sample rate). StoreError when they do not decode."""
    try:
        wave, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise StoreError(f"{what}: stored audio cannot be decoded ({exc}); "
                         "restore the roster from an export or re-enroll the speaker") from exc
    if wave.shape[1] != 1:
        raise StoreError(f"{what}: stored audio has {wave.shape[1]} channels, expected mono")
    return np.ascontiguousarray(wave[:, 0]), int(sr)


def verify(data: bytes, expected_sha256: str, *, what: str = "clip") -> None:
    """StoreError unless ``sha256(data) == expected_sha256``."""
    got = sha256_hex(data)
    if got != expected_sha256:
        raise StoreError(f"{what} is corrupt (checksum {got[:12]}… does not match the stored "
                         f"{expected_sha256[:12]}…); restore the roster from an export or re-enroll "
                         "the speaker")
