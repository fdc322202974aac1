#!/usr/bin/env bash
# Installs everything vaesynth needs on a fresh Debian machine: the real audio/MIDI/OSC stack and a
# virtual environment at .venv with the CPU build of torch and vaesynth itself (editable, with test tools).
# Idempotent: a second run only checks. Run as root (or with sudo available) for the system packages.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(jackd2 libportaudio2 jack-capture liblo-tools puredata-core fluidsynth fluid-soundfont-gm
              libsndfile1 libfluidsynth3 chromium fonts-dejavu-core)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "install.sh: installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  # jackd2 asks whether to enable realtime scheduling; answer for a non-interactive install.
  echo "jackd2 jackd/tweak_rt_limits boolean true" | $SUDO debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# The CPU build first: torch>=2.4 in pyproject.toml is then already satisfied and no CUDA build is pulled.
# A GPU user installs their own torch into .venv before running this script.
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0" 2>/dev/null \
  || .venv/bin/python -c "import torch" \
  || { echo "install.sh: could not install torch"; exit 1; }
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
echo "install.sh: ready (.venv/bin/vaesynth)"
