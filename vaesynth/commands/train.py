"""`vaesynth train`: a beta-VAE and its PCA, into one checkpoint."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from vaesynth.errors import UserError

# CLI option -> TrainConfig field, for the options whose default comes from TrainConfig (None = not given,
# which matters on --resume: only given options are checked against the checkpoint).
OPTION_FIELDS = {
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "val_fraction": "val_fraction",
    "checkpoint_every": "checkpoint_every",
    "device": "device",
    "size": "size",
    "arch": "arch",
    "latent_dim": "latent_dim",
    "beta": "beta",
    "likelihood": "likelihood",
    "warmup": "warmup_steps",
    "free_bits": "free_bits",
    "capacity_nats": "capacity_nats",
    "capacity_steps": "capacity_steps",
    "hidden": "hidden",
    "encoder_hidden": "encoder_hidden",
    "censored_floor": "censored_floor",
    "decoder": "decoder",
    "additive_hidden": "additive_hidden",
    "additive_gain": "additive_gain",
    "additive_block": "additive_block",
    "pitch_mode": "pitch_mode",
    "f_ref_hz": "f_ref_hz",
    "grad_clip": "grad_clip",
    "grad_clip_percentile": "grad_clip_percentile",
    "grad_clip_steps": "grad_clip_steps",
    "lr_schedule": "lr_schedule",
    "n_partials": "n_partials",
    "n_noise_bands": "n_noise_bands",
    "detune_cents": "detune_cents",
    "weight_decay": "weight_decay",
    "db_range": "db_range",
    "sigma": "sigma",
    "frame_floor_db": "frame_floor_db",
    "tc_beta": "tc_beta",
    "tc_estimator": "tc_estimator",
    "dwkl_beta": "dwkl_beta",
    "ddp": "ddp",
    "threads": "threads",
}


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(t) for t in text.replace(" ", "").split(",") if t)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--hidden takes comma-separated sizes like 512,256, got {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--hidden takes positive sizes, got {text!r}")
    return sizes


def register(sub):
    from vaesynth.models.config import ARCHS, DECODERS, LIKELIHOODS, PITCH_MODES, TC_ESTIMATORS

    p = sub.add_parser(
        "train",
        help="train a beta-VAE and fit the PCA; writes one checkpoint",
        description="Train a beta-VAE on a dataset and fit the PCA of its latent space. Checkpoints are "
        "written atomically every --checkpoint-every steps; --resume continues after a crash.",
    )
    p.add_argument(
        "--data", required=True, metavar="SPEC", help="audio folder, toy:NAME, sf2:PATH, or a prepared .npz"
    )
    p.add_argument("--out", required=True, metavar="CKPT", help="checkpoint to write (.pt)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default 30)")
    p.add_argument("--latent-dim", type=int, default=None, help="latent size (default 8)")
    p.add_argument("--beta", type=float, default=None, help="weight of the KL term (default 1.0)")
    p.add_argument("--arch", choices=ARCHS, default=None, help="network (default harmonic)")
    p.add_argument("--likelihood", choices=LIKELIHOODS, default=None, help="reconstruction likelihood")
    p.add_argument(
        "--warmup",
        type=int,
        default=None,
        metavar="STEPS",
        help="KL warm-up: beta ramps from 0 over this many steps (default 0)",
    )
    p.add_argument(
        "--free-bits",
        type=float,
        default=None,
        metavar="NATS",
        help="KL per latent dimension below which it is not penalised (default 0)",
    )
    p.add_argument(
        "--capacity-nats",
        type=float,
        default=None,
        metavar="NATS",
        help="KL capacity (Burgess et al. 2018): the KL term becomes beta * |KL - C|, C rising linearly from "
        "0 to NATS (per frame, summed over the latents) over --capacity-steps, so --beta weighs the distance "
        "to C (and still ramps with --warmup). Not with --free-bits. Default 0 = off",
    )
    p.add_argument(
        "--capacity-steps",
        type=int,
        default=None,
        metavar="STEPS",
        help="with --capacity-nats: optimiser steps over which C rises from 0 to its maximum (default 0 = "
        "the maximum from the first step)",
    )
    p.add_argument("--hidden", type=_hidden, default=None, metavar="N,N,...", help="hidden layer sizes")
    p.add_argument(
        "--encoder-hidden",
        type=_hidden,
        default=None,
        metavar="N,N,...",
        help="the encoder's hidden sizes (default: those of --hidden); not run at play time",
    )
    p.add_argument(
        "--decoder",
        choices=DECODERS,
        default=None,
        help="the harmonic decoder's network: trunk (one MLP of all latents, default) or additive (one small "
        "MLP per latent, their dB outputs summed: each latent can only add its own layer, which favours "
        "disentangled factors)",
    )
    p.add_argument(
        "--additive-hidden",
        type=_hidden,
        default=None,
        metavar="N,N,...",
        help="with --decoder additive: hidden sizes of each latent's MLP (default 64,64)",
    )
    p.add_argument(
        "--additive-gain",
        type=int,
        default=None,
        metavar="N",
        help="with --decoder additive: width of a small network of all latents that sets one level for the "
        "whole frame (for level-normalised data); default 0 = none",
    )
    p.add_argument(
        "--additive-block",
        type=int,
        default=None,
        metavar="N",
        help="with --decoder additive: latents per MLP (2 = pairs, which can draw a joint effect of two "
        "factors); must divide --latent-dim; default 1",
    )
    p.add_argument(
        "--censored-floor",
        action="store_const",
        const=True,
        default=None,
        help="bins at the floor cost only where the decoder draws them above it (Gaussian likelihoods)",
    )
    p.add_argument(
        "--pitch-mode",
        choices=PITCH_MODES,
        default=None,
        help="condition encoder and decoder on log2(f0/f_ref) (default: right for notes at many pitches) "
        "or normalise frames to f_ref (exact for fixed-pitch sets)",
    )
    p.add_argument("--f-ref-hz", type=float, default=None, help="reference pitch (default: median f0)")
    p.add_argument("--batch-size", type=int, default=None, help="frames per step (default 128)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 1e-3)")
    p.add_argument(
        "--lr-schedule",
        choices=("cosine", "constant"),
        default=None,
        help="cosine decay of the learning rate to 0 over the run (default) or constant",
    )
    p.add_argument(
        "--n-partials",
        type=int,
        default=None,
        metavar="N",
        help="partials the harmonic decoder draws (default 0 = those below Nyquist at f_ref, at most 64)",
    )
    p.add_argument(
        "--n-noise-bands",
        type=int,
        default=None,
        metavar="N",
        help="bands of the harmonic decoder's noise envelope (default 32)",
    )
    p.add_argument(
        "--detune-cents",
        type=float,
        default=None,
        metavar="CENTS",
        help="range of the harmonic decoder's fine-pitch control, for tracked f0 (default 0 = off)",
    )
    p.add_argument(
        "--db-range",
        type=float,
        default=None,
        metavar="DB",
        help="model-space range: the floor lies this far below the loudest training bin (default 80)",
    )
    p.add_argument(
        "--sigma",
        type=float,
        default=None,
        help="observation std of the gaussian likelihood in model-space units (x db-range dB; default 0.05)",
    )
    p.add_argument(
        "--frame-floor-db",
        type=float,
        default=None,
        metavar="DB",
        help="per-frame floor: bins further below their frame's peak are raised to it (default 0 = off)",
    )
    p.add_argument(
        "--weight-decay",
        type=float,
        default=None,
        help="decoupled weight decay (AdamW); default 0 = plain Adam",
    )
    p.add_argument(
        "--tc-beta",
        type=float,
        default=None,
        metavar="W",
        help="beta-TCVAE: extra weight of the total correlation of the aggregate posterior, added on top of "
        "--beta (TC's total weight is beta + W; ramps with --warmup); pushes the latents towards independent "
        "factors (MIG). Default 0 = off, the plain beta-VAE",
    )
    p.add_argument(
        "--tc-estimator",
        choices=TC_ESTIMATORS,
        default=None,
        help="minibatch estimator of the total correlation: mss (stratified sampling, default) or mws "
        "(weighted sampling)",
    )
    p.add_argument(
        "--dwkl-beta",
        type=float,
        default=None,
        metavar="W",
        help="beta-TCVAE: extra weight of the dimension-wise KL of the aggregate posterior (each latent's "
        "marginal against N(0, 1)), on top of --beta; ramps with --warmup. Default 0 = off",
    )
    p.add_argument("--grad-clip", type=float, default=None, help="max gradient norm, 0 = off (default 5)")
    p.add_argument(
        "--grad-clip-percentile",
        type=float,
        default=None,
        metavar="P",
        help="clip each step at the P-th percentile of the last 1000 steps' gradient norms instead of at "
        "--grad-clip (AutoClip; 50 = the running median; needs no scale). Default 0 = off",
    )
    p.add_argument(
        "--grad-clip-steps",
        type=int,
        default=None,
        metavar="N",
        help="clip (--grad-clip or --grad-clip-percentile) only the first N optimiser steps, none after. "
        "Default 0 = every step",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=None,
        help="fraction of the sounds held out for validation (default 0.1)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="STEPS",
        help="steps between resumable checkpoints (default 200)",
    )
    p.add_argument("--size", type=int, default=None, help="generated dataset size (toy: frames; sf2: notes)")
    p.add_argument("--device", default=None, help="auto (CUDA if present, default), cpu, cuda, cuda:N")
    p.add_argument(
        "--ddp",
        type=int,
        default=None,
        metavar="N",
        help="train data-parallel on N processes (gloo on CPU); or launch with torchrun",
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads per process")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint at --out")
    p.add_argument(
        "--slim",
        action="store_true",
        help="leave optimizer state out of the final checkpoint (smaller; cannot be resumed)",
    )
    p.add_argument("--seed", type=int, default=None, help="random seed (runs are reproducible; default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def config_from_args(args):
    """The TrainConfig the arguments ask for (on --resume: the checkpoint's, with the allowed changes)."""
    from vaesynth.training.config import TrainConfig

    given = {
        field: getattr(args, opt) for opt, field in OPTION_FIELDS.items() if getattr(args, opt) is not None
    }
    given["data"] = args.data
    given["seed"] = args.seed
    if args.resume:
        from vaesynth.models.checkpoint import load_checkpoint

        if not Path(args.out).exists():
            raise UserError(f"--resume: there is no checkpoint at {args.out} (drop --resume to start anew)")
        saved = load_checkpoint(args.out)
        if "training" not in saved:
            raise UserError(f"{args.out} holds no training state (written with --slim): cannot resume")
        overrides = dict(given, out=args.out, quiet=args.quiet, resume=True)
        if args.slim:
            overrides["slim"] = True
        return TrainConfig.from_dict(saved["train_config"]).resumed_with(overrides)
    if Path(args.out).exists() and not args.resume:
        from vaesynth.models.checkpoint import load_checkpoint

        load_checkpoint(args.out)  # refuse to overwrite something that is not a checkpoint
    given = {k: v for k, v in given.items() if v is not None}
    return TrainConfig(out=args.out, quiet=args.quiet, slim=args.slim, **given)


def summary_line(out) -> str:
    """One line after training: epochs, time, final validation terms, PCA, where it went."""
    from vaesynth.models.checkpoint import load_checkpoint

    ck = load_checkpoint(out)
    h = ck["history"]
    n90 = (ck.get("pca") or {}).get("n_components_for", {}).get(90)
    if not h.get("epoch"):
        return f"wrote {out}"
    return (
        f"trained {h['epoch'][-1]} epochs ({h['step'][-1]} steps, {h['seconds'][-1]:.0f} s): validation "
        f"recon {h['val_recon'][-1]:.4g}, KL {h['val_kl'][-1]:.3g} nats/frame; "
        f"{n90} PCA components explain 90% of the latent variance; wrote {out}"
    )


def run(args) -> int:
    from vaesynth.training.trainer import train

    cfg = config_from_args(args)
    out = train(cfg)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one summary (rank 0's)
        print(summary_line(out))
    return 0
