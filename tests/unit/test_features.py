"""Feature sets: the seed set equals direct librosa calls; the fast set is sane and cheap."""

import librosa
import numpy as np
import pytest

from synth import synth_speaker_wave
from voicelive.audio.io import resample
from voicelive.dsp import features as F


@pytest.fixture(scope="module")
def wave():
    return synth_speaker_wave(3, 2.0, seed=1)


@pytest.mark.filterwarnings("ignore:n_fft=.*is too large:UserWarning")  # tonnetz's CQT on 2 s, as in the study
def test_seed_features_equal_direct_librosa(wave):
    y = resample(wave, 16000, 22050)
    expect = []
    for block in (librosa.feature.chroma_stft(y=y, sr=22050), librosa.feature.melspectrogram(y=y, sr=22050),
                  librosa.feature.mfcc(y=y, sr=22050, n_mfcc=20), librosa.feature.tonnetz(y=y, sr=22050)):
        expect += [block.mean(axis=1), block.min(axis=1), block.max(axis=1)]
    got = F.seed_features(wave)
    assert got.shape == (498,) == (F.SEED_DIM,)
    np.testing.assert_allclose(got, np.concatenate(expect), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(F.seed_mfcc_features(wave), got[F.SEED_MFCC_SLICE], rtol=1e-5, atol=1e-6)


def test_fast_features_shape_and_finite(wave):
    x = F.fast_features(wave)
    assert x.shape == (len(F.FAST_NAMES),)
    assert np.all(np.isfinite(x))


def test_fast_features_accept_shared_stft(wave):
    P = F.power_spectrogram(wave)
    np.testing.assert_allclose(F.fast_features(wave, power=P), F.fast_features(wave))


def test_fast_features_separate_speakers():
    """Same speaker, different takes are closer than different speakers."""
    a1, a2 = (F.fast_features(synth_speaker_wave(0, 2.0, seed=s)) for s in (1, 2))
    b1 = F.fast_features(synth_speaker_wave(5, 2.0, seed=1))
    scale = np.abs(np.stack([a1, a2, b1])).mean(axis=0) + 1e-6
    assert np.linalg.norm((a1 - a2) / scale) < np.linalg.norm((a1 - b1) / scale)


def test_mfcc_frames_normalisation(wave):
    x = F.mfcc_frames(wave, norm="cmvn")
    assert x.shape[1] == 60
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(x.std(axis=0), 1, atol=1e-2)
    with pytest.raises(ValueError):
        F.mfcc_frames(wave, norm="bogus")


def test_very_short_input_still_works():
    x = F.fast_features(synth_speaker_wave(1, 0.05, seed=0))
    assert np.all(np.isfinite(x))


def test_config_hash_changes_with_options():
    assert F.FastFeatureConfig().hash() == F.FastFeatureConfig().hash()
    assert F.FastFeatureConfig(n_mels=32).hash() != F.FastFeatureConfig().hash()
