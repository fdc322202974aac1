"""Fixtures for the live tests: a tiny trained model, `vaesynth serve` as a real subprocess on the session's
JACK server, and an OSC client that can also receive replies and feedback."""

from __future__ import annotations

import itertools
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pythonosc.osc_packet import OscPacket

from tests.training.synthetic import tiny_config, write_npz
from vaesynth.live.osc import encode_message

REPO = Path(__file__).resolve().parents[2]
_names = itertools.count()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A checkpoint trained in seconds on harmonic tones (PCA axes: brightness / number of harmonics)."""
    from vaesynth.training.trainer import train

    d = tmp_path_factory.mktemp("live-model")
    data = write_npz(d, n_sounds=48)
    return Path(train(tiny_config(data, d / "tiny.pt", epochs=25)))


class OscClient:
    """A UDP socket that sends to the server and receives its replies (info, feedback)."""

    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.addr = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def send(self, address: str, *args) -> None:
        self.sock.sendto(encode_message(address, args), self.addr)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.addr)

    def receive(self, timeout_s: float, until: str | None = None) -> list[tuple[float, str, list]]:
        """Every message arriving within timeout_s (or until one with address `until` arrives):
        (arrival time.monotonic(), address, args)."""
        out = []
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                break
            data, _ = self.sock.recvfrom(65535)
            t = time.monotonic()
            for m in OscPacket(data).messages:
                out.append((t, m.message.address, list(m.message.params)))
            if until is not None and any(m[1] == until for m in out):
                break
        return out

    def info(self, timeout_s: float = 5.0) -> dict:
        self.drain()
        self.send("/vaesynth/info")
        for _, address, args in self.receive(timeout_s, until="/vaesynth/info"):
            if address == "/vaesynth/info":
                return json.loads(args[0])
        raise AssertionError("no /vaesynth/info reply")

    def drain(self) -> None:
        """Discard everything already queued (stale replies)."""
        self.sock.setblocking(False)
        try:
            while True:
                self.sock.recvfrom(65535)
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)

    def close(self) -> None:
        self.sock.close()


class ServeProcess:
    """`python -m vaesynth serve ...` running on the JACK server; .port (OSC), .jack_name, .client."""

    def __init__(self, args: list[str], log_path: Path, jack_name: str, timeout_s: float = 90.0):
        self.jack_name = jack_name
        self.log_path = log_path
        self.log = open(log_path, "w")
        cmd = [sys.executable, "-m", "vaesynth", "serve", "--osc-port", "0", "--jack-name", jack_name, *args]
        self.proc = subprocess.Popen(
            cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO, env=dict(os.environ)
        )
        deadline = time.monotonic() + timeout_s
        while True:
            text = log_path.read_text()
            if "Ctrl-C stops" in text:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"vaesynth serve did not start (exit {self.proc.poll()}):\n{text}")
            time.sleep(0.1)
        self.port = int(re.search(r"osc: [\d.]+:(\d+)", text).group(1))
        self.client = OscClient(self.port)

    def output(self) -> str:
        return self.log_path.read_text()

    def terminate(self, timeout_s: float = 15.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout_s)
        finally:
            self.log.close()
            self.client.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture
def serve(jack_server, tmp_path):
    """Factory: serve(*args) starts a server (unique JACK name) and stops it after the test."""
    started = []

    def start(*args: str) -> ServeProcess:
        name = f"vst{os.getpid() % 10000}x{next(_names)}"
        p = ServeProcess(list(args), tmp_path / f"{name}.log", name)
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()


def jack_ports(pattern: str = "") -> list[str]:
    r = subprocess.run(
        ["jack_lsp", pattern] if pattern else ["jack_lsp"], capture_output=True, text=True, timeout=10
    )
    return [line.strip() for line in r.stdout.splitlines() if line.strip()]


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


def poll(fn, timeout_s: float = 5.0, interval_s: float = 0.05):
    """Call fn until it returns a truthy value (returned) or the timeout passes (the last value)."""
    deadline = time.monotonic() + timeout_s
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval_s)
