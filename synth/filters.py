"""Low-pass filters: the RBJ-cookbook biquad and a nonlinear 4-pole (Moog-style) tanh ladder.

Pure functions of arrays, `sample_rate` and filter settings. The biquad is given by its coefficients and its
exact frequency response (used for steady-state rendering of sums of sinusoids, where an LTI filter only
scales and shifts each partial); the ladder is a numba kernel with streaming state.

Ladder model, the simple tanh ladder (four one-pole stages; the input and resonance feedback saturate
together, as the transistor ladder's input pair does; feedback from the previous output sample):
    u[n]  = tanh(x[n] - k * y4[n-1])
    y1[n] = y1[n-1] + g * (u[n]  - y1[n-1])
    y2[n] = y2[n-1] + g * (y1[n] - y2[n-1])      (y3, y4 likewise)
with g = 1 - exp(-2 pi cutoff_hz / sample_rate) (impulse-invariant one-pole). The saturation bounds the
resonance (|u| < 1) and colours loud inputs; one tanh a sample instead of Huovilainen's five keeps
generating toy:fm5 fast. For small signals it is the
linear system  Y/X = g^4 / ((1 - p z^-1)^4 + k g^4 z^-1),  p = 1 - g  (`ladder_linear_coefficients`). The
unit delay in the loop lowers the feedback at which it self-oscillates below the analog 4, more so at high
cutoffs; `ladder_max_feedback` computes that limit so a resonance setting means the same at every cutoff.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


def rbj_lowpass_coefficients(cutoff_hz, q, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Low-pass biquad of the RBJ Audio EQ Cookbook (bilinear transform, pre-warped at the cutoff).

    cutoff_hz, q: scalars or arrays of the same shape [...] (Hz, quality factor > 0). sample_rate: Hz.
    Returns (b, a), float64 [..., 3] each, normalised so a[..., 0] == 1. |H| at the cutoff equals q; with
    q = 1/sqrt(2) it is the 2nd-order Butterworth low-pass (scipy.signal.butter(2, cutoff_hz, fs=...)).
    Real-time safe: no (allocates).
    """
    cutoff_hz = np.asarray(cutoff_hz, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    w0 = 2.0 * np.pi * cutoff_hz / sample_rate
    cos_w0 = np.cos(w0)
    alpha = np.sin(w0) / (2.0 * q)
    a0 = 1.0 + alpha
    b = np.stack([(1.0 - cos_w0) / 2.0, 1.0 - cos_w0, (1.0 - cos_w0) / 2.0], axis=-1) / a0[..., None]
    a = np.stack([np.ones_like(a0), -2.0 * cos_w0 / a0, (1.0 - alpha) / a0], axis=-1)
    return b, a


def biquad_response(b: np.ndarray, a: np.ndarray, freq_hz: np.ndarray, sample_rate: float) -> np.ndarray:
    """Complex frequency response H(e^{jw}) of biquads at given frequencies.

    b, a: [..., 3] coefficients (as `rbj_lowpass_coefficients` returns). freq_hz: [..., n_freqs] Hz,
    broadcast against b/a's leading shape. Returns complex128 [..., n_freqs].
    Real-time safe: no (allocates).
    """
    z1 = np.exp(-2j * np.pi * np.asarray(freq_hz, dtype=np.float64) / sample_rate)  # z^-1
    b = np.asarray(b)[..., None, :]
    a = np.asarray(a)[..., None, :]
    num = b[..., 0] + b[..., 1] * z1 + b[..., 2] * z1 * z1
    den = a[..., 0] + a[..., 1] * z1 + a[..., 2] * z1 * z1
    return num / den


def ladder_coefficient(cutoff_hz, sample_rate: float) -> np.ndarray:
    """One-pole stage coefficient g = 1 - exp(-2 pi cutoff_hz / sample_rate), float64 like cutoff_hz."""
    return 1.0 - np.exp(-2.0 * np.pi * np.asarray(cutoff_hz, dtype=np.float64) / sample_rate)


def ladder_linear_coefficients(g: float, k: float) -> tuple[np.ndarray, np.ndarray]:
    """(b, a) of the ladder's small-signal response g^4 / ((1 - p z^-1)^4 + k g^4 z^-1), p = 1 - g."""
    p = 1.0 - g
    a = np.array([1.0, -4.0 * p, 6.0 * p**2, -4.0 * p**3, p**4])
    a[1] += k * g**4
    return np.array([g**4]), a


def ladder_max_feedback(g) -> np.ndarray:
    """Feedback k at which the linearised ladder starts to self-oscillate (loop gain 1 at phase -pi).

    g: stage coefficient(s), scalar or array. Returns float64 of g's shape. Solves
    -w - 4 atan2(p sin w, 1 - p cos w) = -pi for the first crossing w* (bisection);
    k = |1 - p e^{-jw*}|^4 / g^4.
    Equals 4 in the limit g -> 0 (the analog ladder).
    """
    g_in = np.asarray(g, dtype=np.float64)
    g = np.atleast_1d(g_in)
    p = 1.0 - g

    def phase(w):
        return -w - 4.0 * np.arctan2(p * np.sin(w), 1.0 - p * np.cos(w))

    hi = np.arccos(np.clip(p, -1.0, 1.0))  # where the stages' phase lag peaks
    lo = np.zeros_like(hi)
    bracketed = phase(hi) < -np.pi
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        below = phase(mid) < -np.pi
        hi = np.where(below, mid, hi)
        lo = np.where(below, lo, mid)
    w = np.where(bracketed, 0.5 * (lo + hi), np.pi)  # no earlier crossing: the loop reaches -pi at Nyquist
    k = np.abs(1.0 - p * np.exp(-1j * w)) ** 4 / g**4
    return k.reshape(g_in.shape)


def ladder_pole_radius(g, k) -> np.ndarray:
    """Largest pole radius of the linearised ladder, float64 of the broadcast shape of g and k.

    The small-signal transient decays as radius**n; < 1 means stable.
    """
    g, k = np.broadcast_arrays(np.asarray(g, dtype=np.float64), np.asarray(k, dtype=np.float64))
    flat_g, flat_k = g.ravel(), k.ravel()
    p = 1.0 - flat_g
    # Characteristic polynomial (z - p)^4 + k g^4 z^3 = z^4 + c1 z^3 + c2 z^2 + c3 z + c4, as companions.
    coeffs = np.stack([-4.0 * p + flat_k * flat_g**4, 6.0 * p**2, -4.0 * p**3, p**4], axis=-1)
    companion = np.zeros((len(flat_g), 4, 4))
    companion[:, 0, :] = -coeffs
    companion[:, 1, 0] = companion[:, 2, 1] = companion[:, 3, 2] = 1.0
    radius = np.abs(np.linalg.eigvals(companion)).max(axis=-1)
    return radius.reshape(g.shape)


@njit(cache=True, nogil=True, inline="always")
def _tanh(x):
    # exp-based tanh: exact to ~1e-16 absolute, ~4x faster than libm tanh inside numba here.
    if x > 20.0:
        return 1.0
    if x < -20.0:
        return -1.0
    e = math.exp(2.0 * x)
    return (e - 1.0) / (e + 1.0)


@njit(cache=True, nogil=True)
def moog_ladder(x, g, k, state, out):
    """Run the tanh ladder over a block.

    x: float64 [n_samples] input (about +-1 full scale: tanh saturates above). g: stage coefficient
    (`ladder_coefficient`). k: feedback, 0 .. `ladder_max_feedback(g)` (resonance). state: float64 [4]
    stage outputs y1..y4, read and updated in place so consecutive blocks equal one long block.
    out: float64 [n_samples], written. Returns out.
    Real-time safe: yes (no allocation, GIL released).
    """
    y1, y2, y3, y4 = state[0], state[1], state[2], state[3]
    for n in range(x.shape[0]):
        u = _tanh(x[n] - k * y4)
        y1 += g * (u - y1)
        y2 += g * (y1 - y2)
        y3 += g * (y2 - y3)
        y4 += g * (y3 - y4)
        out[n] = y4
    state[0], state[1], state[2], state[3] = y1, y2, y3, y4
    return out
