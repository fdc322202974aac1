"""`toy:richness` — seed 001 section 2.1: one factor, spectral richness at 220 Hz.

Harmonics are faded in one after another, each up to 1/n: with richness r in [0, N_HARMONICS - 1],
    A_1 = 1,   A_n = (1/n) clip(r - (n - 2), 0, 1)  for n = 2..N_HARMONICS,
so r = 0 is a pure sine, r = 1 adds the octave at 1/2, r = 2 the twelfth at 1/3, ... r = 19 all 20 harmonics
(the seed kept the lower quarter of a 4096-point FFT, up to ~5.5 kHz; 20 harmonics of 220 Hz reach 4.4 kHz).
Every spectrum has the same total energy (seed 001: "their total energy is constant"): RMS REFERENCE_RMS.
One frame per sound, samples [0, n_fft) of the steady tone (phases 0 at t = 0).

Default: the seed's 10,000 spectra, richness evenly spaced over [0, 19] (the seed's sequence; it does not
depend on the seed). `size` = number of frames: fewer draws a random subset of those 10,000; more draws
richness uniformly at random over [0, 19].
"""

from __future__ import annotations

import numpy as np

from vaesynth.datasets import toy_render as tr
from vaesynth.synth.config import SpectralConfig

FACTOR_NAMES = ["richness"]
F0_HZ = 220.0
N_HARMONICS = 20
DEFAULT_FRAMES = 10_000


def grid() -> np.ndarray:
    """The seed's 10,000 richness values, float64 [10000, 1]."""
    return np.linspace(0.0, N_HARMONICS - 1.0, DEFAULT_FRAMES)[:, None]


def draw_continuous(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.0, N_HARMONICS - 1.0, (n, 1))


def harmonic_amplitudes(richness: np.ndarray) -> np.ndarray:
    """A_n for n = 1..N_HARMONICS, float64 [n_sounds, N_HARMONICS] (not normalised). richness: [n_sounds]."""
    n = np.arange(1, N_HARMONICS + 1, dtype=np.float64)[None, :]
    fade = np.clip(np.asarray(richness, dtype=np.float64)[:, None] - (n - 2.0), 0.0, 1.0)
    return np.where(n == 1, 1.0, fade / n)


def render(factors: np.ndarray, config: SpectralConfig) -> tuple[np.ndarray, np.ndarray]:
    """Render and analyse sounds.

    factors: [n_sounds, 1]. Returns (magnitudes float32 [n_sounds, n_bins], loudness_db float32 [n_sounds]).
    Real-time safe: no.
    """
    sr = config.sample_rate
    amps = harmonic_amplitudes(factors[:, 0])
    freqs = np.broadcast_to(F0_HZ * np.arange(1, N_HARMONICS + 1), amps.shape).copy()
    amps = np.where(freqs < 0.95 * sr / 2, amps, 0.0)
    amps *= (tr.REFERENCE_RMS / tr.sinusoid_rms(amps))[:, None]
    x = tr.additive_bank(freqs, amps, np.zeros_like(freqs), 0, float(sr), np.empty((len(amps), config.n_fft)))
    return tr.analyse_frames(x, config), tr.segment_level_db(x)


def make(config: SpectralConfig, seed: int, size: int | None, progress: bool) -> dict:
    """Fields of the toy:richness Dataset (see module docstring)."""
    rng = np.random.default_rng(seed)
    n = DEFAULT_FRAMES if size is None else size
    factors = tr.choose_sounds(n, grid(), draw_continuous, rng)
    return tr.one_frame_per_sound(
        "toy:richness", factors, FACTOR_NAMES, F0_HZ, render, config, progress, {"n_harmonics": N_HARMONICS}
    )
