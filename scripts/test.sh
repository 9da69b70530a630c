#!/usr/bin/env bash
# Run the whole suite inside the set-up virtualenv. A PulseAudio null sink is started for the
# real-capture tests (tests/integration/test_mic_pulse.py starts its own if none is running).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
# numeric libraries: two cores here; keep one thread per process so tests do not oversubscribe
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
# keep test runs away from the user's real roster and caches (models dir is shared so weights stay)
tmp_home="$(mktemp -d)"
trap 'rm -rf "$tmp_home"' EXIT
export VOICELIVE_DATA_DIR="$tmp_home/data" VOICELIVE_LOG_DIR="$tmp_home/log"
exec .venv/bin/python -m pytest -q -ra "$@"
