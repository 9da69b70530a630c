"""VoiceLive: real-time speaker identification with an honest 'unknown'."""

import os as _os

__version__ = "0.1.0"

# One BLAS/OpenMP thread per process: VoiceLive's numeric work is many small per-window operations,
# where multi-threaded BLAS only adds contention (measured here: enrolling two voices took 75 s with
# default threading, 5.7 s with one thread). Set before numpy loads; the user's own values win.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")

SAMPLE_RATE = 16_000
"""The one internal sample rate (Hz). Sources convert to it at the boundary."""
