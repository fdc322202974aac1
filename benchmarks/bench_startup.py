"""`vaesynth serve` start-up: process start -> "ready" (model loaded, stream open: first sound possible).

    .venv/bin/python benchmarks/bench_startup.py [--runs 5] [--model CKPT] [--skip-imports]

Issue 5's target: within 2 s on the project machine. Each run starts `python -m vaesynth serve --midi-in none
--osc-port 0` as a fresh process on a JACK server (a realtime dummy server is started for the run if none is
up: `jackd -R -P 70 -d dummy -r 48000 -p 128`), waits for its "ready" line, then stops it with SIGINT.

Tables (medians over --runs, with the machine's load average, since the cores are shared):
1. serve as shipped (the model read and decoded without torch) and, for comparison, serve with the model
   loaded through torch (the same process with load_instrument's torch path forced: the pre-0.2 behaviour):
   wall time from spawn to "ready", and serve's own breakdown from its ready line (interpreter + CLI imports
   before serve runs; model load, in a thread; engine set-up incl. numba warm-up; the wait for the model;
   opening the stream).
2. What the pieces cost on their own, each in a fresh interpreter: importing numpy, numba, scipy.signal,
   sklearn and torch (minus a bare interpreter), and loading the instrument both ways.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# `vaesynth serve` with load_instrument's torch path forced (what serve did before the torch-free loader).
TORCH_SERVE = """
import sys
import vaesynth.models.instrument as instrument
_load = instrument.load_instrument
instrument.load_instrument = lambda path=None, num_threads=1, torch_free=False: _load(path, num_threads)
from vaesynth.cli import main
sys.exit(main(sys.argv[1:]))
"""

READY_FIELDS = {
    "after process start": r"ready in ([\d.]+) s after process start",
    "in serve": r"([\d.]+) s in serve",
    "model load": r"model load ([\d.]+) s",
    "engine set-up": r"engine set-up ([\d.]+) s",
    "numba warm-up": r"warm-up ([\d.]+) s",
    "waited for model": r"waited for the model ([\d.]+) s",
    "stream open": r"stream ([\d.]+) s",
}


def jack_running() -> bool:
    if shutil.which("jack_lsp") is None:
        return False
    r = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10)
    return r.returncode == 0 and "system:playback_1" in r.stdout


def start_jack():
    """A realtime JACK dummy server, or None when one already runs (left running)."""
    if jack_running():
        return None
    if shutil.which("jackd") is None:
        sys.exit("needs a JACK server: install jackd2 (Debian) or start one")
    proc = subprocess.Popen(
        ["jackd", "-R", "-P", "70", "-d", "dummy", "-r", "48000", "-p", "128"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    subprocess.run(["jack_wait", "-w", "-t", "10"], capture_output=True, timeout=15)
    deadline = time.monotonic() + 10
    while not jack_running():
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit("jackd did not start")
        time.sleep(0.1)
    return proc


def serve_once(prefix: list[str], model: str | None, name: str) -> dict:
    """One cold start: spawn -> ready line; returns the wall time and serve's own breakdown (s)."""
    cmd = [*prefix, "serve", "--midi-in", "none", "--osc-port", "0", "--jack-name", name]
    if model:
        cmd += ["--model", model]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, bufsize=1
    )
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("ready in"):
                wall = time.perf_counter() - t0
                break
        else:
            raise RuntimeError("serve exited before ready:\n" + "".join(lines))
        out = {"spawn -> ready (wall)": wall}
        for key, pattern in READY_FIELDS.items():
            m = re.search(pattern, line)
            out[key] = float(m.group(1)) if m else float("nan")
        out["before serve (interp + CLI imports)"] = out["after process start"] - out["in serve"]
        out["torch fallback"] = any("decoded with torch" in x for x in lines)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    return out


def fresh_python(code: str) -> float:
    """Wall seconds of `python -c code` in a fresh interpreter."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, capture_output=True)
    return time.perf_counter() - t0


def timed_in_fresh_python(setup: str, code: str) -> float:
    """Seconds `code` takes after `setup` in a fresh interpreter (measured inside it)."""
    prog = f"{setup}\nimport time\nt = time.perf_counter()\n{code}\nprint(time.perf_counter() - t)"
    r = subprocess.run([sys.executable, "-c", prog], check=True, cwd=REPO, capture_output=True, text=True)
    return float(r.stdout.split()[-1])


def med(values) -> float:
    return statistics.median(values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="cold starts per variant (median reported)")
    ap.add_argument("--model", default=None, help="checkpoint (default: the bundled model)")
    ap.add_argument("--skip-imports", action="store_true", help="only the serve start-up table")
    args = ap.parse_args()

    jack = start_jack()
    load_before = os.getloadavg()
    try:
        variants = {
            "serve (torch-free model)": [sys.executable, "-m", "vaesynth"],
            "serve, model via torch": [sys.executable, "-c", TORCH_SERVE],
        }
        results: dict[str, list[dict]] = {k: [] for k in variants}
        for i in range(args.runs):  # interleaved, so slow phases of the shared machine hit both alike
            for label, prefix in variants.items():
                results[label].append(serve_once(prefix, args.model, f"vstartup{os.getpid() % 10000}x{i}"))
        load_after = os.getloadavg()

        print(f"\n`vaesynth serve` start-up, median of {args.runs} cold starts (seconds)")
        print(
            f"machine load average (1/5/15 min): before {load_before[0]:.2f}/{load_before[1]:.2f}/"
            f"{load_before[2]:.2f}, after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f} "
            f"on {os.cpu_count()} cores"
        )
        keys = ["spawn -> ready (wall)", "after process start", "before serve (interp + CLI imports)"]
        keys += ["model load", "engine set-up", "numba warm-up", "waited for model", "stream open"]
        labels = list(variants)
        print(f"{'':38s}" + "".join(f"{label:>28s}" for label in labels))
        for key in keys:
            row = "".join(f"{med([r[key] for r in results[label]]):28.2f}" for label in labels)
            print(f"{key:38s}{row}")
        spread = "".join(
            f"{min(r['spawn -> ready (wall)'] for r in results[label]):>13.2f} .. "
            f"{max(r['spawn -> ready (wall)'] for r in results[label]):<11.2f}"
            for label in labels
        )
        print(f"{'spawn -> ready, min .. max':38s}{spread}")
        if any(r["torch fallback"] for r in results[labels[0]]):
            print("note: the model fell back to torch (see serve's output)")
        print(
            "(model load runs in a thread, in parallel with the engine set-up; 'waited for model': the rest)"
        )

        if args.skip_imports:
            return
        pieces = {
            "import numpy": "import numpy",
            "import numba": "import numba",
            "import scipy.signal": "import scipy.signal",
            "import sklearn": "import sklearn",
            "import torch": "import torch",
        }
        bare = med([fresh_python("pass") for _ in range(args.runs)])
        print(f"\nWhat the pieces cost alone, median of {args.runs} fresh interpreters (seconds)")
        print(f"{'bare interpreter':44s}{bare:8.2f}")
        for label, code in pieces.items():
            t = med([fresh_python(code) for _ in range(args.runs)]) - bare
            print(f"{label + ' (minus bare)':44s}{t:8.2f}")
        model = repr(args.model)
        setup = "from vaesynth.models.instrument import load_instrument"
        numpy_load = med(
            [
                timed_in_fresh_python(setup, f"load_instrument({model}, torch_free=True)")
                for _ in range(args.runs)
            ]
        )
        torch_load = med(
            [
                timed_in_fresh_python("import numpy", f"{setup}\nload_instrument({model})")
                for _ in range(args.runs)
            ]
        )
        print(f"{'load_instrument(torch_free=True)':44s}{numpy_load:8.2f}")
        print(f"{'import torch + load_instrument (torch path)':44s}{torch_load:8.2f}")
        print(f"load average now: {os.getloadavg()[0]:.2f}")
    finally:
        if jack is not None:
            jack.terminate()
            jack.wait(timeout=10)


if __name__ == "__main__":
    main()
