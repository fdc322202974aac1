"""TrainConfig: every setting of one training run, saved in the checkpoint so a run can be resumed and
reproduced. The ModelConfig fields exposed on the command line live here too (`model_config` builds it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from vaesynth.errors import UserError
from vaesynth.models.config import DECODERS, TC_ESTIMATORS

LR_SCHEDULES = ("cosine", "constant")

# Fields that define the run (data, model, optimisation): a resumed run must keep them.
FIXED_ON_RESUME = (
    "data",
    "size",
    "seed",
    "val_fraction",
    "batch_size",
    "lr",
    "arch",
    "latent_dim",
    "beta",
    "likelihood",
    "warmup_steps",
    "free_bits",
    "hidden",
    "pitch_mode",
    "f_ref_hz",
    "grad_clip",
    "grad_clip_percentile",
    "grad_clip_steps",
    "lr_schedule",
    "n_partials",
    "n_noise_bands",
    "detune_cents",
    "weight_decay",
    "tc_beta",
    "tc_estimator",
    "dwkl_beta",
    "db_range",
    "sigma",
    "frame_floor_db",
    "encoder_hidden",
    "censored_floor",
    "decoder",
    "additive_hidden",
    "additive_gain",
    "additive_block",
    "capacity_nats",
    "capacity_steps",
)


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    data: dataset spec (folder, toy:NAME, sf2:PATH, .npz). out: checkpoint path (.pt).
    epochs: passes over the training split. batch_size: frames per optimiser step (global, over all DDP
      processes). lr: Adam learning rate. seed: seeds data generation, the split, init and noise.
    val_fraction: fraction of the groups (whole sounds/notes) held out for validation.
    checkpoint_every: optimiser steps between resumable checkpoints (a kill loses at most this many).
    device: "auto" (CUDA if present, else CPU), "cpu", "cuda", "cuda:N".
    size: generated-dataset size (toy: frames; sf2: notes), None = the generator's default.
    arch, latent_dim, beta, likelihood, warmup_steps, free_bits, hidden, pitch_mode, f_ref_hz: ModelConfig.
    capacity_nats, capacity_steps: the KL capacity target (Burgess et al. 2018), ModelConfig fields: the KL
      term becomes beta · |KL - C| with C ramping linearly from 0 to capacity_nats nats over capacity_steps
      optimiser steps (defaults 0 = off, the loss unchanged). beta still ramps with warmup_steps; not with
      free_bits. Left out of `to_dict` at their defaults.
    grad_clip: max global gradient norm (0 = no clipping).
    grad_clip_percentile: in (0, 100]: clip each step at this percentile of the previous 1,000 steps' global
      gradient norms instead of at grad_clip (AutoClip, Seetharaman et al. 2020; training/clip.py); 0 = off
      (default). Left out of `to_dict` at its default.
    grad_clip_steps: clip (either rule) only the first this many optimiser steps; 0 = every step (default).
      Left out of `to_dict` at its default.
    n_partials, n_noise_bands, detune_cents: the harmonic decoder's ModelConfig fields (same defaults).
    weight_decay: decoupled weight decay (AdamW) per step, scaled by the learning rate; 0 = plain Adam.
    tc_beta, tc_estimator, dwkl_beta: the total-correlation and dimension-wise KL penalties (beta-TCVAE),
      ModelConfig fields (same defaults: 0 = off, "mss", 0 = off).
    db_range, sigma, frame_floor_db: the model-space representation and likelihood, ModelConfig fields (same
      defaults: 80 dB, 0.05, 0 = off): the floor db_range below the loudest training bin, the observation std
      in model-space units (sigma · db_range dB), the per-frame floor (models/features.py).
    encoder_hidden: the MLP encoder's hidden sizes, a ModelConfig field (empty = the same as `hidden`'s; the
      encoder is not run at play time, so its width costs no decode time).
    censored_floor: bins at a floor cost only where the decoder draws them above it (ModelConfig field;
      default False: every bin two-sided).
    decoder, additive_hidden: the harmonic decoder's network, ModelConfig fields: "trunk" (default) or
      "additive" (one small MLP per latent, their outputs summed), and the additive one's hidden sizes per
      latent (empty = ModelConfig's default); additive_gain: width of its gain network of all latents (one
      level for the whole frame; 0 = none). Left out of `to_dict` at their defaults.
    lr_schedule: "cosine" (lr decays from `lr` to 0 over the run: lr · ½(1 + cos(π · step / total_steps)))
      or "constant". A function of the step only, so resuming needs no scheduler state.
    resume: continue from the checkpoint at `out`. slim: drop optimizer/RNG state from the final file.
    ddp: number of processes (gloo on CPU, NCCL on CUDA); 1 = plain single process.
    threads: torch intra-op threads (None = leave torch's default).
    quiet: no progress bar.
    """

    data: str
    out: str
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    val_fraction: float = 0.1
    checkpoint_every: int = 200
    device: str = "auto"
    size: int | None = None
    arch: str = "harmonic"
    latent_dim: int = 8
    beta: float = 1.0
    likelihood: str = "gaussian"
    warmup_steps: int = 0
    free_bits: float = 0.0
    hidden: tuple[int, ...] = ()
    pitch_mode: str = "condition"
    f_ref_hz: float | None = None
    grad_clip: float = 5.0
    grad_clip_percentile: float = 0.0
    grad_clip_steps: int = 0
    lr_schedule: str = "cosine"
    n_partials: int = 0
    n_noise_bands: int = 32
    detune_cents: float = 0.0
    weight_decay: float = 0.0
    tc_beta: float = 0.0
    tc_estimator: str = "mss"
    dwkl_beta: float = 0.0
    db_range: float = 80.0
    sigma: float = 0.05
    frame_floor_db: float = 0.0
    encoder_hidden: tuple[int, ...] = ()
    censored_floor: bool = False
    decoder: str = "trunk"
    additive_hidden: tuple[int, ...] = ()
    additive_gain: int = 0
    additive_block: int = 1
    capacity_nats: float = 0.0
    capacity_steps: int = 0
    resume: bool = False
    slim: bool = False
    ddp: int = 1
    threads: int | None = None
    quiet: bool = False

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "encoder_hidden", tuple(int(h) for h in self.encoder_hidden))
        object.__setattr__(self, "additive_hidden", tuple(int(h) for h in self.additive_hidden))
        checks = [
            (self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"--lr must be > 0, got {self.lr}"),
            (0 < self.val_fraction < 1, f"--val-fraction must be in (0, 1), got {self.val_fraction}"),
            (self.checkpoint_every >= 1, f"--checkpoint-every must be >= 1, got {self.checkpoint_every}"),
            (self.latent_dim >= 1, f"--latent-dim must be >= 1, got {self.latent_dim}"),
            (self.beta >= 0, f"--beta must be >= 0, got {self.beta}"),
            (self.warmup_steps >= 0, f"--warmup must be >= 0, got {self.warmup_steps}"),
            (self.free_bits >= 0, f"--free-bits must be >= 0, got {self.free_bits}"),
            (self.capacity_nats >= 0, f"--capacity-nats must be >= 0, got {self.capacity_nats}"),
            (self.capacity_steps >= 0, f"--capacity-steps must be >= 0, got {self.capacity_steps}"),
            (
                self.capacity_nats == 0 or self.free_bits == 0,
                "--capacity-nats and --free-bits cannot be combined (both reshape the KL term): use one",
            ),
            (self.ddp >= 1, f"--ddp must be >= 1, got {self.ddp}"),
            (self.size is None or self.size >= 1, f"--size must be >= 1, got {self.size}"),
            (self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}"),
            (self.tc_beta >= 0, f"--tc-beta must be >= 0, got {self.tc_beta}"),
            (
                self.beta + self.dwkl_beta >= 0,
                f"--dwkl-beta must be >= -beta ({-self.beta}), got {self.dwkl_beta}",
            ),
            (self.tc_estimator in TC_ESTIMATORS, f"--tc-estimator must be one of {', '.join(TC_ESTIMATORS)}"),
            (self.db_range > 0, f"--db-range must be > 0, got {self.db_range}"),
            (self.sigma > 0, f"--sigma must be > 0, got {self.sigma}"),
            (self.frame_floor_db >= 0, f"--frame-floor-db must be >= 0, got {self.frame_floor_db}"),
            (self.grad_clip >= 0, f"--grad-clip must be >= 0, got {self.grad_clip}"),
            (
                0 <= self.grad_clip_percentile <= 100,
                f"--grad-clip-percentile must be in [0, 100], got {self.grad_clip_percentile}",
            ),
            (self.grad_clip_steps >= 0, f"--grad-clip-steps must be >= 0, got {self.grad_clip_steps}"),
            (self.lr_schedule in LR_SCHEDULES, f"--lr-schedule must be one of {', '.join(LR_SCHEDULES)}"),
            (self.decoder in DECODERS, f"--decoder must be one of {', '.join(DECODERS)}"),
            (self.decoder == "trunk" or self.arch == "harmonic", "--decoder additive needs --arch harmonic"),
            (min(self.additive_hidden, default=1) >= 1, "--additive-hidden takes positive sizes"),
            (
                self.additive_gain == 0 or (self.additive_gain > 0 and self.decoder == "additive"),
                "--additive-gain must be >= 0 and needs --decoder additive",
            ),
            (
                self.additive_block >= 1
                and self.latent_dim % self.additive_block == 0
                and (self.additive_block == 1 or self.decoder == "additive"),
                "--additive-block must divide --latent-dim and needs --decoder additive",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        if self.encoder_hidden:
            d["encoder_hidden"] = list(self.encoder_hidden)
        else:
            del d["encoder_hidden"]  # absent = default: checkpoints of runs without it stay identical
        if not self.censored_floor:
            del d["censored_floor"]
        if self.decoder == "trunk":
            del d["decoder"]
        if self.additive_hidden:
            d["additive_hidden"] = list(self.additive_hidden)
        else:
            del d["additive_hidden"]
        if not self.additive_gain:
            del d["additive_gain"]
        if self.additive_block == 1:
            del d["additive_block"]
        if not self.capacity_nats:
            del d["capacity_nats"]
        if not self.capacity_steps:
            del d["capacity_steps"]
        if not self.grad_clip_percentile:
            del d["grad_clip_percentile"]
        if not self.grad_clip_steps:
            del d["grad_clip_steps"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        tuples = ("hidden", "encoder_hidden", "additive_hidden")
        return cls(**{k: (tuple(v) if k in tuples else v) for k, v in d.items() if k in known})

    def resumed_with(self, overrides: dict) -> "TrainConfig":
        """This (saved) config with the settings a resumed run may change (epochs, device, out, ...).

        overrides: the options the user gave explicitly. One that would change the run itself (data, model,
        optimiser; FIXED_ON_RESUME) and differs from the saved value is a UserError.
        """
        for key in FIXED_ON_RESUME:
            if key in overrides and overrides[key] is not None:
                new = (
                    tuple(overrides[key])
                    if key in ("hidden", "encoder_hidden", "additive_hidden")
                    else overrides[key]
                )
                if key == "data":
                    from vaesynth.training.evaluation import canonical_spec

                    if canonical_spec(str(new)) == canonical_spec(self.data):
                        continue  # the same data named another way (./x.npz vs x.npz)
                if new != getattr(self, key):
                    flag = "--" + key.replace("_", "-").replace("warmup-steps", "warmup")
                    raise UserError(
                        f"{flag} {new} differs from the checkpoint's {getattr(self, key)}: "
                        "drop it to resume, or train a new model to another --out"
                    )
        free = {k: v for k, v in overrides.items() if k not in FIXED_ON_RESUME and v is not None}
        return replace(self, **free)
