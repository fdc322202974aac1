"""Shared fixtures: a real-time JACK dummy server for tests that need a real audio/MIDI stack."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

JACK_RATE = 48000
JACK_PERIOD = 128


def _jack_running() -> bool:
    if shutil.which("jack_lsp") is None:
        return False
    r = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10)
    return r.returncode == 0 and "system:playback_1" in r.stdout


def _release_portaudio() -> None:
    """Let PortAudio leave JACK while the server still runs. Otherwise sounddevice's exit handler calls
    Pa_Terminate after jackd is gone and PortAudio's JACK host API aborts the whole test process (SIGABRT,
    exit 134) after every test has passed."""
    sd = sys.modules.get("sounddevice")
    if sd is not None:
        while sd._initialized > 0:
            sd._terminate()


@pytest.fixture(autouse=True, scope="session")
def _no_tqdm_monitor_thread():
    """Training tests draw tqdm bars, and tqdm starts a monitor thread that wakes every 10 s for the rest of
    the session; its allocations land inside the allocation tests' tracemalloc windows (a CI run measured
    4,516 bytes against istft's 4,096 limit). Bars drawn with monitor_interval 0 start no such thread."""
    from tqdm import tqdm

    old = tqdm.monitor_interval
    tqdm.monitor_interval = 0
    yield
    tqdm.monitor_interval = old


@pytest.fixture(autouse=True, scope="session")
def _private_dataset_cache(tmp_path_factory):
    """Tests never read or fill the user's dataset cache (~/.cache/vaesynth): one fresh cache per session."""
    old = os.environ.get("VAESYNTH_CACHE")
    os.environ["VAESYNTH_CACHE"] = str(tmp_path_factory.mktemp("vaesynth-cache"))
    yield
    if old is None:
        os.environ.pop("VAESYNTH_CACHE", None)
    else:
        os.environ["VAESYNTH_CACHE"] = old


@pytest.fixture(scope="session")
def jack_server():
    """A realtime JACK dummy server at 48 kHz / 128 samples, started for the session and stopped after.

    sounddevice (PortAudio's JACK host API) sees it as the default device; python-rtmidi's UNIX_JACK API
    sees its MIDI graph. An already-running server is reused and left running.
    """
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (Debian package jackd2; .ci/run installs it)")
    os.environ.setdefault("MIDO_BACKEND", "mido.backends.rtmidi/UNIX_JACK")
    if _jack_running():
        yield {"sample_rate": JACK_RATE, "blocksize": JACK_PERIOD, "started": False, "log": None}
        return
    log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "vaesynth-test-jackd.log"), "w")
    proc = subprocess.Popen(
        ["jackd", "-R", "-P", "70", "-d", "dummy", "-r", str(JACK_RATE), "-p", str(JACK_PERIOD)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        subprocess.run(["jack_wait", "-w", "-t", "10"], check=True, capture_output=True, timeout=15)
        deadline = time.monotonic() + 10
        while not _jack_running():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"jackd did not start (exit {proc.poll()}); see {log.name}")
            time.sleep(0.1)
        yield {"sample_rate": JACK_RATE, "blocksize": JACK_PERIOD, "started": True, "log": log.name}
    finally:
        _release_portaudio()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
