"""IstftRenderer DSP load: render time per 128-sample block at 48 kHz for 1..8 voices, and added latency.

Steady state (voices held, after warm-up) and the block in which all voices start (onset burst: every
voice synthesises the frames covering its first samples). Load = render time / block duration (2.667 ms).
Then a quality table: spectral convergence against the oscillator bank for steady and vibrato notes, for
several n_fft / hop / look-ahead settings (the quality-vs-cost choice of the defaults).
Run:  .venv/bin/python benchmarks/bench_istft.py [--seconds 2] [--n-fft 2048] [--hop 256] [--chunk 128]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.istft import IstftRenderer
from vaesynth.synth.oscbank import OscBankRenderer
from vaesynth.synth.protocol import Timbre
from vaesynth.synth.spectral import analysis_window, magnitude

SR = 48000
BLOCK = 128
NOTES = [48, 52, 55, 60, 64, 67, 72, 76]


def saw_timbre(noise_sigma: float = 0.0) -> Timbre:
    """40-partial sawtooth at 220 Hz as a 44.1 kHz / 2048 model frame, plus (in power) the expected
    spectrum of white noise of standard deviation noise_sigma (exercises the noise layer)."""
    cfg = SpectralConfig(44100, 2048, 512)
    t = np.arange(int(0.25 * cfg.sample_rate)) / cfg.sample_rate
    x = sum(0.3 / k * np.sin(2 * np.pi * k * 220 * t) for k in range(1, 41))
    frames = magnitude(x, cfg)
    w = analysis_window(cfg)
    mag = np.sqrt(frames[len(frames) // 2].astype(np.float64) ** 2 + noise_sigma**2 * np.sum(w * w))
    return Timbre(mag.astype(np.float32), cfg, 220.0)


def run(n_voices: int, seconds: float, n_fft, hop, chunk: int, lookahead: int, noise_sigma: float = 0.0):
    r = IstftRenderer(SR, 8, hop_length=hop, n_fft=n_fft, lookahead=lookahead, chunk_size=chunk)
    r.set_timbre(saw_timbre(noise_sigma))
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
    return times, cpu, onset


def hold_note(r, f0_of_t, seconds: float) -> np.ndarray:
    """One voice at gain 0.5 whose pitch follows f0_of_t(seconds) chunk by chunk (after the timbre ramp)."""
    c = r.chunk_size
    quiet = (
        np.zeros(1, np.float32),
        np.zeros((1, c), np.float32),
        np.zeros(1, bool),
        np.zeros(c, np.float32),
    )
    for _ in range(400):
        r.render(*quiet)
    f = np.zeros(1, np.float32)
    g = np.full((1, c), 0.5, np.float32)
    a = np.ones(1, bool)
    r.start_voice(0, f0_of_t(0.0))
    n = int(seconds * SR / c)
    y = np.zeros(n * c, np.float32)
    for i in range(n):
        f[0] = f0_of_t(i * c / SR)
        r.render(f, g, a, y[i * c : (i + 1) * c])
    return y.astype(np.float64)


def quality_table() -> None:
    """Spectral convergence of the istft output against the oscillator bank (exact partials) on the same
    pitch trajectory, the istft output advanced by the delay (searched near its documented control delay)
    that matches best. At low notes part of the difference is the partials' relative phases (the analysis
    lobes overlap), not an error of the istft."""
    timbre = saw_timbre()
    cfg = SpectralConfig(SR, 2048, 256)
    setups = [
        (None, None, 1),
        (None, None, 0),
        (2048, 256, 1),
        (2048, 256, 0),
        (1024, 128, 1),
        (4096, 256, 1),
    ]
    print(
        "\nquality: SC (dB) of |STFT| (2048/256) vs the oscbank on the same pitch trajectory, 1.5 s notes, "
        "@ the best alignment (samples the istft output lags)"
    )
    print(
        f"{'note':>4s} {'vibrato':>8s} "
        + " ".join(
            f"{str(n or 'auto') + '/' + str(h or 'auto') + '/la' + str(la):>13s}" for n, h, la in setups
        )
    )
    for note in (36, 45, 69, 84):
        for depth_cents in (0, 50, 200):
            f0 = 440 * 2 ** ((note - 69) / 12)

            def f0_of_t(t, f0=f0, d=depth_cents):
                return f0 * 2 ** (d / 1200 * np.sin(2 * np.pi * 5.5 * t))

            o = OscBankRenderer(SR, 1, chunk_size=64)
            o.set_timbre(timbre)
            ref = hold_note(o, f0_of_t, 1.5)
            cells = []
            for n_fft, hop, la in setups:
                r = IstftRenderer(SR, 1, hop_length=hop, n_fft=n_fft, lookahead=la, chunk_size=64)
                r.set_timbre(timbre)
                y = hold_note(r, f0_of_t, 1.5)
                # Best alignment near the documented delay (the effective delay depends on the signal).
                expected = r.control_delay_for(f0)
                a = magnitude(ref[SR // 4 : len(ref) - 1600], cfg)
                best = (np.inf, 0)
                for delay in range(max(0, expected - 512), expected + 513, 32):
                    b = magnitude(y[SR // 4 + delay : len(y) - 1600 + delay], cfg)
                    sc = 20 * np.log10(np.linalg.norm(a - b) / np.linalg.norm(a))
                    best = min(best, (sc, delay))
                cells.append(best)
            print(f"{note:4d} {depth_cents:6d} c " + " ".join(f"{sc:7.1f} @{d:4d}" for sc, d in cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--n-fft", type=int, default=None)
    ap.add_argument("--hop", type=int, default=None)
    ap.add_argument("--chunk", type=int, default=BLOCK)
    ap.add_argument("--lookahead", type=int, default=1)
    ap.add_argument("--no-quality", action="store_true", help="skip the quality table")
    ap.add_argument("--noise-sigma", type=float, default=0.0, help="add a noise floor to the timbre (0.003)")
    args = ap.parse_args()
    block_s = BLOCK / SR
    r0 = IstftRenderer(
        SR, 1, hop_length=args.hop, n_fft=args.n_fft, lookahead=args.lookahead, chunk_size=args.chunk
    )
    print(
        f"timbre: 40-partial saw, noise floor sigma {args.noise_sigma}; IstftRenderer, {SR} Hz, "
        f"n_fft {r0.n_fft}, hop {r0.hop_length}, attack {r0.attack_length}, render chunk {args.chunk}, "
        f"look-ahead {args.lookahead}; time per {BLOCK}-sample block ({block_s * 1e3:.3f} ms)"
    )
    delays = ", ".join(
        f"MIDI {n}: n_fft {r0.n_fft_for(440 * 2 ** ((n - 69) / 12))}, "
        f"{r0.control_delay_for(440 * 2 ** ((n - 69) / 12))}"
        for n in (36, 48, 60, 72, 84)
    )
    print(
        f"added latency: note starts 0 samples (normalised overlap-add); a pitch/timbre change: "
        f"latency_samples = look-ahead x hop = {r0.latency_samples} ({r0.latency_samples / SR * 1e3:.2f} ms) "
        f"before its frame is used, then the window's centre delay; in all (samples) {delays} "
        f"(+ up to a hop waiting for the next frame)"
    )
    print("2-core machine shared with other jobs: wall medians and cpu p99 are the reliable numbers")
    print(
        "wall = perf_counter per block (includes preemption by other processes); cpu = this thread's CPU "
        "time per block (the renderer's own cost)"
    )
    print(
        f"{'voices':>6s} {'wall med us':>11s} {'wall p99 us':>11s} {'med %':>6s} {'p99 %':>6s} "
        f"{'cpu p99 us':>10s} {'cpu p99 %':>9s} {'onset us':>9s} {'onset %':>8s}"
    )
    for n in range(1, 9):
        times, cpu, onset = run(
            n, args.seconds, args.n_fft, args.hop, args.chunk, args.lookahead, args.noise_sigma
        )
        med, p99, cp99 = np.median(times), np.percentile(times, 99), np.percentile(cpu, 99)
        print(
            f"{n:6d} {med * 1e6:11.0f} {p99 * 1e6:11.0f} {100 * med / block_s:6.1f} "
            f"{100 * p99 / block_s:6.1f} "
            f"{cp99 * 1e6:10.0f} {100 * cp99 / block_s:9.1f} {onset * 1e6:9.0f} {100 * onset / block_s:8.1f}"
        )
    if not args.no_quality:
        quality_table()


if __name__ == "__main__":
    main()
