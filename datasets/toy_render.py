"""Shared machinery of the toy generators: sinusoid banks, frame analysis, factor sampling, level, progress.

Conventions for every toy set (datasets/toy.py documents the sets themselves):
- Sinusoids start at phase 0 at t = 0 (seed 000: "the phase at the origin is always set to zero").
- Level: every sound's steady-state signal has RMS `REFERENCE_RMS` (-20 dBFS) before any decay envelope:
  seed 001 kept total energy constant, so level carries no factor except where a factor *is* level (decay).
- Frames are analysed exactly as `vaesynth.synth.spectral.magnitude` analyses an interior frame (same
  window, float64 rfft cast to complex64, then abs), batched over sounds.
"""

from __future__ import annotations

import math
import sys

import numpy as np
from numba import njit
from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.spectral import analysis_window

REFERENCE_RMS = 0.1
CHUNK_SOUNDS = 512  # sounds rendered per batch: bounds memory, sets the progress bar's granularity


@njit(cache=True, nogil=True)
def additive_bank(freqs_hz, amps, phases_rad, start_sample, sample_rate, out):
    """Sum of sinusoids per sound: out[s, n] = sum_p amps[s,p] sin(2 pi f[s,p] (start + n)/sr + phase[s,p]).

    freqs_hz, amps, phases_rad: float64 [n_sounds, n_partials] (amp 0 = partial absent). start_sample: int,
    time of out[:, 0] in samples from t = 0. sample_rate: Hz. out: float64 [n_sounds, n_samples], overwritten.
    A complex rotation per partial (float64; drift ~1e-12 over 10^4 samples) instead of one sin per sample.
    Real-time safe: yes (no allocation, GIL released); meant for offline batches. Single-threaded: on a
    shared 2-core machine numba threads measured slower than one (oversubscription).
    """
    n_sounds, n_partials = freqs_hz.shape
    n_samples = out.shape[1]
    for s in range(n_sounds):
        row = out[s]
        row[:] = 0.0
        for p in range(n_partials):
            a = amps[s, p]
            if a == 0.0:
                continue
            w = 2.0 * math.pi * freqs_hz[s, p] / sample_rate
            theta = w * start_sample + phases_rad[s, p]
            zr, zi = math.cos(theta), math.sin(theta)
            wr, wi = math.cos(w), math.sin(w)
            for n in range(n_samples):
                row[n] += a * zi
                zr, zi = zr * wr - zi * wi, zr * wi + zi * wr
    return out


def sinusoid_rms(amps: np.ndarray) -> np.ndarray:
    """RMS of a sum of sinusoids at distinct frequencies: sqrt(sum A^2 / 2); amps [..., n_partials]."""
    return np.sqrt(0.5 * np.sum(np.square(amps), axis=-1))


def analyse_frames(segments: np.ndarray, config: SpectralConfig) -> np.ndarray:
    """Magnitude spectra of frame-length segments, as `spectral.magnitude` computes each frame.

    segments: float [..., n_fft] (the samples a centred frame covers). Returns float32 [..., n_bins].
    Real-time safe: no (allocates).
    """
    spec = np.fft.rfft(np.asarray(segments, dtype=np.float64) * analysis_window(config), axis=-1)
    return np.abs(spec.astype(np.complex64)).astype(np.float32)


def segment_level_db(segments: np.ndarray) -> np.ndarray:
    """RMS level in dB (re full scale 1.0) of each segment [..., n_samples], float32 [...]; floor -200 dB."""
    rms = np.sqrt(np.mean(np.square(segments), axis=-1))
    return (20.0 * np.log10(np.maximum(rms, 1e-10))).astype(np.float32)


def choose_sounds(n_sounds: int, grid: np.ndarray, draw_continuous, rng: np.random.Generator) -> np.ndarray:
    """Factor rows of the sounds to render.

    n_sounds: how many. grid: float64 [n_grid, n_factors], the seed's cartesian product. draw_continuous:
    callable (n, rng) -> [n, n_factors], uniform draws over the grid's ranges.
    Returns float64 [n_sounds, n_factors]:
    the whole grid if n_sounds == n_grid; a random subset of it (without replacement, in grid order) if
    smaller; random continuous factors if larger (a grid cannot hold more distinct sounds).
    """
    n_grid = len(grid)
    if n_sounds == n_grid:
        return grid.copy()
    if n_sounds < n_grid:
        return grid[np.sort(rng.choice(n_grid, size=n_sounds, replace=False))]
    return np.asarray(draw_continuous(n_sounds, rng), dtype=np.float64)


def cartesian_grid(*axes) -> np.ndarray:
    """Cartesian product of 1-D axes, first axis slowest: float64 [prod(len), n_axes]."""
    mesh = np.meshgrid(*[np.asarray(a, dtype=np.float64) for a in axes], indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=-1)


def progress_bar(total: int, desc: str, enabled: bool):
    """A tqdm bar on stderr counting sounds (disabled: a no-op bar with the same methods)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sound", file=sys.stderr, disable=not enabled, leave=False)


def chunks(n: int, size: int = CHUNK_SOUNDS):
    """Consecutive slices covering range(n) in pieces of `size` (fixed, so output never depends on timing)."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))
