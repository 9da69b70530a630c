#!/usr/bin/env bash
# One-shot set-up for a fresh Debian/Ubuntu machine: system packages, a virtualenv in .venv,
# the Python packages (VoiceLive installed editable, with test extras) and the GE2E weights.
# Idempotent: re-running it only does what is missing.
#   scripts/setup.sh            runtime + test dependencies
#   VOICELIVE_SKIP_APT=1 ...    skip the apt step (packages already there)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

APT_PACKAGES=(
  # audio: PortAudio for sounddevice, libsndfile for soundfile
  libportaudio2 libsndfile1
  # Qt 6 (PySide6-Essentials) runtime libraries for the xcb and offscreen platforms
  libegl1 libgl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0
  libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0
  libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0 libx11-xcb1
  # tests: a real capture device (PulseAudio null sink), synthetic voices, a virtual screen
  pulseaudio pulseaudio-utils espeak-ng sox xvfb
  # venv support
  python3-venv
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

if [ "${VOICELIVE_SKIP_APT:-0}" != "1" ]; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing system packages: ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating virtualenv .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.voicelive-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python packages (this takes a few minutes the first time)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[test]"
  touch "$stamp"
fi

# Pretrained GE2E weights (converted once to .npz in the models cache; no torch needed).
.venv/bin/voicelive setup-models || echo "setup: GE2E weights unavailable; VoiceLive falls back to the other backends"
echo "setup: done"
