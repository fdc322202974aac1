"""ModelConfig: every choice about the beta-VAE as a setting (arch, latent size, beta, likelihood, pitch).

A frozen dataclass, saved in the checkpoint as a plain dict (`to_dict`) and rebuilt with `from_dict`, which
refuses unknown keys so a checkpoint from a newer release fails loudly instead of silently dropping a field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

ARCHS = ("mlp400", "mlp", "conv", "harmonic")
LIKELIHOODS = ("gaussian", "gaussian_learned", "bernoulli")
PITCH_MODES = ("normalize", "condition")
REPRESENTATIONS = ("logmag",)
TC_ESTIMATORS = ("mss", "mws")  # models/total_correlation.py
DECODERS = ("trunk", "additive")  # the harmonic decoder's network (models/harmonic.py)
DEFAULT_ADDITIVE_HIDDEN = (64, 64)

# Hidden sizes used when `hidden` is left empty. mlp400 is seed 001's baseline (one hidden layer of 400);
# conv's entries are channel counts of the strided convolutions.
DEFAULT_HIDDEN = {
    "mlp400": (400,),
    "mlp": (512, 256),
    "conv": (16, 32, 64, 64, 64),
    "harmonic": (512, 256),
}


@dataclass(frozen=True)
class ModelConfig:
    """How the beta-VAE is built and trained.

    arch: "mlp400" | "mlp" | "conv" | "harmonic" (harmonic+noise parametric decoder, the default).
    n_bins: input/output bins per frame (n_fft // 2 + 1).
    latent_dim: size of z.
    beta: weight of the KL term (after warm-up).
    likelihood: "gaussian" (fixed std `sigma`), "gaussian_learned" (per-bin learned std),
      "bernoulli" (binary cross entropy; the model-space frames are in [0, 1]).
    warmup_steps: beta ramps linearly from 0 to `beta` over this many optimiser steps (0 = no warm-up).
    free_bits: nats per latent dimension below which the KL of that dimension is not penalised
      (batch-averaged per dimension, Kingma et al. 2016); 0 = off.
    capacity_nats: the KL "capacity" C_max of Burgess et al. 2018 ("Understanding disentangling in
      beta-VAE"), nats per frame (KL summed over the latents, batch mean): the KL term becomes
      beta · |KL - C(step)| instead of beta · KL, pulling the KL towards C rather than towards 0. C grows
      linearly from 0 to capacity_nats over capacity_steps optimiser steps, then stays there
      (`BetaVAE.capacity_at`). beta is the weight gamma of |KL - C| and still ramps with warmup_steps. The
      tc_beta / dwkl_beta terms are added unchanged. 0 = off (the default: the loss is bit-for-bit the plain
      one). Cannot be combined with free_bits (both reshape the same KL term): a ValueError. Left out of
      `to_dict` while 0.
    capacity_steps: optimiser steps over which C ramps from 0 to capacity_nats (0 = C is capacity_nats from
      the first step); inert while capacity_nats is 0. Left out of `to_dict` while 0.
    hidden: hidden sizes; empty = DEFAULT_HIDDEN[arch].
    representation: "logmag" — dB magnitudes relative to the training set's loudest frame, floor at
      -db_range dB, scaled to [0, 1] (see models/features.py).
    pitch_mode: "normalize" (frames resampled so partial k sits at k·f_ref_hz) or "condition" (frames kept at
      their own pitch; encoder and decoder get log2(f0/f_ref_hz)).
    f_ref_hz: reference pitch in Hz.
    sample_rate, n_fft: the analysis the frames came from (the harmonic decoder draws partials on this grid;
      n_fft must equal 2 * (n_bins - 1)).
    window: analysis window name (the harmonic decoder draws this window's main lobe).
    db_range: dynamic range of the logmag representation in dB.
    sigma: observation std of the fixed-variance Gaussian, in model-space units (1.0 = db_range dB).
    n_partials: partials drawn by the harmonic decoder; 0 = as many as fit below Nyquist at f_ref_hz (≤ 64).
    n_noise_bands: bands of the harmonic decoder's noise envelope.
    sc_weight: weight of a per-frame squared spectral convergence term on linear magnitudes added to the loss
      (peaks dominate it; the log-domain likelihood alone trades peak level for valley shape), 0 = off.
    inharmonicity_guide: weight of the harmonic decoder's auxiliary loss |B_decoded - B_estimated(x)| / 1e-5
      (models/harmonic.estimate_comb), 0 = off; guide_frames: frames per batch it is computed on.
    detune_cents: range (±) of the harmonic decoder's fine-pitch control, which absorbs the error of a tracked
      f0 (real notes: ~10 cents puts partial 20 a bin off); the guide also teaches it. 0 = off (toy sets with
      exact f0).
    frame_floor_db: bins further than this below their own frame's peak are raised to that level in model
      space (a per-frame floor, models/features.py); 0 = off (only the global floor db_range below the
      loudest training frame).
    floor_db: depth of the global floor below the loudest training bin, in dB; 0 = db_range (the loudest bin
      is the reference level 1). Deeper than db_range puts the reference (model-space 1) floor_db - db_range
      below the loudest bin, so quiet notes keep their spectrum while the decoder keeps its dB scale.
    tc_beta: extra weight of the total correlation KL(q(z) || prod_d q(z_d)) of the aggregate posterior
      (beta-TCVAE, Chen et al. 2018; models/total_correlation.py), added to the loss on top of beta·KL, which
      holds TC once already: TC's total weight is beta + tc_beta. Ramps with the KL warm-up. 0 = off (the
      loss is exactly the beta-VAE's).
    tc_estimator: minibatch estimator of log q(z): "mss" (stratified sampling) or "mws" (weighted sampling).
    dwkl_beta: extra weight of the dimension-wise KL sum_d KL(q(z_d) || N(0, 1)) of the aggregate posterior
      (the third term of the same decomposition, its "gamma"; same estimator), on top of beta·KL; ramps with
      the warm-up. 0 = off. May be negative down to -beta: -beta leaves the marginals q(z_d) free of the
      Gaussian prior's pull (net weight 0), so they may keep the factors' non-Gaussian shapes, which a
      rotation would mix (a Gaussian aggregate is rotation-invariant). That is the hypothesis; on
      toy:additive4 it gave no MIG gain (benchmarks/README.md, runs 35-36).
    encoder_hidden: the MLP encoder's hidden sizes (harmonic and MLP archs); empty = the same as the decoder's
      (`hidden_sizes`). Why: the encoder costs nothing at play time (only the decoder runs live), so a wider
      encoder buys a smaller amortisation gap within the same decode budget. Left out of `to_dict` while
      empty, so checkpoints written without it stay byte-identical.
    censored_floor: Gaussian likelihoods treat bins at a floor (the global floor, model-space 0, or the
      per-frame floor frame_floor_db below the frame's peak) as censored, "at or below this level": they cost
      only where the decoder draws them above it (one-sided squared error), not for drawing them exactly.
      Why: a flat floor is an artefact of the representation, and drawing it exactly spends the decoder on
      bins LSD never counts (FluidR3 grid, 10 epochs: held-out LSD 5.10 -> 4.86 dB, benchmarks/README.md).
      False = every bin two-sided (left out of `to_dict` while False).
    decoder: the harmonic decoder's network: "trunk" (one MLP of all latents, then the heads) or "additive"
      (each latent z_i through its own small MLP g_i(z_i, cond) into the heads' pre-activations, summed over
      i plus a bias: an additive decoder, Lachapelle et al. 2023, whose latents can only add their own dB
      layer; models/harmonic.py). Left out of `to_dict` while "trunk".
    additive_hidden: hidden sizes of each per-latent MLP of the additive decoder; empty =
      DEFAULT_ADDITIVE_HIDDEN. Left out of `to_dict` while empty.
    additive_block: latents per MLP of the additive decoder (1 = one per latent; 2 = pairs z_0 z_1, z_2 z_3,
      ...: a block-additive decoder, whose blocks can draw a joint effect of two factors, e.g. a filter's
      cut-off and Q); latent_dim must be a multiple of it. Left out of `to_dict` while 1.
    additive_gain: hidden width of the additive decoder's gain network, one MLP of all latents (+ cond) whose
      one output (dB / db_range) is added to every partial and noise band; 0 = none (left out of `to_dict`).
      Why: a level normalisation (toy:additive4's constant RMS) makes the overall gain a function of every
      factor at once, which a sum of per-latent terms cannot draw; one shared scalar can, and can only move
      the whole frame's level.
    """

    arch: str = "harmonic"
    n_bins: int = 1025
    latent_dim: int = 8
    beta: float = 1.0
    likelihood: str = "gaussian"
    warmup_steps: int = 0
    free_bits: float = 0.0
    hidden: tuple[int, ...] = ()
    representation: str = "logmag"
    pitch_mode: str = "normalize"
    f_ref_hz: float = 110.0
    sample_rate: int = 44100
    n_fft: int = 2048
    window: str = "hann"
    db_range: float = 80.0
    sigma: float = 0.05
    n_partials: int = 0
    n_noise_bands: int = 32
    inharmonicity_guide: float = 1.0
    sc_weight: float = 100.0
    frame_floor_db: float = 0.0
    floor_db: float = 0.0
    guide_frames: int = 16
    detune_cents: float = 0.0
    tc_beta: float = 0.0
    tc_estimator: str = "mss"
    dwkl_beta: float = 0.0
    encoder_hidden: tuple[int, ...] = ()
    censored_floor: bool = False
    decoder: str = "trunk"
    additive_hidden: tuple[int, ...] = ()
    additive_gain: int = 0
    additive_block: int = 1
    capacity_nats: float = 0.0
    capacity_steps: int = 0

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "encoder_hidden", tuple(int(h) for h in self.encoder_hidden))
        object.__setattr__(self, "additive_hidden", tuple(int(h) for h in self.additive_hidden))
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {self.decoder!r}")
        if self.decoder != "trunk" and self.arch != "harmonic":
            raise ValueError(f"decoder {self.decoder!r} needs arch 'harmonic', got {self.arch!r}")
        if self.additive_gain < 0 or (self.additive_gain and self.decoder != "additive"):
            raise ValueError(
                f"additive_gain must be >= 0 and needs decoder 'additive', got {self.additive_gain}"
            )
        if self.additive_block < 1 or self.latent_dim % self.additive_block:
            raise ValueError(
                f"additive_block must divide latent_dim {self.latent_dim}, got {self.additive_block}"
            )
        if self.additive_block != 1 and self.decoder != "additive":
            raise ValueError("additive_block needs decoder 'additive'")
        if any(h < 1 for h in self.additive_hidden):
            raise ValueError(f"additive_hidden sizes must be >= 1, got {self.additive_hidden}")
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, got {self.likelihood!r}")
        if self.pitch_mode not in PITCH_MODES:
            raise ValueError(f"pitch_mode must be one of {', '.join(PITCH_MODES)}, got {self.pitch_mode!r}")
        if self.representation not in REPRESENTATIONS:
            raise ValueError(
                f"representation must be one of {', '.join(REPRESENTATIONS)}, got {self.representation!r}"
            )
        if self.n_bins < 8:
            raise ValueError(f"n_bins must be >= 8, got {self.n_bins}")
        if self.n_fft != 2 * (self.n_bins - 1):
            raise ValueError(f"n_fft ({self.n_fft}) must equal 2 * (n_bins - 1) = {2 * (self.n_bins - 1)}")
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if self.beta < 0 or self.free_bits < 0 or self.warmup_steps < 0:
            raise ValueError("beta, free_bits and warmup_steps must be >= 0")
        if not self.capacity_nats >= 0 or self.capacity_steps < 0:  # `not >=` also refuses NaN
            raise ValueError(
                "capacity_nats and capacity_steps must be >= 0, "
                f"got {self.capacity_nats}, {self.capacity_steps}"
            )
        if self.capacity_nats > 0 and self.free_bits > 0:
            raise ValueError(
                "capacity_nats and free_bits cannot be combined: both reshape the same KL term "
                "(free bits floors each latent's KL, capacity targets the total); use one of them"
            )
        if not (self.f_ref_hz > 0 and self.sample_rate > 0 and self.db_range > 0 and self.sigma > 0):
            raise ValueError("f_ref_hz, sample_rate, db_range and sigma must be > 0")
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden sizes must be >= 1, got {self.hidden}")
        if any(h < 1 for h in self.encoder_hidden):
            raise ValueError(f"encoder_hidden sizes must be >= 1, got {self.encoder_hidden}")
        if self.n_partials < 0 or self.n_noise_bands < 2:
            raise ValueError("n_partials must be >= 0 and n_noise_bands >= 2")
        if not (0.0 <= self.detune_cents <= 100.0):
            raise ValueError(f"detune_cents must be in 0..100, got {self.detune_cents}")
        if self.sc_weight < 0:
            raise ValueError(f"sc_weight must be >= 0, got {self.sc_weight}")
        if self.inharmonicity_guide < 0 or self.guide_frames < 1:
            raise ValueError("inharmonicity_guide must be >= 0 and guide_frames >= 1")
        if self.frame_floor_db < 0:
            raise ValueError(f"frame_floor_db must be >= 0, got {self.frame_floor_db}")
        if self.floor_db != 0 and self.floor_db < self.db_range:
            raise ValueError(f"floor_db must be 0 or >= db_range ({self.db_range}), got {self.floor_db}")
        if self.tc_beta < 0 or self.beta + self.dwkl_beta < 0:
            raise ValueError(
                f"tc_beta must be >= 0 and dwkl_beta >= -beta (the dimension-wise KL's net weight beta + "
                f"dwkl_beta must not be negative), got {self.tc_beta}, {self.dwkl_beta}"
            )
        if self.censored_floor and self.likelihood == "bernoulli":
            raise ValueError("censored_floor needs a Gaussian likelihood, not bernoulli")
        if self.tc_estimator not in TC_ESTIMATORS:
            raise ValueError(
                f"tc_estimator must be one of {', '.join(TC_ESTIMATORS)}, got {self.tc_estimator!r}"
            )

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """`hidden`, or the arch's default when empty."""
        return self.hidden or DEFAULT_HIDDEN[self.arch]

    @property
    def encoder_hidden_sizes(self) -> tuple[int, ...]:
        """The MLP encoder's hidden sizes: `encoder_hidden`, or `hidden_sizes` when empty."""
        return self.encoder_hidden or self.hidden_sizes

    @property
    def additive_hidden_sizes(self) -> tuple[int, ...]:
        """The additive decoder's per-latent hidden sizes: `additive_hidden`, or the default when empty."""
        return self.additive_hidden or DEFAULT_ADDITIVE_HIDDEN

    @property
    def n_cond(self) -> int:
        """Width of the conditioning vector (1: log2(f0/f_ref) in "condition" mode, else 0)."""
        return 1 if self.pitch_mode == "condition" else 0

    @property
    def partial_count(self) -> int:
        """Partials the harmonic decoder draws (n_partials, or those below Nyquist at f_ref, ≤ 64)."""
        if self.n_partials:
            return self.n_partials
        return max(1, min(64, int(0.5 * self.sample_rate / self.f_ref_hz)))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        if self.encoder_hidden:
            d["encoder_hidden"] = list(self.encoder_hidden)
        else:
            del d["encoder_hidden"]  # absent = default: older checkpoints and default runs stay identical
        if not self.censored_floor:
            del d["censored_floor"]
        if self.decoder == "trunk":
            del d["decoder"]  # absent = default: trunk checkpoints stay byte-identical
        if self.additive_hidden:
            d["additive_hidden"] = list(self.additive_hidden)
        else:
            del d["additive_hidden"]
        if not self.additive_gain:
            del d["additive_gain"]
        if self.additive_block == 1:
            del d["additive_block"]
        if not self.capacity_nats:
            del d["capacity_nats"]  # absent = off: checkpoints written without capacity stay byte-identical
        if not self.capacity_steps:
            del d["capacity_steps"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown ModelConfig keys: {', '.join(sorted(unknown))}")
        d = dict(d)
        for key in ("hidden", "encoder_hidden", "additive_hidden"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)
