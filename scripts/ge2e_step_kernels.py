"""Where one GE2E LSTM step's time goes, and whether a compiled kernel would help (one thread).

Times, per step of one layer with the two partials of a 2-s window (batch 2):
  * the recurrent product ``W_hh @ h`` through the encoder's own BLAS path;
  * the same product compiled with numba (float32 and int8 weights with per-row scales), for the
    full 1024 x 256 matrix and for half of it (if half the matrix takes half the time, the step
    is bound by arithmetic, not by the matrix falling out of a 1 MiB L2 cache);
  * the gates' element-wise work compiled with numba (scalar exp/tanh) against the encoder's
    seven numpy ufunc calls.

numba comes with librosa; if it is missing the numba rows are skipped. Results: docs/BENCHMARKS.md,
"GE2E per-window cost".

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python scripts/ge2e_step_kernels.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

H, G4, B = 256, 1024, 2


def per_call_us(fn, *args, reps: int = 2000) -> float:
    for _ in range(20):
        fn(*args)
    t0 = time.perf_counter()
    for _ in range(reps):
        fn(*args)
    return (time.perf_counter() - t0) / reps * 1e6


def main() -> int:
    from voicelive.recognition.ge2e_encoder import _recurrent_accumulator

    rng = np.random.default_rng(0)
    w = (rng.standard_normal((G4, H)) * 0.06).astype(np.float32)
    h = rng.standard_normal((H, B)).astype(np.float32)
    gates = np.zeros((G4, B), np.float32)
    acc = _recurrent_accumulator(B)
    blas_us = per_call_us(acc, w.T, h, gates, h.reshape(-1), gates.reshape(-1))
    print(f"recurrent product, encoder's BLAS path:        {blas_us:6.1f} us/step")

    # the encoder's element-wise work: seven ufunc calls on a (4H + H, B) block
    z = rng.standard_normal((G4 + H, B)).astype(np.float32) * 0.1
    zn = np.zeros_like(z)
    th = np.zeros((H, B), np.float32)
    hs = np.zeros((H, B), np.float32)

    z0 = z.copy()

    def elementwise() -> None:
        np.copyto(z, z0)                  # the same inputs every call (else the cell state overflows)
        g = z[:G4]
        np.tanh(g, out=g)
        np.add(z[:3 * H], 1.0, out=z[:3 * H])
        np.multiply(z[H:3 * H], z[3 * H:], out=z[3 * H:])
        np.add(z[3 * H:G4], z[G4:], out=zn[G4:])
        np.multiply(zn[G4:], 0.5, out=zn[G4:])
        np.tanh(zn[G4:], out=th)
        np.multiply(z[:H], th, out=hs)
    print(f"element-wise gates, numpy (7 ufunc calls + a 5 kB reset copy): {per_call_us(elementwise):6.1f} us/step")

    try:
        import numba as nb
    except ImportError:
        print("numba not installed: compiled kernels skipped")
        return 0

    @nb.njit(fastmath=True, nogil=True)
    def matvec(wm, scale, hv, out, reps):   # compiled once for float32 and once for int8 weights
        for _ in range(reps):
            for k in range(wm.shape[0]):
                s0 = np.float32(0.0)
                s1 = np.float32(0.0)
                for j in range(H):
                    wk = np.float32(wm[k, j])
                    s0 += wk * hv[0, j]
                    s1 += wk * hv[1, j]
                out[0, k] += s0 * scale[k]
                out[1, k] += s1 * scale[k]

    @nb.njit(fastmath=True, nogil=True)
    def gates_scalar(g, c, hv, reps):
        for _ in range(reps):
            for b in range(2):
                for j in range(H):
                    i_ = 1.0 / (1.0 + np.exp(-g[b, j]))
                    f_ = 1.0 / (1.0 + np.exp(-g[b, H + j]))
                    gg = np.tanh(g[b, 2 * H + j])
                    o_ = 1.0 / (1.0 + np.exp(-g[b, 3 * H + j]))
                    cc = f_ * c[b, j] + i_ * gg
                    c[b, j] = cc
                    hv[b, j] = o_ * np.tanh(cc)

    hb = np.ascontiguousarray(h.T)
    reps = 2000

    def timed(fn, *args) -> float:
        fn(*args, 1)
        t0 = time.perf_counter()
        fn(*args, reps)
        return (time.perf_counter() - t0) / reps * 1e6

    for rows in (G4, G4 // 2):
        wr = np.ascontiguousarray(w[:rows])
        out = np.zeros((B, rows), np.float32)
        scale = (np.abs(wr).max(axis=1) / 127.0).astype(np.float32)
        w8 = np.round(wr / scale[:, None]).astype(np.int8)
        ones = np.ones(rows, np.float32)
        print(f"recurrent product, numba float32, {rows:4d} rows:  {timed(matvec, wr, ones, hb, out):6.1f} us/step")
        print(f"recurrent product, numba int8,    {rows:4d} rows:  {timed(matvec, w8, scale, hb, out):6.1f} us/step")
    g = rng.standard_normal((B, G4)).astype(np.float32)
    print(f"element-wise gates, numba (scalar exp/tanh):   "
          f"{timed(gates_scalar, g, np.zeros((B, H), np.float32), np.zeros((B, H), np.float32)):6.1f} us/step")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
