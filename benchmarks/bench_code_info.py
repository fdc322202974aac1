"""Is a factor missing from a VAE's code, or only mixed? (issue 3's MIG target, diagnosed)

MIG is low both when a factor is absent from the latent code and when it is present but spread over several
latents. This tells the two apart on models saved by `bench_quality.py --save PREFIX`, with two probes from
the posterior means (each latent standardised) to each standardised ground-truth factor, scored by held-out
R^2 beside the factor's MIG:
- kNN: a 10-nearest-neighbour regression from the active latents, fitted on a random half of the held-out
  frames and scored on the other half (cheap; weak in more than ~4 active dimensions);
- MLP: a two-layer MLP (sklearn, 128-128, early stopping) from all latents, fitted on the training split's
  posterior means and scored on the held-out frames (a nonlinear, better-fed probe: what the code holds).
High R^2 with low MIG = mixed; low R^2 from both = missing. bench_mig_ceiling.py gives the same frames'
supervised R^2 (the ceiling).

    .venv/bin/python benchmarks/bench_code_info.py /tmp/bq_seed0_harmonic.pt /tmp/bq_seed1_harmonic.pt

The split is bench_quality's (its --data, --size, --seed, --val-fraction must match the run's).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch
from bench_quality import prepare
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsRegressor
from sklearn.neural_network import MLPRegressor

from vaesynth.models.config import ModelConfig
from vaesynth.models.features import FrameCodec
from vaesynth.models.vae import build_model
from vaesynth.training.metrics import active_mask, mig
from vaesynth.training.trainer import posterior_means


def code_r2(mu: np.ndarray, factors: np.ndarray, neighbours: int, seed: int) -> tuple[int, list[float]]:
    """(active latents, held-out kNN R^2 per factor) of posterior means mu [N, D] against factors [N, F]."""
    active = active_mask(mu)  # the project's active units (variance of the means > 0.01)
    code = mu[:, active] / mu[:, active].std(0)
    order = np.random.default_rng(seed).permutation(len(code))  # frames come in grid order: shuffle
    code, factors = code[order], factors[order]
    half = len(code) // 2
    r2 = []
    for i in range(factors.shape[1]):
        y = (factors[:, i] - factors[:, i].mean()) / (factors[:, i].std() + 1e-12)
        knn = KNeighborsRegressor(neighbours).fit(code[:half], y[:half])
        r2.append(float(knn.score(code[half:], y[half:])))
    return int(active.sum()), r2


def probe_r2(mu_train: np.ndarray, f_train: np.ndarray, mu_val: np.ndarray, f_val: np.ndarray, seed: int):
    """Held-out R^2 per factor of an MLP fitted from the training frames' posterior means [N, D] (each
    latent standardised by its training std) to each standardised factor, scored on the held-out ones."""
    scale = mu_train.std(0) + 1e-9
    r2 = []
    for i in range(f_train.shape[1]):
        m, s = f_train[:, i].mean(), f_train[:, i].std() + 1e-12
        mlp = MLPRegressor(hidden_layer_sizes=(128, 128), early_stopping=True, random_state=seed)
        with warnings.catch_warnings():  # sklearn warns when its 200 epochs end before early stopping does
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp.fit(mu_train / scale, (f_train[:, i] - m) / s)
        r2.append(float(mlp.score(mu_val / scale, (f_val[:, i] - m) / s)))
    return r2


def encode_means(model, codec, ds) -> np.ndarray:
    """Posterior means float64 [n_frames, latent_dim] of a dataset's frames (the trainer's batched encode)."""
    x, cond = codec.to_model(ds.magnitudes, ds.f0_hz)
    cond = None if cond is None else torch.from_numpy(cond)
    return posterior_means(model, torch.from_numpy(x), cond).numpy().astype(np.float64)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoints", nargs="+", help="models saved by bench_quality.py --save")
    ap.add_argument("--data", default="toy:additive4")
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0, help="bench_quality's --seed (the split)")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--neighbours", type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(1)
    _, tr, va = prepare(a.data, a.size, a.seed, a.val_fraction)
    if va.factors is None:
        raise SystemExit(f"{a.data} has no ground-truth factors")
    names = va.factor_names
    print(f"{len(va.factors)} held-out frames; R^2 (kNN k = {a.neighbours} / MLP) and MIG per factor")
    print(f"{'model':<32} {'AU':>3}  " + "  ".join(f"{n[:20]:>20}" for n in names))
    for path in a.checkpoints:
        ck = torch.load(path, weights_only=True)
        cfg = ModelConfig.from_dict(ck["config"])
        model = build_model(cfg)
        model.load_state_dict(ck["state"])
        model.eval()
        codec = FrameCodec.from_state(ck["codec"])
        mu = encode_means(model, codec, va)
        n_active, r2 = code_r2(mu, va.factors, a.neighbours, a.seed)
        r2_mlp = probe_r2(encode_means(model, codec, tr), tr.factors, mu, va.factors, a.seed)
        _, per = mig(mu, va.factors)
        cells = "  ".join(f"{r:5.2f} / {p:5.2f} / {m:5.3f}" for r, p, m in zip(r2, r2_mlp, per, strict=True))
        print(f"{path.rsplit('/', 1)[-1][:32]:<32} {n_active:>3}  {cells}", flush=True)
    print("cells: kNN R^2 / MLP R^2 / MIG. High R^2 with a low MIG: the factor is in the code but spread")
    print("over latents; the kNN probe misses what an MLP finds in a nonlinear code or in many latents.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
