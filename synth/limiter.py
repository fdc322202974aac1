"""Output stage: smoothed output gain, then a look-ahead-free soft clipper. Output is always finite, |x| <= 1.

Below KNEE the signal passes untouched (bit-exact); above it a tanh curve with matched slope bends it
asymptotically toward 1, so a loud chord or +40 dB of gain saturates smoothly instead of wrapping or
hard-clipping. NaN/inf never reach the device: a non-finite sample becomes 0.
"""

from __future__ import annotations

import math

import numba

# Linear up to -1.9 dBFS, so ordinary levels are untouched.
KNEE = 0.8


@numba.njit(nogil=True, fastmath=False, cache=True)
def soft_clip(x: float) -> float:
    """One sample: identity below KNEE, then KNEE + (1 - KNEE) * tanh((|x| - KNEE) / (1 - KNEE)), sign kept;
    continuous with slope 1 at the knee, never above 1. Non-finite -> 0. Real-time safe: yes."""
    if not math.isfinite(x):
        return 0.0
    ax = abs(x)
    if ax <= KNEE:
        return x
    y = KNEE + (1.0 - KNEE) * math.tanh((ax - KNEE) / (1.0 - KNEE))
    if y > 1.0:
        y = 1.0
    return y if x > 0 else -y


@numba.njit(nogil=True, cache=True)
def apply_output_stage(buf, gain_start, gain_end):
    """In place on float32 [n]: gain ramps linearly from gain_start to gain_end (linear amplitudes) across
    the buffer (no zipper steps on gain changes), then soft_clip. Real-time safe: yes."""
    n = buf.shape[0]
    step = (gain_end - gain_start) / n
    g = gain_start
    for i in range(n):
        g += step
        buf[i] = soft_clip(float(buf[i]) * g)


def db_to_amplitude(gain_db: float) -> float:
    """Decibels -> linear amplitude."""
    return 10.0 ** (gain_db / 20.0)
