"""Training and decoding speed: optimiser steps per second per arch, and Instrument.decode_latent latency.

    .venv/bin/python benchmarks/bench_training.py [--data SPEC] [--batch-size 128] [--steps 30] [--threads N]

Defaults use a synthetic set at the real analysis size (n_fft 2048, 1025 bins), so it runs anywhere in a
minute. Prints a table: arch, batch, median ms/step (forward+backward+Adam), steps/s, and the decode
latency of one latent vector (median and p99 over 2000 calls, one torch thread, inference_mode) - the cost
the live synth's control thread pays per knob change. Quote medians with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch


def synthetic(n_frames: int, seed: int = 0):
    """Harmonic frames at 110 Hz with random spectral slopes (n_fft 2048, 44.1 kHz)."""
    from vaesynth.datasets.base import Dataset
    from vaesynth.synth.config import SpectralConfig

    config = SpectralConfig()
    rng = np.random.default_rng(seed)
    bins = np.arange(config.n_bins)
    frames = np.full((n_frames, config.n_bins), 1e-6, np.float32)
    for i in range(n_frames):
        slope = rng.uniform(3, 12)
        for k in range(1, 40):
            d = bins - k * 110.0 / config.bin_hz
            frames[i] += 10 ** (-slope * np.log2(k) / 20) * np.where(
                np.abs(d) < 2, 0.5 + 0.5 * np.cos(np.pi * d / 2), 0
            )
    return Dataset(
        frames,
        config,
        f0_hz=np.full(n_frames, 110.0, np.float32),
        groups=np.arange(n_frames) // 8,
        name="synthetic",
    )


def bench_steps(cfg, dataset, n_steps: int) -> list[float]:
    from vaesynth.models.vae import build_model
    from vaesynth.training.trainer import LossModule, prepare

    prepared = prepare(cfg, dataset, torch.device("cpu"))
    torch.manual_seed(0)
    model = build_model(prepared.model_config)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loss_module = LossModule(model)
    times = []
    n = prepared.x_train.shape[0]
    for step in range(n_steps + 3):
        idx = torch.randint(0, n, (cfg.batch_size,))
        xb = prepared.x_train[idx]
        cb = None if prepared.c_train is None else prepared.c_train[idx]
        t = time.perf_counter()
        out = loss_module(xb, model.beta_at(step), cb)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        if step >= 3:  # first steps warm up allocators
            times.append(time.perf_counter() - t)
    return times, model, prepared


def bench_decode(model, prepared, n_calls: int = 2000) -> list[float]:
    from vaesynth.models.checkpoint import to_numpy_tree, to_plain
    from vaesynth.models.instrument import Instrument
    from vaesynth.models.pca import LatentPCA
    from vaesynth.training.trainer import posterior_means

    mu = posterior_means(
        model, prepared.x_train[:512], None if prepared.c_train is None else prepared.c_train[:512]
    )
    ck = {
        "model_config": prepared.model_config.to_dict(),
        "model_state": model.state_dict(),
        "codec": to_numpy_tree(to_plain(prepared.codec.state_dict())),
        "pca": to_numpy_tree(to_plain(LatentPCA.fit(mu.double().numpy()).to_state())),
        "spectral_config": prepared.dataset.config.to_dict(),
        "f_ref_hz": prepared.model_config.f_ref_hz,
        "complete": True,
    }
    inst = Instrument(ck, None, num_threads=1)
    z = np.zeros(inst.latent_dim, np.float32)
    times = []
    for _ in range(n_calls):
        t = time.perf_counter()
        inst.decode_latent(z)
        times.append(time.perf_counter() - t)
    return times


def main():
    from vaesynth.models.config import ARCHS
    from vaesynth.training.config import TrainConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="dataset spec (default: 2048 synthetic frames)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--archs", default=",".join(ARCHS))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.data:
        from vaesynth.datasets import load_dataset

        dataset = load_dataset(args.data, progress=False)
    else:
        dataset = synthetic(2048)
    print(
        f"data {dataset.name}: {dataset.n_frames} frames x {dataset.config.n_bins} bins; torch threads "
        f"{torch.get_num_threads()}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"{'arch':10} {'batch':>5} {'ms/step':>8} {'steps/s':>8} {'decode med us':>14} {'decode p99 us':>14}"
    )
    for arch in args.archs.split(","):
        cfg = TrainConfig(
            data=dataset.name, out="unused.pt", arch=arch, batch_size=args.batch_size, quiet=True
        )
        threads = torch.get_num_threads()
        times, model, prepared = bench_steps(cfg, dataset, args.steps)
        dec = bench_decode(model, prepared)
        torch.set_num_threads(threads)  # the Instrument set one thread for decoding
        med = float(np.median(times)) * 1e3
        print(
            f"{arch:10} {args.batch_size:5d} {med:8.1f} {1e3 / med:8.1f} {np.median(dec) * 1e6:14.0f} "
            f"{np.percentile(dec, 99) * 1e6:14.0f}"
        )


if __name__ == "__main__":
    main()
