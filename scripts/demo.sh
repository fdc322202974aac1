#!/usr/bin/env bash
# The main job in one command: install, then play the bundled instrument live with `vaesynth serve`.
# On a machine without a sound card it starts a realtime JACK dummy server first, so the synth really runs
# against a real-time audio server; `--record` keeps what was played (demo-live.wav) and the script checks it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
out=${1:-demo-live.wav}
jack_pid=""
cleanup() { [ -z "$jack_pid" ] || kill "$jack_pid" 2>/dev/null || true; }
trap cleanup EXIT
if ! .venv/bin/python - <<'PY' 2>/dev/null
import sys, sounddevice as sd
sys.exit(0 if sd.query_devices(kind="output")["max_output_channels"] > 0 else 1)
PY
then
  echo "demo: no audio output device: starting the JACK dummy server (48 kHz, 128-sample periods)"
  jackd -R -P 70 -d dummy -r 48000 -p 128 > /tmp/vaesynth-demo-jackd.log 2>&1 &
  jack_pid=$!
  jack_wait -w -t 10 > /dev/null 2>&1
fi
.venv/bin/vaesynth serve --record "$out" --midi-in none &
serve_pid=$!
.venv/bin/python examples/play_demo.py --record "$out" --server-pid "$serve_pid"
wait "$serve_pid"
