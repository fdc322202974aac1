"""`vaesynth serve` starts without torch (the bundled model is read and decoded with numpy) and plays its
first note without an xrun: a real server process on the session's JACK dummy server, a note over OSC, the
recording checked. Start-up time is
measured by benchmarks/bench_startup.py, never asserted here."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from vaesynth.live.osc import encode_message

REPO = Path(__file__).resolve().parents[2]

# Runs `vaesynth serve` exactly as `python -m vaesynth` does, and at exit records which heavy libraries the
# process imported.
WRAPPER = """
import atexit, json, runpy, sys
out = sys.argv[1]
def report():
    with open(out, "w") as f:
        json.dump(sorted(m for m in ("torch", "sklearn") if m in sys.modules), f)
atexit.register(report)
sys.argv = ["vaesynth", *sys.argv[2:]]
runpy.run_module("vaesynth", run_name="__main__", alter_sys=True)
"""


def test_serve_starts_without_torch_and_plays_the_first_note(jack_server, tmp_path):
    from tests.live.hostnoise import undisturbed

    runs = iter(range(1, 100))
    run = undisturbed(
        lambda: _start_and_play(tmp_path / f"run{next(runs)}"), "exit", jack_log=jack_server["log"]
    )
    text, wav = run["log"], run["wav"]
    assert "decoded with torch" not in text, text
    assert run["modules"] == [], "serve imported torch/sklearn"
    # the first note did not stall the render thread
    assert run["exit"]["xruns"] == 0, (run["attempts"], run["steal_ticks"], run["driver_late"], text)
    audio, rate = sf.read(wav, dtype="float32")
    assert rate == jack_server["sample_rate"] and np.isfinite(audio).all()
    # The note sounded: its loudest 10 ms is at least -60 dBFS (an idle engine writes exact zeros).
    block = rate // 100
    frames = audio.reshape(-1, audio.shape[1]) if audio.ndim == 2 else audio[:, None]
    rms = [float(np.sqrt(np.mean(frames[i : i + block] ** 2))) for i in range(0, len(frames) - block, block)]
    assert max(rms) > 1e-3, max(rms)


def _start_and_play(d: Path) -> dict:
    """Start serve (torch-free), send a PCA move and a note, SIGTERM it; what it logged and reported."""
    d.mkdir()
    modules, wav, log_path = d / "modules.json", d / "out.wav", d / "serve.log"
    info = d / "info.json"
    name = f"vstart{os.getpid() % 10000}"
    cmd = [sys.executable, "-c", WRAPPER, str(modules), "serve", "--osc-port", "0", "--midi-in", "none"]
    cmd += ["--jack-name", name, "--record", str(wav), "--info-on-exit", str(info)]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            deadline = time.monotonic() + 90
            while "Ctrl-C stops" not in (text := log_path.read_text()):
                assert proc.poll() is None and time.monotonic() < deadline, text
                time.sleep(0.05)
            port = int(re.search(r"osc: [\d.]+:(\d+)", text).group(1))
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(encode_message("/vaesynth/pc", [0, 1.5]), ("127.0.0.1", port))
                s.sendto(encode_message("/vaesynth/note", [57, 100]), ("127.0.0.1", port))
                time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0, log_path.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    return dict(
        log=log_path.read_text(),
        modules=json.loads(modules.read_text()),
        exit=json.loads(info.read_text()),
        wav=wav,
    )
