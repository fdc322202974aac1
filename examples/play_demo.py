"""Plays a short phrase on a running `vaesynth serve` over OSC and checks the recording it made.

    vaesynth serve --record demo-live.wav &      # then:
    python examples/play_demo.py --record demo-live.wav --server-pid $!

Waits for the server (/vaesynth/info), plays notes while sweeping the first two PCA axes, stops the server
with SIGTERM (which finalises the recording) and prints what the recording holds: length, peak, and the
pitch of the first note against the note that was sent, in cents.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import time

import numpy as np
from pythonosc.osc_message import OscMessage
from pythonosc.udp_client import SimpleUDPClient


def wait_for_server(host: str, port: int, timeout_s: float) -> dict:
    """Ask /vaesynth/info until the server answers; returns its JSON."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.5)
    client = SimpleUDPClient(host, port)
    client._sock = sock  # reply comes back to this socket
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        client.send_message("/vaesynth/info", [])
        try:
            data, _ = sock.recvfrom(65536)
        except socket.timeout:
            continue
        msg = OscMessage(data)
        if msg.address == "/vaesynth/info":
            return json.loads(msg.params[0])
    raise SystemExit(f"play_demo: no answer from vaesynth serve on {host}:{port} within {timeout_s:.0f} s")


def play(client: SimpleUDPClient) -> tuple[int, float]:
    """A phrase: A4 alone (for the pitch check), then chords while PC 1 and PC 2 sweep. Returns the first
    note and when it stops (seconds from the start)."""
    client.send_message("/vaesynth/note", [69, 100])
    time.sleep(1.0)
    client.send_message("/vaesynth/note", [69, 0])
    time.sleep(0.3)
    chords = [(57, 64, 69), (53, 60, 69), (55, 62, 67), (52, 59, 64)]
    steps = 50
    for i, chord in enumerate(chords):
        for n in chord:
            client.send_message("/vaesynth/note", [n, 90])
        for s in range(steps):
            x = (i * steps + s) / (len(chords) * steps)
            client.send_message("/vaesynth/pc", [0, float(-3 + 6 * x)])
            client.send_message("/vaesynth/pc", [1, float(3 * np.sin(2 * np.pi * x))])
            time.sleep(0.02)
        for n in chord:
            client.send_message("/vaesynth/note", [n, 0])
    time.sleep(0.5)
    return 69, 1.0


def check(path: str, note: int, note_s: float) -> None:
    import soundfile as sf

    from vaesynth.datasets.pitch import cents_between, estimate_f0, midi_to_hz

    y, rate = sf.read(path, dtype="float32", always_2d=True)
    y = y[:, 0]
    sounding = np.flatnonzero(np.abs(y) > 1e-4)
    if sounding.size == 0:
        raise SystemExit(f"play_demo: {path} is silent")
    start = sounding[0]
    seg = y[start + int(0.2 * rate) : start + int((note_s - 0.1) * rate)]
    f0, _ = estimate_f0(seg, rate, 256)
    f0 = f0[np.isfinite(f0)]
    cents = cents_between(float(np.median(f0)), midi_to_hz(note)) if f0.size else float("nan")
    peak_db = 20 * np.log10(np.abs(y).max())
    print(
        f"play_demo: {path}: {len(y) / rate:.2f} s at {rate} Hz, peak {peak_db:.1f} dBFS, "
        f"finite {bool(np.isfinite(y).all())}; first note MIDI {note} played at {cents:+.1f} cents"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9000)
    p.add_argument("--record", help="the server's --record file, checked after it stops")
    p.add_argument("--server-pid", type=int, help="send SIGTERM to this process after playing")
    p.add_argument("--timeout", type=float, default=60.0)
    args = p.parse_args()
    info = wait_for_server(args.host, args.port, args.timeout)
    print(
        f"play_demo: server up: model {info.get('model')}, engine {info.get('engine')}, "
        f"{info.get('sample_rate')} Hz"
    )
    note, note_s = play(SimpleUDPClient(args.host, args.port))
    if args.server_pid:
        os.kill(args.server_pid, signal.SIGTERM)
        for _ in range(100):
            try:
                os.kill(args.server_pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
    if args.record:
        check(args.record, note, note_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
