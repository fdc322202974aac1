"""The data's MIG ceiling: a supervised encoder's MIG on held-out frames (issue 3's MIG target in context).

An MLP (model-space frame -> 512 -> 256 -> n_factors, ReLU) is trained for a wall-clock budget to regress
the standardised ground-truth factors from the same model-space frames the VAE encodes (bench_quality's
split and codec), and its outputs, taken as a latent code, are scored with the same MIG (training/metrics).
It tells how much of each factor the frames give away: the VAE's MIG is limited by what it learns to
separate, not by the frames, where the two differ. Prints held-out R^2 and MIG per factor.

    .venv/bin/python benchmarks/bench_mig_ceiling.py                    # toy:additive4, 240 s, seed 0
    .venv/bin/python benchmarks/bench_mig_ceiling.py --seconds 60 --size 4000
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from bench_quality import model_config, prepare

from vaesynth.models.features import FrameCodec
from vaesynth.training.metrics import mig, mutual_information_matrix


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="toy:additive4")
    ap.add_argument("--size", type=int, default=None, help="dataset size; default the set's own")
    ap.add_argument("--seconds", type=float, default=240.0, help="training budget")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    ds, tr, va = prepare(a.data, a.size, a.seed, a.val_fraction)
    if tr.factors is None:
        raise SystemExit(f"{a.data} has no ground-truth factors")
    cfg = model_config(ds, tr)
    codec = FrameCodec.fit(tr.magnitudes, tr.f0_hz, cfg, ds.config.sample_rate, ds.config.n_fft)
    xt, _ = codec.to_model(tr.magnitudes, tr.f0_hz)
    xv, _ = codec.to_model(va.magnitudes, va.f0_hz)
    ft, fv = tr.factors.astype(np.float32), va.factors.astype(np.float32)
    mean, std = ft.mean(0), ft.std(0) + 1e-12
    x, y = torch.from_numpy(xt), torch.from_numpy((ft - mean) / std)
    k = ft.shape[1]
    net = torch.nn.Sequential(
        torch.nn.Linear(xt.shape[1], 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, k),
    )
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    g = torch.Generator().manual_seed(a.seed)
    t0, steps = time.perf_counter(), 0
    while time.perf_counter() - t0 < a.seconds:
        idx = torch.randint(0, len(x), (a.batch,), generator=g)
        loss = ((net(x[idx]) - y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    with torch.no_grad():
        pred = net(torch.from_numpy(xv)).numpy()
    target = (fv - mean) / std
    r2 = 1.0 - ((pred - target) ** 2).mean(0) / target.var(0)
    mig_mean, per = mig(pred, fv)
    mi, entropy = mutual_information_matrix(pred, fv)
    names = ds.factor_names or [f"factor {i}" for i in range(k)]
    print(f"{a.data}: {len(tr.magnitudes)} training / {len(va.magnitudes)} held-out frames, seed {a.seed}")
    print(f"supervised MLP, {steps} steps in {a.seconds:.0f} s, load {os.getloadavg()[1]:.2f}")
    print(f"{'factor':<16}{'R2':>8}{'MIG':>8}{'runner-up MI/H':>16}")
    for i, name in enumerate(names):
        col = np.sort(mi[:, i] / entropy[i])[::-1]
        print(f"{name:<16}{r2[i]:>8.3f}{per[i]:>8.3f}{col[1]:>16.3f}")
    print(f"{'mean':<16}{r2.mean():>8.3f}{mig_mean:>8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
