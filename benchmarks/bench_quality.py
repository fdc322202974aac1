"""Model quality on held-out frames (split by group), DESIGN.md metrics (training/metrics.py).

Trains each arch on a dataset spec (default toy:additive4) for a wall-clock budget, then a beta sweep of the
default arch, and prints: LSD (dB), spectral convergence, KL (nats/frame), active units, MIG (mean and per
factor), steps, steps/s, training seconds and the 5-minute load average at the end of the run.
Targets: toy:additive4 LSD <= 3 dB, SC <= 0.10 in <= 10 min of 2-core CPU training; MIG > 0.28.

    .venv/bin/python benchmarks/bench_quality.py                  # 600 s per run (the target budget)
    .venv/bin/python benchmarks/bench_quality.py --quick          # 60 s per run, smaller set, betas 1 and 4
    .venv/bin/python benchmarks/bench_quality.py --data sf2:default --archs harmonic --betas ""
    .venv/bin/python benchmarks/bench_quality.py --archs harmonic --betas "" --tc-beta 5   # beta-TCVAE
    .venv/bin/python benchmarks/bench_quality.py --archs harmonic --betas "" --tc-beta 5 --tc-bank 2048
    .venv/bin/python benchmarks/bench_quality.py --archs harmonic --betas "" --set capacity_nats=25 \
        --set capacity_steps=10000                                # KL capacity (Burgess et al. 2018)
    .venv/bin/python benchmarks/bench_quality.py --archs harmonic --betas "" --tc-beta 5 \
        --set warmup_steps=2000 --seeds 0,1,2,3,4 --jobs 2        # mean (sd) over five seeds, two at a time
    .venv/bin/python benchmarks/bench_quality.py --archs harmonic --betas "" --tc-beta 5 --monitor
                                                                  # held-out MIG every 30 s of training

A minimal training loop (Adam, fixed batch, cosine learning-rate decay over the budget, gradient norm clipped
at 5 as the trainer does); the real trainer is training/trainer.py. Timings on a shared machine: the steps/s
column says how much work each run got.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vaesynth.datasets.spec import load_dataset
from vaesynth.models.config import ModelConfig
from vaesynth.models.features import FrameCodec, choose_f_ref_hz
from vaesynth.models.total_correlation import PosteriorBank
from vaesynth.models.vae import build_model
from vaesynth.training.clip import GradClipper
from vaesynth.training.config import TrainConfig
from vaesynth.training.metrics import active_units, kl_per_dim, lsd_db, mig, spectral_convergence
from vaesynth.training.split import split_by_group, val_index_for

# seed 001's baseline: one hidden layer of 400, Gaussian on our logmag frames, no spectral term
BASELINE = {"arch": "mlp400", "sc_weight": 0.0}


def prepare(spec: str, size: int | None, seed: int, val_fraction: float):
    ds = load_dataset(spec, seed=seed, size=size, progress=False)
    groups = ds.groups if ds.groups is not None else np.arange(ds.n_frames)
    train_index, val_groups = split_by_group(groups, val_fraction, seed)
    return ds, ds.subset(train_index), ds.subset(val_index_for(groups, val_groups))


def model_config(ds, train, **overrides) -> ModelConfig:
    c = ds.config
    return ModelConfig(
        n_bins=c.n_bins,
        n_fft=c.n_fft,
        sample_rate=c.sample_rate,
        window=c.window,
        f_ref_hz=choose_f_ref_hz(train.f0_hz),
        **overrides,
    )


def train(
    cfg: ModelConfig,
    codec: FrameCodec,
    train_ds,
    seconds: float,
    batch: int,
    lr: float,
    seed: int,
    max_steps: int | None = None,
    log_every: float = 30.0,
    tc_bank: int = 0,
    tc_queries: int | None = None,
    monitor=None,
    grad_clip: float = 0.0,
    grad_clip_percentile: float = 0.0,
    grad_clip_steps: int = 0,
):
    """Adam with cosine decay to lr/20 over the time budget, the global gradient norm clipped at grad_clip
    (0 = not), or at grad_clip_percentile of the last 1000 norms when that is > 0, the first grad_clip_steps
    steps only when that is > 0 (training/clip.py).
    Returns (model, steps, seconds used).
    tc_bank: frames in the reference set of the q(z) estimate (batch + memory bank); 0 = the batch alone.
    tc_queries: query points of that estimate (the batch's first; None = all). monitor: None, or a function
    of the model (in eval mode) returning text appended to each log line; its time is not charged to the
    budget."""
    torch.manual_seed(seed)
    x, cond = codec.to_model(train_ds.magnitudes, train_ds.f0_hz)
    x = torch.from_numpy(x)
    cond = None if cond is None else torch.from_numpy(cond)
    model = build_model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    bank = PosteriorBank(tc_bank, cfg.latent_dim, queries=tc_queries) if tc_bank > batch else None
    clipper = GradClipper(grad_clip, grad_clip_percentile, steps=grad_clip_steps)
    t0 = time.perf_counter()
    next_log = log_every
    step = 0
    while True:
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds or (max_steps is not None and step >= max_steps):
            break
        frac = elapsed / seconds
        for g in opt.param_groups:
            g["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        idx = torch.randint(0, x.shape[0], (batch,), generator=gen)
        out = model.loss(
            x[idx],
            model.beta_at(step),
            None if cond is None else cond[idx],
            tc_beta=model.tc_beta_at(step),
            dataset_size=x.shape[0],
            dwkl_beta=model.dwkl_beta_at(step),
            tc_bank=bank,
            capacity=model.capacity_at(step),
        )
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        clipper(model.parameters(), step)
        opt.step()
        step += 1
        if elapsed > next_log:
            next_log += log_every
            extra = ""
            if monitor is not None:
                t_mon = time.perf_counter()
                extra = " " + monitor(model.eval())
                model.train()
                t0 += time.perf_counter() - t_mon
            print(
                f"    {elapsed:6.0f}s step {step:6d} loss {out['loss'].item():10.2f} "
                f"kl {out['kl'].item():6.2f} tc {out['tc'].item():6.2f} dwkl {out['dwkl'].item():6.2f}"
                + (f" C {model.capacity_at(step - 1):6.2f}" if cfg.capacity_nats > 0 else "")
                + extra,
                flush=True,
            )
    return model.eval(), step, time.perf_counter() - t0


@torch.inference_mode()
def evaluate(model, codec: FrameCodec, val_ds, batch: int = 1024) -> dict:
    """Held-out reconstruction through the posterior mean, and latent-space measures."""
    x, cond = codec.to_model(val_ds.magnitudes, val_ds.f0_hz)
    mus, logvars, x_hats = [], [], []
    for i in range(0, len(x), batch):
        xb = torch.from_numpy(x[i : i + batch])
        cb = None if cond is None else torch.from_numpy(cond[i : i + batch])
        mu, logvar = model.encode(xb, cb)
        mus.append(mu.numpy())
        logvars.append(logvar.numpy())
        x_hats.append(model.decode(mu, cb).numpy())
    mu, logvar = np.concatenate(mus), np.concatenate(logvars)
    est = codec.to_magnitudes(np.concatenate(x_hats), val_ds.f0_hz)
    out = {
        "lsd_db": lsd_db(val_ds.magnitudes, est),
        "sc": spectral_convergence(val_ds.magnitudes, est),
        "kl": float(np.sum(kl_per_dim(mu, logvar))),
        "active_units": int(active_units(mu)),
    }
    if val_ds.factors is not None:
        m, per = mig(mu, val_ds.factors)
        out["mig"], out["mig_per_factor"] = m, per
    return out


def run(label, ds, train_ds, val_ds, overrides, args) -> dict:
    cfg = model_config(ds, train_ds, **overrides)
    codec = FrameCodec.fit(train_ds.magnitudes, train_ds.f0_hz, cfg, ds.config.sample_rate, ds.config.n_fft)
    print(f"  {label}: {overrides}", flush=True)
    model, steps, used = train(
        cfg,
        codec,
        train_ds,
        args.seconds,
        args.batch,
        args.lr,
        args.seed,
        args.max_steps,
        tc_bank=args.tc_bank,
        tc_queries=args.tc_queries,
        monitor=(lambda m: monitor_line(evaluate(m, codec, val_ds))) if args.monitor else None,
        grad_clip=args.grad_clip,
        grad_clip_percentile=args.grad_clip_percentile,
        grad_clip_steps=args.grad_clip_steps,
    )
    res = evaluate(model, codec, val_ds)
    res.update(label=label, steps=steps, steps_per_s=steps / used, seconds=used, load=os.getloadavg()[1])
    if args.save:
        torch.save(
            {"config": cfg.to_dict(), "codec": codec.state_dict(), "state": model.state_dict()},
            f"{args.save}_{label}.pt",
        )
    print(f"  -> {fmt(res)}", flush=True)
    return res


def monitor_line(r: dict) -> str:
    """--monitor: the held-out measures of a model mid-training, for a log line."""
    line = f"| held-out LSD {r['lsd_db']:.2f} SC {r['sc']:.3f} AU {r['active_units']}"
    if "mig" in r:
        line += f" MIG {r['mig']:.3f} (" + " / ".join(f"{v:.3f}" for v in r["mig_per_factor"]) + ")"
    return line


def fmt(r: dict) -> str:
    mig_s = f"{r['mig']:.3f}" if "mig" in r else "  -  "
    return (
        f"{r['label']:<22} {r['lsd_db']:7.2f} {r['sc']:7.3f} {r['kl']:7.2f} {r['active_units']:4d} "
        f"{mig_s:>6} "
        f"{r['steps']:7d} {r['steps_per_s']:6.1f} {r['seconds']:5.0f} {r['load']:5.2f}"
    )


def table(title: str, rows: list[dict], factor_names: list[str]) -> None:
    print(f"\n{title}")
    print(
        f"{'run':<22} {'LSD dB':>7} {'SC':>7} {'KL':>7} {'AU':>4} {'MIG':>6} {'steps':>7} {'st/s':>6} "
        f"{'s':>5} {'load':>5}"
    )
    for r in rows:
        print(fmt(r))
    if factor_names and all("mig_per_factor" in r for r in rows):
        print("MIG per factor: " + ", ".join(factor_names))
        for r in rows:
            print(f"  {r['label']:<20} " + " ".join(f"{v:6.3f}" for v in r["mig_per_factor"]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="toy:additive4")
    p.add_argument(
        "--size", type=int, default=None, help="dataset size (sounds/notes); default the set's own"
    )
    p.add_argument("--seconds", type=float, default=600.0, help="training budget per run")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument(
        "--archs", default="mlp400,harmonic", help="comma list; mlp400 runs as seed 001's baseline"
    )
    p.add_argument("--betas", default="1,2,4,8", help="beta sweep of --sweep-arch; empty = none")
    p.add_argument("--sweep-arch", default="harmonic")
    p.add_argument("--latent-dim", type=int, default=8)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument(
        "--grad-clip",
        type=float,
        default=TrainConfig.grad_clip,
        help="max global gradient norm, as `vaesynth train --grad-clip` (default the trainer's, 5; 0 = none, "
        "as this benchmark ran before: in 3 of 8 TC runs the fundamental's amplitude fell to around the "
        "model-space floor early and, in a full run, never came back)",
    )
    p.add_argument(
        "--grad-clip-percentile",
        type=float,
        default=0.0,
        metavar="P",
        help="clip at the P-th percentile of the last 1000 gradient norms instead of at --grad-clip, as "
        "`vaesynth train --grad-clip-percentile` (default 0 = off)",
    )
    p.add_argument(
        "--grad-clip-steps",
        type=int,
        default=0,
        metavar="N",
        help="clip only the first N steps, as `vaesynth train --grad-clip-steps` (default 0 = every step)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--seeds",
        default="",
        help="comma list: run the whole benchmark once per seed (each seeds the split, init and noise) in "
        "subprocesses and print each run's mean and sd over the seeds; overrides --seed",
    )
    p.add_argument("--jobs", type=int, default=1, help="with --seeds: runs at a time (one per core)")
    p.add_argument("--json-out", default="", help="write the result rows to this JSON file")
    p.add_argument(
        "--tc-beta",
        type=float,
        default=None,
        help="beta-TCVAE total-correlation weight for every run (ModelConfig.tc_beta; default 0 = off)",
    )
    p.add_argument(
        "--dwkl-beta",
        type=float,
        default=None,
        help="beta-TCVAE dimension-wise KL weight for every run (ModelConfig.dwkl_beta; default 0 = off)",
    )
    p.add_argument("--tc-estimator", choices=("mss", "mws"), default=None, help="TC estimator (default mss)")
    p.add_argument(
        "--tc-bank",
        type=int,
        default=0,
        help="frames in the q(z) reference set of the TC estimate: the batch + a memory bank of recent "
        "posteriors (models/total_correlation.PosteriorBank); 0 = the batch alone",
    )
    p.add_argument(
        "--tc-queries", type=int, default=None, help="with --tc-bank: query points per batch (default all)"
    )
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (measured: 1 is fastest)")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument(
        "--save",
        default="",
        help="path prefix to save each trained model (PREFIX_LABEL.pt; with --seeds PREFIX_seedS_LABEL.pt)",
    )
    p.add_argument(
        "--monitor",
        action="store_true",
        help="score the held-out frames (LSD, SC, active units, MIG per factor) at every log line, to see "
        "how the code evolves; the labels are only read, never trained on, and the time is not charged",
    )
    p.add_argument("--quick", action="store_true", help="60 s per run, 4000 sounds, betas 1 and 4")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="ModelConfig override for every run (JSON value), e.g. --set pitch_mode='\"condition\"'",
    )
    args = p.parse_args()
    if args.quick:
        args.seconds = min(args.seconds, 60.0)
        args.size = args.size or 4000
        args.betas = "1,4" if args.betas == "1,2,4,8" else args.betas
    if args.seeds:
        return over_seeds(args)
    torch.set_num_threads(args.threads)  # measured: on the shared 2-core machine one thread is fastest
    ds, train_ds, val_ds = prepare(args.data, args.size, args.seed, args.val_fraction)
    print(
        f"{args.data}: {train_ds.n_frames} training / {val_ds.n_frames} held-out frames, "
        f"{args.seconds:.0f} s per run",
        flush=True,
    )
    extra = {}
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            extra[key] = json.loads(value)
        except json.JSONDecodeError:
            extra[key] = value
    if args.tc_beta is not None:
        extra["tc_beta"] = args.tc_beta
    if args.dwkl_beta is not None:
        extra["dwkl_beta"] = args.dwkl_beta
    if args.tc_estimator is not None:
        extra["tc_estimator"] = args.tc_estimator
    archs = [a for a in args.archs.split(",") if a]
    rows = []
    for arch in archs:
        over = dict(BASELINE) if arch == "mlp400" else {"arch": arch}
        rows.append(run(arch, ds, train_ds, val_ds, {**over, "latent_dim": args.latent_dim, **extra}, args))
    if rows:
        settings = ", ".join(f"{k}={v}" for k, v in extra.items())
        if args.tc_bank:
            settings += f", tc_bank={args.tc_bank}"
            if args.tc_queries:
                settings += f", tc_queries={args.tc_queries}"
        table(f"archs ({settings or 'beta 1'})", rows, ds.factor_names)
    betas = [float(b) for b in args.betas.split(",") if b]
    if betas:
        arch = args.sweep_arch
        sweep = []
        for beta in betas:
            prior = next((r for r in rows if r["label"] == arch), None) if beta == 1.0 else None
            if prior is not None:  # already trained above
                sweep.append({**prior, "label": f"{arch} beta=1", "same_as": prior["label"]})
                continue
            over = {"arch": arch, "beta": beta, "latent_dim": args.latent_dim, **extra}
            sweep.append(run(f"{arch} beta={beta:g}", ds, train_ds, val_ds, over, args))
        table(f"beta sweep ({arch})", sweep, ds.factor_names)
        rows += [r for r in sweep if "same_as" not in r]  # beta 1 was the arch run above
    if args.json_out:
        out = [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in r.items()} for r in rows]
        with open(args.json_out, "w") as f:
            json.dump({"seed": args.seed, "factor_names": list(ds.factor_names), "rows": out}, f)


def over_seeds(args) -> None:
    """--seeds: this script once per seed in a subprocess (`--jobs` at a time, each with its own log), then
    every run's mean and sd over the seeds."""
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    work = Path(tempfile.mkdtemp(prefix="bench_quality_seeds_"))
    print(f"seeds {seeds}, {args.jobs} at a time; logs in {work}", flush=True)
    pending, running, results = list(seeds), [], {}
    while pending or running:
        while pending and len(running) < max(1, args.jobs):
            seed = pending.pop(0)
            log = open(work / f"seed{seed}.log", "w")
            # The same command line; argparse keeps an option's last value, so the child's own come last.
            cmd = [sys.executable, __file__, *sys.argv[1:], "--seeds", "", "--seed", str(seed)]
            cmd += ["--json-out", str(work / f"seed{seed}.json")]
            if args.save:  # one file per seed: PREFIX_seedS_LABEL.pt
                cmd += ["--save", f"{args.save}_seed{seed}"]
            running.append((seed, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log))
        time.sleep(1.0)
        for item in [r for r in running if r[1].poll() is not None]:
            seed, proc, log = item
            running.remove(item)
            log.close()
            if proc.returncode != 0:
                print(
                    f"seed {seed} failed (exit {proc.returncode}): see {work / f'seed{seed}.log'}", flush=True
                )
                continue
            results[seed] = json.loads((work / f"seed{seed}.json").read_text())
            for r in results[seed]["rows"]:
                per = " / ".join(f"{v:.3f}" for v in r.get("mig_per_factor", []))
                print(f"seed {seed}: {fmt(r)}" + (f"  MIG per factor {per}" if per else ""), flush=True)
    if not results:
        raise SystemExit("no seed finished")
    names = next(iter(results.values()))["factor_names"]
    labels = [r["label"] for r in next(iter(results.values()))["rows"]]
    print(f"\nmean (sd) over seeds {sorted(results)}")
    keys = ("lsd_db", "sc", "kl", "active_units", "mig")
    print(f"{'run':<22} " + " ".join(f"{k:>15}" for k in ("LSD dB", "SC", "KL", "AU", "MIG")))
    for label in labels:
        rows = [r for res in results.values() for r in res["rows"] if r["label"] == label]
        cells = []
        for k in keys:
            v = np.array([r[k] for r in rows if k in r], float)
            cells.append(f"{v.mean():8.3f} ({v.std(ddof=1) if len(v) > 1 else 0.0:.3f})" if len(v) else "-")
        print(f"{label:<22} " + " ".join(f"{c:>15}" for c in cells))
        per = [r["mig_per_factor"] for r in rows if "mig_per_factor" in r]
        if per and names:
            m = np.mean(np.array(per, float), axis=0)
            print(f"  MIG per factor ({', '.join(names)}): " + " ".join(f"{v:.3f}" for v in m))


if __name__ == "__main__":
    main()
