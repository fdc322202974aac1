"""Harmonic+noise parametric decoder: z -> partial amplitudes, inharmonicity, lobe width, noise envelope,
rendered differentiably into a magnitude frame on the FFT grid.

Why: a plain MLP cannot draw sharp partials that move (DESIGN.md: LSD 7-8 dB plateau). Here the network only
chooses amplitudes; where the partials fall and what each one looks like (the analysis window's main lobe
and first side lobes) is fixed physics, so a sharp peak costs one number. The same controls drive the
oscillator bank exactly (`controls`).

Partial k (1-based) sits at f_k = k · f0 · sqrt(1 + (k² - 1) · B), f0 = f_ref_hz (× 2**cond in "condition"
mode, × a fine detune within ± cfg.detune_cents), and is drawn as
amplitude_k · |W((bin - f_k / bin_hz) / s)| / |W(0)|, W the DTFT of the analysis window (tabulated), s a
lobe-width factor. Partials at or above Nyquist are silent. Partials and noise add in power. The noise
envelope is n_noise_bands dB values interpolated over mel-spaced band centres. Magnitudes are relative to
the training set's reference level (0 dB).

The reconstruction gradient w.r.t. B (and detune) only exists while partials overlap their targets, so a
classical comb search on the input frame (`estimate_comb`) supplies an auxiliary target for them during
training (`ModelConfig.inharmonicity_guide`). Measured on toy:additive4 (600 s, 2-core CPU shared):
held-out LSD 1.8 dB, spectral convergence 0.08 (benchmarks/bench_quality.py).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vaesynth.models.config import ModelConfig
from vaesynth.models.networks import mlp

MAX_INHARMONICITY = 0.01  # B above this is not a pitched instrument (piano bass strings reach ~1e-3)
KERNEL_HALF_WIDTH_BINS = 4.5  # main lobe (±2 bins for hann) and the first two side lobes (-31, -41 dB)
KERNEL_OVERSAMPLE = 64  # table points per bin
LOBE_SCALE_RANGE = (0.5, 2.0)  # real notes' lobes widen (vibrato, normalised pitch); the net may follow them
POWER_EPS = 1e-20  # keeps d sqrt / d power finite at silence
INIT_PARTIAL_DB = 40.0  # initial partial level, dB below the reference (db_range 80: head bias 0.5)
INIT_NOISE_DB = 70.0  # initial noise level, dB below the reference (db_range 80: head bias 0.125)


def window_kernel_table(
    window: str,
    n_fft: int,
    half_width_bins: float = KERNEL_HALF_WIDTH_BINS,
    oversample: int = KERNEL_OVERSAMPLE,
) -> np.ndarray:
    """|W(δ)| / |W(0)| for δ = 0, 1/oversample, ..., half_width_bins (bins), W the window's DTFT.

    Returns float32 [half_width_bins * oversample + 2] (one guard point for interpolation).
    Real-time safe: no (allocates; called once).
    """
    from scipy.signal import get_window  # here, not at module level: scipy costs ~1 s at serve start-up

    win = get_window(window, n_fft, fftbins=True)
    n_points = int(half_width_bins * oversample) + 2
    spec = np.abs(np.fft.rfft(win, n=n_fft * oversample))[:n_points]
    return (spec / spec[0]).astype(np.float32)


def mel_interpolation(n_bands: int, n_bins: int, sample_rate: int) -> np.ndarray:
    """[n_bands, n_bins] weights that linearly interpolate band values (centres mel-spaced from 0 Hz to
    Nyquist) onto FFT bins; each column sums to 1."""

    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    nyq = sample_rate / 2
    centres_mel = np.linspace(0.0, hz_to_mel(nyq), n_bands)
    bins_mel = hz_to_mel(np.linspace(0.0, nyq, n_bins))
    w = np.zeros((n_bands, n_bins), dtype=np.float64)
    idx = np.clip(np.searchsorted(centres_mel, bins_mel, side="right") - 1, 0, n_bands - 2)
    frac = (bins_mel - centres_mel[idx]) / (centres_mel[idx + 1] - centres_mel[idx])
    cols = np.arange(n_bins)
    w[idx, cols] = 1.0 - frac
    w[idx + 1, cols] = frac
    return w.astype(np.float32)


class AdditiveHeads(nn.Module):
    """The additive decoder's network: sum_i g_i(z_i, cond) + bias -> head pre-activations [B, n_out].

    Each latent dimension i (or block of `block` consecutive latents: a block-additive decoder) has its own
    MLP g_i (LeakyReLU hidden layers `hidden`, a linear last layer without
    bias; the one shared `bias` holds the constant). Why: a partial's level in dB is a sum of independent
    terms (source slope, filter response, gain), and a decoder that can only add one layer per latent
    penalises rotated mixtures of factors (additive-decoder identifiability, Lachapelle et al. 2023). The D
    MLPs run as one batched contraction over weights [D, in, out] (einsum), not a loop of modules.
    Parameters: `weights.<l>` [G, in, out], `biases.<l>` [G, out] (hidden layers only), `bias` [n_out], G =
    D / block groups, in = block + n_cond for the first layer.
    gain_hidden > 0 adds `gain` (Linear(D + n_cond, gain_hidden), LeakyReLU, Linear(gain_hidden, 1)), one
    scalar of all latents added to the first n_gain outputs (the partials' and noise bands' levels).
    """

    def __init__(
        self,
        latent_dim: int,
        n_cond: int,
        hidden: tuple[int, ...],
        n_out: int,
        gain_hidden: int = 0,
        n_gain: int = 0,
        block: int = 1,
    ):
        super().__init__()
        if latent_dim % block:
            raise ValueError(f"latent_dim {latent_dim} is not a multiple of the block size {block}")
        self.block = block
        n_groups = latent_dim // block
        self.n_gain = n_gain
        self.gain = None
        if gain_hidden:
            self.gain = nn.Sequential(
                nn.Linear(latent_dim + n_cond, gain_hidden), nn.LeakyReLU(), nn.Linear(gain_hidden, 1)
            )
        sizes = [block + n_cond, *hidden, n_out]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for i, (n_in, n_o) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            # nn.Linear's init per latent; the last layer's by 1/sqrt(D) as D outputs are summed
            bound = 1.0 / math.sqrt(n_in) / (math.sqrt(n_groups) if i == len(sizes) - 2 else 1.0)
            self.weights.append(nn.Parameter(torch.empty(n_groups, n_in, n_o).uniform_(-bound, bound)))
            if i < len(sizes) - 2:
                self.biases.append(
                    nn.Parameter(
                        torch.empty(n_groups, n_o).uniform_(-1 / math.sqrt(n_in), 1 / math.sqrt(n_in))
                    )
                )
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """z [B, D], cond [B, n_cond] or None -> [B, n_out]."""
        h = z.reshape(z.shape[0], -1, self.block)  # [B, D / block, block]
        if cond is not None:
            h = torch.cat([h, cond[:, None, :].expand(-1, h.shape[1], -1)], dim=-1)
        for w, b in zip(self.weights[:-1], self.biases, strict=True):
            h = F.leaky_relu(torch.einsum("bdi,dio->bdo", h, w) + b)
        out = torch.einsum("bdi,dio->bo", h, self.weights[-1]) + self.bias
        if self.gain is not None:
            g = self.gain(z if cond is None else torch.cat([z, cond], dim=-1))
            out = torch.cat([out[:, : self.n_gain] + g, out[:, self.n_gain :]], dim=-1)
        return out


class HarmonicDecoder(nn.Module):
    """z [B, latent_dim] (+ cond [B, 1] = log2(f0/f_ref)) -> model-space frame [B, n_bins] in [0, ~1].

    Model space is the logmag representation: x = 20·log10(mag + floor) / db_range + 1, floor =
    10**(-db_range/20), so silence maps to 0 and the reference level to 1 (models/features.py).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.n_partials = cfg.partial_count
        self.n_bins = cfg.n_bins
        self.bin_hz = cfg.sample_rate / cfg.n_fft
        n_out = self.n_partials + cfg.n_noise_bands + 3  # head rows: [amps | noise bands | shape]
        # Start quiet and harmonic: partials 40 dB and noise 70 dB below the loudest training bin (which sits
        # floor_db - db_range above the reference when floor_db is set, models/features.py), B ~ 0, lobes at
        # their true width. Set in dB, not model-space units: with a wider db_range a fixed bias would start
        # the noise so low that partial lobes mask it and its gradient vanishes.
        headroom_db = cfg.floor_db - cfg.db_range if cfg.floor_db else 0.0
        init_bias = torch.cat(
            [
                torch.full((self.n_partials,), 1.0 - (INIT_PARTIAL_DB - headroom_db) / cfg.db_range),
                torch.full((cfg.n_noise_bands,), 1.0 - (INIT_NOISE_DB - headroom_db) / cfg.db_range),
                torch.tensor([-6.0, 0.0, 0.0]),
            ]
        )
        if cfg.decoder == "additive":
            self.additive = AdditiveHeads(
                cfg.latent_dim,
                cfg.n_cond,
                cfg.additive_hidden_sizes,
                n_out,
                gain_hidden=cfg.additive_gain,
                n_gain=self.n_partials + cfg.n_noise_bands,
                block=cfg.additive_block,
            )
            with torch.no_grad():
                self.additive.bias.copy_(init_bias)
        else:
            hidden = cfg.hidden_sizes
            self.trunk = mlp(
                [cfg.latent_dim + cfg.n_cond, *reversed(hidden)],
                activation=nn.LeakyReLU,
                last_activation=True,
            )
            h = hidden[0]
            self.amp_head = nn.Linear(h, self.n_partials)
            self.noise_head = nn.Linear(h, cfg.n_noise_bands)
            self.shape_head = nn.Linear(h, 3)  # inharmonicity, lobe width, detune
            with torch.no_grad():
                k, nb = self.n_partials, cfg.n_noise_bands
                self.amp_head.bias.copy_(init_bias[:k])
                self.noise_head.bias.copy_(init_bias[k : k + nb])
                self.shape_head.bias.copy_(init_bias[k + nb :])
        self.register_buffer("kernel", torch.from_numpy(window_kernel_table(cfg.window, cfg.n_fft)))
        self.register_buffer(
            "noise_interp",
            torch.from_numpy(mel_interpolation(cfg.n_noise_bands, cfg.n_bins, cfg.sample_rate)),
        )
        self.register_buffer("k", torch.arange(1, self.n_partials + 1, dtype=torch.float32))
        max_scale = LOBE_SCALE_RANGE[1]
        self.reach = int(math.ceil(KERNEL_HALF_WIDTH_BINS * max_scale))
        self.register_buffer("offsets", torch.arange(-self.reach + 1, self.reach + 1, dtype=torch.float32))

    def controls(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> dict:
        """The synthesis controls for z.

        Returns amps_db [B, K] (peak magnitude of each partial, dB re the reference level), inharmonicity
        [B] (B in f_k = k·f0·sqrt(1+(k²-1)B)), lobe_scale [B] (main-lobe width relative to the window's),
        noise_db [B, n_noise_bands], f0_ratio [B] (f0 / f_ref_hz, fine detune included), detune_cents [B]
        (within ± cfg.detune_cents: corrects a tracked f0's error; 0 when that is 0).
        """
        if cond is not None:
            f0_ratio = torch.exp2(cond[:, 0])
        else:
            f0_ratio = torch.ones(z.shape[0], dtype=z.dtype, device=z.device)
        db = self.cfg.db_range
        if self.cfg.decoder == "additive":
            out = self.additive(z, cond)
            k, nb = self.n_partials, self.cfg.n_noise_bands
            amp, noise, shape = out[:, :k], out[:, k : k + nb], out[:, k + nb :]
        else:
            h = self.trunk(z if cond is None else torch.cat([z, cond], dim=-1))
            amp, noise, shape = self.amp_head(h), self.noise_head(h), self.shape_head(h)
        amps_db = db * (amp - 1.0)
        noise_db = db * (noise - 1.0)
        inharmonicity = MAX_INHARMONICITY * torch.sigmoid(shape[:, 0])
        lo, hi = LOBE_SCALE_RANGE
        lobe_scale = lo + (hi - lo) * torch.sigmoid(shape[:, 1] + math.log((1 - lo) / (hi - 1)))
        detune_cents = self.cfg.detune_cents * torch.tanh(shape[:, 2])
        if self.cfg.detune_cents > 0:
            f0_ratio = f0_ratio * torch.exp2(detune_cents / 1200.0)
        return {
            "amps_db": amps_db,
            "inharmonicity": inharmonicity,
            "lobe_scale": lobe_scale,
            "noise_db": noise_db,
            "f0_ratio": f0_ratio,
            "detune_cents": detune_cents,
        }

    def partial_freqs_hz(self, inharmonicity: torch.Tensor, f0_ratio: torch.Tensor) -> torch.Tensor:
        """[B, K] partial frequencies in Hz."""
        k = self.k
        stretch = torch.sqrt(1.0 + (k * k - 1.0) * inharmonicity[:, None])
        return (self.cfg.f_ref_hz * f0_ratio)[:, None] * k * stretch

    def render(self, c: dict) -> torch.Tensor:
        """Linear magnitude [B, n_bins] (re the reference level) of the controls `c` (from `controls`)."""
        freqs = self.partial_freqs_hz(c["inharmonicity"], c["f0_ratio"])
        nyq = 0.5 * self.cfg.sample_rate
        amps = torch.pow(10.0, c["amps_db"] / 20.0) * (freqs < nyq)
        pos = freqs / self.bin_hz  # [B, K] fractional bin
        base = torch.floor(pos).detach()
        idx = base[..., None] + self.offsets  # [B, K, W]
        delta = (idx - pos[..., None]) / c["lobe_scale"][:, None, None]
        u = delta.abs() * KERNEL_OVERSAMPLE
        i0 = torch.clamp(torch.floor(u).detach(), max=self.kernel.shape[0] - 2)
        frac = u - i0
        i0l = i0.long()
        kern = self.kernel[i0l] * (1 - frac) + self.kernel[i0l + 1] * frac
        valid = (u < KERNEL_HALF_WIDTH_BINS * KERNEL_OVERSAMPLE) & (idx >= 0) & (idx < self.n_bins)
        power = ((kern * valid) * amps[..., None]) ** 2
        out = torch.zeros(pos.shape[0], self.n_bins, dtype=power.dtype, device=power.device)
        out.scatter_add_(1, idx.clamp(0, self.n_bins - 1).long().flatten(1), power.flatten(1))
        noise_power = torch.pow(10.0, (c["noise_db"] @ self.noise_interp) / 10.0)
        # Partials of unknown relative phase add in power (the expected |X|² of a sum of random-phase
        # sinusoids); measured on additive4-like frames with exact parameters: LSD 1.35 dB (power) vs 1.93 dB
        # (magnitudes added).
        return torch.sqrt(out + noise_power + POWER_EPS)

    def to_model_space(self, mag: torch.Tensor) -> torch.Tensor:
        """Linear magnitude (re the reference level) -> logmag model space (0 = silence, 1 = reference)."""
        floor = 10.0 ** (-self.cfg.db_range / 20.0)
        return 20.0 * torch.log10(mag + floor) / self.cfg.db_range + 1.0

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.to_model_space(self.render(self.controls(z, cond)))


def _comb_scores(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Sum over partials of x linearly interpolated at fractional bins pos [B, G, K] -> [B, G]."""
    n_bins = x.shape[-1]
    inside = pos < n_bins - 1
    p = pos.clamp(0, n_bins - 1.001)
    i0 = p.floor().long()
    frac = p - i0
    b, g, k = pos.shape
    flat = i0.reshape(b, g * k)
    lo = torch.gather(x, 1, flat).view(b, g, k)
    hi = torch.gather(x, 1, flat + 1).view(b, g, k)
    return ((lo * (1 - frac) + hi * frac) * inside).sum(-1)


@torch.no_grad()
def estimate_inharmonicity(x: torch.Tensor, f0_ratio: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """B only; see `estimate_comb`."""
    return estimate_comb(x, f0_ratio, cfg)[0]


# (B grid points, B half-range re the previous best (None = the whole range), detune points, max-pool
# half-width in bins) per stage: B every 1e-4 x detune every 6 cents, then B every 1e-5 x 1-cent detune
# around the best, then B alone every 2e-6. (Coarser B grids or dilated spectra mislead it at 110 Hz.)
COMB_STAGES = ((101, None, 11, 0), (21, 1e-4, 13, 0), (11, 1e-5, 1, 0))
COMB_PARTIALS = 40


@torch.no_grad()
def estimate_comb(
    x: torch.Tensor, f0_ratio: torch.Tensor, cfg: ModelConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Analysis-side estimate of (B, detune) for model-space frames x [B, n_bins]: the stiff-string comb
    k·f0·2**(cents/1200)·sqrt(1+(k²-1)B), k ≤ COMB_PARTIALS, that collects the most log-magnitude, searched
    on successively finer grids (COMB_STAGES). f0 = f_ref_hz · f0_ratio [B]; detune within
    ± cfg.detune_cents (not searched when that is 0). Returns (B [B], detune_cents [B]).

    Why: the reconstruction gradient w.r.t. B only exists while partials overlap their targets (± 1 bin), and
    high partials move by tens of bins across the range of B, so gradient descent alone stalls at the wrong B.
    This estimate is an auxiliary target for the decoder's B (a classical estimator teaching the network, as
    DDSP uses an f0 tracker).
    """
    k = torch.arange(1, min(COMB_PARTIALS, cfg.partial_count) + 1, dtype=x.dtype, device=x.device)
    n = x.shape[0]
    base = (cfg.f_ref_hz * f0_ratio / (cfg.sample_rate / cfg.n_fft))[:, None, None] * k  # [B, 1, K]
    span_cents = float(cfg.detune_cents)
    b_best = torch.full((n,), 0.5 * MAX_INHARMONICITY, dtype=x.dtype, device=x.device)
    c_best = torch.zeros(n, dtype=x.dtype, device=x.device)
    for n_b, b_half, n_c, pool in COMB_STAGES:
        xs = F.max_pool1d(x[:, None], 2 * pool + 1, stride=1, padding=pool)[:, 0] if pool else x
        if b_half is None:
            b_grid = torch.linspace(0.0, MAX_INHARMONICITY, n_b, dtype=x.dtype, device=x.device).expand(n, -1)
        else:
            b_grid = b_best[:, None] + torch.linspace(-b_half, b_half, n_b, dtype=x.dtype, device=x.device)
            b_grid = b_grid.clamp(0.0, MAX_INHARMONICITY)
        if span_cents > 0 and n_c > 1:
            c_grid = c_best[:, None] + torch.linspace(
                -span_cents, span_cents, n_c, dtype=x.dtype, device=x.device
            )
            c_grid = c_grid.clamp(-cfg.detune_cents, cfg.detune_cents)
            span_cents = 2.0 * span_cents / (n_c - 1)  # the next stage searches ± one step of this one
        else:
            c_grid = c_best[:, None]
        g, m = b_grid.shape[1], c_grid.shape[1]
        bb = b_grid[:, :, None].expand(n, g, m).reshape(n, g * m)
        cc = c_grid[:, None, :].expand(n, g, m).reshape(n, g * m)
        pos = base * torch.exp2(cc / 1200.0)[..., None] * torch.sqrt(1.0 + (k * k - 1.0) * bb[..., None])
        i = _comb_scores(xs, pos).argmax(1, keepdim=True)
        b_best, c_best = bb.gather(1, i)[:, 0], cc.gather(1, i)[:, 0]
    return b_best, c_best
