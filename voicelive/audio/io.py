"""Load, validate, resample and save audio. Everything leaves here as mono float32 in [-1, 1] at 16 kHz."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from voicelive import SAMPLE_RATE
from voicelive.errors import AudioError, AudioFileError

SILENCE_PEAK = 1e-4
"""A waveform whose absolute peak stays below this (-80 dBFS) counts as silent."""


def to_mono(data: np.ndarray) -> np.ndarray:
    """``(n,)`` or ``(n, channels)`` -> ``(n,)`` float32, channels averaged."""
    a = np.asarray(data)
    if a.ndim == 2:
        a = a.mean(axis=1)
    elif a.ndim != 1:
        raise AudioError(f"audio must have shape (n,) or (n, channels), got {a.shape}")
    return a.astype(np.float32, copy=False)


def resample(wave: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """Resample with soxr (high quality). Returns float32."""
    if sr_in <= 0:
        raise AudioError(f"sample rate must be positive, got {sr_in}")
    if sr_in == sr_out:
        return np.asarray(wave, dtype=np.float32)
    out = soxr.resample(np.asarray(wave, dtype=np.float32), sr_in, sr_out, quality="HQ")
    return np.asarray(out, dtype=np.float32)


def validate_wave(wave: np.ndarray, *, what: str = "audio", allow_silent: bool = False,
                  min_samples: int = 1) -> np.ndarray:
    """Check the internal format and return the wave as a C-contiguous float32 ``(n,)`` array.

    Raises :class:`AudioError` naming the problem: wrong shape, empty, NaN/inf, or (unless
    ``allow_silent``) all-silent audio.
    """
    a = np.asarray(wave)
    if a.ndim != 1:
        raise AudioError(f"{what}: expected mono samples of shape (n,), got shape {a.shape}; "
                         "average the channels first")
    if a.size < min_samples:
        raise AudioError(f"{what} is empty (0 samples); record or choose a file with sound in it")
    if not np.issubdtype(a.dtype, np.floating):
        if np.issubdtype(a.dtype, np.integer):
            a = a.astype(np.float32) / float(np.iinfo(a.dtype).max + 1)
        else:
            raise AudioError(f"{what}: samples must be numbers, got dtype {a.dtype}")
    a = np.ascontiguousarray(a, dtype=np.float32)
    if not np.all(np.isfinite(a)):
        bad = int(np.count_nonzero(~np.isfinite(a)))
        raise AudioError(f"{what} contains {bad} NaN/infinite samples; the file or device is corrupt")
    if not allow_silent and float(np.max(np.abs(a))) < SILENCE_PEAK:
        raise AudioError(f"{what} is silent (peak below -80 dBFS); check the microphone or the file")
    return a


def load_audio(path: str | os.PathLike, *, sr: int = SAMPLE_RATE, allow_silent: bool = False) -> np.ndarray:
    """Read any WAV/FLAC/OGG/MP3 file (any rate, channels, bit depth) as mono float32 at ``sr``.

    Raises
    ------
    AudioFileError
        The file is missing or cannot be decoded.
    AudioError
        The audio is empty, silent or contains non-finite samples.
    """
    p = Path(path)
    if not p.exists():
        raise AudioFileError(f"audio file not found: {p}")
    if p.is_dir():
        raise AudioFileError(f"{p} is a folder, not an audio file")
    try:
        data, sr_in = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        data, sr_in = _load_with_librosa(p, exc)
    except OSError as exc:
        raise AudioFileError(f"cannot read {p}: {exc}") from exc
    wave = to_mono(data)
    if wave.size == 0:
        raise AudioError(f"{p} holds no samples; record it again")
    wave = resample(wave, int(sr_in), sr)
    return validate_wave(wave, what=str(p), allow_silent=allow_silent)


def _load_with_librosa(p: Path, first_error: Exception) -> tuple[np.ndarray, int]:
    """Fallback decoder (audioread/ffmpeg via librosa) for formats libsndfile lacks."""
    import warnings

    try:
        import librosa
        with warnings.catch_warnings():  # librosa warns that it falls back to audioread: that is the point
            warnings.simplefilter("ignore")
            data, sr_in = librosa.load(str(p), sr=None, mono=False)
    except Exception as exc:  # librosa raises many kinds; all mean "cannot decode"
        raise AudioFileError(f"cannot decode {p} as audio ({first_error}); use WAV, FLAC, OGG or MP3") from exc
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        data = data.T
    else:
        data = data[:, None]
    return data, int(sr_in)


def save_audio(path: str | os.PathLike, wave: np.ndarray, *, sr: int = SAMPLE_RATE) -> Path:
    """Write a FLAC/WAV (by extension) atomically: temp file + ``os.replace``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    fmt = p.suffix.lstrip(".").upper() or "FLAC"
    sf.write(str(tmp), validate_wave(wave, allow_silent=True), sr, format=fmt, subtype="PCM_16")
    os.replace(tmp, p)
    return p
