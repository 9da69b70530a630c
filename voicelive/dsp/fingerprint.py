"""Acoustic fingerprints of speech: is this the *same recording* heard again?

A replayed recording repeats one performance: the same pitch movements, the same timing, to the
millisecond. Another take of the same words by the same person never does. The fingerprint keeps
only that fine structure: the local maxima ("peaks") of a 300–3400 Hz spectrogram (the band that a
phone's loudspeaker and microphone keep), paired into hashes ``(f1, f2, dt)`` (two peaks' frequency
bins and the frames between them). Two fingerprints are compared by counting the hashes they share
*at one consistent time offset*: a replay shares many at the offset where it lines up with the
original; another take shares a few, scattered over many offsets.

Sizes: 8-ms frames (512-sample FFT, 128-sample hop at 16 kHz), about 350 hashes per second of
speech, 8 bytes each. Qt-free, numpy and scipy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.fft import rfft
from scipy.ndimage import maximum_filter

from voicelive import SAMPLE_RATE
from voicelive.errors import ConfigError

__all__ = ["Fingerprint", "FingerprintIndex", "fingerprint", "similarity", "FRAME_HOP_S", "BAND_HZ"]

N_FFT = 512
HOP = 128
FRAME_HOP_S = HOP / SAMPLE_RATE
BAND_HZ = (300.0, 3400.0)
PEAK_FRAMES, PEAK_BINS = 31, 3
"""A peak is the largest value in its neighbourhood of 31 frames (248 ms) x 3 bins (94 Hz): narrow
in frequency, so each harmonic of the voice gives its own peaks, and long in time, so that a
room's reverberation or a fan's noise, which smear and mask the quieter moments, rarely create
or remove one (measured against 9 x 7 in docs/BENCHMARKS.md, "Replayed recordings")."""
FLOOR_DB = 50.0
"""Peaks more than this far below the loudest bin are ignored (noise, silence)."""
FAN_OUT = 6
"""Each peak is paired with up to this many later peaks..."""
MAX_DT_FRAMES = 40
"""... at most this many frames (320 ms) later ..."""
MAX_DF_BINS = 30
"""... and at most this many bins (938 Hz) away."""
OFFSET_TOLERANCE = 1
"""Hashes whose offsets differ by one frame still count as lined up (a replay's start is not on
the original's frame grid)."""
MIN_QUERY_HASHES = 400
"""Similarity is a share of at least this many hashes (a 2-s window of speech has 300–900): a
window with little speech (a short word, a pause) can line up a handful of hashes by chance, and
a handful out of 40 must not read as 10 %."""
_SEPARATOR_FRAMES = 1 << 20
"""Gap put between the parts of a :meth:`Fingerprint.concat` (far beyond any real offset)."""

_FREQS = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
_LO_BIN = int(np.searchsorted(_FREQS, BAND_HZ[0]))
_HI_BIN = int(np.searchsorted(_FREQS, BAND_HZ[1]))
_WINDOW = np.hanning(N_FFT).astype(np.float32)


@dataclass(frozen=True)
class Fingerprint:
    """Hashes of peak pairs and the frame of each pair's first peak.

    Attributes
    ----------
    hashes : np.ndarray
        ``(n,)`` int32: ``f1 << 14 | f2 << 6 | dt`` (bins relative to 300 Hz, dt in frames).
    frames : np.ndarray
        ``(n,)`` int32 frame index (8 ms) of the first peak, non-decreasing within each part.
    """

    hashes: np.ndarray
    frames: np.ndarray

    def __len__(self) -> int:
        return int(self.hashes.size)

    @property
    def duration_s(self) -> float:
        """Frames spanned (first part only for a concatenation), in seconds."""
        if not self.frames.size:
            return 0.0
        f = self.frames[self.frames < _SEPARATOR_FRAMES]
        return float(f.max() - f.min() + 1) * FRAME_HOP_S if f.size else 0.0

    @classmethod
    def concat(cls, parts: "list[Fingerprint] | tuple[Fingerprint, ...]") -> "Fingerprint":
        """One fingerprint holding several (e.g. the overlapping windows of one access attempt).
        The parts are kept far apart in time, so a match lines up with one part at a time."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls(np.zeros(0, np.int32), np.zeros(0, np.int32))
        if len(parts) * _SEPARATOR_FRAMES >= np.iinfo(np.int32).max:
            raise ConfigError(f"too many parts for one fingerprint ({len(parts)}; at most 2047)")
        frames = [p.frames - int(p.frames.min()) + k * _SEPARATOR_FRAMES for k, p in enumerate(parts)]
        return cls(np.concatenate([p.hashes for p in parts]).astype(np.int32),
                   np.concatenate(frames).astype(np.int32))

    def to_bytes(self) -> bytes:
        """Little-endian int32 hashes then frames (what the store keeps)."""
        return np.concatenate([self.hashes, self.frames]).astype("<i4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Fingerprint":
        a = np.frombuffer(data, dtype="<i4")
        if a.size % 2:
            raise ConfigError(f"not a fingerprint: {len(data)} bytes is not a whole number of entries")
        n = a.size // 2
        return cls(a[:n].astype(np.int32), a[n:].astype(np.int32))


def _peaks(wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames and in-band bins of the spectrogram's local maxima, in time order."""
    x = np.asarray(wave, dtype=np.float32)
    if x.ndim != 1:
        raise ConfigError(f"a fingerprint needs mono audio, got shape {x.shape}")
    if x.size < N_FFT:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    n = 1 + (x.size - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(x, (n, N_FFT), (x.strides[0] * HOP, x.strides[0]), writeable=False)
    spec = rfft(frames * _WINDOW, axis=1)[:, _LO_BIN:_HI_BIN]
    power = spec.real * spec.real + spec.imag * spec.imag
    level = np.log10(power + 1e-20)
    top = float(level.max())
    if not np.isfinite(top) or top <= -19.0:   # digital silence
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    local_max = maximum_filter(level, size=(PEAK_FRAMES, PEAK_BINS), mode="constant", cval=-np.inf)
    t, f = np.nonzero((level == local_max) & (level > top - FLOOR_DB / 10.0))
    return t.astype(np.int64), f.astype(np.int64)     # np.nonzero is row-major: sorted by frame


def fingerprint(wave: np.ndarray) -> Fingerprint:
    """The fingerprint of a 16 kHz mono waveform (empty for silence or audio under 32 ms)."""
    t, f = _peaks(wave)
    n = t.size
    anchors, partners = [], []
    # pair every peak with the next peaks in time order, FAN_OUT at most, inside the target zone
    taken = np.zeros(n, dtype=np.int64)
    for lag in range(1, 4 * FAN_OUT + 1):
        if lag >= n:
            break
        i = np.arange(n - lag)
        j = i + lag
        dt = t[j] - t[i]
        if not (dt <= MAX_DT_FRAMES).any():
            break                      # peaks are in time order: later lags are further still
        ok = (dt >= 1) & (dt <= MAX_DT_FRAMES) & (np.abs(f[j] - f[i]) <= MAX_DF_BINS) & (taken[i] < FAN_OUT)
        taken[i[ok]] += 1
        anchors.append(i[ok])
        partners.append(j[ok])
    if not anchors:
        return Fingerprint(np.zeros(0, np.int32), np.zeros(0, np.int32))
    a = np.concatenate(anchors)
    b = np.concatenate(partners)
    order = np.argsort(t[a], kind="stable")
    a, b = a[order], b[order]
    hashes = (f[a] << 14) | (f[b] << 6) | (t[b] - t[a])
    return Fingerprint(hashes.astype(np.int32), t[a].astype(np.int32))


def _lined_up(q_idx: np.ndarray, keys: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every (key, offset) group: how many distinct query hashes line up there (±1 frame)."""
    rows = np.unique(np.stack([keys, offsets, q_idx]), axis=1)   # each query hash once per (key, offset)
    groups, n_per = np.unique(rows[:2], axis=1, return_counts=True)
    g_key, g_off = groups[0], groups[1]
    pooled = np.zeros(g_off.size, dtype=np.int64)
    # groups are sorted by (key, offset): a neighbour offset of the same key is found by bisection
    combined = g_key * (4 * _SEPARATOR_FRAMES * 2048) + g_off
    for d in range(-OFFSET_TOLERANCE, OFFSET_TOLERANCE + 1):
        pos = np.minimum(np.searchsorted(combined, combined + d), combined.size - 1)
        hit = combined[pos] == combined + d
        pooled[hit] += n_per[pos[hit]]
    return g_key, g_off, pooled


def _gather(query: Fingerprint, ref_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (query hash index, position in ``ref_h``) of equal hashes; ``ref_h`` sorted."""
    lo = np.searchsorted(ref_h, query.hashes, side="left")
    counts = np.searchsorted(ref_h, query.hashes, side="right") - lo
    q_idx = np.repeat(np.arange(len(query)), counts)
    pos = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(q_idx.size)
    return q_idx, pos


def similarity(query: Fingerprint, reference: Fingerprint) -> float:
    """The share of ``query``'s hashes (at least :data:`MIN_QUERY_HASHES`) found in ``reference`` at
    one time offset (±1 frame).

    0 for nothing in common; a replay of the reference's audio scores high, another take of the
    same words far lower (docs/BENCHMARKS.md, "Replayed recordings").
    """
    if not len(query) or not len(reference):
        return 0.0
    order = np.argsort(reference.hashes, kind="stable")
    q_idx, pos = _gather(query, reference.hashes[order])
    if not q_idx.size:
        return 0.0
    offsets = query.frames[q_idx].astype(np.int64) - reference.frames[order][pos].astype(np.int64)
    _, _, pooled = _lined_up(q_idx, np.zeros_like(offsets), offsets)
    return min(1.0, float(pooled.max()) / max(len(query), MIN_QUERY_HASHES))


class FingerprintIndex:
    """Many reference fingerprints under integer keys, searched in one pass.

    :meth:`best` gives the key whose fingerprint a query lines up with best, and that similarity
    (the same number :func:`similarity` gives for that pair). All hashes sit in one sorted array;
    adding merges a sorted run into it (linear time), removing masks rows out.
    """

    def __init__(self) -> None:
        self._sizes: dict[int, int] = {}
        self._hashes = np.zeros(0, np.int32)
        self._frames = np.zeros(0, np.int32)
        self._keys = np.zeros(0, np.int32)

    def __len__(self) -> int:
        return len(self._sizes)

    def __contains__(self, key: int) -> bool:
        return int(key) in self._sizes

    @property
    def n_hashes(self) -> int:
        return int(self._hashes.size)

    def keys(self) -> list[int]:
        return list(self._sizes)

    def add(self, key: int, fp: Fingerprint) -> None:
        """Index ``fp`` under ``key`` (replacing what the key held)."""
        self.add_many([(key, fp)])

    def add_many(self, items) -> None:
        """Index several ``(key, fingerprint)`` pairs with one merge (e.g. a memory loaded from disk)."""
        items = [(int(k), fp) for k, fp in items]
        self.discard([k for k, _ in items if k in self._sizes])
        for k, fp in items:
            self._sizes[k] = len(fp)
        items = [(k, fp) for k, fp in items if len(fp)]
        if not items:
            return
        h_new = np.concatenate([fp.hashes for _, fp in items]).astype(np.int32)
        order = np.argsort(h_new, kind="stable")
        h = np.concatenate([self._hashes, h_new[order]])
        merged = np.argsort(h, kind="stable")   # two sorted runs: a linear merge
        self._hashes = h[merged]
        f_new = np.concatenate([fp.frames for _, fp in items]).astype(np.int32)[order]
        k_new = np.concatenate([np.full(len(fp), k, dtype=np.int32) for k, fp in items])[order]
        self._frames = np.concatenate([self._frames, f_new])[merged]
        self._keys = np.concatenate([self._keys, k_new])[merged]

    def discard(self, keys) -> None:
        gone = [int(k) for k in keys if int(k) in self._sizes]
        if not gone:
            return
        for k in gone:
            del self._sizes[k]
        keep = ~np.isin(self._keys, gone)
        self._hashes, self._frames, self._keys = self._hashes[keep], self._frames[keep], self._keys[keep]

    def best(self, query: Fingerprint, *, exclude=()) -> tuple[int | None, float]:
        """``(key, similarity)`` of the best-lined-up reference (other than the keys in
        ``exclude``); ``(None, 0.0)`` if none shares a hash."""
        if not len(query) or not self._hashes.size:
            return None, 0.0
        q_idx, pos = _gather(query, self._hashes)
        if exclude and q_idx.size:
            keep = ~np.isin(self._keys[pos], [int(k) for k in exclude])
            q_idx, pos = q_idx[keep], pos[keep]
        if not q_idx.size:
            return None, 0.0
        offsets = query.frames[q_idx].astype(np.int64) - self._frames[pos].astype(np.int64)
        g_key, _, pooled = _lined_up(q_idx, self._keys[pos].astype(np.int64), offsets)
        i = int(np.argmax(pooled))
        return int(g_key[i]), min(1.0, float(pooled[i]) / max(len(query), MIN_QUERY_HASHES))
