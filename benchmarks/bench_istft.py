"""IstftRenderer DSP load: render time per 128-sample block at 48 kHz for 1..8 voices, and added latency.

Steady state (voices held, after warm-up) and the block in which all voices start (onset burst: every
voice synthesises the frames covering its first samples). Load = render time / block duration (2.667 ms).
Run:  .venv/bin/python benchmarks/bench_istft.py [--seconds 2] [--n-fft 2048] [--hop 256] [--chunk 128]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.istft import IstftRenderer
from vaesynth.synth.protocol import Timbre
from vaesynth.synth.spectral import magnitude

SR = 48000
BLOCK = 128
NOTES = [48, 52, 55, 60, 64, 67, 72, 76]


def saw_timbre() -> Timbre:
    cfg = SpectralConfig(44100, 2048, 512)
    t = np.arange(int(0.25 * cfg.sample_rate)) / cfg.sample_rate
    x = sum(0.3 / k * np.sin(2 * np.pi * k * 220 * t) for k in range(1, 41))
    frames = magnitude(x, cfg)
    return Timbre(frames[len(frames) // 2], cfg, 220.0)


def run(n_voices: int, seconds: float, n_fft, hop, chunk: int, lookahead: int):
    r = IstftRenderer(SR, 8, hop_length=hop, n_fft=n_fft, lookahead=lookahead, chunk_size=chunk)
    r.set_timbre(saw_timbre())
    f0 = np.zeros(8, np.float32)
    f0[:n_voices] = [440 * 2 ** ((n - 69) / 12) for n in NOTES[:n_voices]]
    g = np.zeros((8, chunk), np.float32)
    g[:n_voices] = 0.1
    active = np.zeros(8, bool)
    active[:n_voices] = True
    out = np.zeros(chunk, np.float32)
    per_block = max(1, BLOCK // chunk)
    # warm-up (JIT compile, ramp) on a throwaway voice set
    for v in range(n_voices):
        r.start_voice(v, float(f0[v]))
    for _ in range(200):
        r.render(f0, g, active, out)
    # onset burst: all voices restart in this block
    for v in range(n_voices):
        r.start_voice(v, float(f0[v]))
    t0 = time.perf_counter()
    for _ in range(per_block):
        r.render(f0, g, active, out)
    onset = time.perf_counter() - t0
    n_blocks = int(seconds * SR / BLOCK)
    times = np.zeros(n_blocks)
    cpu = np.zeros(n_blocks)
    for b in range(n_blocks):
        c0 = time.thread_time()
        t0 = time.perf_counter()
        for _ in range(per_block):
            r.render(f0, g, active, out)
        times[b] = time.perf_counter() - t0
        cpu[b] = time.thread_time() - c0
    return r, times, cpu, onset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--n-fft", type=int, default=None)
    ap.add_argument("--hop", type=int, default=None)
    ap.add_argument("--chunk", type=int, default=BLOCK)
    ap.add_argument("--lookahead", type=int, default=1)
    args = ap.parse_args()
    block_s = BLOCK / SR
    r0 = IstftRenderer(
        SR, 1, hop_length=args.hop, n_fft=args.n_fft, lookahead=args.lookahead, chunk_size=args.chunk
    )
    print(
        f"IstftRenderer, {SR} Hz, n_fft {r0.n_fft}, hop {r0.hop_length}, render chunk {args.chunk}, "
        f"look-ahead {args.lookahead}; time per {BLOCK}-sample block ({block_s * 1e3:.3f} ms)"
    )
    print(
        f"added latency: {r0.latency_samples} samples ({r0.latency_samples / SR * 1e3:.2f} ms) "
        f"= look-ahead x hop; 2-core machine shared with other jobs: medians are the reliable numbers"
    )
    print(
        "wall = perf_counter per block (includes preemption by other processes); cpu = this thread's CPU "
        "time per block (the renderer's own cost)"
    )
    print(
        f"{'voices':>6s} {'wall med us':>11s} {'wall p99 us':>11s} {'med %':>6s} {'p99 %':>6s} "
        f"{'cpu p99 us':>10s} {'cpu p99 %':>9s} {'onset us':>9s} {'onset %':>8s}"
    )
    for n in range(1, 9):
        _, times, cpu, onset = run(n, args.seconds, args.n_fft, args.hop, args.chunk, args.lookahead)
        med, p99, cp99 = np.median(times), np.percentile(times, 99), np.percentile(cpu, 99)
        print(
            f"{n:6d} {med * 1e6:11.0f} {p99 * 1e6:11.0f} {100 * med / block_s:6.1f} "
            f"{100 * p99 / block_s:6.1f} "
            f"{cp99 * 1e6:10.0f} {100 * cp99 / block_s:9.1f} {onset * 1e6:9.0f} {100 * onset / block_s:8.1f}"
        )


if __name__ == "__main__":
    main()
