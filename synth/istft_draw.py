"""Drawing the istft renderer's magnitude frames: partials (at any frequency ratio) as gaussian (chirp)
lobes on the output STFT grid, and the timbre's noise floor with random phase. Numba nogil kernels, nothing
allocated.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from vaesynth.synth.oscbank import NYQUIST_FADE_START
from vaesynth.synth.rtpghi import LOG_FLOOR, _rand_phase

# Chirp lobes are widened by at most sqrt of this (4x): bounds the cost of extreme bends.
MAX_CHIRP_SPREAD = 16.0
# Partials below this many bins would have their lobe folded onto DC: dropped.
MIN_PARTIAL_BINS = 1.0


def gaussian_window_circular(n_fft: int, lam: float) -> np.ndarray:
    """The time-domain frame a gaussian lobe of `lam` gives after irfft: exp(-pi (n - n_fft/2)^2 / lam)
    summed over its periodic copies (n in [0, n_fft)), float64 [n_fft]."""
    n = np.arange(n_fft) - n_fft / 2
    g = np.zeros(n_fft)
    for m in range(-2, 3):
        g += np.exp(-np.pi * (n + m * n_fft) ** 2 / lam)
    return g


@numba.njit(nogil=True, cache=True)
def draw_harmonics_kernel(
    amps, ratios, n_partials, f0_hz, f0_rate_hz_per_sample, sample_rate, n_fft, lam, radius_bins, out_log
):
    """Log-magnitude frame of partials at ratios[p] * f0_hz (p < n_partials; harmonic: ratios = k), gaussian
    lobes.

    amps: float32 [>= n_partials] sinusoid amplitudes (0: slot unused). ratios: float64 [>= n_partials]
    frequency / f0 (any order). f0_rate_hz_per_sample: how fast f0 moves (pitch bend,
    vibrato): partial p is drawn as the gaussian-window STFT of a linear chirp of rate c = r_p * rate / sr
    (cycles/sample^2), whose lobe is wider by sqrt(1 + (lam c)^2) and lower by (1 + (lam c)^2)^(1/4) (same
    energy): with that lobe RTPGHI's gradients describe the chirp, and fast vibrato does not smear into
    beating between frames of different stationary frequencies. lam: gaussian lambda (samples^2).
    radius_bins: stationary lobe half-width drawn. out_log: float64 [n_fft/2 + 1], overwritten (LOG_FLOOR
    where empty). Real-time safe: yes.
    """
    m = out_log.shape[0]
    for b in range(m):
        out_log[b] = LOG_FLOOR
    if not (f0_hz > 0.0) or not (abs(f0_rate_hz_per_sample) < 1e30):
        return  # silent for a non-positive or NaN pitch (the engine validates; this keeps bins finite)
    nyq = 0.5 * sample_rate
    fade_lo = NYQUIST_FADE_START * nyq
    beta = math.pi * lam / (n_fft * n_fft)
    half_sqrt_lam = 0.5 * math.sqrt(lam)
    bins_per_hz = n_fft / sample_rate
    for p in range(n_partials):
        a = amps[p]
        if not (a > 1e-30):
            continue
        f = ratios[p] * f0_hz
        if f >= nyq:
            continue
        if f >= fade_lo:
            a *= 0.5 * (1.0 + math.cos(math.pi * (f - fade_lo) / (nyq - fade_lo)))
        if not (a > 1e-30):
            continue
        q = f * bins_per_hz
        if q < MIN_PARTIAL_BINS:
            continue
        lc = lam * ratios[p] * f0_rate_hz_per_sample / sample_rate
        spread = min(1.0 + lc * lc, MAX_CHIRP_SPREAD)
        la = math.log(a * half_sqrt_lam) - 0.25 * math.log(spread)
        beta_p = beta / spread
        rad = radius_bins * math.sqrt(spread)
        lo = max(0, int(math.ceil(q - rad)))
        hi = min(m - 1, int(math.floor(q + rad)))
        for b in range(lo, hi + 1):
            d = b - q
            v = la - beta_p * d * d
            if v > out_log[b]:
                out_log[b] = v


@numba.njit(nogil=True, cache=True)
def add_noise_kernel(noise_env, n_env, noise_scale, f0_hz, sample_rate, n_fft, rng_state, spec_re, spec_im):
    """Add the timbre's noise floor, re-pitched to f0_hz, with random phase, to a frame's spectrum.

    noise_env: float32 [>= n_env] the timbre's floor (linear STFT magnitude) at normalised frequencies
    f / f_ref = k + 0.5 (k = 0..n_env-1), interpolated linearly between; output bin b at f_b reads it at
    f_b / f0_hz. noise_scale: magnitude factor times sqrt(f_ref) (IstftRenderer.set_timbre): the power
    density is divided by the ratio f0 / f_ref, so a transposed noise keeps its power (as when resampled).
    Faded above NYQUIST_FADE_START * Nyquist like the partials. Real-time safe: yes.
    """
    if n_env <= 0 or not (f0_hz > 0.0):
        return
    m = spec_re.shape[0]
    nyq = 0.5 * sample_rate
    fade_lo = NYQUIST_FADE_START * nyq
    hz_per_bin = sample_rate / n_fft
    u_max = n_env - 0.5
    scale = noise_scale / math.sqrt(f0_hz)
    for b in range(1, m - 1):
        f = b * hz_per_bin
        u = f / f0_hz
        if u >= u_max:
            break
        if u <= 0.5:
            e = noise_env[0]
        else:
            x = u - 0.5
            i = int(x)
            t = x - i
            e = noise_env[i] * (1.0 - t) + noise_env[i + 1] * t
        if not (e > 0.0):
            continue
        if f >= fade_lo:
            e *= 0.5 * (1.0 + math.cos(math.pi * (f - fade_lo) / (nyq - fade_lo)))
        a = e * scale
        ph = _rand_phase(rng_state)
        spec_re[b] += a * math.cos(ph)
        spec_im[b] += a * math.sin(ph)
