"""Simulated test channels (voicelive/audio/channels.py): deterministic, level-preserving, and each
one measurably does what it says (band, SNR, reverberation time)."""

import numpy as np
import pytest

from synth import synth_speaker_wave
from voicelive.audio.channels import (CHANNELS, apply_channel, channel_names, laptop_filter, utterance_seed)
from voicelive.errors import ConfigError

SR = 16_000


@pytest.fixture(scope="module")
def voice():
    return synth_speaker_wave(3, 2.0, seed=7)


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.mark.parametrize("channel", CHANNELS)
def test_same_utterance_same_output_level_and_length_kept(voice, channel):
    a = apply_channel(voice, channel, utterance_id="spk_a/utt1")
    b = apply_channel(voice.copy(), channel, utterance_id="spk_a/utt1")
    assert a.dtype == np.float32 and a.shape == voice.shape
    np.testing.assert_array_equal(a, b)
    assert _rms(a) == pytest.approx(_rms(voice), rel=1e-3)
    if channel == "clean":
        np.testing.assert_array_equal(a, voice)
    else:
        assert not np.allclose(a, voice, atol=1e-3)


@pytest.mark.parametrize("channel", ["laptop", "reverb", "noisy"])
def test_the_seed_comes_from_the_utterance_id(voice, channel):
    a = apply_channel(voice, channel, utterance_id="spk_a/utt1")
    b = apply_channel(voice, channel, utterance_id="spk_a/utt2")
    assert not np.allclose(a, b)
    # SHA-256 based, so stable across processes (Python's hash() is salted per process)
    assert utterance_seed("abc") == int.from_bytes(bytes.fromhex(
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")[:8], "little")


def _tone_level_db(x, f_hz):
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    freqs = np.fft.rfftfreq(x.size, 1 / SR)
    band = (freqs > f_hz - 15) & (freqs < f_hz + 15)
    return 20 * np.log10(spec[band].max() + 1e-12)


def test_telephone_removes_what_a_telephone_removes():
    t = np.arange(SR) / SR
    tones = (120.0, 1000.0, 2000.0, 5500.0)
    x = sum(0.1 * np.sin(2 * np.pi * f * t) for f in tones).astype(np.float32)
    y = apply_channel(x, "telephone", utterance_id="tones")
    drop = {f: _tone_level_db(x, f) - _tone_level_db(y, f) for f in tones}
    ref = (drop[1000.0] + drop[2000.0]) / 2
    assert abs(drop[1000.0] - drop[2000.0]) < 3.0              # flat inside the band
    assert drop[120.0] - ref > 25.0                            # below 300 Hz: gone
    assert drop[5500.0] - ref > 25.0                           # above 3400 Hz: gone


def _snr_db(out, clean_part):
    """SNR measured from outside: the channel's output regressed on the noise-free part; what the
    regression leaves is the added noise."""
    c = clean_part.astype(np.float64)
    o = out.astype(np.float64)
    a = float(o @ c / (c @ c))
    noise = o - a * c
    return 10 * np.log10(np.mean((a * c) ** 2) / np.mean(noise ** 2))


def test_laptop_adds_white_noise_at_25_db(voice):
    out = apply_channel(voice, "laptop", utterance_id="u1")
    assert _snr_db(out, laptop_filter(voice)) == pytest.approx(25.0, abs=1.0)
    # the high shelf: at 4 kHz the microphone is ~6 dB quieter than at 1 kHz
    t = np.arange(SR) / SR
    x = (0.1 * np.sin(2 * np.pi * 1000 * t) + 0.1 * np.sin(2 * np.pi * 4000 * t)).astype(np.float32)
    y = laptop_filter(x)
    assert _tone_level_db(y, 1000) - _tone_level_db(y, 4000) == pytest.approx(6.0, abs=1.0)


def test_noisy_adds_pink_noise_at_10_db(voice):
    out = apply_channel(voice, "noisy", utterance_id="u1")
    assert _snr_db(out, voice) == pytest.approx(10.0, abs=1.0)
    noise = out.astype(np.float64) - (out @ voice / (voice @ voice)) * voice
    # pink: about 3 dB less power per octave (compare 500-1000 Hz with 4-8 kHz: 3 octaves)
    spec = np.abs(np.fft.rfft(noise)) ** 2
    freqs = np.fft.rfftfreq(noise.size, 1 / SR)
    per_hz = lambda lo, hi: spec[(freqs >= lo) & (freqs < hi)].mean()   # noqa: E731
    assert 10 * np.log10(per_hz(500, 1000) / per_hz(4000, 8000)) == pytest.approx(9.0, abs=1.5)


def test_reverb_has_rt60_of_0_4_s_and_3_db_direct_to_reverberant():
    click = np.zeros(SR, dtype=np.float32)
    click[0] = 0.5
    h = apply_channel(click, "reverb", utterance_id="room").astype(np.float64)
    energy = h ** 2
    assert 10 * np.log10(energy[0] / energy[1:].sum()) == pytest.approx(3.0, abs=0.5)
    # Schroeder backward integration of the tail; T20 fit between -5 and -25 dB of the tail's energy
    edc = np.cumsum(energy[1:][::-1])[::-1]
    edc_db = 10 * np.log10(edc / edc[0])
    t = np.arange(edc_db.size) / SR
    sel = (edc_db <= -5) & (edc_db >= -25)
    slope = np.polyfit(t[sel], edc_db[sel], 1)[0]
    assert -60.0 / slope == pytest.approx(0.4, abs=0.03)


def test_silence_stays_silent_and_bad_names_are_refused():
    z = np.zeros(800, dtype=np.float32)
    for ch in CHANNELS:
        assert not apply_channel(z, ch, utterance_id="z").any()
    with pytest.raises(ConfigError, match="unknown test channel 'phone'.*telephone"):
        apply_channel(z, "phone", utterance_id="z")
    assert channel_names("all") == list(CHANNELS)
    assert channel_names(["noisy"]) == ["noisy"]
