"""`train(TrainConfig) -> checkpoint path`: the beta-VAE training loop, resumable and reproducible.

One process or several (DDP, see ddp.py) run the same `run_training`. What makes it reproducible and
resumable exactly:
- the split, the codec (normalisation statistics, training split only) and the initial weights depend on
  the seed only; the batch order of epoch e is DistributedSampler's permutation seeded with (seed, e), so it
  needs no saved state, and a resumed run skips the batches of the interrupted epoch already done;
- the only other randomness is the reparameterisation noise from torch's global CPU generator, whose state
  is saved in every checkpoint with the optimizer state, the step counter and the epoch's running sums.
So on CPU a run killed after step s and resumed from its last checkpoint ends with the same weights, bit for
bit, as an uninterrupted run (tests/training/test_trainer.py checks this).
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vaesynth.errors import UserError
from vaesynth.models.checkpoint import load_checkpoint, save_checkpoint, to_plain
from vaesynth.models.config import ModelConfig
from vaesynth.training.clip import GradClipper
from vaesynth.training.config import TrainConfig
from vaesynth.training.split import check_sizes, frame_groups, split_by_group, val_index_for

HISTORY_KEYS = (
    "epoch",
    "step",
    "beta",
    "train_loss",
    "train_recon",
    "train_kl",
    "val_loss",
    "val_recon",
    "val_kl",
    "seconds",
)
ENCODE_BATCH = 4096


def resolve_device(device: str) -> torch.device:
    """ "auto" -> CUDA when present, else CPU; anything else as torch understands it."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        d = torch.device(device)
    except RuntimeError:
        raise UserError(f"--device {device!r} is not a device (auto, cpu, cuda, cuda:N)") from None
    if d.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is available (use --device cpu or auto)")
    return d


def lr_at(cfg: TrainConfig, step: int, total_steps: int) -> float:
    """Learning rate of optimiser step `step` (0-based) of `total_steps` under cfg.lr_schedule."""
    if cfg.lr_schedule == "constant" or total_steps <= 0:
        return cfg.lr
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))


def model_config_for(cfg: TrainConfig, spectral, f_ref_hz: float) -> ModelConfig:
    """The ModelConfig of a run on data analysed with `spectral` (a SpectralConfig)."""
    try:
        return ModelConfig(
            arch=cfg.arch,
            n_bins=spectral.n_bins,
            latent_dim=cfg.latent_dim,
            beta=cfg.beta,
            likelihood=cfg.likelihood,
            warmup_steps=cfg.warmup_steps,
            free_bits=cfg.free_bits,
            hidden=cfg.hidden,
            pitch_mode=cfg.pitch_mode,
            f_ref_hz=f_ref_hz,
            sample_rate=spectral.sample_rate,
            n_fft=spectral.n_fft,
            window=spectral.window,
            n_partials=cfg.n_partials,
            n_noise_bands=cfg.n_noise_bands,
            detune_cents=cfg.detune_cents,
            db_range=cfg.db_range,
            sigma=cfg.sigma,
            frame_floor_db=cfg.frame_floor_db,
            tc_beta=cfg.tc_beta,
            tc_estimator=cfg.tc_estimator,
            dwkl_beta=cfg.dwkl_beta,
            encoder_hidden=cfg.encoder_hidden,
            censored_floor=cfg.censored_floor,
            decoder=cfg.decoder,
            additive_hidden=cfg.additive_hidden,
            additive_gain=cfg.additive_gain,
            additive_block=cfg.additive_block,
            capacity_nats=cfg.capacity_nats,
            capacity_steps=cfg.capacity_steps,
        )
    except ValueError as e:
        raise UserError(str(e).splitlines()[0]) from None


def as_tensor(x, device) -> torch.Tensor | None:
    if x is None:
        return None
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x, dtype=torch.float32).to(
        device
    )


@dataclass
class Prepared:
    """A dataset cut into the training run's pieces (everything model-space on `device`)."""

    dataset: object  # vaesynth.datasets.Dataset
    train_index: np.ndarray  # int64 [n_train]
    val_index: np.ndarray  # int64 [n_val]
    val_groups: np.ndarray  # int64 held-out group ids
    model_config: ModelConfig
    codec: object  # FrameCodec fitted on the training split
    x_train: torch.Tensor
    c_train: torch.Tensor | None
    x_val: torch.Tensor
    c_val: torch.Tensor | None


def prepare(cfg: TrainConfig, dataset, device, saved: dict | None = None) -> Prepared:
    """Split by group, check sizes, fit the codec on the training split (or restore the saved one)."""
    from vaesynth.models.features import FrameCodec, choose_f_ref_hz

    groups = frame_groups(dataset.groups, dataset.n_frames)
    if dataset.n_frames == 0:
        check_sizes(0, 0, 0, cfg.latent_dim, cfg.data)
    train_index, val_groups = split_by_group(groups, cfg.val_fraction, cfg.seed)
    val_index = val_index_for(groups, val_groups)
    check_sizes(dataset.n_frames, train_index.size, val_index.size, cfg.latent_dim, cfg.data)
    train = dataset.subset(train_index)
    val = dataset.subset(val_index)
    if saved is not None:
        model_cfg = ModelConfig.from_dict(saved["model_config"])
        codec = FrameCodec.from_state(saved["codec"])
    else:
        f_ref_hz = cfg.f_ref_hz if cfg.f_ref_hz is not None else choose_f_ref_hz(train.f0_hz)
        model_cfg = model_config_for(cfg, dataset.config, f_ref_hz)
        codec = FrameCodec.fit(
            train.magnitudes, train.f0_hz, model_cfg, dataset.config.sample_rate, dataset.config.n_fft
        )
        # Through the checkpoint's plain types and back, so a fresh run, a resumed run and the Instrument
        # compute bit-identical model-space frames (a numpy float64 statistic would promote them to float64).
        codec = FrameCodec.from_state(to_plain(codec.state_dict()))
    x_train, c_train = codec.to_model(train.magnitudes, train.f0_hz)
    x_val, c_val = codec.to_model(val.magnitudes, val.f0_hz)
    return Prepared(
        dataset,
        train_index,
        val_index,
        val_groups,
        model_cfg,
        codec,
        as_tensor(x_train, device),
        as_tensor(c_train, device),
        as_tensor(x_val, device),
        as_tensor(c_val, device),
    )


class LossModule(nn.Module):
    """forward() = the VAE's loss, so DistributedDataParallel sees the call it synchronises gradients for."""

    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae

    def forward(
        self, x, beta: float, cond=None, tc_beta=None, dataset_size=None, dwkl_beta=None, capacity=None
    ) -> dict:
        return self.vae.loss(
            x, beta, cond, tc_beta=tc_beta, dataset_size=dataset_size, dwkl_beta=dwkl_beta, capacity=capacity
        )


@torch.no_grad()
def posterior_means(model, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
    """mu [n_frames, latent_dim] of q(z|x), in batches, eval mode (float32 on CPU)."""
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, x.shape[0], ENCODE_BATCH):
        c = None if cond is None else cond[start : start + ENCODE_BATCH]
        out.append(model.encode(x[start : start + ENCODE_BATCH], c)[0].float().cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, model.cfg.latent_dim)


@torch.no_grad()
def validation_loss(
    model,
    x: torch.Tensor,
    cond: torch.Tensor | None,
    beta: float,
    seed: int,
    tc_beta: float | None = None,
    dwkl_beta: float | None = None,
    capacity: float | None = None,
    batch_size: int = ENCODE_BATCH,
) -> dict:
    """Mean loss terms over the validation frames (float), with noise from a private generator seeded by
    `seed` so validation neither varies run to run nor consumes the training noise. tc_beta, dwkl_beta: the
    total-correlation and dimension-wise KL weights (None = the model's config), estimated per batch of
    `batch_size` frames with N = frames of x. capacity: the KL target C with capacity on (None = the config's
    capacity_nats).

    The trainer passes its training batch size: the minibatch TC estimate's bias depends on the batch, so
    validation then estimates the same quantity as training, and its cost is linear in the frames (on
    toy:additive4, scoring its 2,000 held-out frames as one batch took ~350 ms, ~265 ms of it the estimate's
    [B, B, D] density table; in batches of 128, ~95 ms: one thread, this 2-core CPU).
    """
    was_training = model.training
    model.eval()
    sums = {"loss": 0.0, "recon": 0.0, "kl": 0.0}
    batch_size = max(1, int(batch_size))
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        torch.manual_seed(seed)
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size]
            cb = None if cond is None else cond[start : start + batch_size]
            out = model.loss(
                xb, beta, cb, tc_beta=tc_beta, dataset_size=x.shape[0], dwkl_beta=dwkl_beta, capacity=capacity
            )
            for k in sums:
                sums[k] += float(out[k]) * xb.shape[0]
    model.train(was_training)
    return {k: v / max(1, x.shape[0]) for k, v in sums.items()}


def empty_history() -> dict:
    return {k: [] for k in HISTORY_KEYS}


def dataset_record(cfg: TrainConfig, prepared: Prepared) -> dict:
    ds = prepared.dataset
    from vaesynth.training.evaluation import canonical_spec

    return {
        "spec": cfg.data,
        "spec_resolved": canonical_spec(cfg.data),
        "name": ds.name,
        "size": cfg.size,
        "seed": cfg.seed,
        "n_frames": ds.n_frames,
        "n_train_frames": int(prepared.train_index.size),
        "n_val_frames": int(prepared.val_index.size),
        "val_groups": prepared.val_groups.astype(np.int64),
        "val_fraction": cfg.val_fraction,
    }


def build_payload(cfg, prepared, model, history, complete, pca=None, training=None) -> dict:
    """Everything a checkpoint holds (checkpoint.py documents the layout)."""
    ds = prepared.dataset
    payload = {
        "model_config": prepared.model_config.to_dict(),
        "model_state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "codec": prepared.codec.state_dict(),
        "pca": pca.to_state() if pca is not None else None,
        "spectral_config": ds.config.to_dict(),
        "f_ref_hz": float(prepared.model_config.f_ref_hz),
        "factor_names": list(ds.factor_names),
        "dataset": dataset_record(cfg, prepared),
        "train_config": cfg.to_dict(),
        "history": history,
        "complete": bool(complete),
    }
    if training is not None:
        payload["training"] = training
    return payload


def load_dataset_for(cfg: TrainConfig, progress: bool):
    from vaesynth.datasets import load_dataset

    return load_dataset(cfg.data, seed=cfg.seed, size=cfg.size, progress=progress)


def run_training(cfg: TrainConfig, dataset=None, rank: int = 0, world_size: int = 1) -> Path:
    """The training loop of one process (rank) of `world_size`. With world_size > 1 the caller has
    initialised torch.distributed. Only rank 0 writes checkpoints and shows progress. Returns cfg.out."""
    out = Path(cfg.out)
    main = rank == 0
    device = resolve_device(cfg.device)
    if device.type == "cuda" and world_size > 1:
        device = torch.device("cuda", rank % torch.cuda.device_count())
    if cfg.threads:
        torch.set_num_threads(cfg.threads)

    saved = None
    if cfg.resume:
        saved = load_checkpoint(out)
        if "training" not in saved:
            raise UserError(f"{out} holds no training state (a slim or final-only checkpoint): cannot resume")
        # The run's data/model/optimiser settings come from the checkpoint; a conflicting one -> UserError.
        cfg = TrainConfig.from_dict(saved["train_config"]).resumed_with(cfg.to_dict())

    if dataset is None:
        dataset = load_dataset_for(cfg, progress=main and not cfg.quiet)
    torch.manual_seed(cfg.seed)
    prepared = prepare(cfg, dataset, device, saved)
    from vaesynth.models.vae import build_model

    torch.manual_seed(cfg.seed)  # initial weights depend on the seed only (identical on every rank)
    model = build_model(prepared.model_config).to(device)
    if cfg.weight_decay > 0:
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:  # plain Adam: the runs (and the bundled model) from before --weight-decay stay bit-identical
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # Each rank draws its own reparameterisation noise; rank 0 of a single process keeps the seed's stream.
    torch.manual_seed(cfg.seed + 1_000_003 * rank)

    n_train = prepared.x_train.shape[0]
    per_rank_batch = max(1, math.ceil(cfg.batch_size / world_size))
    from torch.utils.data.distributed import DistributedSampler

    sampler = DistributedSampler(
        range(n_train), num_replicas=world_size, rank=rank, shuffle=True, seed=cfg.seed, drop_last=False
    )
    steps_per_epoch = math.ceil(len(sampler) / per_rank_batch)
    total_steps = steps_per_epoch * cfg.epochs

    history = empty_history()
    clipper = GradClipper(cfg.grad_clip, cfg.grad_clip_percentile, steps=cfg.grad_clip_steps)
    step = 0
    start_epoch = 0
    skip_batches = 0
    sums = {"loss": 0.0, "recon": 0.0, "kl": 0.0, "n": 0.0}
    elapsed = 0.0
    if saved is not None:
        tr = saved["training"]
        model.load_state_dict(saved["model_state"])
        optimizer.load_state_dict(tr["optimizer"])
        step, start_epoch, skip_batches = int(tr["step"]), int(tr["epoch"]), int(tr["batch_in_epoch"])
        sums = {k: float(v) for k, v in tr["epoch_sums"].items()}
        history = {k: list(saved["history"].get(k, [])) for k in HISTORY_KEYS}
        elapsed = float(tr.get("seconds", 0.0))
        clipper.load_state_dict(tr.get("grad_clip", {}))
        if rank == 0:
            torch.set_rng_state(tr["torch_rng"])
            if device.type == "cuda" and tr.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(tr["cuda_rng"], device)
        else:  # the other ranks' streams were not saved: a fresh, still deterministic, stream per rank
            torch.manual_seed(cfg.seed + 1_000_003 * rank + step)

    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        loss_module = DistributedDataParallel(
            LossModule(model), device_ids=[device.index] if device.type == "cuda" else None
        )
    else:
        loss_module = LossModule(model)

    def training_state(epoch: int, batch_in_epoch: int) -> dict:
        return {
            "optimizer": optimizer.state_dict(),
            "step": step,
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "epoch_sums": dict(sums),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "seconds": elapsed + (time.monotonic() - t_start),
            "grad_clip": clipper.state_dict(),
        }

    def write(complete: bool, epoch: int, batch_in_epoch: int, pca=None, keep_training=True):
        training = training_state(epoch, batch_in_epoch) if keep_training else None
        save_checkpoint(out, build_payload(cfg, prepared, model, history, complete, pca, training))

    from tqdm import tqdm

    bar = tqdm(
        total=total_steps,
        initial=step,
        file=sys.stderr,
        disable=cfg.quiet or not main,
        unit="step",
        desc=f"train {Path(cfg.data).name or cfg.data}",
        dynamic_ncols=True,
        leave=True,
    )
    postfix: dict[str, str] = {}
    t_start = time.monotonic()
    model.train()
    for epoch in range(start_epoch, cfg.epochs):
        sampler.set_epoch(epoch)
        order = torch.as_tensor(list(iter(sampler)), dtype=torch.long)
        batches = order.split(per_rank_batch)
        first = skip_batches if epoch == start_epoch else 0
        for b in range(first, len(batches)):
            idx = batches[b].to(device)
            xb = prepared.x_train.index_select(0, idx)
            cb = None if prepared.c_train is None else prepared.c_train.index_select(0, idx)
            beta = model.beta_at(step)
            capacity = model.capacity_at(step)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(cfg, step, total_steps)
            result = loss_module(
                xb, beta, cb, model.tc_beta_at(step), n_train, model.dwkl_beta_at(step), capacity
            )
            loss = result["loss"]
            if not torch.isfinite(loss):
                raise UserError(f"training diverged at step {step} (loss {float(loss)}): try a lower --lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            norm = clipper(model.parameters(), step)
            if clipper.active_at(step) and not math.isfinite(norm):
                raise UserError(f"training diverged at step {step} (gradient norm {norm}): try a lower --lr")
            optimizer.step()
            step += 1
            n_b = float(xb.shape[0])
            sums["loss"] += float(loss.detach()) * n_b
            sums["recon"] += float(result["recon"].detach()) * n_b
            sums["kl"] += float(result["kl"].detach()) * n_b
            sums["n"] += n_b
            if main:
                bar.update(1)
                if step % 10 == 0 or step == total_steps:
                    postfix.update(
                        recon=f"{float(result['recon'].detach()):.4g}",
                        kl=f"{float(result['kl'].detach()):.3g}",
                        beta=f"{beta:.3g}",
                    )
                    if model.cfg.tc_beta > 0 or model.cfg.dwkl_beta != 0:
                        postfix["tc"] = f"{float(result['tc'].detach()):.3g}"
                    if model.cfg.capacity_nats > 0:
                        postfix["C"] = f"{capacity:.3g}"  # the KL target (nats) next to kl
                    if cfg.grad_clip_percentile > 0 and clipper.active_at(step - 1):
                        postfix["clip"] = f"{clipper.last_threshold:.3g}"  # the running threshold
                    else:
                        postfix.pop("clip", None)  # no clip after --grad-clip-steps
                    bar.set_postfix(postfix, refresh=False)
                if step % cfg.checkpoint_every == 0:
                    # After the epoch's last batch this resumes into the epoch-end bookkeeping below,
                    # whose validation noise is private, so the resumed history is the same too.
                    write(False, epoch, b + 1)
        # End of epoch: the running sums of all ranks make the epoch's training loss.
        totals = torch.tensor([sums["loss"], sums["recon"], sums["kl"], sums["n"]], dtype=torch.float64)
        if world_size > 1:
            import torch.distributed as dist

            totals = totals.to(device)
            dist.all_reduce(totals)
            totals = totals.cpu()
        n = max(1.0, float(totals[3]))
        val = validation_loss(
            model,
            prepared.x_val,
            prepared.c_val,
            model.beta_at(step),
            cfg.seed + 7919,
            model.tc_beta_at(step),
            model.dwkl_beta_at(step),
            model.capacity_at(step),
            batch_size=cfg.batch_size,
        )
        history["epoch"].append(epoch + 1)
        history["step"].append(step)
        history["beta"].append(model.beta_at(step))
        history["train_loss"].append(float(totals[0]) / n)
        history["train_recon"].append(float(totals[1]) / n)
        history["train_kl"].append(float(totals[2]) / n)
        history["val_loss"].append(val["loss"])
        history["val_recon"].append(val["recon"])
        history["val_kl"].append(val["kl"])
        history["seconds"].append(elapsed + time.monotonic() - t_start)
        sums = {"loss": 0.0, "recon": 0.0, "kl": 0.0, "n": 0.0}
        if main:
            postfix.update(val_recon=f"{val['recon']:.4g}", val_kl=f"{val['kl']:.3g}")
            bar.set_postfix(postfix, refresh=True)
    bar.close()

    if main:
        # The PCA the live synth plays: posterior means of the training split.
        from vaesynth.models.pca import LatentPCA

        mu = posterior_means(model, prepared.x_train, prepared.c_train)
        pca = LatentPCA.fit(mu.double().numpy())
        write(True, cfg.epochs, 0, pca=pca, keep_training=not cfg.slim)
    if world_size > 1:
        import torch.distributed as dist

        dist.barrier()
    return out


def train(cfg: TrainConfig) -> Path:
    """Train a beta-VAE as `cfg` says, fit the PCA, write the checkpoint to cfg.out; returns its path.

    With cfg.ddp > 1 (and no torchrun environment) spawns that many processes (gloo on CPU); under torchrun
    (WORLD_SIZE > 1 in the environment) this process is one rank of the group.
    """
    if cfg.ddp > 1 or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from vaesynth.training.ddp import train_distributed

        return train_distributed(cfg)
    return run_training(cfg)
