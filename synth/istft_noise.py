"""The noise floor of a timbre: what lies between its partials (harmonic or not), separated from them.

Used by the istft renderer (`synth.istft`), which plays partials through RTPGHI and this floor as
random-phase noise. Control-thread work (numba kernels, ~100 µs per timbre: the engine applies timbres in
its render thread).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.oscbank import _window_sum
from vaesynth.synth.protocol import Timbre
from vaesynth.synth.spectral import analysis_window

# Floors more than this far below the timbre's peak are not rendered (leakage of clean partials).
NOISE_FLOOR_MIN_RELATIVE = 1e-3  # -60 dB
# Harmonics closer than this many timbre bins leave no valley to measure a floor in.
NOISE_MIN_SPACING_BINS = 4.0


LOBE_TABLE_STEPS = 32  # lobe table resolution, per bin
LOBE_TABLE_BINS = 64
_LOBE_TABLES: dict = {}


def _lobe_table(window: str, n_fft: int) -> np.ndarray:
    """|DTFT of the window| / sum(window) at offsets 0..LOBE_TABLE_BINS bins, LOBE_TABLE_STEPS per bin."""
    key = (window, n_fft)
    if key not in _LOBE_TABLES:
        w = analysis_window(SpectralConfig(n_fft=n_fft, hop_length=n_fft // 4, window=window))
        n_pad = n_fft * LOBE_TABLE_STEPS
        spec = np.abs(np.fft.rfft(w, n_pad))[: LOBE_TABLE_BINS * LOBE_TABLE_STEPS + 1]
        _LOBE_TABLES[key] = spec / w.sum()
    return _LOBE_TABLES[key]


def split_noise_floor(
    timbre: Timbre, amps: np.ndarray, ratios: np.ndarray | None = None, max_env: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Separate the timbre's floor from its partials (harmonic or not).

    The floor at f / f_ref = k + 1/2 is the median, over the middle half of the interval [k f_ref,
    (k+1) f_ref] (k = 0: below the fundamental), of the magnitude minus the leakage of the partials within
    LOBE_TABLE_BINS bins (their window lobes, magnitudes summed: an upper bound of the leakage, so clean
    partials leave no floor, wherever they lie). The partial amplitudes lose the floor's share of power at
    their frequency: a_j <- a_j sqrt(1 - (floor(r_j) / peak_j)^2), so a flat noise frame becomes noise, not a
    comb of partials. Floors below NOISE_FLOOR_MIN_RELATIVE x the frame's peak are dropped (clean timbres
    stay pure).
    timbre: Timbre. amps: float32 [n_partials] sinusoid amplitudes (`harmonic_amplitudes` or
    `istft_peaks.spectral_peaks`). ratios: float64 [n_partials] their frequencies / f_ref (default k = 1..n).
    max_env: most envelope points (default n_partials + 1).
    Returns (env float32 [n_env] linear magnitudes at f / f_ref = k + 0.5 (empty if none), amps float32).
    Real-time safe: no.
    """
    cfg = timbre.config
    mag = timbre.magnitudes
    spacing = timbre.f_ref_hz / cfg.bin_hz
    n_bins = len(mag)
    peak = float(mag.max()) if n_bins else 0.0
    if spacing < NOISE_MIN_SPACING_BINS or not peak > 0:
        return np.zeros(0, np.float32), amps
    if ratios is None:
        ratios = np.arange(1, len(amps) + 1, dtype=np.float64)
    ratios = np.ascontiguousarray(ratios, dtype=np.float64)
    n_env = min((len(amps) + 1) if max_env is None else int(max_env), int((n_bins - 1) / spacing))
    if n_env <= 0:
        return np.zeros(0, np.float32), amps
    lobe = _lobe_table(cfg.window, cfg.n_fft)
    peak_scale = 0.5 * _window_sum(cfg.window, cfg.n_fft)
    amps64 = np.asarray(amps, np.float64)
    env = np.zeros(n_env)
    out = np.zeros(len(amps))
    scratch = np.zeros(int(spacing) + 2)
    min_floor = NOISE_FLOOR_MIN_RELATIVE * peak
    # Two passes: the leakage depends on the partial amplitudes, which depend on the floor. Pass 1 takes
    # partials at zero (the floor is an upper bound), pass 2 subtracts the leakage of the corrected partials.
    _floors_kernel(mag, out, ratios, spacing, lobe, LOBE_TABLE_STEPS, peak_scale, min_floor, env, scratch)
    _corrected_kernel(mag, amps64, ratios, env, spacing, out)
    _floors_kernel(mag, out, ratios, spacing, lobe, LOBE_TABLE_STEPS, peak_scale, min_floor, env, scratch)
    if not np.any(env > 0):
        return np.zeros(0, np.float32), amps
    _corrected_kernel(mag, amps64, ratios, env, spacing, out)
    return env.astype(np.float32), out.astype(np.float32)


@numba.njit(nogil=True, cache=True)
def _floors_kernel(mag, partial_amps, ratios, spacing, lobe, steps, peak_scale, min_floor, env, scratch):
    """env[k] = median over the middle half of [k, k+1] * spacing bins of max(mag - leakage, 0), where the
    leakage is the sum of the lobes (lobe table, `steps` per bin) of the partials (at ratios[j] * spacing
    bins) within the table's reach; below min_floor: 0."""
    n_bins = mag.shape[0]
    n_amps = partial_amps.shape[0]
    n_lobe = lobe.shape[0]
    for k in range(env.shape[0]):
        lo = int(math.ceil((k + 0.25) * spacing))
        hi = min(n_bins - 1, int(math.floor((k + 0.75) * spacing)))
        n = 0
        for b in range(lo, hi + 1):
            leak = 0.0
            for j in range(n_amps):
                x = abs(b - ratios[j] * spacing) * steps
                i = int(x)
                if i + 1 < n_lobe:
                    t = x - i
                    leak += partial_amps[j] * peak_scale * (lobe[i] * (1.0 - t) + lobe[i + 1] * t)
            scratch[n] = max(mag[b] - leak, 0.0)
            n += 1
        if n == 0:
            env[k] = 0.0
            continue
        # Insertion sort of the few values of one valley (no slice objects, no allocation).
        for i in range(1, n):
            x = scratch[i]
            j = i - 1
            while j >= 0 and scratch[j] > x:
                scratch[j + 1] = scratch[j]
                j -= 1
            scratch[j + 1] = x
        med = scratch[n // 2] if n % 2 else 0.5 * (scratch[n // 2 - 1] + scratch[n // 2])
        env[k] = med if med >= min_floor else 0.0


@numba.njit(nogil=True, cache=True)
def _corrected_kernel(mag, amps, ratios, env, spacing, out):
    """out[j] = amps[j] * sqrt(1 - (floor(r_j) / peak bin_j)^2): the partial keeps the power of its peak bin
    above the floor (env interpolated at its ratio r_j): |peak|^2 = (a W(d))^2 + floor^2."""
    n_bins = mag.shape[0]
    n_env = env.shape[0]
    for j in range(amps.shape[0]):
        r = ratios[j]
        x = r - 0.5  # env[k] sits at ratio k + 0.5
        if x <= 0.0:
            floor_mag = env[0]
        elif x >= n_env - 1:
            floor_mag = env[n_env - 1]
        else:
            i = int(x)
            t = x - i
            floor_mag = env[i] * (1.0 - t) + env[i + 1] * t
        c = int(round(r * spacing))
        raw = 0.0
        for b in range(max(0, c - 1), min(n_bins, c + 2)):
            raw = max(raw, float(mag[b]))
        a = amps[j]
        if a > 0 and raw > 0:
            out[j] = a * math.sqrt(max(0.0, 1.0 - (floor_mag / raw) ** 2))
        else:
            out[j] = a
