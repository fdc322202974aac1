"""Engine benchmarks: DSP load vs voice count, event-to-output latency, offline render speed.

    .venv/bin/python benchmarks/bench_engine.py [--blocks 2000] [--sample-rate 48000] [--blocksize 128]

DSP load (DESIGN.md): render time per device block / block duration, median and p99, for each engine and
voice count. "Render time per block" is what the render thread spends to produce one block: event handling,
envelopes, the renderer and the output stage for blocksize / chunk_size chunks (Engine.process_into), on one
thread. Latency: a simulated device thread calls `audio_callback` at real-time block deadlines while the
render thread runs; a note-on is posted at a random moment and we find the first output sample it affects.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.synth.timbres import harmonic_timbre  # noqa: E402
from vaesynth.synth.engine import Engine, make_renderer  # noqa: E402
from vaesynth.synth.oscbank import harmonic_amplitudes  # noqa: E402
from vaesynth.synth.voices import STEAL_SLOTS  # noqa: E402

# A rich timbre: 1/k partials at f_ref 110 Hz up to the model's Nyquist (200 partials).
TIMBRE = harmonic_timbre(0.3 / np.arange(1, 201), f_ref_hz=110.0)
# Chords spread over 3 octaves (C2..C5): low notes carry up to ~180 partials below 24 kHz.
NOTES = [36 + (7 * i) % 36 for i in range(64)]


def engines_available(sample_rate, polyphony, chunk):
    names = ["oscbank"]
    try:
        make_renderer("istft", sample_rate, polyphony + STEAL_SLOTS, chunk)
        names.append("istft")
    except Exception as e:  # noqa: BLE001 - report why and go on
        print(f"(istft engine not benchmarked: {e})")
    return names


def dsp_load(engine_name, n_voices, sample_rate, blocksize, chunk, n_blocks):
    e = Engine(
        sample_rate,
        polyphony=max(16, n_voices),
        chunk_size=chunk,
        blocksize=blocksize,
        engine=engine_name,
        timbre=TIMBRE,
    )
    for i in range(n_voices):
        e.note_on(NOTES[i], 100, at_sample=0)
    buf = np.zeros(blocksize, np.float32)
    for _ in range(int(0.1 * sample_rate / blocksize) + 10):  # past the attack, kernels compiled
        e.process_into(buf)
    times = np.empty(n_blocks)
    cpu = np.empty(n_blocks)
    for i in range(n_blocks):
        c0 = time.thread_time_ns()
        t0 = time.perf_counter_ns()
        e.process_into(buf)
        times[i] = time.perf_counter_ns() - t0
        cpu[i] = time.thread_time_ns() - c0
    block_ns = blocksize / sample_rate * 1e9
    assert e.n_sounding == n_voices
    return (
        np.median(times) / 1e3,
        np.percentile(times, 99) / 1e3,
        np.median(times) / block_ns,
        np.percentile(cpu, 99) / 1e3,
    )


def latency(sample_rate, blocksize, n_events=40, engine_name="oscbank", margin_ms=None):
    """Event -> first affected output sample, in ms, with the render thread and a real-time device clock."""
    e = Engine(
        sample_rate, blocksize=blocksize, engine=engine_name, timbre=TIMBRE, render_margin_ms=margin_ms
    )
    block_s = blocksize / sample_rate
    n_blocks = int(n_events * 0.25 / block_s) + 10
    out = np.zeros((n_blocks * blocksize, 1), np.float32)
    deadlines = np.zeros(n_blocks)
    running = True

    def device():
        t0 = time.perf_counter() + 0.05
        for k in range(n_blocks):
            if not running:
                break
            t = t0 + k * block_s
            while time.perf_counter() < t:
                time.sleep(min(5e-4, max(0.0, t - time.perf_counter())))
            deadlines[k] = time.perf_counter()
            e.audio_callback(out[k * blocksize : (k + 1) * blocksize], blocksize, None, None)

    e.start()
    dev = threading.Thread(target=device)
    dev.start()
    rng = np.random.default_rng(0)
    posted = []
    time.sleep(0.1)
    for _ in range(n_events):
        time.sleep(0.2 + rng.uniform(0, block_s))
        t = time.perf_counter()
        e.note_on(69, 127)
        posted.append(t)
        time.sleep(0.02)
        e.panic()  # 5 ms fade: silent again well before the next event
    time.sleep(0.05)
    running = False
    dev.join()
    e.stop()
    y = out[:, 0]
    lat = []
    for t in posted:
        k = int(np.searchsorted(deadlines, t))  # first callback after the event
        if k >= n_blocks or deadlines[k] == 0:
            continue
        nz = np.flatnonzero(y[k * blocksize :] != 0)
        if len(nz) == 0:
            continue
        first = k * blocksize + nz[0]
        kb, off = divmod(first, blocksize)
        lat.append((deadlines[kb] + off / sample_rate - t) * 1e3)
    return np.array(lat), e.xruns, e.lead_samples


def offline_speed(n_voices, sample_rate, seconds=10.0):
    e = Engine(sample_rate, timbre=TIMBRE)
    for i in range(n_voices):
        e.note_on(NOTES[i], 100, at_sample=0)
    e.process(4096)
    c0 = time.thread_time()
    t0 = time.perf_counter()
    e.process(int(seconds * sample_rate))
    return seconds / (time.perf_counter() - t0), seconds / (time.thread_time() - c0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--blocks", type=int, default=2000)
    p.add_argument("--sample-rate", type=int, default=48000)
    p.add_argument("--blocksize", type=int, default=128)
    p.add_argument("--chunk", type=int, default=64)
    p.add_argument("--skip-latency", action="store_true")
    args = p.parse_args(argv)
    sr, bs, ch = args.sample_rate, args.blocksize, args.chunk
    block_ms = bs / sr * 1e3
    print(
        f"DSP load at {sr} Hz, {bs}-sample blocks ({block_ms:.3f} ms), chunk {ch}, one thread; timbre "
        f"{len(harmonic_amplitudes(TIMBRE))} partials at f_ref 110 Hz, notes C2..C5"
    )
    # Wall-clock p99 on a shared machine is mostly preemption (the OS gave the core to someone else); the
    # thread's CPU time p99 is the DSP's own worst case.
    print(
        f"{'engine':8} {'voices':>6} {'median us':>10} {'p99 us':>9} {'load %':>7} {'p99 load %':>10} "
        f"{'p99 CPU us':>10}"
    )
    for name in engines_available(sr, 16, ch):
        for v in (1, 2, 4, 8, 12, 16, 24, 32):
            med, p99, load, p99_cpu = dsp_load(name, v, sr, bs, ch, args.blocks)
            print(
                f"{name:8} {v:6d} {med:10.1f} {p99:9.1f} {100 * load:7.1f} "
                f"{100 * p99 / (block_ms * 1e3):10.1f} {p99_cpu:10.1f}"
            )
    t0 = time.perf_counter_ns()
    for _ in range(200):
        harmonic_amplitudes(TIMBRE)
    print(
        f"\nset_timbre peak picking (oscbank, 200 partials): "
        f"{(time.perf_counter_ns() - t0) / 200 / 1e3:.1f} us"
    )

    cb = Engine(sr, blocksize=bs, timbre=TIMBRE)
    out = np.zeros((bs, 2), np.float32)
    ts = []
    for _ in range(2000):
        cb.pump()
        t0 = time.perf_counter_ns()
        cb.audio_callback(out, bs, None, None)
        ts.append(time.perf_counter_ns() - t0)
    print(
        f"audio_callback (copy one block from the ring): median {np.median(ts) / 1e3:.1f} us, "
        f"p99 {np.percentile(ts, 99) / 1e3:.1f} us"
    )

    if not args.skip_latency:
        print(
            f"\nEvent -> first affected output sample (render thread + real-time device clock, {bs}-sample "
            f"blocks = {block_ms:.2f} ms)"
        )
        for name in engines_available(sr, 16, ch):
            for margin in (None, 1.0):
                lat, xruns, lead = latency(sr, bs, engine_name=name, margin_ms=margin)
                mode = "eager" if margin is None else f"just in time, margin {margin} ms"
                print(
                    f"{name:8} lead {lead} samples, {mode}: latency median {np.median(lat):.2f} ms, p90 "
                    f"{np.percentile(lat, 90):.2f} ms, max {lat.max():.2f} ms over {len(lat)} events; "
                    f"xruns {xruns} of {int(40 * 0.25 * sr / bs) + 10} blocks"
                )

    print("\nOffline render speed (Engine.process, oscbank; wall clock, and per CPU second of the thread)")
    for v in (1, 4, 16):
        wall, cpu = offline_speed(v, sr)
        print(f"{v:2d} voice(s): {wall:7.0f}x real time (wall), {cpu:7.0f}x (CPU time)")


if __name__ == "__main__":
    main()
