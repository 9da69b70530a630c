"""Make ``tests/data/ge2e_reference.npz``: Resemblyzer's own embeddings of four synthetic signals,
the ground truth for ``tests/unit/test_ge2e.py`` (our numpy GE2E encoder must match them).

This script needs torch and resemblyzer, which VoiceLive itself never installs. Run it in a
throwaway virtualenv outside the repository::

    python3 -m venv /tmp/ge2e-ref-venv
    /tmp/ge2e-ref-venv/bin/pip install torch==2.13.0 resemblyzer==0.1.4
    /tmp/ge2e-ref-venv/bin/python tests/data/make_ge2e_reference.py

(resemblyzer imports ``webrtcvad``, which needs ``pkg_resources``, gone from recent setuptools;
only ``preprocess_wav`` uses it and we never call that, so a stub module stands in when the real
one does not import.)

The signals are made by :func:`make_signal`, a copy of the generator in ``test_ge2e.py`` (keep
the two identical). Each is passed to ``VoiceEncoder("cpu").embed_utterance`` as is, float32, with
the default ``rate=1.3, min_coverage=0.75`` and *without* ``preprocess_wav``.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

SR = 16_000

# (seed, duration_s, f0_hz, formants as (centre_hz, bandwidth_hz))
SIGNALS = [
    (11, 0.8, 118.0, ((700, 90), (1220, 110), (2600, 160))),
    (22, 1.6, 205.0, ((310, 60), (2250, 120), (3000, 200))),
    (33, 2.0, 142.0, ((520, 80), (1850, 100), (2550, 150), (3500, 250))),
    (44, 3.5, 176.0, ((640, 100), (1100, 90), (2450, 140), (3300, 220))),
]
PARTIALS_OF = 3  # index of the signal whose partial embeddings are also stored


def make_signal(seed: int, duration_s: float, f0_hz: float, formants) -> np.ndarray:
    """A voiced, speech-like test signal: a jittered glottal pulse train with a slow intonation
    contour and syllable-rate loudness changes, through cascaded formant resonators, plus a little
    aspiration noise. Deterministic for a given seed; float32, peak 0.5."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * SR))
    t = np.arange(n) / SR
    f0 = f0_hz * (1.0 + 0.06 * np.sin(2 * np.pi * 2.3 * t + rng.uniform(0, 2 * np.pi)))
    excitation = np.zeros(n)
    pos = 0.0
    while pos < n:
        i = int(pos)
        excitation[i] += 1.0 + 0.1 * rng.standard_normal()           # shimmer
        pos += SR / f0[i] * (1.0 + 0.01 * rng.standard_normal())      # jitter
    glottal = np.hanning(int(SR / f0_hz * 0.6)) ** 2                  # smooth open phase
    source = np.convolve(excitation, glottal)[:n]
    source = np.diff(source, prepend=0.0)                             # radiation (+6 dB/oct)
    source += 0.02 * rng.standard_normal(n)                           # aspiration
    y = source
    for fc, bw in formants:
        r = np.exp(-np.pi * bw / SR)
        theta = 2 * np.pi * fc / SR
        y = lfilter([1.0 - r], [1.0, -2.0 * r * np.cos(theta), r * r], y)
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 2 * np.pi)) ** 2
    y = y * envelope
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def main() -> int:
    try:
        import webrtcvad  # noqa: F401
    except ImportError:
        sys.modules["webrtcvad"] = types.ModuleType("webrtcvad")
    import resemblyzer
    import torch
    from resemblyzer import VoiceEncoder

    torch.set_num_threads(1)
    enc = VoiceEncoder("cpu", verbose=False)
    out: dict[str, np.ndarray] = {}
    embeds = []
    for k, (seed, dur, f0, formants) in enumerate(SIGNALS):
        wav = make_signal(seed, dur, f0, formants)
        embed, partials, _slices = enc.embed_utterance(wav, return_partials=True)
        embeds.append(embed.astype(np.float32))
        if k == PARTIALS_OF:
            out["partials"] = partials.astype(np.float32)
        print(f"signal {k}: {dur} s, {len(wav)} samples, {len(partials)} partial(s), "
              f"peak {np.abs(wav).max():.3f}")
    out["embeddings"] = np.stack(embeds)
    out["partials_of"] = np.array(PARTIALS_OF)
    out["durations_s"] = np.array([s[1] for s in SIGNALS])
    out["versions"] = np.array(f"resemblyzer {getattr(resemblyzer, '__version__', '0.1.4')}, "
                               f"torch {torch.__version__}, numpy {np.__version__}")
    dest = Path(__file__).with_name("ge2e_reference.npz")
    np.savez(dest, **out)
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
