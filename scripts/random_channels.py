"""Random recording channels for the channel-robustness experiments (scripts/condition_experiments.py):
copies of calibration windows (condition-aware fusion) or of enrollment clips (multi-condition
enrollment) heard through random microphones, rooms and noise. Measured and not adopted
(docs/BENCHMARKS.md, "Channel robustness", steps 4, 8 and 9), so it lives here, not in the product.

The random channels are deliberately *not* the benchmark's test channels
(:mod:`voicelive.audio.channels`): each copy draws its own band edges, filter orders, shelf, noise
colour and SNR, or room, from wide ranges (see :func:`random_channel`). Everything is seeded from
the speaker name and window index (SHA-256), so enrollment is reproducible.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
from scipy import signal

from voicelive import SAMPLE_RATE
from voicelive.audio.channels import high_shelf_sos, pink_noise, room_impulse_response

KINDS = ("band", "mic", "room", "noise")
"""Augmentation kinds; copy ``i`` of a window uses ``KINDS[(i + window index) % 4]``."""


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode("utf-8")).digest()[:8], "little")


def _colored_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    colour = rng.integers(3)
    if colour == 0:
        return rng.standard_normal(n)
    if colour == 1:
        return pink_noise(n, rng)
    brown = np.cumsum(rng.standard_normal(n))
    return brown - np.convolve(brown, np.ones(801) / 801, mode="same")   # drift removed, still ~1/f²


def _at_snr(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    p_x, p_n = float(np.mean(x * x)), float(np.mean(noise * noise))
    return x + noise * np.sqrt(p_x / max(p_n, 1e-30) / 10.0 ** (snr_db / 10.0)) if p_x > 0 else x


def random_channel(wave: np.ndarray, kind: str, rng: np.random.Generator, *, sr: int = SAMPLE_RATE) -> np.ndarray:
    """``wave`` through one random channel of ``kind`` (see :data:`KINDS`), rescaled to its RMS.

    ``band``: Butterworth band-pass, low edge 150–500 Hz, high edge 2.8–5 kHz, order 2–4, then a
    random soft clip (drive 1–3); ``mic``: low-cut 60–300 Hz, a shelf of −10…+4 dB at 1.5–4 kHz,
    white noise at 18–35 dB SNR; ``room``: exponentially decaying noise room, RT60 0.15–0.9 s,
    direct-to-reverberant 0–10 dB; ``noise``: white, pink or brown noise at 5–20 dB SNR.
    """
    x = np.asarray(wave, dtype=np.float64)
    if kind == "band":
        lo, hi = rng.uniform(150, 500), rng.uniform(2800, 5000)
        y = signal.sosfilt(signal.butter(int(rng.integers(2, 5)), (lo, hi), btype="bandpass", fs=sr, output="sos"), x)
        peak = float(np.max(np.abs(y))) if y.size else 0.0
        if peak > 0:
            drive = rng.uniform(1.0, 3.0)
            y = np.tanh(drive * y / peak) / np.tanh(drive)
    elif kind == "mic":
        sos = np.vstack([signal.butter(2, rng.uniform(60, 300), btype="highpass", fs=sr, output="sos"),
                         high_shelf_sos(rng.uniform(-10, 4), rng.uniform(1500, 4000), sr)])
        y = signal.sosfilt(sos, x)
        y = _at_snr(y, rng.standard_normal(y.size), rng.uniform(18, 35))
    elif kind == "room":
        h = room_impulse_response(rng, sr=sr, rt60_s=rng.uniform(0.15, 0.9), drr_db=rng.uniform(0, 10))
        y = signal.fftconvolve(x, h)[: x.size]
    elif kind == "noise":
        y = _at_snr(x, _colored_noise(x.size, rng), rng.uniform(5, 20))
    else:
        raise ValueError(f"augmentation kind must be one of {KINDS}, got {kind!r}")
    r_in, r_out = float(np.sqrt(np.mean(x * x))), float(np.sqrt(np.mean(y * y)))
    if r_out > 0:
        y = y * (r_in / r_out)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def augment_windows(name: str, windows: Sequence[tuple[int, np.ndarray]], *, copies: int = 1
                    ) -> list[tuple[int, np.ndarray]]:
    """``copies`` random-channel copies of each ``(fold, wave)`` calibration window of speaker
    ``name``, keeping the window's fold (so a copy meets only models that never saw its audio)."""
    out = []
    for wi, (fold, w) in enumerate(windows):
        for c in range(copies):
            kind = KINDS[(c + wi) % len(KINDS)]
            rng = np.random.default_rng(_seed("calibration-augment", name, wi, c))
            out.append((fold, random_channel(w, kind, rng)))
    return out
