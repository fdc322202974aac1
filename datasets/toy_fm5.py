"""`toy:fm5` — seed 001 section 2.2: three FM voices through a Moog-style ladder low-pass.

s = Moog(FM([f0 - j f0/10, f0, f0 + j f0/10], k, r), f sr/200, Q), f0 = 110 Hz, as pyo's FM(carrier,
ratio, index) with a list of carriers: one voice per carrier c, sin(2 pi c t + r sin(2 pi k c t)), the
three summed and divided by 3 (peak <= 1, the ladder's tanh drive).
Grid (the seed's, 8 x 7 x 8 x 10 x 10 = 44,800 sounds, one frame each):
- carrier j = 1, 1.5, ..., 4.5 (the three carriers are f0 (1 - j/10), f0, f0 (1 + j/10));
- ratio k = 0.1, 0.15, ..., 0.4 (modulator = k x carrier; numpy's arange(0.1, 0.4, 0.05) yields 7 values,
  which is how the seed reached 44,800);
- index r = 0, 4, ..., 28;
- filter_q Q = 1..10: ladder feedback k_fb = 0.9 (Q - 1)/9 x k_max(cutoff), where k_max is the feedback at
  which the (discrete) ladder self-oscillates at that cutoff: Q = 1 is the plain 4-pole, Q = 10 rings at
  90 % of self-oscillation at every cutoff;
- filter_hz = f x 44100/200 = 220.5 .. 2205 Hz (f = 1..10; kept in Hz at any analysis sample rate).
Factors: carrier j, ratio k, index r, filter_q Q, filter_hz (Hz). `size` frames: fewer draws a random grid
subset, more draws uniform continuous factors.

The ladder is nonlinear, so it runs in time: each sound starts PRE-ROLL samples before the analysed frame,
enough for the linearised ladder's slowest pole to decay by TRANSIENT_DB (computed per sound, capped at
MAX_PREROLL_S). Level: the analysed segment is scaled to RMS REFERENCE_RMS (constant energy, seed 001).
f0_hz is 110 Hz, the middle carrier.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from vaesynth.datasets import toy_render as tr
from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.filters import ladder_coefficient, ladder_max_feedback, ladder_pole_radius, moog_ladder

FACTOR_NAMES = ["carrier", "ratio", "index", "filter_q", "filter_hz"]
F0_HZ = 110.0
SEED_SAMPLE_RATE = 44100.0
CARRIER = np.arange(1.0, 5.0, 0.5)
RATIO = 0.1 + 0.05 * np.arange(7)
INDEX = np.arange(0.0, 30.0, 4.0)
FILTER_Q = np.arange(1.0, 11.0)
FILTER_HZ = np.arange(1.0, 11.0) * SEED_SAMPLE_RATE / 200.0
MAX_RESONANCE = 0.9
TRANSIENT_DB = 80.0
MIN_PREROLL_S = 0.01
MAX_PREROLL_S = 1.0


def grid() -> np.ndarray:
    """The seed's parameter space, float64 [44800, 5] in FACTOR_NAMES order."""
    return tr.cartesian_grid(CARRIER, RATIO, INDEX, FILTER_Q, FILTER_HZ)


def draw_continuous(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.stack(
        [rng.uniform(a[0], a[-1], n) for a in (CARRIER, RATIO, INDEX, FILTER_Q, FILTER_HZ)], axis=-1
    )


def carriers_hz(carrier: np.ndarray) -> np.ndarray:
    """The three carrier frequencies [n_sounds, 3] for carrier spreads j [n_sounds]."""
    j = np.asarray(carrier, dtype=np.float64)[:, None]
    return F0_HZ + np.array([-1.0, 0.0, 1.0])[None, :] * j * F0_HZ / 10.0


def ladder_settings(filter_q: np.ndarray, filter_hz: np.ndarray, sample_rate: float):
    """Per sound: (g, feedback, preroll): stage coefficient, ladder feedback, int64 transient samples."""
    g = ladder_coefficient(filter_hz, sample_rate)
    feedback = MAX_RESONANCE * (np.asarray(filter_q) - 1.0) / 9.0 * ladder_max_feedback(g)
    radius = ladder_pole_radius(g, feedback)
    n_decay = np.log(10.0 ** (-TRANSIENT_DB / 20.0)) / np.log(radius)
    preroll = np.clip(np.ceil(n_decay), MIN_PREROLL_S * sample_rate, MAX_PREROLL_S * sample_rate)
    return g, feedback, preroll.astype(np.int64)


# sin by Cody-Waite reduction to [-pi/2, pi/2] and its Taylor polynomial to r^13 (error < 1e-9): ~4x faster
# than libm's sin inside numba here, and the FM voices need one a sample each.
_PI_A = 3.1415926218032837  # pi in two parts, so k * _PI_A is exact for |k| < 2^20
_PI_B = 3.178650954705639e-08


@njit(cache=True, nogil=True, inline="always")
def _sin(x):
    k = math.floor(x * (1.0 / math.pi) + 0.5)
    r = (x - k * _PI_A) - k * _PI_B
    r2 = r * r
    p = 1.0 / 6227020800.0
    p = p * r2 - 1.0 / 39916800.0
    p = p * r2 + 1.0 / 362880.0
    p = p * r2 - 1.0 / 5040.0
    p = p * r2 + 1.0 / 120.0
    p = p * r2 - 1.0 / 6.0
    p = r + r * r2 * p
    return -p if (int(k) & 1) else p


@njit(cache=True, nogil=True)
def fm_voices(carriers, ratio, index, start_sample, sample_rate, out):
    """Mean of FM voices: out[n] = mean_c sin(2 pi c t + index sin(2 pi ratio c t)), t = (start + n) / sr.

    carriers: float64 [n_voices] Hz. ratio, index: modulator/carrier ratio and modulation index (radians).
    start_sample: int (may be negative). out: float64 [n_samples], overwritten. Returns out.
    Real-time safe: yes (no allocation).
    """
    out[:] = 0.0
    n_voices = carriers.shape[0]
    for c in range(n_voices):
        wc = 2.0 * math.pi * carriers[c] / sample_rate
        wm = wc * ratio
        # The modulator by complex rotation (one multiply a sample instead of a libm sin).
        zr, zi = math.cos(wm * start_sample), math.sin(wm * start_sample)
        wr, wi = math.cos(wm), math.sin(wm)
        for n in range(out.shape[0]):
            out[n] += _sin(wc * (start_sample + n) + index * zi)
            zr, zi = zr * wr - zi * wi, zr * wi + zi * wr
    out /= n_voices
    return out


@njit(cache=True, nogil=True)
def _render_kernel(carriers, ratio, index, g, feedback, preroll, sample_rate, out):
    # One sound after another: FM voices from `preroll` samples before the frame, then the ladder from rest.
    n_out = out.shape[1]
    x_buf = np.empty(preroll.max() + n_out)
    y_buf = np.empty_like(x_buf)
    state = np.empty(4)
    for s in range(carriers.shape[0]):
        n_total = preroll[s] + n_out
        x, y = x_buf[:n_total], y_buf[:n_total]
        fm_voices(carriers[s], ratio[s], index[s], -preroll[s], sample_rate, x)
        state[:] = 0.0
        moog_ladder(x, g[s], feedback[s], state, y)
        out[s, :] = y[preroll[s] :]
    return out


def render(factors: np.ndarray, config: SpectralConfig) -> tuple[np.ndarray, np.ndarray]:
    """Render and analyse sounds.

    factors: [n_sounds, 5]. Returns (magnitudes float32 [n_sounds, n_bins], loudness_db float32 [n_sounds]).
    Real-time safe: no.
    """
    sr = float(config.sample_rate)
    g, feedback, preroll = ladder_settings(factors[:, 3], factors[:, 4], sr)
    x = _render_kernel(
        carriers_hz(factors[:, 0]),
        factors[:, 1].copy(),
        factors[:, 2].copy(),
        g,
        feedback,
        preroll,
        sr,
        np.empty((len(factors), config.n_fft)),
    )
    x *= (tr.REFERENCE_RMS / np.maximum(np.sqrt(np.mean(x * x, axis=-1)), 1e-12))[:, None]
    return tr.analyse_frames(x, config), tr.segment_level_db(x)


def make(config: SpectralConfig, seed: int, size: int | None, progress: bool) -> dict:
    """Fields of the toy:fm5 Dataset (see module docstring)."""
    rng = np.random.default_rng(seed)
    full = grid()
    n = len(full) if size is None else size
    factors = tr.choose_sounds(n, full, draw_continuous, rng)
    return tr.one_frame_per_sound(
        "toy:fm5", factors, FACTOR_NAMES, F0_HZ, render, config, progress, {"f0_hz": F0_HZ}
    )
