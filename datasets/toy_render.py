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
    Real-time safe: no (allocates 5 small arrays; GIL released); meant for offline batches. Single-threaded:
    on a shared 2-core machine numba threads measured slower than one (oversubscription).
    """
    n_sounds, n_partials = freqs_hz.shape
    n_samples = out.shape[1]
    # Four partials per pass over the row: four independent rotation chains keep the FPU busy (2.5x faster
    # than one at a time, measured) and the row is loaded and stored a quarter as often.
    zr, zi, wr, wi, a = np.empty(4), np.empty(4), np.empty(4), np.empty(4), np.empty(4)
    for s in range(n_sounds):
        row = out[s]
        row[:] = 0.0
        for p0 in range(0, n_partials, 4):
            for j in range(4):
                p = p0 + j
                if p < n_partials and amps[s, p] != 0.0:
                    w = 2.0 * math.pi * freqs_hz[s, p] / sample_rate
                    theta = w * start_sample + phases_rad[s, p]
                    zr[j], zi[j], wr[j], wi[j] = math.cos(theta), math.sin(theta), math.cos(w), math.sin(w)
                    a[j] = amps[s, p]
                else:  # an absent partial: amplitude 0, rotation by 0
                    zr[j], zi[j], wr[j], wi[j], a[j] = 1.0, 0.0, 1.0, 0.0, 0.0
            if a[0] == 0.0 and a[1] == 0.0 and a[2] == 0.0 and a[3] == 0.0:
                continue
            zr0, zr1, zr2, zr3 = zr[0], zr[1], zr[2], zr[3]
            zi0, zi1, zi2, zi3 = zi[0], zi[1], zi[2], zi[3]
            wr0, wr1, wr2, wr3 = wr[0], wr[1], wr[2], wr[3]
            wi0, wi1, wi2, wi3 = wi[0], wi[1], wi[2], wi[3]
            a0, a1, a2, a3 = a[0], a[1], a[2], a[3]
            for n in range(n_samples):
                row[n] += a0 * zi0 + a1 * zi1 + a2 * zi2 + a3 * zi3
                zr0, zi0 = zr0 * wr0 - zi0 * wi0, zr0 * wi0 + zi0 * wr0
                zr1, zi1 = zr1 * wr1 - zi1 * wi1, zr1 * wi1 + zi1 * wr1
                zr2, zi2 = zr2 * wr2 - zi2 * wi2, zr2 * wi2 + zi2 * wr2
                zr3, zi3 = zr3 * wr3 - zi3 * wi3, zr3 * wi3 + zi3 * wr3
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


def one_frame_per_sound(
    name: str,
    factors: np.ndarray,
    factor_names: list[str],
    f0_hz: float,
    render,
    config: SpectralConfig,
    progress: bool,
    info: dict,
) -> dict:
    """Dataset fields of a set with one steady frame per sound (richness, additive4, fm5).

    factors: [n_sounds, n_factors]. render(factors_chunk, config) -> (magnitudes [n, n_bins], loudness_db [n])
    is called on chunks of CHUNK_SOUNDS sounds under a progress bar named `name`. Each sound is its own group.
    """
    n = len(factors)
    mags = np.empty((n, config.n_bins), dtype=np.float32)
    loud = np.empty(n, dtype=np.float32)
    with progress_bar(n, name, progress) as bar:
        for sl in chunks(n):
            mags[sl], loud[sl] = render(factors[sl], config)
            bar.update(sl.stop - sl.start)
    return dict(
        magnitudes=mags,
        f0_hz=np.full(n, f0_hz),
        loudness_db=loud,
        factors=factors,
        factor_names=list(factor_names),
        groups=np.arange(n),
        info=info,
    )
