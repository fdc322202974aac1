"""The spectral peaks of a timbre wherever they lie: frequency ratios to f_ref and sinusoid amplitudes.

Used by the istft renderer (`synth.istft`) to map the timbre's whole frequency axis to the note: a partial at
f_j in the timbre plays at f_j / f_ref * f_note, harmonic or not (stiff strings, bells). Control-thread work
(numba kernels, ~100 µs per timbre).

A bin i is a peak if it is a local maximum and its magnitude exceeds
  - PEAK_MIN_RELATIVE x the frame's maximum,
  - PEAK_MIN_OVER_FLOOR x the local floor (lower quartile of the magnitudes within +-PEAK_FLOOR_BINS bins:
    a noise frame's own maxima stay noise),
  - PEAK_MIN_OVER_LEAKAGE x the summed window leakage of the stronger peaks already accepted (candidates
    in decreasing magnitude): side-lobe ripples and interference between close partials are not partials.
Its frequency and amplitude are interpolated as in the oscbank's peak picking: exactly for one sinusoid
under a hann window (offset d from the larger neighbour's ratio, scalloping loss of the main lobe
sinc(d) / (1 - d^2)), by quadratic interpolation of dB magnitudes for other windows. Ratios within
HARMONIC_SNAP_CENTS of an integer are snapped to it, so harmonic timbres play at exactly k * f_note.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from vaesynth.synth.istft_noise import LOBE_TABLE_STEPS, _lobe_table
from vaesynth.synth.oscbank import _window_sum
from vaesynth.synth.protocol import Timbre

PEAK_MIN_RELATIVE = 1e-4  # -80 dB below the frame's strongest bin
PEAK_MIN_OVER_FLOOR = 8.0  # +18 dB over the local lower quartile: ~0.03 false peaks per frame of white noise
PEAK_FLOOR_BINS = 16
PEAK_MIN_OVER_LEAKAGE = 2.0  # +6 dB over the stronger peaks' window leakage
HARMONIC_SNAP_CENTS = 2.0


def spectral_peaks(timbre: Timbre, max_peaks: int) -> tuple[np.ndarray, np.ndarray]:
    """The timbre's spectral peaks (see the module docstring), strongest first.

    Returns (ratios float64 [n] = f_j / f_ref, amps float32 [n] sinusoid amplitudes, the oscbank's
    convention: a sinusoid of amplitude a peaks at a * sum(window) / 2), n <= max_peaks.
    Real-time safe: no (allocates).
    """
    cfg = timbre.config
    mag = np.ascontiguousarray(timbre.magnitudes, dtype=np.float64)
    n_bins = len(mag)
    if n_bins < 3 or not float(mag.max()) > 0 or max_peaks <= 0:
        return np.zeros(0), np.zeros(0, np.float32)
    lobe = _lobe_table(cfg.window, cfg.n_fft)
    peak_scale = 0.5 * _window_sum(cfg.window, cfg.n_fft)
    pos = np.zeros(n_bins)
    amp = np.zeros(n_bins)
    order = np.zeros(n_bins, np.int64)
    scratch = np.zeros(2 * PEAK_FLOOR_BINS + 1)
    n = _find_peaks_kernel(
        mag, cfg.window == "hann", lobe, LOBE_TABLE_STEPS, int(max_peaks), pos, amp, order, scratch
    )
    ratios = pos[:n] * cfg.bin_hz / float(timbre.f_ref_hz)
    k = np.round(ratios)
    snap = (k >= 1) & (
        np.abs(1200 * np.log2(np.maximum(ratios, 1e-12) / np.maximum(k, 1))) < HARMONIC_SNAP_CENTS
    )
    ratios = np.where(snap, k, ratios)
    return ratios, (amp[:n] / peak_scale).astype(np.float32)


@numba.njit(nogil=True, cache=True)
def _interpolate(mag, i, hann):
    """(offset in bins, corrected peak magnitude) of the local maximum at bin i."""
    peak = mag[i]
    left, right = mag[i - 1], mag[i + 1]
    if hann:
        nb = max(left, right)
        alpha = nb / peak
        d = (2.0 * alpha - 1.0) / (alpha + 1.0)
        if d <= 0.0:
            return 0.0, peak
        d = min(d, 0.5)
        corrected = peak / (math.sin(math.pi * d) / (math.pi * d) / (1.0 - d * d))
        return (d if right > left else -d), corrected
    if left > 0 and right > 0:
        a = 20.0 * math.log10(left)
        b = 20.0 * math.log10(peak)
        c = 20.0 * math.log10(right)
        denom = a - 2.0 * b + c
        if denom < 0:
            p = 0.5 * (a - c) / denom
            if abs(p) <= 1.0:
                return p, 10.0 ** ((b - 0.25 * (a - c) * p) / 20.0)
    return 0.0, peak


@numba.njit(nogil=True, cache=True)
def _find_peaks_kernel(mag, hann, lobe, steps, max_peaks, pos, amp, order, scratch):
    """Peaks into pos (bins, interpolated) / amp (corrected peak magnitude), strongest first; returns n.
    lobe: |window DTFT| / sum(window), `steps` per bin, so a peak of magnitude P leaks P * lobe(offset)."""
    n_bins = mag.shape[0]
    top = 0.0
    for b in range(n_bins):
        top = max(top, mag[b])
    min_abs = PEAK_MIN_RELATIVE * top
    # Candidates: local maxima above the absolute threshold and the local floor.
    n_cand = 0
    for i in range(1, n_bins - 1):
        x = mag[i]
        if not (x > min_abs and x >= mag[i - 1] and x > mag[i + 1]):
            continue
        lo = max(0, i - PEAK_FLOOR_BINS)
        hi = min(n_bins - 1, i + PEAK_FLOOR_BINS)
        n = 0
        for b in range(lo, hi + 1):
            scratch[n] = mag[b]
            n += 1
        for a in range(1, n):  # insertion sort of a few values (no allocation)
            v = scratch[a]
            j = a - 1
            while j >= 0 and scratch[j] > v:
                scratch[j + 1] = scratch[j]
                j -= 1
            scratch[j + 1] = v
        if x > PEAK_MIN_OVER_FLOOR * scratch[n // 4]:
            order[n_cand] = i
            n_cand += 1
    # Strongest first (insertion sort by magnitude: a few hundred candidates at most).
    for a in range(1, n_cand):
        v = order[a]
        j = a - 1
        while j >= 0 and mag[order[j]] < mag[v]:
            order[j + 1] = order[j]
            j -= 1
        order[j + 1] = v
    n_lobe = lobe.shape[0]
    n_peaks = 0
    for c in range(n_cand):
        if n_peaks >= max_peaks:
            break
        i = order[c]
        d, corrected = _interpolate(mag, i, hann)
        q = i + d
        leak = 0.0
        for j in range(n_peaks):
            x = abs(q - pos[j]) * steps
            t_i = int(x)
            if t_i + 1 < n_lobe:
                t = x - t_i
                leak += amp[j] * (lobe[t_i] * (1.0 - t) + lobe[t_i + 1] * t)
        if mag[i] <= PEAK_MIN_OVER_LEAKAGE * leak:
            continue
        pos[n_peaks] = q
        amp[n_peaks] = corrected
        n_peaks += 1
    return n_peaks
