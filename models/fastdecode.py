"""Torch-free one-vector decoder (numpy matmuls + a numba render kernel): the live control path.

`FastDecoder(cfg, state)` takes a ModelConfig and the BetaVAE's arrays (numpy, as `load_checkpoint(path,
tensors="numpy")` returns them, or `FastDecoder.from_model(model)` from a torch module) and reproduces
`model.decode(z, cond)` for one latent vector, without torch's per-op overhead (a one-vector torch forward
through the harmonic decoder is ~20 small ops, each with microseconds of dispatch) and without importing
torch at all (serve's start-up). Buffers are preallocated; `decode` writes into them and returns a view.
Layers are read and checked by models/npdecode.py (the batch numpy decoder), which also holds the harmonic
constants (models/harmonic.py imports torch; tests/models/test_npdecode.py asserts they agree).
`conv` models have no fast path (use `model.decode`). The additive harmonic decoder (ModelConfig.decoder)
runs its per-latent MLPs in numpy, then the lobe kernel (no fused one-call kernel).
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
from numba import njit

from vaesynth.models.config import ModelConfig
from vaesynth.models.npdecode import (
    KERNEL_HALF_WIDTH_BINS,
    KERNEL_OVERSAMPLE,
    LEAKY_SLOPE,
    LOBE_SCALE_RANGE,
    MAX_INHARMONICITY,
    POWER_EPS,
    NumpyDecoder,
    additive_forward,
)


@njit(cache=True, nogil=True, fastmath=False)
def render_partials_kernel(amps_db, freqs_bins, lobe_scale, kernel, noise_power, out):
    """Power-sum of window lobes plus noise power, then sqrt: out [n_bins] linear magnitude (re reference).

    amps_db [K] (dB), freqs_bins [K] (fractional bins; < 0 or NaN = silent), lobe_scale (width factor),
    kernel [n] (|W(δ)|/|W(0)| at δ = i / KERNEL_OVERSAMPLE), noise_power [n_bins] (linear power).
    Real-time safe: yes (no allocation).
    """
    n_bins = out.shape[0]
    for b in range(n_bins):
        out[b] = noise_power[b] + POWER_EPS
    reach = int(math.ceil(KERNEL_HALF_WIDTH_BINS * LOBE_SCALE_RANGE[1]))
    limit = KERNEL_HALF_WIDTH_BINS * KERNEL_OVERSAMPLE
    n_tab = kernel.shape[0]
    for k in range(amps_db.shape[0]):
        pos = freqs_bins[k]
        if not (pos >= 0.0):
            continue
        amp = 10.0 ** (amps_db[k] / 20.0)
        base = math.floor(pos)
        for o in range(-reach + 1, reach + 1):
            idx = int(base) + o
            if idx < 0 or idx >= n_bins:
                continue
            u = abs((idx - pos) / lobe_scale) * KERNEL_OVERSAMPLE
            if u >= limit:
                continue
            i0 = min(int(math.floor(u)), n_tab - 2)
            frac = u - i0
            v = (kernel[i0] * (1.0 - frac) + kernel[i0 + 1] * frac) * amp
            out[idx] += v * v
    for b in range(n_bins):
        out[b] = math.sqrt(out[b])


@njit(cache=True, nogil=True, fastmath=False)
def harmonic_frame_kernel(
    amps_db, f0_bins, inharmonicity, nyquist_bins, lobe_scale, noise_db, taps, tap_w, kernel, db_range,
    clip01, pos, noise_power, mag, out,
):  # fmt: skip
    """The harmonic decoder's frame from its controls in one call (the second half of harmonic_decode_kernel):
    partial k at f0_bins · k · sqrt(1 + (k² - 1) · inharmonicity) bins (silent at or above nyquist_bins),
    noise power per bin from noise_db [bands] through two interpolation taps (taps int64 [n_bins, 2] band
    indices, tap_w [n_bins, 2] weights), window lobes (render_partials_kernel), then model space
    20·log10(mag + floor) / db_range + 1 into out [n_bins] float32 (clipped to [0, 1] if clip01).
    pos [K], noise_power/mag [n_bins] float64: scratch. Real-time safe: yes (no allocation)."""
    for k in range(amps_db.shape[0]):
        kk = k + 1.0
        f = kk * f0_bins * math.sqrt(1.0 + (kk * kk - 1.0) * inharmonicity)
        pos[k] = f if f < nyquist_bins else -1.0
    for b in range(noise_power.shape[0]):
        db = noise_db[taps[b, 0]] * tap_w[b, 0] + noise_db[taps[b, 1]] * tap_w[b, 1]
        noise_power[b] = 10.0 ** (db / 10.0)
    render_partials_kernel(amps_db, pos, lobe_scale, kernel, noise_power, mag)
    floor = 10.0 ** (-db_range / 20.0)
    for b in range(out.shape[0]):
        x = 20.0 * math.log10(mag[b] + floor) / db_range + 1.0
        if clip01:
            x = min(1.0, max(0.0, x))
        out[b] = x


@njit(cache=True, nogil=True, fastmath=True)
def _dense(w, b, x, out, leaky):
    """out = w @ x + b (then leaky ReLU if leaky), float32; fastmath lets the dot products vectorise (as
    BLAS does; sums in another order than torch's, ~1e-6 relative). Real-time safe: yes."""
    for i in range(w.shape[0]):
        acc = np.float32(0.0)
        for j in range(w.shape[1]):
            acc += w[i, j] * x[j]
        acc += b[i]
        if leaky and acc < 0:
            acc *= np.float32(LEAKY_SLOPE)
        out[i] = acc


@njit(cache=True, nogil=True)
def harmonic_decode_kernel(
    z, w1, b1, h1, w2, b2, h2, w_heads, b_heads, heads, n_partials, n_bands, latent_dim, n_cond, db_range,
    detune_cents, f_ref_bins, nyquist_bins, taps, tap_w, kernel, clip01, pos, noise_power, mag, out,
):  # fmt: skip
    """The whole one-vector harmonic decode in one call (a two-layer trunk, the default): the trunk (w1, b1
    -> h1, w2, b2 -> h2, leaky ReLU), the heads [amps | noise bands | shape] (w_heads, b_heads -> heads, all
    float32), the shape parameters (inharmonicity, lobe width, pitch ratio, detune) as
    HarmonicDecoder.controls computes them, then harmonic_frame_kernel into out.
    z: float32 [latent_dim + n_cond]. Real-time safe: yes (no allocation)."""
    _dense(w1, b1, z, h1, True)
    _dense(w2, b2, h1, h2, True)
    _dense(w_heads, b_heads, h2, heads, False)
    k, nb = n_partials, n_bands
    for j in range(k + nb):
        heads[j] = db_range * (heads[j] - 1.0)
    s0, s1, s2 = heads[k + nb], heads[k + nb + 1], heads[k + nb + 2]
    lo, hi = LOBE_SCALE_RANGE
    inharm = MAX_INHARMONICITY / (1.0 + math.exp(-s0))
    lobe = lo + (hi - lo) / (1.0 + math.exp(-(s1 + math.log((1 - lo) / (hi - 1)))))
    ratio = 2.0 ** z[latent_dim] if n_cond > 0 else 1.0
    if detune_cents > 0:
        ratio *= 2.0 ** (detune_cents * math.tanh(s2) / 1200.0)
    harmonic_frame_kernel(
        heads[:k], f_ref_bins * ratio, inharm, nyquist_bins, lobe, heads[k : k + nb], taps, tap_w, kernel,
        db_range, clip01, pos, noise_power, mag, out,
    )  # fmt: skip


@njit(cache=True, nogil=True)
def frame_to_magnitudes_kernel(x, db_range, ref_db, out):
    """FrameCodec.to_magnitudes for one frame at f_ref (models/features.py), fused with Instrument's
    non-finite guard: out[i] = 10 ** (((x[i] - 1) * db_range + ref_db) / 20) where x[i] > 0, else 0, in
    float64 then float32; a non-finite float32 becomes 0. One pass instead of five numpy calls over the
    bins (the live decode of a knob move runs on cold caches, where each call costs ~15-20 µs)."""
    for i in range(x.shape[0]):
        v = np.float64(x[i])
        m = np.float32(0.0)
        if v > 0.0:
            m = np.float32(10.0 ** (((v - 1.0) * db_range + ref_db) / 20.0))
            if not math.isfinite(m):  # after the cast: past float32's range is inf too
                m = np.float32(0.0)
        out[i] = m


class FastDecoder:
    """One-vector decoder: `decode(z, cond=None) -> x_hat [n_bins]` (model space) equal to model.decode.

    cfg: ModelConfig (arch mlp400, mlp or harmonic; conv -> ValueError). state: name -> numpy array, the
    BetaVAE state_dict (the `decoder.*` entries are read); ValueError (one line) when they do not fit cfg."""

    def __init__(self, cfg: ModelConfig, state: Mapping[str, np.ndarray], layers: NumpyDecoder | None = None):
        """layers: a NumpyDecoder already built from these arrays (its checked float32 copies are shared);
        None builds one."""
        if cfg.arch == "conv":
            raise ValueError("conv models have no fast decoder; use model.decode")
        if layers is None:
            layers = NumpyDecoder(cfg, state)  # reads and checks the arrays (float32 copies)
        self.cfg = cfg
        self.arch = cfg.arch
        self._z = np.zeros(cfg.latent_dim + cfg.n_cond, dtype=np.float32)
        self.out = np.zeros(cfg.n_bins, dtype=np.float32)
        self._additive = None
        if cfg.arch == "harmonic" and layers.additive is not None:
            # The additive decoder: its per-latent MLPs in numpy (models/npdecode.additive_forward), then
            # decode's numpy-controls path and the lobe kernel.
            self._additive = layers.additive
            self.n_partials = k = layers.n_partials
            self._fused = None
            self.kernel = layers.kernel
            self.noise_interp = layers.noise_interp
            self.k = np.arange(1, k + 1, dtype=np.float64)
            self.bin_hz = cfg.sample_rate / cfg.n_fft
            self._mag = np.zeros(cfg.n_bins, dtype=np.float64)
            self._noise_power = np.zeros(cfg.n_bins, dtype=np.float64)
        elif cfg.arch == "harmonic":
            self.layers = [(w, b, "leaky") for w, b in layers.trunk]
            w, b = layers.heads  # rows [amps | noise bands | shape (B, lobe, detune)]
            k, n_bands = layers.n_partials, cfg.n_noise_bands
            self.n_partials = k
            self.amp = (w[:k], b[:k], "none")
            self.noise = (w[k : k + n_bands], b[k : k + n_bands], "none")
            self.shape = (w[k + n_bands :], b[k + n_bands :], "none")
            self.kernel = layers.kernel
            self.noise_interp = layers.noise_interp
            self._noise_taps = _two_taps(self.noise_interp)
            # amps and noise bands in one matmul
            self._heads = (np.ascontiguousarray(w[: k + n_bands]), np.ascontiguousarray(b[: k + n_bands]))
            self._pos = np.zeros(k, dtype=np.float64)
            # decode's one-call kernel: a two-layer trunk (the default) with a two-tap noise interpolation
            self._fused = None
            if len(self.layers) == 2 and self._noise_taps is not None:
                (w1, b1, _), (w2, b2, _) = self.layers
                self._fused = (
                    *(np.ascontiguousarray(a, dtype=np.float32) for a in (w1, b1)),
                    np.zeros(w1.shape[0], np.float32),
                    *(np.ascontiguousarray(a, dtype=np.float32) for a in (w2, b2)),
                    np.zeros(w2.shape[0], np.float32),
                    np.ascontiguousarray(w, dtype=np.float32),
                    np.ascontiguousarray(b, dtype=np.float32),
                    np.zeros(w.shape[0], np.float32),
                )
            self.k = np.arange(1, k + 1, dtype=np.float64)
            self.bin_hz = cfg.sample_rate / cfg.n_fft
            self._mag = np.zeros(cfg.n_bins, dtype=np.float64)
            self._noise_power = np.zeros(cfg.n_bins, dtype=np.float64)
        else:
            n = len(layers.layers)
            self.layers = [(w, b, "relu" if i < n - 1 else "none") for i, (w, b) in enumerate(layers.layers)]

    @classmethod
    def from_model(cls, model) -> "FastDecoder":
        """From a torch BetaVAE (tests, benchmarks, the torch backend of Instrument)."""
        state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
        return cls(model.cfg, state)

    @staticmethod
    def _mlp(layers, h):
        for w, b, act in layers:
            h = w @ h + b
            if act == "relu":
                np.maximum(h, 0.0, out=h)
            elif act == "leaky":  # max(h, a·h) is leaky ReLU for 0 < a < 1
                np.maximum(h, LEAKY_SLOPE * h, out=h)
        return h

    def controls(self, z: np.ndarray, cond: np.ndarray | None = None) -> dict:
        """Harmonic controls (as HarmonicDecoder.controls, one vector, numpy float64 / float)."""
        if self.arch != "harmonic":
            raise ValueError(f"arch {self.arch!r} has no parametric controls")
        cfg = self.cfg
        self._z[: cfg.latent_dim] = z
        if cfg.n_cond:
            self._z[cfg.latent_dim :] = 0.0 if cond is None else cond
        db = cfg.db_range
        k = self.n_partials
        if self._additive is not None:
            out = additive_forward(self._additive, self._z[None], cfg.latent_dim)[0]
            heads = db * (out[: k + cfg.n_noise_bands] - 1.0)
            shape = out[k + cfg.n_noise_bands :]
        else:
            h = self._mlp(self.layers, self._z)
            heads = db * (self._heads[0] @ h + self._heads[1] - 1.0)
            shape = self.shape[0] @ h + self.shape[1]
        amps_db, noise_db = heads[:k], heads[k:]
        lo, hi = LOBE_SCALE_RANGE
        b = MAX_INHARMONICITY / (1.0 + math.exp(-float(shape[0])))
        s = float(shape[1]) + math.log((1 - lo) / (hi - 1))
        lobe = lo + (hi - lo) / (1.0 + math.exp(-s))
        ratio = 2.0 ** float(self._z[cfg.latent_dim]) if cfg.n_cond else 1.0
        detune = cfg.detune_cents * math.tanh(float(shape[2]))
        if cfg.detune_cents > 0:
            ratio *= 2.0 ** (detune / 1200.0)
        return {
            "amps_db": amps_db.astype(np.float64),
            "inharmonicity": b,
            "lobe_scale": lobe,
            "noise_db": noise_db,
            "f0_ratio": ratio,
            "detune_cents": detune,
        }

    def decode(self, z: np.ndarray, cond: np.ndarray | None = None) -> np.ndarray:
        """z [latent_dim] (cond [n_cond]) -> model-space frame [n_bins] float32 (a view of self.out).
        Real-time safe: no (numpy temporaries in the matmuls), but torch-free and cheap."""
        cfg = self.cfg
        if self.arch != "harmonic":
            self._z[: cfg.latent_dim] = z
            if cfg.n_cond:
                self._z[cfg.latent_dim :] = 0.0 if cond is None else cond
            y = self._mlp(self.layers, self._z)
            if cfg.likelihood == "bernoulli":
                y = 1.0 / (1.0 + np.exp(-y))
            self.out[:] = y
            return self.out
        if self._fused is not None:
            self._z[: cfg.latent_dim] = z
            if cfg.n_cond:
                self._z[cfg.latent_dim :] = 0.0 if cond is None else cond
            harmonic_decode_kernel(
                self._z,
                *self._fused,
                self.amp[0].shape[0],
                cfg.n_noise_bands,
                cfg.latent_dim,
                cfg.n_cond,
                float(cfg.db_range),
                float(cfg.detune_cents),
                cfg.f_ref_hz / self.bin_hz,
                0.5 * cfg.sample_rate / self.bin_hz,
                self._noise_taps[0],
                self._noise_taps[1],
                self.kernel,
                cfg.likelihood == "bernoulli",
                self._pos,
                self._noise_power,
                self._mag,
                self.out,
            )
            return self.out
        c = self.controls(z, cond)  # other trunks and interpolations: numpy, then the lobe kernel
        freqs = (
            self.k
            * (cfg.f_ref_hz * c["f0_ratio"])
            * np.sqrt(1.0 + (self.k * self.k - 1.0) * c["inharmonicity"])
        )
        pos = np.where(freqs < 0.5 * cfg.sample_rate, freqs / self.bin_hz, -1.0)
        np.power(10.0, (c["noise_db"] @ self.noise_interp) / 10.0, out=self._noise_power)
        render_partials_kernel(c["amps_db"], pos, c["lobe_scale"], self.kernel, self._noise_power, self._mag)
        floor = 10.0 ** (-cfg.db_range / 20.0)
        x = 20.0 * np.log10(self._mag + floor) / cfg.db_range + 1.0
        if cfg.likelihood == "bernoulli":
            np.clip(x, 0.0, 1.0, out=x)
        self.out[:] = x
        return self.out


def _two_taps(interp: np.ndarray):
    """interp [bands, bins] with at most two non-zero weights per bin (the mel interpolation) -> (taps
    int64 [bins, 2], weights float64 [bins, 2]) such that x @ interp == sum over the taps of x[taps] *
    weights (up to rounding); None when some bin mixes more bands (decode then uses the dense product)."""
    nonzero = interp != 0
    if nonzero.sum(axis=0).max(initial=0) > 2:
        return None
    n_bins = interp.shape[1]
    i0 = np.argmax(nonzero, axis=0)  # first band of each bin (0 where none)
    rest = nonzero.copy()
    rest[i0, np.arange(n_bins)] = False
    i1 = np.argmax(rest, axis=0)
    cols = np.arange(n_bins)
    w0 = interp[i0, cols].astype(np.float64)
    w1 = np.where(rest.any(axis=0), interp[i1, cols], 0.0).astype(np.float64)
    return np.stack([i0, i1], axis=1).astype(np.int64), np.stack([w0, w1], axis=1)
