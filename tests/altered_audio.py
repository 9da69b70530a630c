"""Altered copies of a recording, as if it came through another microphone or room: what the drift
monitor must notice (tests/unit/test_drift.py and scripts/drift_channels.py use the same three)."""

from __future__ import annotations

import numpy as np
import scipy.signal

SR = 16_000


def band_limited(w):
    """Telephone band, 300–3400 Hz (4th-order Butterworth)."""
    return scipy.signal.sosfilt(scipy.signal.butter(4, [300, 3400], btype="band", fs=SR, output="sos"), w)


def equalised(w):
    """A brighter microphone: everything above 1.5 kHz lifted."""
    hi = scipy.signal.sosfilt(scipy.signal.butter(2, 1500, btype="high", fs=SR, output="sos"), w)
    return (w + 2.0 * hi) / 2.0


def noisy(w, seed=0):
    """White noise at 10 dB SNR."""
    rms = np.sqrt(np.mean(w ** 2))
    return w + np.random.default_rng(seed).standard_normal(w.size) * rms / 10 ** (10 / 20)
