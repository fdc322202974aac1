"""The beta-VAE: an encoder, a decoder (models/networks.py, models/harmonic.py), a likelihood, the KL term
with warm-up and free bits or a capacity target (Burgess et al. 2018), and an optional total-correlation
penalty (beta-TCVAE, total_correlation.py). Everything is chosen by ModelConfig; `build_model(cfg)` is the
only constructor the trainer and the checkpoint loader need.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vaesynth.models.config import ModelConfig
from vaesynth.models.harmonic import HarmonicDecoder, estimate_comb
from vaesynth.models.networks import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from vaesynth.models.total_correlation import PosteriorBank, kl_decomposition

LOGVAR_RANGE = (-12.0, 8.0)  # posterior log-variance clamp: keeps exp() finite in early training
LEARNED_LOGSTD_MIN = math.log(1e-3)  # learned observation std floor (model-space units)
BERNOULLI_EPS = 1e-5
GUIDE_SCALE = 1e-5  # inharmonicity error that costs one unit of the guide loss
CENSOR_TOLERANCE = 1e-5  # model-space units (1e-3 dB at db_range 100): float32 rounding of a floored bin
GUIDE_CENTS = 0.3  # detune error (cents) that costs one unit: moves partial 20 about as far as 1e-5 of B


class BetaVAE(nn.Module):
    """x [B, n_bins] model-space frames (features.FrameCodec) <-> z [B, latent_dim].

    cond: [B, cfg.n_cond] (log2(f0/f_ref) in "condition" pitch mode), else None.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        hidden = cfg.hidden_sizes
        if cfg.arch == "conv":
            self.encoder = ConvEncoder(cfg.n_bins, cfg.latent_dim, hidden, cfg.n_cond)
            self.decoder = ConvDecoder(cfg.n_bins, cfg.latent_dim, hidden, cfg.n_cond)
        elif cfg.arch == "harmonic":
            self.encoder = MLPEncoder(cfg.n_bins, cfg.latent_dim, cfg.encoder_hidden_sizes, cfg.n_cond)
            self.decoder = HarmonicDecoder(cfg)
        else:
            self.encoder = MLPEncoder(cfg.n_bins, cfg.latent_dim, cfg.encoder_hidden_sizes, cfg.n_cond)
            self.decoder = MLPDecoder(cfg.n_bins, cfg.latent_dim, hidden, cfg.n_cond)
        if cfg.likelihood == "gaussian_learned":
            self.obs_logstd = nn.Parameter(torch.full((cfg.n_bins,), math.log(cfg.sigma)))

    def _check_cond(self, cond):
        if self.cfg.n_cond and cond is None:
            raise ValueError("this model is pitch-conditioned: pass cond [B, 1] = log2(f0 / f_ref_hz)")
        return cond if self.cfg.n_cond else None

    def encode(self, x: torch.Tensor, cond: torch.Tensor | None = None):
        """x [B, n_bins] -> (mu, logvar) [B, latent_dim] of q(z|x)."""
        mu, logvar = self.encoder(x, self._check_cond(cond))
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def _decode_raw(self, z, cond):
        """Decoder output before the link: logits for bernoulli MLP/conv, else the mean itself."""
        return self.decoder(z, self._check_cond(cond))

    def decode(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """z [B, latent_dim] -> mean of p(x|z) [B, n_bins] in model space."""
        return self._link(self._decode_raw(z, cond))

    def _link(self, out: torch.Tensor) -> torch.Tensor:
        if self.cfg.likelihood == "bernoulli":
            if self.cfg.arch == "harmonic":
                return out.clamp(0.0, 1.0)
            return torch.sigmoid(out)
        return out

    def controls(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> dict:
        """Synthesis controls (partials, inharmonicity, noise) for the harmonic arch; see HarmonicDecoder."""
        if self.cfg.arch != "harmonic":
            raise ValueError(
                f"arch {self.cfg.arch!r} has no parametric controls; decode() gives its spectrum"
            )
        return self.decoder.controls(z, self._check_cond(cond))

    def recon_nll(self, x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood per frame [B], summed over bins, of x given decoder output `raw`."""
        lik = self.cfg.likelihood
        if lik == "bernoulli":
            target = x.clamp(0.0, 1.0)
            if self.cfg.arch == "harmonic":
                p = raw.clamp(BERNOULLI_EPS, 1.0 - BERNOULLI_EPS)
                return F.binary_cross_entropy(p, target, reduction="none").sum(-1)
            return F.binary_cross_entropy_with_logits(raw, target, reduction="none").sum(-1)
        if lik == "gaussian_learned":
            logstd = self.obs_logstd.clamp(min=LEARNED_LOGSTD_MIN)
        else:
            logstd = torch.full_like(x[0], math.log(self.cfg.sigma))
        err = x - raw
        if self.cfg.censored_floor:
            # bins at a floor say only "this or lower": no cost while the decoder stays at or under them
            err = torch.where(x <= self.floor_level(x) + CENSOR_TOLERANCE, torch.clamp(err, max=0.0), err)
        nll = 0.5 * (err * torch.exp(-logstd)) ** 2 + logstd + 0.5 * math.log(2 * math.pi)
        return nll.sum(-1)

    def floor_level(self, x: torch.Tensor) -> torch.Tensor:
        """Model-space floor of each frame x [B, n_bins] -> [B, 1]: frame_floor_db below the frame's peak
        (models/features.py), never under the global floor 0; 0 when frame_floor_db is 0."""
        if self.cfg.frame_floor_db <= 0:
            return torch.zeros_like(x[:, :1])
        peak = x.max(dim=-1, keepdim=True).values
        return torch.clamp(peak - self.cfg.frame_floor_db / self.cfg.db_range, min=0.0)

    def spectral_convergence_sq(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """Per-frame squared spectral convergence [B] of model-space frames, on linear magnitudes."""
        scale = self.cfg.db_range / 20.0 * math.log(10.0)
        mag = torch.exp((x - 1.0) * scale)
        mag_hat = torch.exp((x_hat.clamp(-0.5, 1.5) - 1.0) * scale)
        return ((mag - mag_hat) ** 2).sum(-1) / ((mag * mag).sum(-1) + 1e-12)

    def loss(
        self,
        x: torch.Tensor,
        beta: float,
        cond: torch.Tensor | None = None,
        tc_beta: float | None = None,
        dataset_size: int | None = None,
        dwkl_beta: float | None = None,
        tc_bank: PosteriorBank | None = None,
        capacity: float | None = None,
    ) -> dict:
        """Negative ELBO with KL weight `beta` and the config's free bits or capacity, per-frame means.

        tc_beta: weight of the total-correlation penalty (None = cfg.tc_beta; the trainer passes
        `tc_beta_at(step)`, which follows the KL warm-up). dataset_size: N, frames of the set the batch was
        drawn from (the training split), for the TC estimator; None = the batch is the whole set.
        dwkl_beta: weight of the dimension-wise KL penalty (None = cfg.dwkl_beta; `dwkl_beta_at(step)`).
        tc_bank: a PosteriorBank of recent posteriors; when given (and a TC/dwkl weight is on) q(z) is
        estimated over the batch + the bank (at its `n_queries` first samples), and the batch's (mu, logvar)
        are pushed into it. None = the plain minibatch estimate.
        capacity: the KL target C in nats when cfg.capacity_nats > 0 (None = cfg.capacity_nats, the ramp's
        end; the trainer passes `capacity_at(step)`): the KL term is then beta · |KL - C| (KL = "kl", the
        batch mean of the per-frame KL). Ignored while cfg.capacity_nats is 0.
        Returns "loss" (scalar to minimise: recon + beta · sum_d max(KL_d, free_bits) — or, with capacity on,
        recon + beta · |KL - C| — + tc_beta · tc
        + dwkl_beta · dwkl + sc_weight · spectral + inharmonicity_guide · guide), "recon" (NLL per frame),
        "kl" (KL(q(z|x) || N(0, I)) per frame, unclamped), "kl_per_dim" [latent_dim] (batch mean), "tc"
        (minibatch estimate of the total correlation of q(z), nats; 0 when tc_beta and dwkl_beta are 0: not
        computed), "dwkl" (estimate of sum_d KL(q(z_d) || N(0, 1)), idem), "spectral" (mean per-frame
        squared spectral convergence on linear magnitudes), "guide" (harmonic arch: |B - estimated B| /
        1e-5, else 0). A single reparameterised sample of z.
        """
        mu, logvar = self.encode(x, cond)
        std = torch.exp(0.5 * logvar)
        z = mu + std * torch.randn_like(std)
        cond = self._check_cond(cond)
        guide = torch.zeros((), dtype=x.dtype, device=x.device)
        if self.cfg.arch == "harmonic":
            c = self.decoder.controls(z, cond)
            raw = self.decoder.to_model_space(self.decoder.render(c))
            if self.cfg.inharmonicity_guide > 0:
                n = min(self.cfg.guide_frames, x.shape[0])
                # search around the nominal pitch (cond), not the decoder's own detuned one
                nominal = torch.exp2(cond[:n, 0]) if cond is not None else torch.ones(n, dtype=x.dtype)
                b_est, cents_est = estimate_comb(x[:n].detach(), nominal, self.cfg)
                guide = (c["inharmonicity"][:n] - b_est).abs().mean() / GUIDE_SCALE
                if self.cfg.detune_cents > 0:
                    guide = guide + (c["detune_cents"][:n] - cents_est).abs().mean() / GUIDE_CENTS
        else:
            raw = self._decode_raw(z, cond)
        recon = self.recon_nll(x, raw).mean()
        spectral = torch.zeros((), dtype=x.dtype, device=x.device)
        if self.cfg.sc_weight > 0:
            spectral = self.spectral_convergence_sq(x, self._link(raw)).mean()
        kl_per_dim = (0.5 * (mu * mu + logvar.exp() - 1.0 - logvar)).mean(0)
        kl = kl_per_dim.sum()
        if self.cfg.capacity_nats > 0:  # Burgess et al. 2018: pull the KL towards C, not towards 0
            c = self.cfg.capacity_nats if capacity is None else float(capacity)
            kl_term = (kl - c).abs()
        elif self.cfg.free_bits > 0:
            kl_term = torch.clamp(kl_per_dim, min=self.cfg.free_bits).sum()
        else:
            kl_term = kl
        loss = recon + beta * kl_term + self.cfg.sc_weight * spectral + self.cfg.inharmonicity_guide * guide
        tc_beta = self.cfg.tc_beta if tc_beta is None else float(tc_beta)
        dwkl_beta = self.cfg.dwkl_beta if dwkl_beta is None else float(dwkl_beta)
        tc = dwkl = torch.zeros((), dtype=x.dtype, device=x.device)
        if tc_beta > 0 or dwkl_beta != 0:  # only then: off, the loss and its arithmetic are the beta-VAE's
            n = x.shape[0] if dataset_size is None else int(dataset_size)
            if tc_bank is None:
                tc, dwkl = kl_decomposition(z, mu, logvar, n, self.cfg.tc_estimator)
            else:
                ref_mu, ref_logvar = tc_bank.reference(mu, logvar)
                q = tc_bank.n_queries(z.shape[0])
                tc, dwkl = kl_decomposition(z[:q], ref_mu, ref_logvar, n, self.cfg.tc_estimator)
                tc_bank.push(mu, logvar)
            if tc_beta > 0:
                loss = loss + tc_beta * tc
            if dwkl_beta != 0:
                loss = loss + dwkl_beta * dwkl
        return {
            "loss": loss,
            "recon": recon,
            "kl": kl,
            "kl_per_dim": kl_per_dim,
            "tc": tc,
            "dwkl": dwkl,
            "spectral": spectral,
            "guide": guide,
        }

    def beta_at(self, step: int) -> float:
        """KL weight at optimiser step `step`: linear warm-up from 0 to cfg.beta over cfg.warmup_steps."""
        if self.cfg.warmup_steps <= 0:
            return float(self.cfg.beta)
        return float(self.cfg.beta) * min(1.0, max(0, step) / self.cfg.warmup_steps)

    def capacity_at(self, step: int) -> float:
        """KL capacity C (nats) at optimiser step `step`: linear from 0 to cfg.capacity_nats over
        cfg.capacity_steps, then constant (Burgess et al. 2018); cfg.capacity_nats at once when capacity_steps
        is 0; 0.0 while capacity is off."""
        c_max = float(self.cfg.capacity_nats)
        if c_max <= 0 or self.cfg.capacity_steps <= 0:
            return c_max
        return c_max * min(1.0, max(0, step) / self.cfg.capacity_steps)

    def _warm(self, step: int) -> float:
        if self.cfg.warmup_steps <= 0:
            return 1.0
        return min(1.0, max(0, step) / self.cfg.warmup_steps)

    def tc_beta_at(self, step: int) -> float:
        """Total-correlation weight at optimiser step `step`: cfg.tc_beta, same linear warm-up as beta."""
        return float(self.cfg.tc_beta) * self._warm(step)

    def dwkl_beta_at(self, step: int) -> float:
        """Dimension-wise KL weight at optimiser step `step`: cfg.dwkl_beta, same linear warm-up as beta."""
        return float(self.cfg.dwkl_beta) * self._warm(step)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruction through the posterior mean (deterministic): decode(mu)."""
        mu, _ = self.encode(x, cond)
        return self.decode(mu, cond)


def build_model(cfg: ModelConfig) -> BetaVAE:
    """The BetaVAE described by `cfg` (fresh weights)."""
    return BetaVAE(cfg)
