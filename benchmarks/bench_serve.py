"""`vaesynth serve` on a running JACK server: OSC control latency, and a soak run (xruns, CPU, memory).

    .venv/bin/python benchmarks/bench_serve.py [--model CKPT] [--trials 150] [--minutes 5] [--skip-soak]

Needs a JACK server (e.g. `jackd -R -P 70 -d dummy -r 48000 -p 128 &`). Without --model it trains a tiny
model first (tests/training/synthetic.py), so it runs anywhere the tests run.

Control latency, measured inside the server (the same classes `serve` wires together, in-process):
  - the OSC receiver stamps every datagram with time.perf_counter() right after recvfrom (t_recv);
  - the audio callback logs, per block, perf_counter() at entry, how long it waited for a late event before
    handing the block over (the native callback's bounded wait, `--event-wait-ms`), the index of the block's
    first frame and the device's reported output latency of that block (outputBufferDacTime - currentTime);
  - the recording ring (`--record`'s) holds every sample the callback handed out, indexed by frame.
A trial sends `/vaesynth/note 69 100` from silence over UDP; the first sample above 1e-7 after t_recv is the
first sample reflecting it. latency = t_callback(block holding it) + waited + offset in block / rate - t_recv
("to callback": when the sample is handed to JACK) and t_callback + JACK's reported output latency + offset
/ rate - t_recv ("to DAC": when it is played; a wait within the period does not move it).
/pc and /z add one decode (its time is measured separately and printed).

Soak: `vaesynth serve` as a subprocess, 8 held notes, 4 PCA knobs moving 50 times a second (random walk);
every 10 s the server's CPU use (from /proc/PID/stat) and RSS; xruns from its /info at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vaesynth.commands.serve import REWIND_LEAD_BLOCKS as DEFAULT_LEAD_BLOCKS  # noqa: E402  serve's default


def tiny_model(folder: Path) -> Path:
    from tests.training.synthetic import tiny_config, write_npz
    from vaesynth.training.trainer import train

    return Path(train(tiny_config(write_npz(folder, n_sounds=48), folder / "tiny.pt", epochs=25)))


def osc(address: str, *args) -> bytes:
    from vaesynth.live.osc import encode_message

    return encode_message(address, args)


def latency_run(
    model: Path,
    trials: int,
    mode: str,
    engine_name: str,
    blocksize: int = 128,
    callback: str = "auto",
    event_wait_s: float | None = None,
    control: str = "note",
    onset_wait: bool = True,
    stream_wait: bool = True,
):
    import soundfile as sf

    from vaesynth.live.audio import (
        AudioOut,
        LatencyProbe,
        promote_threads,
        resolve_device,
        set_jack_client_name,
    )
    from vaesynth.live.osc import OscReceiver
    from vaesynth.live.record import Recorder
    from vaesynth.live.server import WAIT_FOR_OSC, WAIT_ON_ONSET_OSC, ServeOptions, Server
    from vaesynth.models.instrument import load_instrument
    from vaesynth.synth.engine import Engine
    from vaesynth.synth.gesture import GestureOnset

    set_jack_client_name("vaesynth-bench")
    device = resolve_device(None)
    rate = int(device["default_samplerate"])
    inst = load_instrument(model, torch_free=True)  # as serve loads it
    if mode.startswith("rewind"):  # serve's default: blocks queued ("rewind:LEAD"), rewound on events
        lead = int(mode.split(":")[1]) if ":" in mode else DEFAULT_LEAD_BLOCKS * blocksize
        engine = Engine(rate, blocksize=blocksize, engine=engine_name, rewind=True, lead_samples=lead)
    else:  # "eager" (one block queued) or a just-in-time margin in ms
        margin_ms = None if mode == "eager" else float(mode)
        engine = Engine(rate, blocksize=blocksize, engine=engine_name, render_margin_ms=margin_ms)
    server = Server(inst, engine, ServeOptions(engine=engine_name, blocksize=blocksize), log=lambda *a: None)
    server.probe_receive = []
    if not onset_wait:  # continuous controls never waited for (as before gesture onsets were)
        engine._onset = GestureOnset(math.inf)
    if control.startswith("pc"):  # where each decoded timbre was applied (the first sample it sounds from)
        engine.probe_timbre = {}
    server.osc = OscReceiver(
        "127.0.0.1",
        0,
        server.osc_sink,
        server.osc_idle,
        engine.incoming,
        wait_for=WAIT_FOR_OSC,
        wait_on_onset=WAIT_ON_ONSET_OSC if onset_wait else frozenset(),
    )
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "out.wav"
        server.recorder = Recorder(wav, rate, capacity_s=8.0)
        probe = LatencyProbe()
        engine.start()
        server.start()
        server.osc.start()
        server.gc.start()  # as serve does: freeze the start-up heap before the stream starts
        server.audio = AudioOut(
            engine,
            device,
            blocksize,
            recorder=server.recorder,
            probe=probe,
            callback=callback,
            event_wait_s=event_wait_s,
        )
        server.audio.start()
        if stream_wait:
            server.watch_waits()  # as serve does
        promote_threads(engine._thread, 60)  # as serve does
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        addr = ("127.0.0.1", server.osc.port)
        rng = np.random.default_rng(0)
        time.sleep(0.3)
        if control != "note":  # a held note, its level stepped up from -60 dB to 0 dB
            client.sendto(osc("/vaesynth/note", 69, 100), addr)
            time.sleep(0.2)
        for _ in range(trials):
            if control == "gain":  # the step is a gesture's first move: it follows a pause
                client.sendto(osc("/vaesynth/gain", -60.0), addr)
                time.sleep(0.08)
                client.sendto(osc("/vaesynth/gain", 0.0), addr)
            elif control == "gain-stream":  # the step inside a stream of moves 10 ms apart
                for level in [-60.0] * 8 + [0.0] * 4:
                    client.sendto(osc("/vaesynth/gain", level), addr)
                    time.sleep(0.01)
            elif control == "pc":  # knob moves after a pause, each a gesture's first (and decoded)
                client.sendto(osc("/vaesynth/pc", 0, 2.0), addr)
                time.sleep(0.08)
                client.sendto(osc("/vaesynth/pc", 0, -2.0), addr)
            elif control == "pc-stream":  # a knob turning: moves 10 ms apart
                for k in range(12):
                    client.sendto(osc("/vaesynth/pc", 0, float(np.sin(k / 2.0) * 2)), addr)
                    time.sleep(0.01)
            else:
                client.sendto(osc("/vaesynth/note", 69, 100), addr)
                time.sleep(0.04)
                client.sendto(osc("/vaesynth/panic"), addr)
            time.sleep(0.05 + 0.01 * rng.random())  # random phase against the block clock
        time.sleep(0.2)
        server.audio.stop()
        server.gc.stop()
        server.osc.stop()
        server.stop()
        engine.stop()
        server.recorder.close()
        x, _ = sf.read(wav, dtype="float32")
    n = int(probe.n[0])
    t_cb, first, dac = probe.t_callback[:n], probe.first_frame[:n], probe.dac_delay_s[:n]
    handed = t_cb + probe.waited_s[:n]  # when each block went to the device
    to_cb, to_dac = [], []
    if control.startswith("pc"):  # no detection in the audio: the engine logged where each timbre applied
        posted = sorted((t, pos) for t, pos, _ in engine.probe_timbre.values() if pos >= 0)
        t_post = np.array([t for t, _ in posted])
        for t_recv, address, _ in server.probe_receive:
            k = int(np.searchsorted(t_post, t_recv)) if address.endswith("/pc") else len(posted)
            if k >= len(posted):
                continue
            s = posted[k][1]  # the first decode posted after the move: the one that carries it
            j = int(np.searchsorted(first, s, side="right")) - 1
            if j < 0 or j >= n:
                continue
            offset = (s - first[j]) / rate
            to_cb.append(handed[j] + offset - t_recv)
            to_dac.append(t_cb[j] + dac[j] + offset - t_recv)
    previous = None
    for t_recv, address, args in [] if control.startswith("pc") else server.probe_receive:
        if not address.endswith(control.split("-")[0]):
            continue
        before, previous = previous, args
        if control == "note" and args[1] == 0:
            continue  # note-offs
        if control != "note" and (args[0] < 0 or before is None or before[0] >= 0):
            continue  # only the steps up, not the moves down or the 0 dB moves after a step
        i = int(np.searchsorted(handed, t_recv))  # first block handed out after the packet arrived
        if i >= n:
            continue
        start = int(first[i])
        # a note: the first sample out of silence; a gain step: the first sample 10x louder than before it
        floor = 1e-7 if control == "note" else 10 * np.abs(x[max(0, start - rate // 50) : start]).max()
        loud = np.flatnonzero(np.abs(x[start : start + rate // 20]) > floor)
        if loud.size == 0:
            continue
        s = start + int(loud[0])
        j = int(np.searchsorted(first, s, side="right")) - 1
        offset = (s - first[j]) / rate
        to_cb.append(handed[j] + offset - t_recv)
        to_dac.append(t_cb[j] + dac[j] + offset - t_recv)
    decode_s = []
    z = np.zeros(inst.latent_dim, np.float32)
    for k in range(200):
        z[0] = np.sin(k)
        t = time.perf_counter()
        inst.timbre_for_latent(z)
        decode_s.append(time.perf_counter() - t)
    xruns = (engine.xruns, engine.device_xruns, engine.rewinds, engine.rewind_misses)
    xruns += server.audio.event_waits
    return np.array(to_cb), np.array(to_dac), float(np.median(decode_s)), xruns, rate


def host_steal_s() -> float:
    """CPU seconds the hypervisor has given to other guests so far (/proc/stat steal, the live tests'
    reading). On this VM JACK's own xruns come with bursts of it: the benchmark prints it per run."""
    from tests.live.hostnoise import host_steal_ticks

    return host_steal_ticks() / os.sysconf("SC_CLK_TCK")


def proc_stat(pid: int) -> tuple[float, float]:
    """(user + system CPU seconds, RSS MiB) of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_s = (int(fields[11]) + int(fields[12])) / ticks
    rss_mib = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return cpu_s, rss_mib


def soak(model: Path, minutes: float, engine_name: str, extra: list[str], callback: str = "auto"):
    d = Path(tempfile.mkdtemp())
    log = open(d / "serve.log", "w")
    cmd = [
        sys.executable,
        "-m",
        "vaesynth",
        "serve",
        "--model",
        str(model),
        "--osc-port",
        "0",
        "--midi-in",
        "none",
        "--engine",
        engine_name,
        "--jack-name",
        "vaesynth-soak",
        "--info-on-exit",
        str(d / "exit.json"),
        *extra,
    ]
    env = {**os.environ, "VAESYNTH_CALLBACK": callback}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    try:
        while "Ctrl-C stops" not in (d / "serve.log").read_text():
            if proc.poll() is not None:
                raise SystemExit((d / "serve.log").read_text())
            time.sleep(0.1)
        port = int((d / "serve.log").read_text().split("osc: ")[1].split(":")[1].split()[0])
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        addr = ("127.0.0.1", port)
        for note in (48, 52, 55, 59, 62, 65, 69, 72):
            client.sendto(osc("/vaesynth/note", note, 80), addr)
        client.sendto(osc("/vaesynth/gain", -12.0), addr)
        rng = np.random.default_rng(1)
        pcs = np.zeros(4)
        rows = []
        t0 = time.monotonic()
        cpu0, rss0 = proc_stat(proc.pid)
        last = (t0, cpu0)
        k = 0
        while (now := time.monotonic()) - t0 < minutes * 60:
            pcs = np.clip(pcs + rng.normal(0, 0.15, 4), -3, 3)
            for i, v in enumerate(pcs):
                client.sendto(osc("/vaesynth/pc", i, float(v)), addr)
            k += 1
            if now - last[0] >= 10.0:
                cpu, rss = proc_stat(proc.pid)
                rows.append((now - t0, 100 * (cpu - last[1]) / (now - last[0]), rss))
                last = (now, cpu)
            time.sleep(max(0.0, t0 + k * 0.02 - time.monotonic()))  # 50 moves per second
        proc.send_signal(2)
        proc.wait(timeout=30)
        info = json.loads((d / "exit.json").read_text())
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    return rows, rss0, info, k


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path)
    ap.add_argument("--trials", type=int, default=150)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--skip-soak", action="store_true")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--engine", default="oscbank")
    ap.add_argument("--lead", type=int, default=None, help="soak: serve --lead SAMPLES")
    ap.add_argument("--margin-ms", type=float, default=None, help="soak: serve --render-margin-ms MS")
    ap.add_argument("--no-rewind", action="store_true", help="soak: serve --no-rewind")
    ap.add_argument(
        "--callback",
        default="auto",
        choices=("auto", "native", "python"),
        help="audio callback: native (numba cfunc, no GIL) or python (sounddevice's); auto = native on Linux",
    )
    ap.add_argument(
        "--margins",
        default="rewind,eager,1.0",
        help="latency modes to measure: comma list of 'rewind' (serve's default), 'eager' and just-in-time "
        "render margins in ms (default rewind,eager,1.0)",
    )
    ap.add_argument(
        "--event-wait-ms",
        type=float,
        default=None,
        help="latency: how long the native callback may wait for a late event (default: serve's, "
        "half a block; 0 = never)",
    )
    ap.add_argument(
        "--control",
        choices=("note", "gain", "gain-stream", "pc", "pc-stream"),
        default="note",
        help="latency: of a note-on, or of a /gain step -60 -> 0 dB on a held note (a continuous control, as "
        "knob moves): 'gain' after an 80 ms pause (a gesture's first move, waited for when late), "
        "'gain-stream' within a stream of moves 10 ms apart (never waited for); 'pc', 'pc-stream' the same "
        "for /pc 0 knob moves (decoded; timed where the engine applied the timbre)",
    )
    ap.add_argument(
        "--no-onset-wait",
        action="store_true",
        help="latency: never wait for continuous controls, not even a gesture's first move",
    )
    ap.add_argument(
        "--no-stream-wait",
        action="store_true",
        help="latency: wait for a continuous control only at a gesture's first move, never within a stream "
        "(the code before synth/gesture.py's stream waits)",
    )
    a = ap.parse_args()
    wait_s = None if a.event_wait_ms is None else a.event_wait_ms * 1e-3
    os.environ.setdefault("MIDO_BACKEND", "mido.backends.rtmidi/UNIX_JACK")
    model = a.model or tiny_model(Path(tempfile.mkdtemp()))
    if not a.skip_latency:
        what = {
            "note": "note-on",
            "gain": "/gain step -60 -> 0 dB after a pause (a gesture's first move)",
            "gain-stream": "/gain step -60 -> 0 dB within a stream of moves 10 ms apart",
            "pc": "/pc 0 +-2 after a pause (a gesture's first move, decoded)",
            "pc-stream": "/pc 0 moves 10 ms apart (a knob turning, decoded)",
        }[a.control]
        if a.no_onset_wait:
            what += ", continuous controls never waited for"
        print(f"OSC {what} -> first output sample, 48 kHz / 128-sample blocks, {a.engine}, {a.trials} trials")
        print(f"callback: {a.callback}; load average {os.getloadavg()[0]:.2f}")
        print(
            f"{'mode':<26}{'to callback med':>16}{'p95':>7}{'p99':>7}{'max':>7}{'to DAC med':>12}{'p99':>7}"
            f"{'underruns':>11}{'dev xruns':>10}{'rewinds':>9}{'missed':>8}{'waited':>8}{'ran out':>8}"
        )
        for m in a.margins.split(","):
            m = m.strip()
            label = {"eager": "eager, 1 block", "rewind": f"rewind, {DEFAULT_LEAD_BLOCKS} blocks"}.get(m)
            if label is None:
                label = f"rewind, lead {m[7:]}" if m.startswith("rewind:") else f"just in time, {m} ms"
            steal0, t0 = host_steal_s(), time.monotonic()
            to_cb, to_dac, decode_s, xruns, rate = latency_run(
                model,
                a.trials,
                m,
                a.engine,
                callback=a.callback,
                event_wait_s=wait_s,
                control=a.control,
                onset_wait=not a.no_onset_wait,
                stream_wait=not a.no_stream_wait,
            )
            steal = (host_steal_s() - steal0) / (time.monotonic() - t0)
            ms = lambda v, q: f"{np.percentile(v, q) * 1e3:.2f}"  # noqa: E731
            print(
                f"{label:<26}{ms(to_cb, 50):>13} ms{ms(to_cb, 95):>7}{ms(to_cb, 99):>7}{ms(to_cb, 100):>7}"
                f"{ms(to_dac, 50):>12}{ms(to_dac, 99):>7}"
                f"{xruns[0]:>11}{xruns[1]:>10}{xruns[2]:>9}{xruns[3]:>8}{xruns[4]:>8}{xruns[5]:>8}"
                f"   (n={len(to_cb)}, host steal {steal * 1e3:.1f} ms/s)"
                # an underrun plays zeros the ring never held: engine positions no longer match frames
                + (" - underruns: pc timings unreliable" if a.control.startswith("pc") and xruns[0] else "")
            )
        print(
            f"one block = {128 / rate * 1e3:.2f} ms; decode (one latent -> timbre, added by /pc and /z): "
            f"median {decode_s * 1e6:.0f} us"
        )
    if not a.skip_soak:
        extra = ["--lead", str(a.lead)] if a.lead else []
        extra += ["--render-margin-ms", str(a.margin_ms)] if a.margin_ms else []
        extra += ["--no-rewind"] if a.no_rewind else []
        rewind = not (a.no_rewind or a.margin_ms)
        lead = a.lead or (f"{DEFAULT_LEAD_BLOCKS} blocks" if rewind else "one block")
        how = f"render {a.margin_ms} ms before each callback" if a.margin_ms else "eager rendering"
        print(
            f"\nsoak: {a.minutes:g} min, 8 held notes, 4 PCA knobs at 50 moves/s, {a.engine}, lead {lead}, "
            + how
            + (", rewound on events" if rewind else "")
        )
        steal0, t0 = host_steal_s(), time.monotonic()
        rows, rss0, info, k = soak(model, a.minutes, a.engine, extra, a.callback)
        steal = (host_steal_s() - steal0) / (time.monotonic() - t0)
        waits = info.get("event_waits", {})
        print(f"{'t (s)':>8}{'CPU %':>8}{'RSS MiB':>10}")
        print(f"{0:>8.0f}{'':>8}{rss0:>10.1f}")
        for t, cpu, rss in rows:
            print(f"{t:>8.0f}{cpu:>8.1f}{rss:>10.1f}")
        print(
            f"xruns {info['xruns']} (ring underruns) + {info.get('device_xruns', '?')} (device) in "
            f"{info['callbacks']} callbacks ({info.get('audio_callback', '?')} callback); "
            f"{info.get('rewinds', 0)} rewinds, {info.get('rewind_misses', 0)} missed; callback waited for "
            f"{waits.get('waited', 0)} ({waits.get('ran_out', 0)} ran out); "
            f"{k * 4} /pc messages sent, "
            f"{info['received'].get('osc applied', 0)} applied, {info['dropped_total']} dropped; "
            f"host steal {steal * 1e3:.1f} ms/s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
