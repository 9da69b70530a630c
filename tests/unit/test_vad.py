"""Speech gate: silence, noise of any colour, speech in noise at 10 dB SNR, levels, trimming."""

import numpy as np
import pytest
from synth import mix_at_snr, synth_noise, synth_silence, synth_speaker_wave

from voicelive.config import VadConfig
from voicelive.dsp.vad import SpeechGate, level_dbfs

SR = 16_000


def _run(wave, *, hop_s=0.5, window_s=2.0, config=None):
    """Gate results for the stream's windows (ends every hop_s, like the pipeline)."""
    gate = SpeechGate(config)
    hop, win = int(hop_s * SR), int(window_s * SR)
    out = []
    for end in range(hop, wave.size + 1, hop):
        out.append((end / SR, gate.analyse(wave[max(0, end - win):end], t_s=end / SR)))
    return out


def _speech_between(results, t0, t1):
    return [r.is_speech for t, r in results if t0 <= t <= t1]


def test_level_dbfs():
    t = np.arange(SR) / SR
    assert level_dbfs(np.sin(2 * np.pi * 440 * t).astype(np.float32)) == pytest.approx(-3.01, abs=0.02)
    assert level_dbfs(np.zeros(100, np.float32)) == -120.0
    assert level_dbfs(np.zeros(0, np.float32)) == -120.0


def test_digital_silence_is_not_speech():
    res = _run(synth_silence(5.0))
    assert not any(r.is_speech for _, r in res)
    assert all(r.level_dbfs == -120.0 and r.speech_fraction == 0.0 for _, r in res)


@pytest.mark.parametrize("color", ["white", "pink", "brown"])
@pytest.mark.parametrize("level", [-60.0, -40.0, -20.0])
def test_stationary_noise_alone_is_not_speech(color, level):
    res = _run(synth_noise(8.0, seed=3, color=color, level_dbfs=level))
    assert not any(r.is_speech for _, r in res)
    assert max(r.speech_fraction for _, r in res) < 0.05


def test_clean_speech_is_speech_and_the_pauses_around_it_are_not():
    wave = np.concatenate([synth_silence(2.0), synth_speaker_wave(1, 5.0, seed=1), synth_silence(3.0)])
    res = _run(wave)
    assert all(_speech_between(res, 3.0, 7.0))
    assert not any(_speech_between(res, 0.5, 2.0))
    assert not any(_speech_between(res, 9.5, 10.0))
    t, r = next((t, r) for t, r in res if t == 4.0)
    assert -30.0 < r.level_dbfs < -15.0 and r.speech_fraction > 0.4


@pytest.mark.parametrize("color", ["white", "pink"])
@pytest.mark.parametrize("speaker", [0, 2, 4])
def test_speech_in_noise_at_10_db_snr(color, speaker):
    """The same noise with and without speech: windows with speech pass, noise-only windows do not."""
    noise = synth_noise(10.0, seed=11 + speaker, color=color, level_dbfs=-35.0)
    speech = np.concatenate([synth_silence(3.0), synth_speaker_wave(speaker, 4.0, seed=speaker), synth_silence(3.0)])
    mixed = mix_at_snr(speech, noise, 10.0)
    res_mix, res_noise = _run(mixed), _run(noise)
    assert all(_speech_between(res_mix, 4.0, 7.0))          # windows well inside the speech
    assert not any(_speech_between(res_mix, 0.5, 3.0))      # noise before the speech
    assert not any(_speech_between(res_mix, 9.5, 10.0))     # noise after it
    assert not any(r.is_speech for _, r in res_noise)
    inside = [r.speech_fraction for t, r in res_mix if 5.0 <= t <= 7.0]  # windows full of speech
    assert min(inside) > 0.3


def test_continuous_speech_from_the_first_sample_in_noise():
    """No noise-only stretch to learn from: the gaps between syllables are enough."""
    speech = synth_speaker_wave(3, 6.0, seed=5, pauses=False)
    mixed = mix_at_snr(speech, synth_noise(6.0, seed=2, color="pink", level_dbfs=-30.0), 10.0)
    res = _run(mixed)
    assert sum(r.is_speech for _, r in res) >= len(res) - 1


def test_a_noise_that_starts_is_learnt_within_a_window_length():
    quiet = synth_noise(4.0, seed=1, color="white", level_dbfs=-55.0)
    fan = synth_noise(8.0, seed=2, color="pink", level_dbfs=-30.0)
    res = _run(np.concatenate([quiet, fan]))
    assert not any(_speech_between(res, 6.5, 12.0))  # 2.5 s after the fan started it is noise
    assert res[-1][1].noise_dbfs > -40.0


def test_span_trims_leading_silence_but_keeps_a_minimum_length():
    gate = SpeechGate(VadConfig(min_scored_s=1.0, pad_s=0.1))
    window = np.concatenate([synth_silence(1.5), synth_speaker_wave(2, 0.5, seed=3)])
    r = gate.analyse(window, t_s=2.0)
    assert r.is_speech
    start, end = r.span
    assert end - start == SR * 1.0                    # only 0.5 s of speech: extended back to 1.0 s
    assert end >= window.size - int(0.15 * SR)        # ends where the speech ends

    r2 = SpeechGate(VadConfig(trim_to_speech=False)).analyse(window, t_s=2.0)
    assert r2.span == (0, window.size)


def test_reset_forgets_the_noise():
    gate = SpeechGate()
    gate.analyse(synth_noise(2.0, seed=1, level_dbfs=-30.0), t_s=2.0)
    assert gate.noise_dbfs is not None
    gate.reset()
    assert gate.noise_dbfs is None


def test_short_and_empty_windows_do_not_break():
    gate = SpeechGate()
    assert not gate.analyse(np.zeros(0, np.float32)).is_speech
    r = gate.analyse(np.ones(100, np.float32) * 0.1)
    assert r.n_frames == 1
