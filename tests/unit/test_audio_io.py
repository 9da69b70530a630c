"""Loaders accept every sane file and refuse every bad one with a clear message."""

import numpy as np
import pytest
import soundfile as sf

from voicelive.audio.io import load_audio, save_audio, validate_wave
from voicelive.errors import AudioError, AudioFileError, VoiceliveError


def tone(sr, seconds=0.5, f=220.0):
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32)


@pytest.mark.parametrize("sr,subtype,channels,ext", [
    (16000, "PCM_16", 1, "wav"), (44100, "PCM_24", 2, "wav"), (8000, "PCM_U8", 1, "wav"),
    (48000, "PCM_32", 2, "flac" if False else "wav"), (22050, "FLOAT", 1, "wav"), (32000, "PCM_16", 1, "flac"),
    (48000, "VORBIS", 2, "ogg"), (44100, "MPEG_LAYER_III", 1, "mp3"),
])
def test_any_rate_channels_depth_become_mono_16k(tmp_path, sr, subtype, channels, ext):
    w = tone(sr)
    data = np.stack([w] * channels, axis=1) if channels > 1 else w
    p = tmp_path / f"a.{ext}"
    sf.write(p, data, sr, subtype=subtype)
    out = load_audio(p)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(out.size - 8000) < 1200  # 0.5 s at 16 kHz (codecs pad a little)
    assert 0.1 < np.abs(out).max() <= 1.0


def test_missing_file(tmp_path):
    with pytest.raises(AudioFileError, match="not found"):
        load_audio(tmp_path / "nope.wav")


def test_folder_is_not_a_file(tmp_path):
    with pytest.raises(AudioFileError, match="folder"):
        load_audio(tmp_path)


def test_garbage_file(tmp_path):
    p = tmp_path / "x.wav"
    p.write_text("this is not audio")
    with pytest.raises(AudioFileError, match="cannot decode"):
        load_audio(p)


def test_empty_file(tmp_path):
    p = tmp_path / "e.wav"
    sf.write(p, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="no samples|empty"):
        load_audio(p)


def test_silent_file(tmp_path):
    p = tmp_path / "s.wav"
    sf.write(p, np.zeros(16000, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="silent"):
        load_audio(p)
    assert load_audio(p, allow_silent=True).size == 16000


def test_nan_samples(tmp_path):
    w = tone(16000)
    w[100] = np.nan
    p = tmp_path / "n.wav"
    sf.write(p, w, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(p)


def test_validate_wave_shapes_and_types():
    with pytest.raises(AudioError, match="shape"):
        validate_wave(np.zeros((10, 2)))
    with pytest.raises(AudioError, match="empty"):
        validate_wave(np.zeros(0))
    ints = (tone(16000) * 32767).astype(np.int16)
    out = validate_wave(ints)
    assert out.dtype == np.float32 and np.abs(out).max() < 1.0


def test_errors_share_one_root():
    assert issubclass(AudioFileError, VoiceliveError) and issubclass(AudioFileError, OSError)
    assert issubclass(AudioError, ValueError)


def test_save_round_trip(tmp_path):
    w = tone(16000)
    p = save_audio(tmp_path / "r.flac", w)
    back = load_audio(p)
    assert np.max(np.abs(back - w)) < 1e-3
