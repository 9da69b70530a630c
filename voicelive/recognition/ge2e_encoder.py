"""GE2E speaker encoder in plain numpy: Resemblyzer's ``VoiceEncoder`` without torch.

The network and the numbers are Resemblyzer 0.1.4's (weights from :mod:`voicelive.recognition.weights`):

* front end = ``resemblyzer.audio.wav_to_mel_spectrogram``: a *power* mel spectrogram (not log),
  40 mels, 400-sample (25 ms) periodic Hann window, 160-sample (10 ms) hop at 16 kHz, centred
  frames with zero padding, Slaney mel filterbank (librosa's defaults, rebuilt here in numpy);
* 3-layer LSTM (256 units) over 160-frame partials -> last hidden state of the top layer ->
  linear 256 -> ReLU -> L2 normalisation;
* an utterance embedding is the L2-normalised mean of its partial embeddings, partials placed by
  ``VoiceEncoder.compute_partial_slices`` (``rate`` partials per second, the last one kept if it
  covers at least ``min_coverage``, the waveform zero-padded to the last partial).

Resemblyzer's ``preprocess_wav`` (volume normalisation, webrtcvad silence trimming) is *not* done:
the caller decides what audio goes in.

Speed (this runs on every analysis window): float32 throughout; all partials of an utterance go
through the network together; the input projection of each LSTM layer is one matrix product over
all time steps and partials; each time step is one BLAS call that adds ``W_hh @ h`` into the gate
block in place (or one per partial, whichever this BLAS does faster, see :data:`RECURRENT_MODES`)
plus seven in-place ufunc calls on contiguous preallocated buffers. The gate rows are reordered and
pre-scaled so that one ``tanh`` call yields all four gates (``sigmoid(x) = (1 + tanh(x / 2)) / 2``);
the factor 2 this leaves on the hidden state is folded into the weights that consume it.

The floor is arithmetic: a 2-s window (2 partials x 160 steps x 3 layers) needs 480 sequential
recurrent products of a 1024 x 256 matrix plus the input projections, about 670 MFLOP, at least
7 ms at one AVX2 core's peak; BLAS reaches about half of it, and a numba kernel does no better
(``scripts/ge2e_step_kernels.py``, docs/BENCHMARKS.md "GE2E per-window cost").
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from typing import Callable, Mapping

import numpy as np

from voicelive import SAMPLE_RATE
from voicelive.audio.io import validate_wave
from voicelive.errors import ConfigError
from voicelive.recognition import weights as W

log = logging.getLogger(__name__)

MEL_WINDOW_MS = 25
MEL_HOP_MS = 10
N_MELS = 40
N_FFT = SAMPLE_RATE * MEL_WINDOW_MS // 1000   # 400
HOP = SAMPLE_RATE * MEL_HOP_MS // 1000        # 160
PARTIAL_FRAMES = 160                          # 1.6 s
HIDDEN = 256
EMBEDDING_SIZE = 256
N_LAYERS = 3

RECURRENT_MODES = ("auto", "sgemm", "sgemv", "numpy")
"""How the recurrent product ``gates += W_hh @ h`` is done each step. The fastest choice depends on
the BLAS build and CPU: OpenBLAS's Haswell kernels are slow at a product with 2 columns (one
matrix-vector product per sequence wins), its AVX-512 kernels are fast at it. ``"auto"`` times the
candidates once per batch size and keeps the fastest (all give the same numbers to ~1e-7)."""

MAX_BATCH = 16
"""Partials pushed through the network at once; longer utterances go in chunks of this many
(about 1.6 MB of scratch memory per partial)."""
Accumulator = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]
_accumulators: dict[tuple[int, str], Accumulator] = {}
_accumulators_lock = threading.Lock()


def _make_accumulator(mode: str, batch: int) -> Accumulator:
    """``acc(wt, h, gates, h_flat, gates_flat)`` adding ``wt.T @ h`` to ``gates`` in place.

    ``wt`` is the transpose view ``(H, 4H)`` of a C-contiguous ``(4H, H)`` float32 matrix, ``h``
    ``(H, B)`` and ``gates`` ``(4H, B)`` are C-contiguous float32, ``*_flat`` their 1-D views.
    The scipy BLAS wrappers are called with positional arguments (keyword parsing costs more
    than a small product).
    """
    if mode == "numpy":
        def acc(wt: np.ndarray, h: np.ndarray, gates: np.ndarray, hf: np.ndarray, gf: np.ndarray) -> None:
            gates += np.dot(wt.T, h)
        return acc
    from scipy.linalg import blas

    if mode == "sgemm":
        sgemm = blas.sgemm

        def acc(wt: np.ndarray, h: np.ndarray, gates: np.ndarray, hf: np.ndarray, gf: np.ndarray) -> None:
            # Fortran view: gates.T (B, 4H) += h.T (B, H) @ wt (H, 4H); args: beta, c, trans_a,
            # trans_b, overwrite_c
            sgemm(1.0, h.T, wt, 1.0, gates.T, 0, 0, 1)
        return acc
    if mode == "sgemv":
        sgemv = blas.sgemv
        cols = tuple(range(batch))
        B = batch

        def acc(wt: np.ndarray, h: np.ndarray, gates: np.ndarray, hf: np.ndarray, gf: np.ndarray) -> None:
            for b in cols:  # column b of h and of gates: offset b, stride B; wt.T @ x via trans=1
                sgemv(1.0, wt, hf, 1.0, gf, b, B, b, B, 1, 1)  # beta, y, offx, incx, offy, incy, trans, overwrite_y
        return acc
    raise ConfigError(f"unknown recurrent mode '{mode}'; use one of {', '.join(RECURRENT_MODES)}")


def _works_in_place(acc: Accumulator, batch: int, rng: np.random.Generator) -> bool:
    w = rng.standard_normal((4 * HIDDEN, HIDDEN)).astype(np.float32)
    h = rng.standard_normal((HIDDEN, batch)).astype(np.float32)
    buf = rng.standard_normal((2, 4 * HIDDEN + HIDDEN, batch)).astype(np.float32)
    gates = buf[1, :4 * HIDDEN]
    want = gates.astype(np.float64) + w.astype(np.float64) @ h.astype(np.float64)
    try:
        acc(w.T, h, gates, h.reshape(-1), gates.reshape(-1))
    except Exception:  # a scipy without these wrappers/keywords: just not a candidate
        return False
    return bool(np.allclose(buf[1, :4 * HIDDEN], want, rtol=1e-4, atol=1e-3))


def _time_accumulator(acc: Accumulator, batch: int, rng: np.random.Generator, reps: int = 25) -> float:
    wt = (rng.standard_normal((4 * HIDDEN, HIDDEN)).astype(np.float32) * 0.01).T
    h = rng.standard_normal((HIDDEN, batch)).astype(np.float32)
    gates = np.zeros((4 * HIDDEN, batch), dtype=np.float32)
    args = (wt, h, gates, h.reshape(-1), gates.reshape(-1))
    for _ in range(5):
        acc(*args)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        acc(*args)
        best = min(best, time.perf_counter() - t0)
    return best


def _recurrent_accumulator(batch: int, mode: str = "auto") -> Accumulator:
    """The in-place ``gates += W_hh @ h`` for ``batch`` sequences (chosen once, then cached)."""
    key = (batch, mode)
    acc = _accumulators.get(key)
    if acc is not None:
        return acc
    with _accumulators_lock:
        acc = _accumulators.get(key)
        if acc is not None:
            return acc
        rng = np.random.default_rng(0)
        if mode != "auto":
            acc = _make_accumulator(mode, batch)
            if not _works_in_place(acc, batch, rng):
                raise ConfigError(f"recurrent mode '{mode}' does not work with this scipy/BLAS; use 'auto'")
        else:
            candidates = ("sgemm",) if batch > MAX_BATCH else ("sgemv", "sgemm")
            timed = []
            for name in candidates:
                cand = _make_accumulator(name, batch)
                if _works_in_place(cand, batch, rng):
                    timed.append((_time_accumulator(cand, batch, rng), name, cand))
            if timed:
                _, name, acc = min(timed, key=lambda item: item[0])
                log.debug("GE2E recurrent product for batch %d: %s (%s)", batch, name,
                          ", ".join(f"{n} {t * 1e6:.1f} us" for t, n, _ in timed))
            else:
                acc = _make_accumulator("numpy", batch)
        _accumulators[key] = acc
        return acc


def _stft_window() -> np.ndarray:
    n = np.arange(N_FFT, dtype=np.float64)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / N_FFT)).astype(np.float32)  # periodic Hann


def _hz_to_mel_slaney(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (Auditory Toolbox; librosa's default): linear to 1 kHz, log above."""
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3.0)
    log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, lin)


def _mel_to_hz_slaney(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3.0))


def _mel_filterbank() -> np.ndarray:
    """``(1 + n_fft // 2, n_mels)`` triangular Slaney-normalised filters, 0 Hz to Nyquist: the
    same bank as ``librosa.filters.mel(sr=16000, n_fft=400, n_mels=40)`` that Resemblyzer uses,
    built here so that the encoder does not need to import librosa (about a second of start-up)."""
    fft_hz = np.arange(N_FFT // 2 + 1, dtype=np.float64) * (SAMPLE_RATE / N_FFT)
    edges = _mel_to_hz_slaney(np.linspace(_hz_to_mel_slaney(0.0), _hz_to_mel_slaney(SAMPLE_RATE / 2.0), N_MELS + 2))
    width = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / width[:-1, None]
    falling = ramps[2:] / width[1:, None]
    bank = np.maximum(0.0, np.minimum(rising, falling))
    bank *= (2.0 / (edges[2:] - edges[:-2]))[:, None]   # equal area per filter ("slaney" norm)
    return np.ascontiguousarray(bank.T, dtype=np.float32)


_WORKSPACES_PER_THREAD = 4
_CACHED_WORKSPACE_STEPS = 4 * PARTIAL_FRAMES  # keep buffers (<= ~7 MB) for up to 4 partials


class _Workspace:
    """Buffers (and their per-step views) for one ``(T, B)`` shape, reused across calls.

    Per step the state of all B sequences lives "gate-major" in ``zs[t]``: rows ``o i f g`` then
    the cell ``c`` of the step before, each row holding B values. So every elementwise call works
    on one contiguous block, the products ``(i, f) * (g, c)`` are one call, and the recurrent
    product adds straight into the gate rows.
    """

    def __init__(self, T: int, B: int) -> None:
        H, G4 = HIDDEN, 4 * HIDDEN
        self.zs = np.zeros((T + 1, G4 + H, B), dtype=np.float32)
        self.hs = np.zeros((T, H, B), dtype=np.float32)      # doubled hidden states
        self.th = np.zeros((H, B), dtype=np.float32)
        self.proj = np.zeros((T * B, G4), dtype=np.float32)  # input projections, B-major
        self.proj3 = self.proj.reshape(T, B, G4)
        steps = []
        for t in range(T):
            z, zn = self.zs[t], self.zs[t + 1]
            gates = z[:G4]
            rec = None
            if t:
                h_prev = self.hs[t - 1]
                rec = (h_prev, gates, h_prev.reshape(-1), gates.reshape(-1))
            steps.append((gates, z[:3 * H], z[H:3 * H], z[3 * H:], z[3 * H:G4], z[G4:], z[:H], zn[G4:],
                          self.hs[t], rec))
        self.steps = tuple(steps)


class GE2EEncoder:
    """Resemblyzer's GE2E ``VoiceEncoder`` in numpy (float32, single-thread friendly).

    Parameters
    ----------
    weights
        Output of :func:`voicelive.recognition.weights.load_ge2e_weights`; loaded from
        ``models_dir`` when omitted.
    models_dir
        Where to look for the weights when ``weights`` is None.
    recurrent_mode
        How the per-step recurrent product is computed (see :data:`RECURRENT_MODES`); the default
        ``"auto"`` picks the fastest for this BLAS once per batch size.

    Raises
    ------
    ModelMissingError
        The weights are not on disk (run ``voicelive setup-models``).

    Notes
    -----
    One encoder may be shared by several backends and threads: the weights are read-only and the
    scratch buffers are per thread (a few MB for each recent input shape).
    """

    sr = SAMPLE_RATE
    n_mels = N_MELS
    partial_frames = PARTIAL_FRAMES
    embedding_size = EMBEDDING_SIZE

    def __init__(self, weights: Mapping[str, np.ndarray] | None = None, *,
                 models_dir: str | os.PathLike | None = None, recurrent_mode: str = "auto") -> None:
        if recurrent_mode not in RECURRENT_MODES:
            raise ConfigError(f"unknown recurrent mode '{recurrent_mode}'; use one of {', '.join(RECURRENT_MODES)}")
        self.recurrent_mode = recurrent_mode
        if weights is None:
            weights = W.load_ge2e_weights(models_dir)
        self.weights_sha256 = W.weights_sha256(weights)
        self._window = _stft_window()
        self._mel_fb = _mel_filterbank()

        # torch gate order (rows): i, f, g, o. Ours: o, i, f, g -> the three sigmoid gates are
        # contiguous (0:768) and (i, f) sit next to each other for the fused products in _lstm.
        H = HIDDEN
        perm = np.concatenate([np.arange(3 * H, 4 * H), np.arange(0, H), np.arange(H, 2 * H),
                               np.arange(2 * H, 3 * H)])
        row_scale = np.ones(4 * H, dtype=np.float32)
        row_scale[:3 * H] = 0.5  # tanh(x/2) for the sigmoid gates
        self._w_ih_t: list[np.ndarray] = []  # (in, 4H), for inputs @ w
        self._w_hh_t: list[np.ndarray] = []  # (H, 4H): transposed view of a C-contiguous (4H, H)
        self._bias: list[np.ndarray] = []    # (4H,)
        for k in range(N_LAYERS):
            w_ih = np.asarray(weights[f"lstm.weight_ih_l{k}"], dtype=np.float64)[perm] * row_scale[:, None]
            w_hh = np.asarray(weights[f"lstm.weight_hh_l{k}"], dtype=np.float64)[perm] * row_scale[:, None]
            bias = (np.asarray(weights[f"lstm.bias_ih_l{k}"], dtype=np.float64)
                    + np.asarray(weights[f"lstm.bias_hh_l{k}"], dtype=np.float64))[perm] * row_scale
            if k > 0:
                w_ih = w_ih * 0.5  # consumes the doubled hidden state of the layer below
            w_hh = w_hh * 0.5      # consumes its own doubled hidden state
            self._w_ih_t.append(np.ascontiguousarray(w_ih.T, dtype=np.float32))
            self._w_hh_t.append(np.ascontiguousarray(w_hh, dtype=np.float32).T)  # view of C-contig (4H, H)
            self._bias.append(bias.astype(np.float32))
        self._lin_w_t = np.ascontiguousarray(
            np.asarray(weights["linear.weight"], dtype=np.float64).T * 0.5, dtype=np.float32)
        self._lin_b = np.asarray(weights["linear.bias"], dtype=np.float32).copy()
        self._local = threading.local()  # per-thread reusable buffers

    # -- front end ----------------------------------------------------------------------------
    def mel_spectrogram(self, wave: np.ndarray, *, n_frames: int | None = None) -> np.ndarray:
        """Resemblyzer's mel spectrogram (power, not log) of a 16 kHz waveform.

        Parameters
        ----------
        wave
            Mono float32 samples, shape ``(n,)``.
        n_frames
            Compute only the first ``n_frames`` frames (samples past the end count as zeros).
            Default: all ``1 + n // 160`` centred frames, as librosa.

        Returns
        -------
        np.ndarray
            ``(n_frames, 40)`` float32.
        """
        x = np.asarray(wave, dtype=np.float32)
        total = 1 + x.shape[0] // HOP
        n_frames = total if n_frames is None else int(n_frames)
        half = N_FFT // 2
        need = (n_frames - 1) * HOP + N_FFT
        padded = np.zeros(max(need, x.shape[0] + 2 * half), dtype=np.float32)
        padded[half:half + x.shape[0]] = x
        frames = np.lib.stride_tricks.as_strided(
            padded, shape=(n_frames, N_FFT), strides=(HOP * padded.itemsize, padded.itemsize),
            writeable=False)
        spec = np.fft.rfft(frames * self._window, axis=1)
        power = spec.real * spec.real
        power += spec.imag * spec.imag
        return np.dot(power.astype(np.float32, copy=False), self._mel_fb)

    # -- network ------------------------------------------------------------------------------
    def _workspace(self, T: int, B: int) -> "_Workspace":
        if T * B > _CACHED_WORKSPACE_STEPS:  # big (enrollment) batches: do not keep the memory
            return _Workspace(T, B)
        cache = getattr(self._local, "workspaces", None)
        if cache is None:
            cache = self._local.workspaces = OrderedDict()
        ws = cache.get((T, B))
        if ws is None:
            ws = cache[(T, B)] = _Workspace(T, B)
            while len(cache) > _WORKSPACES_PER_THREAD:
                cache.popitem(last=False)
        else:
            cache.move_to_end((T, B))
        return ws

    def _lstm(self, x: np.ndarray) -> np.ndarray:
        """Top-layer hidden state after the last step, doubled: ``(T, B, in) -> (B, H)``."""
        T, B, _ = x.shape
        acc = _recurrent_accumulator(B, self.recurrent_mode)
        ws = self._workspace(T, B)
        zs, hs, th, proj, proj3, steps = ws.zs, ws.hs, ws.th, ws.proj, ws.proj3, ws.steps
        G4 = 4 * HIDDEN
        xs = np.ascontiguousarray(x, dtype=np.float32).reshape(T * B, -1)
        add, mul, tanh = np.add, np.multiply, np.tanh
        for k in range(N_LAYERS):
            np.dot(xs, self._w_ih_t[k], out=proj)
            proj += self._bias[k]
            for b in range(B):
                np.copyto(zs[:T, :G4, b], proj3[:, b, :])
            zs[0, G4:] = 0.0
            wt = self._w_hh_t[k]
            for gates, sig, i_f, g_c, g_, c_, o_, c_next, h_out, rec in steps:
                if rec is not None:
                    acc(wt, *rec)                # gates += W_hh @ h_prev
                tanh(gates, out=gates)           # o, i, f: tanh(x/2); g: tanh(x)
                add(sig, 1.0, out=sig)           # 2*sigmoid
                mul(i_f, g_c, out=g_c)           # [2*si*g, 2*sf*c]
                add(g_, c_, out=c_next)          # 2*c_new
                mul(c_next, 0.5, out=c_next)     # c_new
                tanh(c_next, out=th)
                mul(o_, th, out=h_out)           # 2*h_new
            if k + 1 < N_LAYERS:
                xs = np.ascontiguousarray(hs.transpose(0, 2, 1)).reshape(T * B, HIDDEN)
        return hs[T - 1].T.copy()

    def embed_frames_batch(self, mels: np.ndarray) -> np.ndarray:
        """Embeddings of a batch of equally long mel spectrograms.

        Parameters
        ----------
        mels
            ``(B, T, 40)`` mel frames (as :meth:`mel_spectrogram`), usually ``T = 160``.

        Returns
        -------
        np.ndarray
            ``(B, 256)`` float32, non-negative, each row of unit L2 norm.
        """
        m = np.asarray(mels)
        if m.ndim != 3 or m.shape[2] != N_MELS or m.shape[0] < 1 or m.shape[1] < 1:
            raise ConfigError(f"mels must have shape (batch, frames, {N_MELS}) with at least one "
                              f"frame, got {m.shape}")
        m = m.astype(np.float32, copy=False)
        if m.shape[0] > MAX_BATCH:  # bounded memory for long clips: ~1.3 MB per partial in flight
            return np.concatenate([self.embed_frames_batch(m[i:i + MAX_BATCH])
                                   for i in range(0, m.shape[0], MAX_BATCH)])
        h2 = self._lstm(m.transpose(1, 0, 2))
        e = np.dot(h2, self._lin_w_t)
        e += self._lin_b
        np.maximum(e, 0.0, out=e)
        norm = np.sqrt(np.einsum("ij,ij->i", e, e))
        e /= np.maximum(norm, np.finfo(np.float32).tiny)[:, None]
        return e

    # -- utterances ---------------------------------------------------------------------------
    @staticmethod
    def compute_partial_slices(n_samples: int, *, rate: float = 1.3, min_coverage: float = 0.75
                               ) -> tuple[list[slice], list[slice]]:
        """Where the partial utterances lie: ``(wave_slices, mel_slices)``, as Resemblyzer.

        Partials are 160 frames (1.6 s) long, ``rate`` per second; the last one is kept only if
        the waveform covers at least ``min_coverage`` of it (always at least one partial). The
        slices may reach past the end of the waveform: pad it with zeros.
        """
        if not 0.0 < min_coverage <= 1.0:
            raise ConfigError(f"min_coverage must be in (0, 1], got {min_coverage}")
        if not rate > 0:
            raise ConfigError(f"rate must be positive (partials per second), got {rate}")
        n_frames = int(np.ceil((n_samples + 1) / HOP))
        frame_step = int(np.round((SAMPLE_RATE / rate) / HOP))
        if frame_step < 1:
            raise ConfigError(f"rate {rate} is too high: partials would start less than one frame apart")
        if frame_step > PARTIAL_FRAMES:
            raise ConfigError(f"rate {rate} is too low: partials would leave gaps; use at least "
                              f"{SAMPLE_RATE / (HOP * PARTIAL_FRAMES):g} per second")
        steps = max(1, n_frames - PARTIAL_FRAMES + frame_step + 1)
        mel_slices = [slice(i, i + PARTIAL_FRAMES) for i in range(0, steps, frame_step)]
        wav_slices = [slice(s.start * HOP, s.stop * HOP) for s in mel_slices]
        last = wav_slices[-1]
        coverage = (n_samples - last.start) / (last.stop - last.start)
        if coverage < min_coverage and len(mel_slices) > 1:
            mel_slices, wav_slices = mel_slices[:-1], wav_slices[:-1]
        return wav_slices, mel_slices

    def embed_utterance(self, wave: np.ndarray, *, rate: float = 1.3, min_coverage: float = 0.75,
                        return_partials: bool = False
                        ) -> np.ndarray | tuple[np.ndarray, np.ndarray, list[slice]]:
        """Embedding of one utterance: L2-normalised mean of its partial embeddings.

        Parameters
        ----------
        wave
            Mono 16 kHz float32 samples ``(n,)``, n >= 1, used as given (no VAD, no gain).
        rate, min_coverage
            Partial placement (see :meth:`compute_partial_slices`).
        return_partials
            Also return the partial embeddings ``(n_partials, 256)`` and their waveform slices.

        Returns
        -------
        np.ndarray or tuple
            ``(256,)`` float32 unit vector; with ``return_partials``,
            ``(embedding, partial_embeddings, wave_slices)``.
        """
        x = validate_wave(wave, what="audio to embed", allow_silent=True)
        wav_slices, mel_slices = self.compute_partial_slices(x.shape[0], rate=rate, min_coverage=min_coverage)
        # Resemblyzer pads the waveform to the end of the last partial (if that lies beyond it)
        # and then takes 1 + len // 160 centred frames; we compute just the frames the partials use.
        mel = self.mel_spectrogram(x, n_frames=mel_slices[-1].stop)
        mels = np.stack([mel[s] for s in mel_slices])
        partials = self.embed_frames_batch(mels)
        raw = partials.mean(axis=0)
        embed = raw / max(float(np.linalg.norm(raw)), float(np.finfo(np.float32).tiny))
        embed = embed.astype(np.float32, copy=False)
        if return_partials:
            return embed, partials, wav_slices
        return embed
