"""Decoder cost for one latent vector, per arch: torch (inference_mode, 1 thread) and the torch-free
FastDecoder (models/fastdecode.py), median and p99 in microseconds. Target: the default model ≤ 100 µs p99.

    .venv/bin/python benchmarks/bench_decoder.py [--calls 3000] [--n-bins 1025] [--model CKPT]

Per arch: untrained weights of the default ModelConfig (cost does not depend on the weights). Then the bundled
model (or --model), whose size is what the live synth pays: FastDecoder.decode and the whole live step
Instrument.timbre_for_latent (decode + codec -> Timbre), loaded torch-free as serve loads it. On a shared
machine, quote medians.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from vaesynth.models.config import ARCHS, ModelConfig
from vaesynth.models.fastdecode import FastDecoder
from vaesynth.models.vae import build_model


def timings_us(fn, calls: int) -> tuple[float, float]:
    for _ in range(50):  # warm-up: numba compile, allocator, caches
        fn()
    t = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter_ns()
        fn()
        t[i] = time.perf_counter_ns() - t0
    return float(np.median(t) / 1e3), float(np.percentile(t, 99) / 1e3)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=3000)
    p.add_argument("--n-bins", type=int, default=1025)
    p.add_argument("--latent-dim", type=int, default=8)
    p.add_argument("--model", default=None, help="checkpoint (default: the bundled default.pt)")
    args = p.parse_args()
    torch.set_num_threads(1)
    n_fft = 2 * (args.n_bins - 1)
    rows = []
    for arch in ARCHS:
        cfg = ModelConfig(arch=arch, n_bins=args.n_bins, n_fft=n_fft, latent_dim=args.latent_dim)
        model = build_model(cfg).eval()
        z = torch.randn(1, cfg.latent_dim)
        z_np = z[0].numpy().copy()

        def torch_decode(model=model, z=z):
            with torch.inference_mode():
                model.decode(z)

        rows.append((arch, "torch decode -> spectrum", *timings_us(torch_decode, args.calls)))
        if arch == "harmonic":

            def torch_controls(model=model, z=z):
                with torch.inference_mode():
                    model.controls(z)

            rows.append((arch, "torch controls (partials)", *timings_us(torch_controls, args.calls)))
        if arch != "conv":
            fast = FastDecoder.from_model(model)
            rows.append(
                (arch, "fast decode -> spectrum", *timings_us(lambda f=fast, v=z_np: f.decode(v), args.calls))
            )
            if arch == "harmonic":
                rows.append(
                    (
                        arch,
                        "fast controls (partials)",
                        *timings_us(lambda f=fast, v=z_np: f.controls(v), args.calls),
                    )
                )
    from vaesynth.models.instrument import default_model_path, load_instrument

    path = args.model or default_model_path()
    inst = load_instrument(path, torch_free=True)
    rng = np.random.default_rng(0)
    zs = rng.normal(0, 1, (64, inst.latent_dim)).astype(np.float32)
    it = iter(range(10**9))
    name = f"{Path(path).name}"
    rows.append(
        (
            name,
            "fast decode -> spectrum",
            *timings_us(lambda: inst._fast.decode(zs[next(it) % 64]), args.calls),
        )
    )
    rows.append(
        (
            name,
            "timbre_for_latent (live)",
            *timings_us(lambda: inst.timbre_for_latent(zs[next(it) % 64]), args.calls),
        )
    )
    print(f"one latent vector, n_bins {args.n_bins}, latent_dim {args.latent_dim}, torch threads 1")
    print(f"{'arch':<12} {'path':<28} {'median us':>10} {'p99 us':>10}")
    for arch, what, med, p99 in rows:
        print(f"{arch:<12} {what:<28} {med:>10.1f} {p99:>10.1f}")


if __name__ == "__main__":
    main()
