"""Simulated recording channels: what happens to a voice between the speaker and VoiceLive when the
microphone, the room or the noise differ from the enrollment desk.

Every channel takes a mono float32 16 kHz waveform and returns one of the same length, rescaled to
the input's RMS level (so a channel changes the *colour* of the audio, not how loud it is). The
random parts (noise, room response) come from a generator seeded with the SHA-256 of the
utterance id, so the same utterance always gets the same copy on every machine and in every run.

========== ===================================================================================
channel    what it does
========== ===================================================================================
clean      nothing (a copy)
telephone  300–3400 Hz band-pass (4th-order Butterworth per edge), then mild soft-clipping
           compression (``tanh`` with :data:`TELEPHONE_DRIVE` on the peak-normalised signal)
laptop     150 Hz low-cut (2nd-order Butterworth), −6 dB high shelf above 2 kHz (RBJ shelf,
           midpoint 2 kHz), white noise at 25 dB SNR
reverb     convolution with a synthetic room: a direct impulse plus exponentially decaying
           Gaussian noise, RT60 0.4 s, direct-to-reverberant energy ratio 3 dB
noisy      pink (1/f) noise at 10 dB SNR
========== ===================================================================================

SNR is the ratio of the (filtered) speech's mean power over the whole waveform to the added
noise's mean power.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Sequence

import numpy as np
from scipy import signal

from voicelive import SAMPLE_RATE
from voicelive.errors import ConfigError

CHANNELS: tuple[str, ...] = ("clean", "telephone", "laptop", "reverb", "noisy")
"""Every simulated channel, ``clean`` first (the reference the others are compared with)."""

TELEPHONE_BAND_HZ = (300.0, 3400.0)
TELEPHONE_ORDER = 4
TELEPHONE_DRIVE = 1.5
"""``tanh(drive·x)/tanh(drive)`` on the peak-normalised signal: peaks lose ~2.5 dB against quiet parts."""
LAPTOP_LOWCUT_HZ = 150.0
LAPTOP_SHELF_HZ = 2000.0
LAPTOP_SHELF_DB = -6.0
LAPTOP_SNR_DB = 25.0
REVERB_RT60_S = 0.4
REVERB_DRR_DB = 3.0
REVERB_TAIL_START_S = 0.002
NOISY_SNR_DB = 10.0


def utterance_seed(utterance_id: str) -> int:
    """A 64-bit seed from the SHA-256 of ``utterance_id`` (stable across runs and machines)."""
    return int.from_bytes(hashlib.sha256(utterance_id.encode("utf-8")).digest()[:8], "little")


def channel_names(spec: str | Sequence[str]) -> list[str]:
    """``"all"`` -> every channel; a name or list of names -> checked list.

    Raises
    ------
    ConfigError
        For a name that is not a channel.
    """
    names = [spec] if isinstance(spec, str) else list(spec)
    if names == ["all"]:
        return list(CHANNELS)
    bad = [n for n in names if n not in CHANNELS]
    if bad:
        raise ConfigError(f"unknown test channel {', '.join(map(repr, bad))}; choose one of: "
                          f"{', '.join(CHANNELS)} or all")
    return names


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _noise_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``noise`` scaled so that mean power(speech) / mean power(noise) = ``snr_db``."""
    p_s = float(np.mean(np.square(speech, dtype=np.float64)))
    p_n = float(np.mean(np.square(noise, dtype=np.float64)))
    if p_n <= 0.0:
        return np.zeros_like(speech)
    return noise * np.sqrt(p_s / (p_n * 10.0 ** (snr_db / 10.0)))


def pink_noise(n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with a 1/f power spectrum (−3 dB per octave), zero mean, ``(n_samples,)`` float64."""
    if n_samples <= 1:
        return np.zeros(n_samples)
    spec = np.fft.rfft(rng.standard_normal(n_samples))
    f = np.arange(spec.size, dtype=np.float64)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0.0
    return np.fft.irfft(spec, n=n_samples)


def high_shelf_sos(gain_db: float, f0_hz: float, sr: int) -> np.ndarray:
    """One biquad (RBJ cookbook high shelf, slope 1) as an ``(1, 6)`` second-order section."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * f0_hz / sr
    cw, alpha = np.cos(w0), np.sin(w0) / 2.0 * np.sqrt(2.0)
    sa = 2.0 * np.sqrt(a) * alpha
    b = [a * ((a + 1) + (a - 1) * cw + sa), -2 * a * ((a - 1) + (a + 1) * cw), a * ((a + 1) + (a - 1) * cw - sa)]
    den = [(a + 1) - (a - 1) * cw + sa, 2 * ((a - 1) - (a + 1) * cw), (a + 1) - (a - 1) * cw - sa]
    return np.array([[b[0] / den[0], b[1] / den[0], b[2] / den[0], 1.0, den[1] / den[0], den[2] / den[0]]])


def telephone_filter(wave: np.ndarray, *, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The telephone band-pass alone (no compression), float64."""
    sos = signal.butter(TELEPHONE_ORDER, TELEPHONE_BAND_HZ, btype="bandpass", fs=sr, output="sos")
    return signal.sosfilt(sos, np.asarray(wave, dtype=np.float64))


def laptop_filter(wave: np.ndarray, *, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The laptop microphone's response alone (low-cut + high shelf, no noise), float64."""
    sos = np.vstack([signal.butter(2, LAPTOP_LOWCUT_HZ, btype="highpass", fs=sr, output="sos"),
                     high_shelf_sos(LAPTOP_SHELF_DB, LAPTOP_SHELF_HZ, sr)])
    return signal.sosfilt(sos, np.asarray(wave, dtype=np.float64))


def room_impulse_response(rng: np.random.Generator, *, sr: int = SAMPLE_RATE, rt60_s: float = REVERB_RT60_S,
                          drr_db: float = REVERB_DRR_DB) -> np.ndarray:
    """A synthetic room: unit direct impulse at t = 0, then Gaussian noise from
    :data:`REVERB_TAIL_START_S` under an envelope that falls 60 dB in ``rt60_s``, scaled so the
    direct-to-reverberant energy ratio is ``drr_db``. ``(round(rt60_s·sr),)`` float64."""
    n = max(2, int(round(rt60_s * sr)))
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-3.0 * np.log(10.0) * t / rt60_s)   # amplitude −60 dB at rt60_s
    tail[: max(1, int(round(REVERB_TAIL_START_S * sr)))] = 0.0
    tail *= np.sqrt(10.0 ** (-drr_db / 10.0) / np.sum(tail * tail))
    tail[0] = 1.0
    return tail


def _telephone(w: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    y = telephone_filter(w, sr=sr)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak <= 0.0:
        return y
    return np.tanh(TELEPHONE_DRIVE * y / peak) / np.tanh(TELEPHONE_DRIVE)


def _laptop(w: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    y = laptop_filter(w, sr=sr)
    return y + _noise_at_snr(y, rng.standard_normal(y.size), LAPTOP_SNR_DB)


def _reverb(w: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    return signal.fftconvolve(np.asarray(w, dtype=np.float64), room_impulse_response(rng, sr=sr))[: w.size]


def _noisy(w: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    return w + _noise_at_snr(w, pink_noise(w.size, rng), NOISY_SNR_DB)


_SIMULATORS: dict[str, Callable[[np.ndarray, np.random.Generator, int], np.ndarray]] = {
    "telephone": _telephone, "laptop": _laptop, "reverb": _reverb, "noisy": _noisy,
}


def apply_channel(wave: np.ndarray, channel: str, *, utterance_id: str, sr: int = SAMPLE_RATE) -> np.ndarray:
    """``wave`` as heard through ``channel`` (one of :data:`CHANNELS`).

    Parameters
    ----------
    wave : np.ndarray
        Mono ``(n,)`` float waveform.
    channel : str
        ``clean``, ``telephone``, ``laptop``, ``reverb`` or ``noisy``.
    utterance_id : str
        Seeds the noise and the room (SHA-256, see :func:`utterance_seed`): the same id gives the
        same output.
    sr : int
        Sample rate in Hz (16 kHz inside VoiceLive).

    Returns
    -------
    np.ndarray
        ``(n,)`` float32 at the input's RMS, clipped to [-1, 1]. A silent input is returned as is.
    """
    channel_names(channel)
    w = np.asarray(wave, dtype=np.float32)
    if w.ndim != 1:
        raise ConfigError(f"a channel needs a mono waveform of shape (n,), got shape {w.shape}")
    rms_in = _rms(w)
    if channel == "clean" or rms_in == 0.0:
        return w.copy()
    rng = np.random.default_rng(utterance_seed(utterance_id))
    y = _SIMULATORS[channel](w, rng, sr)
    rms_out = _rms(y)
    if rms_out > 0.0:
        y = y * (rms_in / rms_out)
    return np.clip(y, -1.0, 1.0).astype(np.float32)
