"""Feature sets.

``seed``  — a faithful reproduction of the reference study: librosa at 22,050 Hz, chroma_stft,
            melspectrogram, mfcc (20) and tonnetz, each summarised by mean, min and max over time
            (498 numbers), and its 60-number MFCC subset (``seed_mfcc``).
``fast``  — VoiceLive's own: everything from ONE short-time Fourier transform at 16 kHz: log-mel,
            MFCC with deltas, speech-frame selection, statistics pooling, plus cheap spectral and
            time-domain descriptors. About a millisecond per 2-s window on one thread.

All functions take mono float32 16 kHz waveforms of shape ``(n,)``.
"""

from __future__ import annotations

import hashlib
import warnings
import json
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

from voicelive import SAMPLE_RATE
from voicelive.audio.io import resample

FEATURES_VERSION = 1
"""Bumped whenever a feature's numbers change; part of every feature-config hash."""

# ---------------------------------------------------------------------------------------------
# seed: the reference study's 498 numbers
# ---------------------------------------------------------------------------------------------
SEED_SR = 22_050
SEED_BLOCKS = (("chroma_stft", 12), ("melspectrogram", 128), ("mfcc", 20), ("tonnetz", 6))
SEED_DIM = 3 * sum(n for _, n in SEED_BLOCKS)  # 498
_MFCC_OFFSET = 3 * (12 + 128)
SEED_MFCC_SLICE = slice(_MFCC_OFFSET, _MFCC_OFFSET + 60)


def _mean_min_max(block: np.ndarray) -> np.ndarray:
    """``(n_features, n_frames)`` -> ``(3 * n_features,)``: mean, then min, then max over time."""
    return np.concatenate([block.mean(axis=1), block.min(axis=1), block.max(axis=1)])


def seed_features(wave: np.ndarray, *, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The study's 498-number vector: for chroma_stft, melspectrogram, mfcc(20) and tonnetz, in
    that order, the mean, min and max over time of each coefficient. Audio is first resampled to
    22,050 Hz as ``librosa.load`` does by default."""
    y = resample(wave, sr, SEED_SR)
    with warnings.catch_warnings():  # tonnetz's CQT warns on short inputs; the study ran it as is
        warnings.simplefilter("ignore", UserWarning)
        blocks = _seed_blocks(y)
    return np.concatenate([_mean_min_max(b) for b in blocks]).astype(np.float64)


def _seed_blocks(y: np.ndarray) -> list[np.ndarray]:
    import librosa

    return [
        librosa.feature.chroma_stft(y=y, sr=SEED_SR),
        librosa.feature.melspectrogram(y=y, sr=SEED_SR),
        librosa.feature.mfcc(y=y, sr=SEED_SR, n_mfcc=20),
        librosa.feature.tonnetz(y=y, sr=SEED_SR),
    ]


def seed_mfcc_features(wave: np.ndarray, *, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The study's 60 MFCC numbers (mean, min, max of 20 MFCCs at 22,050 Hz): the same values
    as ``seed_features(wave)[SEED_MFCC_SLICE]`` without computing the rest."""
    import librosa

    y = resample(wave, sr, SEED_SR)
    return _mean_min_max(librosa.feature.mfcc(y=y, sr=SEED_SR, n_mfcc=20)).astype(np.float64)


# ---------------------------------------------------------------------------------------------
# fast: one STFT at 16 kHz
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FastFeatureConfig:
    """Options of the ``fast`` front end. Frozen and hashable: its hash goes into model cards."""

    sr: int = SAMPLE_RATE
    n_fft: int = 512
    win_length: int = 400          # 25 ms
    hop_length: int = 160          # 10 ms
    n_mels: int = 40
    fmin_hz: float = 50.0
    fmax_hz: float = 7600.0
    n_mfcc: int = 20
    delta_width: int = 2           # regression half-width in frames
    speech_range_db: float = 30.0  # keep frames within this many dB of the loudest frame
    min_frame_level_db: float = -65.0
    min_frames: int = 10
    descriptors: bool = True

    def hash(self) -> str:
        return config_hash("fast", asdict(self))


def config_hash(kind: str, params: dict) -> str:
    """Short stable hash of a feature configuration (includes :data:`FEATURES_VERSION`)."""
    blob = json.dumps({"kind": kind, "version": FEATURES_VERSION, **params}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


SEED_HASH = config_hash("seed", {"sr": SEED_SR, "dim": SEED_DIM})
SEED_MFCC_HASH = config_hash("seed_mfcc", {"sr": SEED_SR, "dim": 60})


@lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).T.astype(np.float32)


@lru_cache(maxsize=8)
def _dct_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
    """Orthonormal DCT-II, ``(n_mels, n_mfcc)``."""
    n = np.arange(n_mels)[:, None]
    k = np.arange(n_mfcc)[None, :]
    m = np.cos(np.pi / n_mels * (n + 0.5) * k) * np.sqrt(2.0 / n_mels)
    m[:, 0] /= np.sqrt(2.0)
    return m.astype(np.float32)


@lru_cache(maxsize=8)
def _window(win_length: int, n_fft: int) -> np.ndarray:
    w = np.zeros(n_fft, dtype=np.float32)
    off = (n_fft - win_length) // 2
    w[off:off + win_length] = np.hanning(win_length + 2)[1:-1]
    return w


def frame_signal(wave: np.ndarray, *, n_fft: int, hop_length: int) -> np.ndarray:
    """Centred frames ``(n_frames, n_fft)`` as a strided view of the zero-padded signal."""
    pad = n_fft // 2
    y = np.pad(np.asarray(wave, dtype=np.float32), (pad, pad))
    if y.size < n_fft:
        y = np.pad(y, (0, n_fft - y.size))
    n_frames = 1 + (y.size - n_fft) // hop_length
    return np.lib.stride_tricks.as_strided(
        y, shape=(n_frames, n_fft), strides=(y.strides[0] * hop_length, y.strides[0]), writeable=False)


def power_spectrogram(wave: np.ndarray, cfg: FastFeatureConfig = FastFeatureConfig()) -> np.ndarray:
    """The one shared STFT: power, ``(n_frames, n_fft // 2 + 1)`` float32."""
    frames = frame_signal(wave, n_fft=cfg.n_fft, hop_length=cfg.hop_length) * _window(cfg.win_length, cfg.n_fft)
    spec = scipy.fft.rfft(frames, axis=1, workers=1)  # float32 in, complex64 out (numpy's is 8x slower)
    return (spec.real * spec.real + spec.imag * spec.imag).astype(np.float32, copy=False)


def log_mel(power: np.ndarray, cfg: FastFeatureConfig = FastFeatureConfig()) -> np.ndarray:
    """Log-mel energies (natural log), ``(n_frames, n_mels)``."""
    mel = power @ _mel_basis(cfg.sr, cfg.n_fft, cfg.n_mels, cfg.fmin_hz, cfg.fmax_hz)
    return np.log(mel + 1e-10, dtype=np.float32)


def deltas(x: np.ndarray, width: int = 2) -> np.ndarray:
    """Regression deltas over frames (axis 0), edges padded by repetition."""
    if x.shape[0] == 0:
        return x.copy()
    padded = np.pad(x, ((width, width), (0, 0)), mode="edge")
    n = x.shape[0]
    num = np.zeros_like(x)
    for k in range(1, width + 1):
        num += k * (padded[width + k:width + k + n] - padded[width - k:width - k + n])
    return num / (2.0 * sum(k * k for k in range(1, width + 1)))


def speech_frame_mask(power: np.ndarray, cfg: FastFeatureConfig = FastFeatureConfig()) -> np.ndarray:
    """Frames loud enough to carry voice: within ``speech_range_db`` of the loudest frame and
    above ``min_frame_level_db``; at least ``min_frames`` (the loudest) are always kept."""
    # frame level in dBFS: mean power of a full-scale sine through this window is ~ (sum w)^2 / 8
    win = _window(cfg.win_length, cfg.n_fft)
    ref = (win.sum() ** 2) / 2.0
    level_db = 10.0 * np.log10(power.sum(axis=1) / ref + 1e-12)
    keep = (level_db > level_db.max() - cfg.speech_range_db) & (level_db > cfg.min_frame_level_db)
    if keep.sum() < min(cfg.min_frames, level_db.size):
        keep = np.zeros_like(keep)
        keep[np.argsort(level_db)[-min(cfg.min_frames, level_db.size):]] = True
    return keep


def mfcc_frames(wave: np.ndarray, cfg: FastFeatureConfig = FastFeatureConfig(), *,
                power: np.ndarray | None = None, with_deltas: bool = True,
                speech_only: bool = True, norm: str = "cmvn") -> np.ndarray:
    """Frame-level MFCC (+Δ+ΔΔ), ``(n_frames, n_mfcc * 3)`` float32, for frame-based models (GMM).

    Deltas are computed on the contiguous sequence before speech-frame selection; ``norm='cmvn'``
    normalises each coefficient to zero mean and unit variance over the kept frames (removes a
    stationary channel); ``cmn`` only removes the mean; ``none`` keeps the raw cepstra."""
    if power is None:
        power = power_spectrogram(wave, cfg)
    cep = log_mel(power, cfg) @ _dct_matrix(cfg.n_mels, cfg.n_mfcc)
    feats = [cep]
    if with_deltas:
        d1 = deltas(cep, cfg.delta_width)
        feats += [d1, deltas(d1, cfg.delta_width)]
    x = np.concatenate(feats, axis=1)
    if speech_only:
        x = x[speech_frame_mask(power, cfg)]
    if norm not in ("cmvn", "cmn", "none"):
        raise ValueError(f"norm must be 'cmvn', 'cmn' or 'none', got {norm!r}")
    if norm != "none" and x.shape[0] > 1:
        x = x - x.mean(axis=0)
        if norm == "cmvn":
            x = x / (x.std(axis=0) + 1e-5)
    return np.ascontiguousarray(x, dtype=np.float32)


FAST_NAMES: tuple[str, ...] = (
    tuple(f"mfcc{i}_mean" for i in range(1, 20)) + tuple(f"mfcc{i}_std" for i in range(20))
    + tuple(f"d_mfcc{i}_std" for i in range(20)) + tuple(f"dd_mfcc{i}_std" for i in range(20))
    + ("zcr_mean", "zcr_std", "flatness_mean", "centroid_mean", "centroid_std", "rolloff_mean",
       "wave_skewness", "wave_kurtosis")
)


def fast_features(wave: np.ndarray, cfg: FastFeatureConfig = FastFeatureConfig(), *,
                  power: np.ndarray | None = None) -> np.ndarray:
    """VoiceLive's utterance vector (``len(FAST_NAMES)`` numbers, float64).

    On speech frames only: mean of MFCC 1–19 (c0, the loudness, is left out), std of MFCC 0–19,
    std of Δ and ΔΔ (speaking dynamics), then zero-crossing rate, spectral flatness, centroid and
    roll-off (normalised to Nyquist), and skewness/kurtosis of the waveform. ``power`` may be
    passed to reuse an STFT computed elsewhere (the live pipeline shares one)."""
    if power is None:
        power = power_spectrogram(wave, cfg)
    mask = speech_frame_mask(power, cfg)
    cep = log_mel(power, cfg) @ _dct_matrix(cfg.n_mels, cfg.n_mfcc)
    d1 = deltas(cep, cfg.delta_width)
    d2 = deltas(d1, cfg.delta_width)
    c, d1, d2 = cep[mask], d1[mask], d2[mask]
    parts = [c[:, 1:].mean(axis=0), c.std(axis=0), d1.std(axis=0), d2.std(axis=0)]
    if cfg.descriptors:
        parts.append(_descriptors(wave, power[mask], cfg))
    return np.concatenate(parts).astype(np.float64)


def _descriptors(wave: np.ndarray, power: np.ndarray, cfg: FastFeatureConfig) -> np.ndarray:
    frames = frame_signal(wave, n_fft=cfg.win_length, hop_length=cfg.hop_length)
    signs = np.signbit(frames)
    zcr = np.count_nonzero(signs[:, 1:] != signs[:, :-1], axis=1) / float(cfg.win_length)
    p = power + 1e-12
    flatness = np.exp(np.log(p).mean(axis=1)) / p.mean(axis=1)
    freqs = np.linspace(0.0, 1.0, p.shape[1], dtype=np.float32)  # fraction of Nyquist
    total = p.sum(axis=1)
    centroid = (p @ freqs) / total
    cum = np.cumsum(p, axis=1)
    rolloff = freqs[np.minimum((cum < 0.85 * total[:, None]).sum(axis=1), p.shape[1] - 1)]
    w = np.asarray(wave, dtype=np.float32)
    z = (w - w.mean()) / (w.std() + 1e-12)
    z2 = z * z
    skew = float(np.mean(z2 * z, dtype=np.float64))
    kurt = float(np.mean(z2 * z2, dtype=np.float64)) - 3.0
    return np.array([zcr.mean(), zcr.std(), flatness.mean(), centroid.mean(), centroid.std(),
                     rolloff.mean(), skew, np.log1p(max(kurt + 3.0, 0.0))], dtype=np.float64)
