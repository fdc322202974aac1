"""The decoder's forward pass in numpy, from a checkpoint's arrays: `vaesynth serve` plays without torch.

`NumpyDecoder(cfg, state)` takes the ModelConfig and the `decoder.*` arrays of a BetaVAE state_dict (numpy,
as `load_checkpoint(path, tensors="numpy")` returns them) and reproduces `BetaVAE.decode(z, cond)` and
`BetaVAE.controls(z, cond)` for a batch: the layers in float32 as torch, the rendering in float64 (equal to
torch's float32 forward within float tolerance, tests/models/test_npdecode.py). Archs: mlp400, mlp (Linear +
ReLU, the last layer linear; a sigmoid link for the Bernoulli likelihood) and harmonic (models/harmonic.py:
a LeakyReLU trunk and three linear heads, or the additive decoder's per-latent MLPs summed; partials drawn
as window lobes and added in power with the mel-interpolated noise). conv has no numpy port
(`UnsupportedArch`; use the torch model).

The one-vector live path is models/fastdecode.py's FastDecoder (same arrays, read and checked here, plus a
numba render kernel); this module is the batch path (reports, resynthesis) of a torch-free Instrument.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from vaesynth.models.config import ModelConfig

# models/harmonic.py's constants (that module imports torch); tests/models/test_npdecode.py asserts equality.
MAX_INHARMONICITY = 0.01
KERNEL_HALF_WIDTH_BINS = 4.5
KERNEL_OVERSAMPLE = 64
LOBE_SCALE_RANGE = (0.5, 2.0)
POWER_EPS = 1e-20
LEAKY_SLOPE = 0.01  # nn.LeakyReLU's default, the harmonic trunk's activation

NUMPY_ARCHS = ("mlp400", "mlp", "harmonic")


class UnsupportedArch(ValueError):
    """The arch has no numpy decoder (conv)."""


def _linear_stack(state: Mapping[str, np.ndarray], prefix: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(weight [out, in] float32, bias [out])] of an nn.Sequential's Linear layers `prefix.<i>.weight`,
    in index order (activations hold no parameters)."""
    idx = sorted(
        int(k[len(prefix) + 1 : -len(".weight")])
        for k in state
        if k.startswith(prefix + ".") and k.endswith(".weight") and k[len(prefix) + 1 : -7].isdigit()
    )
    if not idx:
        raise ValueError(f"no {prefix}.<i>.weight arrays")
    return [_linear(state, f"{prefix}.{i}") for i in idx]


def _linear(state: Mapping[str, np.ndarray], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        w = np.asarray(state[f"{prefix}.weight"], dtype=np.float32)
        b = np.asarray(state[f"{prefix}.bias"], dtype=np.float32)
    except KeyError as e:
        raise ValueError(f"missing array {e.args[0]}") from None
    if w.ndim != 2 or b.shape != (w.shape[0],):
        raise ValueError(f"{prefix}: weight {w.shape} and bias {b.shape} do not form a linear layer")
    if not (np.isfinite(w).all() and np.isfinite(b).all()):
        raise ValueError(f"{prefix} holds NaN or inf")
    return w, b


def _chain(layers, n_in: int, n_out: int, what: str) -> None:
    for w, _ in layers:
        if w.shape[1] != n_in:
            raise ValueError(f"{what}: a layer takes {w.shape[1]} inputs, expected {n_in}")
        n_in = w.shape[0]
    if n_out is not None and n_in != n_out:
        raise ValueError(f"{what}: ends with {n_in} outputs, expected {n_out}")


class NumpyDecoder:
    """cfg: ModelConfig (arch in NUMPY_ARCHS). state: name -> numpy array, the BetaVAE state_dict (only the
    `decoder.*` entries are read). Raises UnsupportedArch for conv, ValueError (one line) when the arrays do
    not fit cfg. Holds float32 copies of the layers; no torch anywhere."""

    def __init__(self, cfg: ModelConfig, state: Mapping[str, np.ndarray]):
        if cfg.arch not in NUMPY_ARCHS:
            raise UnsupportedArch(f"arch {cfg.arch!r} has no numpy decoder")
        self.cfg = cfg
        self.n_in = cfg.latent_dim + cfg.n_cond
        if cfg.arch != "harmonic":
            self.layers = _linear_stack(state, "decoder.net")
            _chain(self.layers, self.n_in, cfg.n_bins, "decoder.net")
            return
        self.n_partials = cfg.partial_count
        self.trunk = self.heads = self.additive = None
        if cfg.decoder == "additive":
            self.additive = _additive_layers(state, cfg, self.n_partials + cfg.n_noise_bands + 3)
        else:
            self.trunk = _linear_stack(state, "decoder.trunk")
            hidden = self.trunk[-1][0].shape[0]
            _chain(self.trunk, self.n_in, hidden, "decoder.trunk")
            heads = []
            for n_out, what in (
                (self.n_partials, "amp_head"),
                (cfg.n_noise_bands, "noise_head"),
                (3, "shape_head"),
            ):
                w, b = _linear(state, f"decoder.{what}")
                if w.shape != (n_out, hidden):
                    raise ValueError(f"decoder.{what} is {w.shape}, expected {(n_out, hidden)}")
                heads.append((w, b))
            # The three heads as one layer (one matmul): rows [amps | noise bands | shape (B, lobe, detune)].
            self.heads = (np.concatenate([w for w, _ in heads]), np.concatenate([b for _, b in heads]))
        try:
            self.kernel = np.asarray(state["decoder.kernel"], dtype=np.float64)
            self.noise_interp = np.asarray(state["decoder.noise_interp"], dtype=np.float32)
        except KeyError as e:
            raise ValueError(f"missing array {e.args[0]}") from None
        n_tab = int(KERNEL_HALF_WIDTH_BINS * KERNEL_OVERSAMPLE) + 2
        if self.kernel.shape != (n_tab,):
            raise ValueError(f"decoder.kernel is {self.kernel.shape}, expected ({n_tab},)")
        if self.noise_interp.shape != (cfg.n_noise_bands, cfg.n_bins):
            expected = (cfg.n_noise_bands, cfg.n_bins)
            raise ValueError(f"decoder.noise_interp is {self.noise_interp.shape}, expected {expected}")
        self.k = np.arange(1, self.n_partials + 1, dtype=np.float64)
        reach = int(math.ceil(KERNEL_HALF_WIDTH_BINS * LOBE_SCALE_RANGE[1]))
        self.offsets = np.arange(-reach + 1, reach + 1, dtype=np.float64)
        self.bin_hz = cfg.sample_rate / cfg.n_fft

    def _inputs(self, z, cond) -> np.ndarray:
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.cfg.latent_dim:
            raise ValueError(f"z must be [B, {self.cfg.latent_dim}], got shape {z.shape}")
        if not self.cfg.n_cond:
            return z
        c = (
            np.zeros((z.shape[0], self.cfg.n_cond), np.float32)
            if cond is None
            else np.asarray(cond, np.float32)
        )
        if c.shape != (z.shape[0], self.cfg.n_cond):
            raise ValueError(f"cond must be [{z.shape[0]}, {self.cfg.n_cond}], got shape {c.shape}")
        return np.concatenate([z, c], axis=1)

    def controls(self, z, cond=None) -> dict:
        """Harmonic synthesis controls for z [B, latent_dim] (cond [B, n_cond]; None = 0, i.e. f_ref_hz), as
        BetaVAE.controls: amps_db [B, K], inharmonicity [B], lobe_scale [B], noise_db [B, n_noise_bands],
        f0_ratio [B], detune_cents [B]; float64."""
        if self.cfg.arch != "harmonic":
            raise ValueError(
                f"arch {self.cfg.arch!r} has no parametric controls; decode() gives its spectrum"
            )
        x = self._inputs(z, cond)
        db = self.cfg.db_range
        out = self.head_outputs(x).astype(np.float64)
        k, n_bands = self.n_partials, self.cfg.n_noise_bands
        shape = out[:, k + n_bands :]
        lo, hi = LOBE_SCALE_RANGE
        detune = self.cfg.detune_cents * np.tanh(shape[:, 2])
        f0_ratio = (
            np.exp2(x[:, self.cfg.latent_dim].astype(np.float64)) if self.cfg.n_cond else np.ones(x.shape[0])
        )
        if self.cfg.detune_cents > 0:
            f0_ratio = f0_ratio * np.exp2(detune / 1200.0)
        return {
            "amps_db": db * (out[:, :k] - 1.0),
            "inharmonicity": MAX_INHARMONICITY * _sigmoid(shape[:, 0]),
            "lobe_scale": lo + (hi - lo) * _sigmoid(shape[:, 1] + math.log((1 - lo) / (hi - 1))),
            "noise_db": db * (out[:, k : k + n_bands] - 1.0),
            "f0_ratio": f0_ratio,
            "detune_cents": detune,
        }

    def head_outputs(self, x: np.ndarray) -> np.ndarray:
        """Harmonic arch: the heads' pre-activations float32 [B, K + n_noise_bands + 3], rows [amps | noise
        bands | shape (B, lobe, detune)], for inputs x = [z | cond] float32 [B, latent_dim + n_cond]."""
        if self.additive is not None:
            return additive_forward(self.additive, x, self.cfg.latent_dim)
        h = x
        for w, b in self.trunk:
            h = h @ w.T + b
            h = np.maximum(h, LEAKY_SLOPE * h)  # LeakyReLU (slope < 1)
        return h @ self.heads[0].T + self.heads[1]

    def render(self, c: dict) -> np.ndarray:
        """Linear magnitudes [B, n_bins] (re the reference level) of harmonic controls `c`: each partial's
        window lobe (tabulated, linearly interpolated) on the FFT grid, added in power with the noise."""
        cfg, n_bins = self.cfg, self.cfg.n_bins
        k = self.k
        freqs = (
            (cfg.f_ref_hz * c["f0_ratio"])[:, None]
            * k
            * np.sqrt(1.0 + (k * k - 1.0) * c["inharmonicity"][:, None])
        )
        amps = 10.0 ** (c["amps_db"] / 20.0) * (freqs < 0.5 * cfg.sample_rate)
        pos = freqs / self.bin_hz  # [B, K] fractional bins
        idx = np.floor(pos)[..., None] + self.offsets  # [B, K, W]
        u = np.abs((idx - pos[..., None]) / c["lobe_scale"][:, None, None]) * KERNEL_OVERSAMPLE
        i0 = np.minimum(np.floor(u), self.kernel.shape[0] - 2)
        frac = u - i0
        i0 = i0.astype(np.intp)
        valid = (u < KERNEL_HALF_WIDTH_BINS * KERNEL_OVERSAMPLE) & (idx >= 0) & (idx < n_bins)
        kern = (self.kernel[i0] * (1.0 - frac) + self.kernel[i0 + 1] * frac) * valid
        power = (kern * amps[..., None]) ** 2
        n = pos.shape[0]
        flat = (np.arange(n)[:, None, None] * n_bins + np.clip(idx, 0, n_bins - 1).astype(np.intp)).ravel()
        partials = np.bincount(flat, weights=power.ravel(), minlength=n * n_bins).reshape(n, n_bins)
        noise_db = c["noise_db"].astype(np.float32) @ self.noise_interp  # float32 as torch's; 2x faster
        noise_power = 10.0 ** (noise_db.astype(np.float64) / 10.0)
        return np.sqrt(partials + noise_power + POWER_EPS)

    def decode(self, z, cond=None) -> np.ndarray:
        """z [B, latent_dim] (+ cond [B, n_cond]; None = zeros) -> the mean of p(x|z) in model space,
        float32 [B, n_bins], as BetaVAE.decode. Real-time safe: no (allocates); the control thread's job."""
        cfg = self.cfg
        if cfg.arch == "harmonic":
            mag = self.render(self.controls(z, cond))
            floor = 10.0 ** (-cfg.db_range / 20.0)
            x = 20.0 * np.log10(mag + floor) / cfg.db_range + 1.0
            if cfg.likelihood == "bernoulli":
                x = np.clip(x, 0.0, 1.0)
            return x.astype(np.float32)
        h = self._inputs(z, cond)
        for i, (w, b) in enumerate(self.layers):
            h = h @ w.T + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        if cfg.likelihood == "bernoulli":
            h = _sigmoid(h)
        return h.astype(np.float32)


def _additive_layers(state: Mapping[str, np.ndarray], cfg: ModelConfig, n_out: int):
    """The additive decoder's arrays (models/harmonic.AdditiveHeads), checked against cfg: (weights [[D, in,
    out] float32 per layer], biases [[D, out] per hidden layer], bias [n_out], gain [(weight, bias)] or None,
    n_gain: the outputs the gain moves)."""
    d = cfg.latent_dim // cfg.additive_block  # groups
    sizes = [cfg.additive_block + cfg.n_cond, *cfg.additive_hidden_sizes, n_out]
    weights, biases = [], []
    try:
        for i, (n_in, n_o) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            w = np.asarray(state[f"decoder.additive.weights.{i}"], dtype=np.float32)
            if w.shape != (d, n_in, n_o):
                raise ValueError(f"decoder.additive.weights.{i} is {w.shape}, expected {(d, n_in, n_o)}")
            weights.append(w)
            if i < len(sizes) - 2:
                b = np.asarray(state[f"decoder.additive.biases.{i}"], dtype=np.float32)
                if b.shape != (d, n_o):
                    raise ValueError(f"decoder.additive.biases.{i} is {b.shape}, expected {(d, n_o)}")
                biases.append(b)
        bias = np.asarray(state["decoder.additive.bias"], dtype=np.float32)
    except KeyError as e:
        raise ValueError(f"missing array {e.args[0]}") from None
    if f"decoder.additive.weights.{len(sizes) - 1}" in state:
        raise ValueError("decoder.additive has more layers than additive_hidden says")
    if bias.shape != (n_out,):
        raise ValueError(f"decoder.additive.bias is {bias.shape}, expected ({n_out},)")
    if not all(np.isfinite(a).all() for a in (*weights, *biases, bias)):
        raise ValueError("decoder.additive holds NaN or inf")
    gain = None
    if cfg.additive_gain:
        gain = _linear_stack(state, "decoder.additive.gain")
        _chain(gain, cfg.latent_dim + cfg.n_cond, 1, "decoder.additive.gain")
        if gain[0][0].shape[0] != cfg.additive_gain:
            raise ValueError(
                f"decoder.additive.gain is {gain[0][0].shape[0]} wide, expected {cfg.additive_gain}"
            )
    elif any(k.startswith("decoder.additive.gain.") for k in state):
        raise ValueError("decoder.additive.gain is present but additive_gain is 0")
    return weights, biases, bias, gain, n_out - 3


def additive_forward(layers, x: np.ndarray, latent_dim: int) -> np.ndarray:
    """sum_i g_i(z_i, cond) + bias (z_i a latent or a block of them) for x = [z | cond] float32
    [B, latent_dim + n_cond] -> float32 [B, n_out]
    (models/harmonic.AdditiveHeads in numpy). Real-time safe: no (allocates)."""
    weights, biases, bias, gain, n_gain = layers
    z, cond = x[:, :latent_dim], x[:, latent_dim:]
    n_groups = weights[0].shape[0]
    h = z.reshape(x.shape[0], n_groups, latent_dim // n_groups)  # [B, G, block]
    if cond.shape[1]:
        h = np.concatenate([h, np.broadcast_to(cond[:, None, :], (x.shape[0], n_groups, cond.shape[1]))], -1)
    for w, b in zip(weights[:-1], biases, strict=True):
        h = np.matmul(h.transpose(1, 0, 2), w).transpose(1, 0, 2) + b  # per latent d: [B, in] @ [in, out]
        h = np.maximum(h, LEAKY_SLOPE * h)
    out = np.einsum("bdi,dio->bo", h, weights[-1]) + bias
    if gain is not None:
        g = x
        for i, (w, b) in enumerate(gain):
            g = g @ w.T + b
            if i < len(gain) - 1:
                g = np.maximum(g, LEAKY_SLOPE * g)
        out[:, :n_gain] += g
    return out


def _sigmoid1(x: float) -> float:
    # exp of -|x| never overflows
    e = math.exp(-abs(x))
    return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of -|x| never overflows
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
