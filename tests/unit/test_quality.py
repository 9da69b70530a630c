"""Enrollment clip quality checks on generated good and bad clips."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synth import estimate_f0, mix_at_snr, synth_noise, synth_silence, synth_speaker_wave
from voicelive.enrollment import quality
from voicelive.enrollment.quality import ClipQuality, assess_clip, speaker_similarity
from voicelive.errors import AudioError


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return synth_speaker_wave(0, 4.0, seed=1)


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return synth_noise(4.0, seed=7, level_dbfs=-40.0)


def test_clean_speech_is_ok(speech):
    q = assess_clip(speech)
    assert q.verdict == "ok" and q.ok, q.message
    assert 2.0 < q.speech_s <= 4.0
    assert -25 < q.level_dbfs < -15
    assert q.peak_dbfs < 0 and q.clipped_fraction == 0.0
    assert q.snr_db is not None and q.snr_db > 60
    assert q.similarity is None and q.message.startswith("Good")


@pytest.mark.parametrize("speaker_id", [1, 2, 3])
def test_speech_at_30_db_snr_is_ok_with_a_fair_snr_estimate(speaker_id, noise):
    clip = mix_at_snr(synth_speaker_wave(speaker_id, 4.0, seed=speaker_id), noise, 30.0)
    q = assess_clip(clip)
    assert q.verdict == "ok", q.message
    assert 24.0 < q.snr_db < 34.0


@pytest.mark.parametrize("color", ["white", "pink"])
def test_speech_at_5_db_snr_is_too_noisy(speech, color):
    clip = mix_at_snr(speech, synth_noise(4.0, seed=3, color=color, level_dbfs=-30.0), 5.0)
    q = assess_clip(clip)
    assert q.verdict == "too_noisy", q
    assert q.snr_db < quality.MIN_SNR_DB
    assert "noise" in q.message and "quieter place" in q.message


def test_speech_without_pauses_at_30_db_is_ok(noise):
    clip = mix_at_snr(synth_speaker_wave(4, 4.0, seed=4, pauses=False), noise, 30.0)
    assert assess_clip(clip).verdict == "ok"


@pytest.mark.parametrize("clip", [
    synth_silence(3.0),
    np.full(48_000, 1e-6, np.float32),
    synth_noise(3.0, seed=1, level_dbfs=-30.0),
    synth_noise(3.0, seed=2, color="pink", level_dbfs=-20.0),
    synth_noise(3.0, seed=3, color="brown", level_dbfs=-20.0),
], ids=["digital-silence", "dc", "white-noise", "pink-noise", "brown-noise"])
def test_silence_and_noise_have_no_voice(clip):
    q = assess_clip(clip)
    assert q.verdict == "no_voice", q
    assert "No voice" in q.message


def test_noise_bursts_and_clicks_have_no_voice():
    rng = np.random.default_rng(0)
    bursts = synth_noise(3.0, seed=4, level_dbfs=-25.0) * np.repeat(rng.uniform(0, 1, 30) ** 2, 1600)
    clicks = np.zeros(48_000, np.float32)
    clicks[::4000] = 0.8
    for clip in (bursts.astype(np.float32), clicks):
        q = assess_clip(clip)
        assert q.verdict == "no_voice", q
        assert q.voiced_s < quality.NO_VOICE_MIN_S


def test_hard_clipped_speech(speech):
    clipped = np.clip(speech * 30.0, -1.0, 1.0)
    q = assess_clip(clipped)
    assert q.verdict == "clipping", q
    assert q.clipped_fraction > 0.05 and q.peak_dbfs == pytest.approx(0.0, abs=0.01)
    assert "clipped" in q.message


def test_clipping_below_full_scale_and_after_16_bit_round_trip(speech):
    # A converter clipping at half scale, stored as int16: the rail repeats exactly.
    clipped = np.clip(speech * 30.0, -0.5, 0.5)
    pcm = np.round(clipped * 32767).astype(np.int16)
    assert assess_clip(pcm).verdict == "clipping"


def test_loud_but_unclipped_speech_is_ok(speech):
    loud = speech / np.max(np.abs(speech)) * 0.99
    q = assess_clip(loud)
    assert q.verdict == "ok", q
    assert q.clipped_fraction <= quality.CLIPPED_FRACTION_MAX


def test_a_few_clipped_peaks_are_tolerated(speech):
    x = speech / np.max(np.abs(speech)) * 0.9
    top = np.argsort(-np.abs(x))[:3]
    for i in top:
        x[i:i + 2] = np.sign(x[i])  # two samples on the rail at three places
    q = assess_clip(x.astype(np.float32))
    assert q.verdict == "ok", q
    assert 0 < q.clipped_fraction < quality.CLIPPED_FRACTION_MAX


def test_too_quiet(speech):
    q = assess_clip((speech * 10 ** (-30 / 20)).astype(np.float32))
    assert q.verdict == "too_quiet", q
    assert q.level_dbfs < quality.TOO_QUIET_DBFS
    assert "closer" in q.message


def test_too_short():
    q = assess_clip(synth_speaker_wave(2, 1.0, seed=5))
    assert q.verdict == "too_short", q
    assert 0.3 < q.speech_s < quality.MIN_SPEECH_S
    assert "sentence" in q.message
    # the same clip passes a laxer limit
    assert assess_clip(synth_speaker_wave(2, 1.0, seed=5), min_speech_s=0.3).verdict == "ok"


def test_empty_and_tiny_clips_are_too_short():
    assert assess_clip(np.zeros(0, np.float32)).verdict == "too_short"
    assert assess_clip(np.full(100, 0.1, np.float32)).verdict == "too_short"


def test_other_sample_rates_are_resampled(speech):
    import scipy.signal
    at_48k = scipy.signal.resample_poly(speech, 3, 1).astype(np.float32)
    q48 = assess_clip(at_48k, 48_000)
    q16 = assess_clip(speech)
    assert q48.verdict == "ok"
    assert q48.speech_s == pytest.approx(q16.speech_s, abs=0.15)
    assert q48.level_dbfs == pytest.approx(q16.level_dbfs, abs=0.5)


def test_bad_input_raises_audio_error():
    with pytest.raises(AudioError, match="shape"):
        assess_clip(np.zeros((100, 2), np.float32))
    with pytest.raises(AudioError, match="NaN"):
        assess_clip(np.array([0.0, np.nan, 0.1] * 1000, np.float32))


def test_deterministic_and_json_able(speech):
    a, b = assess_clip(speech), assess_clip(speech)
    assert a == b
    d = a.to_dict()
    assert "embedding" not in d and d["verdict"] == "ok"
    assert json.loads(json.dumps(d, allow_nan=False))["speech_s"] == d["speech_s"]


def test_checks_are_fast():
    import time
    clip = synth_speaker_wave(1, 10.0, seed=2)
    t0 = time.perf_counter()
    assess_clip(clip)
    assert time.perf_counter() - t0 < 0.5


# -- second voice ---------------------------------------------------------------------------------

def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


class LookupEmbed:
    """A fake embedding model: each generated clip maps to its speaker's vector plus a little
    per-clip scatter, as a good speaker encoder would."""

    def __init__(self, dim: int = 16, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.dim = dim
        self.by_clip: dict[bytes, np.ndarray] = {}
        self.speaker_vec: dict[int, np.ndarray] = {}

    def clip(self, speaker_id: int, seed: int, seconds: float = 3.0) -> np.ndarray:
        w = synth_speaker_wave(speaker_id, seconds, seed=seed)
        base = self.speaker_vec.setdefault(speaker_id, _unit(self.rng.standard_normal(self.dim)))
        self.by_clip[w.tobytes()] = _unit(base + 0.15 * self.rng.standard_normal(self.dim))
        return w

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        return self.by_clip[np.asarray(wave, np.float32).tobytes()]


def f0_embed(wave: np.ndarray) -> np.ndarray:
    """A crude voice embedding from the signal itself: the pitch on a circle (6 % apart -> ~20°)."""
    f0 = estimate_f0(wave)
    angle = 3.0 * np.log(f0)
    return np.array([np.cos(angle), np.sin(angle)])


def test_second_voice_is_inconsistent_with_a_fake_embedding():
    emb = LookupEmbed()
    first = [emb.clip(0, seed=s) for s in range(3)]
    refs = [assess_clip(w, embed=emb).embedding for w in first]
    assert all(r is not None for r in refs)
    same = assess_clip(emb.clip(0, seed=10), embed=emb, reference_embeddings=refs)
    other = assess_clip(emb.clip(5, seed=11), embed=emb, reference_embeddings=refs)
    assert same.verdict == "ok" and same.similarity > 0.8
    assert other.verdict == "inconsistent_speaker", other
    assert other.similarity < quality.MIN_SPEAKER_SIMILARITY
    assert "does not match" in other.message and other.embedding is not None


def test_second_voice_is_inconsistent_with_a_pitch_embedding():
    refs = [f0_embed(synth_speaker_wave(0, 3.0, seed=s)) for s in range(3)]
    same = assess_clip(synth_speaker_wave(0, 3.0, seed=20), embed=f0_embed, reference_embeddings=refs)
    other = assess_clip(synth_speaker_wave(1, 3.0, seed=21), embed=f0_embed, reference_embeddings=np.stack(refs))
    assert same.verdict == "ok", same
    assert other.verdict == "inconsistent_speaker", other


def test_consistency_is_only_checked_on_otherwise_good_clips():
    calls = []

    def embed(w):
        calls.append(1)
        return np.array([1.0, 0.0])

    q = assess_clip(synth_silence(2.0), embed=embed, reference_embeddings=[np.array([0.0, 1.0])])
    assert q.verdict == "no_voice" and q.similarity is None and not calls


def test_no_references_means_no_consistency_verdict():
    q = assess_clip(synth_speaker_wave(3, 3.0, seed=1), embed=lambda w: np.array([1.0, 0.0]),
                    reference_embeddings=[])
    assert q.verdict == "ok" and q.similarity is None
    np.testing.assert_allclose(q.embedding, [1.0, 0.0])


def test_speaker_similarity_shapes():
    assert speaker_similarity([1, 0], [[1, 0], [0.9, 0.1]]) > 0.99
    assert speaker_similarity([1, 0], [0, 1]) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(AudioError, match="same embedding"):
        speaker_similarity([1, 0, 0], [[1, 0]])


def test_verdicts_and_messages_cover_every_case():
    assert set(quality.VERDICTS) == {"ok", "too_short", "no_voice", "too_quiet", "clipping", "too_noisy",
                                     "inconsistent_speaker"}
    assert isinstance(assess_clip(synth_silence(1.0)), ClipQuality)
