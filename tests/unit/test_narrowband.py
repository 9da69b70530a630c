"""The narrowband GMM-UBM member: what a channel does outside 300–3400 Hz, or as a fixed gain or
equaliser inside it, barely moves its features (unlike the full-band GMM-UBM's)."""

import numpy as np
import pytest
from scipy import signal

from synth import synth_speaker_wave
from voicelive.audio.channels import high_shelf_sos
from voicelive.dsp import features as F
from voicelive.recognition.gmm_ubm import GMMUBMBackend
from voicelive.recognition.narrowband import NarrowbandGMMUBMBackend
from voicelive.recognition.registry import make_backends

SR = 16_000


@pytest.fixture(scope="module")
def voice():
    return synth_speaker_wave(2, 2.0, seed=3, pauses=False)


def _frames(b, x):
    """The backend's features on every frame (its speech-frame selection depends on absolute level
    and would make the two signals' frame sets differ)."""
    return F.mfcc_frames(x, b.cfg, norm=b.norm, speech_only=False)


def _change(b, x, y):
    """Mean change of the features in units of each coefficient's spread over the clean frames."""
    fx, fy = _frames(b, x), _frames(b, y)
    return float(np.mean(np.abs(fy - fx) / (fx.std(axis=0) + 1e-9)))


def test_extract_is_narrowband_cmvn_on_speech_frames(voice):
    nb = NarrowbandGMMUBMBackend()
    assert (nb.cfg.fmin_hz, nb.cfg.fmax_hz, nb.norm) == (300.0, 3400.0, "cmvn")
    np.testing.assert_array_equal(nb.extract(voice), F.mfcc_frames(voice, nb.cfg, norm="cmvn"))


def _bandpass(x, lo, hi):
    return signal.sosfiltfilt(signal.butter(8, (lo, hi), btype="bandpass", fs=SR, output="sos"), x).astype(np.float32)


def test_gain_and_a_fixed_equaliser_are_removed(voice):
    nb, full = NarrowbandGMMUBMBackend(), GMMUBMBackend()
    quiet = (0.25 * voice).astype(np.float32)
    assert _change(nb, voice, quiet) < 0.5 * _change(full, voice, quiet)   # measured 0.08 vs 0.19
    # a -6 dB shelf above 2 kHz: a constant per log-mel band, mostly gone after CMVN
    shelf = signal.sosfilt(high_shelf_sos(-6.0, 2000.0, SR), voice).astype(np.float32)
    assert _change(nb, voice, shelf) < 0.5 * _change(full, voice, shelf)   # 0.02 vs 0.08


def test_what_lies_outside_the_band_does_not_count(voice):
    nb, full = NarrowbandGMMUBMBackend(), GMMUBMBackend()
    band = _bandpass(voice, 200.0, 3800.0)
    assert _change(nb, voice, band) < 0.2 * _change(full, voice, band)     # 0.06 vs 0.58


def test_registered_as_a_backend():
    nb = make_backends("gmm-ubm-nb")[0]
    assert isinstance(nb, NarrowbandGMMUBMBackend) and nb.name == "gmm-ubm-nb"
    assert nb.feature_hash != GMMUBMBackend().feature_hash


def test_the_robust_fusion_adds_it_to_the_default_members(ge2e_weights):
    assert [b.name for b in make_backends("fusion-robust")] == ["ge2e", "gmm-ubm", "gmm-ubm-nb"]
    assert [b.name for b in make_backends("fusion")] == ["ge2e", "gmm-ubm"]
