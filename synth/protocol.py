"""What flows from the control side to the engines, and what every voice renderer provides.

The control thread decodes a latent vector into a `Timbre` (one linear-magnitude spectral frame at a
reference pitch). The engine core (`engine.py`) owns voices, envelopes, the ring buffer and the limiter; it
hands each renderer the timbre (latest value) and, once per chunk, per-voice pitch and gain. Renderers
(`oscbank`, `istft`) turn that into audio. Everything a renderer needs is preallocated in its __init__;
`render` allocates nothing and may run in a thread beside the Python control thread, so its heavy work is
in numba `nogil=True` kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numba
import numpy as np

from vaesynth.synth.config import SpectralConfig


@numba.njit(cache=True, nogil=True)
def _finite_and_nonnegative(m) -> bool:
    """Every value finite and >= 0, in one pass (a knob move's Timbre is checked on cold caches, where the
    two numpy reductions and their temporaries cost ~50 µs)."""
    for v in m:
        if not (v >= 0 and math.isfinite(v)):  # NaN fails both
            return False
    return True


@dataclass(frozen=True)
class Timbre:
    """A decoded timbre: one spectral frame of a note at a known reference pitch.

    magnitudes: float32 [config.n_bins], linear magnitude as the model's analysis (config) would measure it
      for a note whose fundamental is f_ref_hz. Finite and >= 0 (validated before it reaches a renderer).
    config: the analysis settings of the model that produced it (its sample rate may differ from the
      device's).
    f_ref_hz: the fundamental the frame sits at; renderers re-pitch it to each voice's f0.
    """

    magnitudes: np.ndarray
    config: SpectralConfig
    f_ref_hz: float

    def __post_init__(self):
        m = np.ascontiguousarray(self.magnitudes, dtype=np.float32)
        if m.shape != (self.config.n_bins,):
            raise ValueError(f"timbre magnitudes must be [{self.config.n_bins}], got {m.shape}")
        if not _finite_and_nonnegative(m):
            raise ValueError("timbre magnitudes must be finite and non-negative")
        if not (0 < self.f_ref_hz < self.config.sample_rate / 2):
            raise ValueError(f"f_ref_hz must be in (0, Nyquist), got {self.f_ref_hz}")
        object.__setattr__(self, "magnitudes", m)


class VoiceRenderer(Protocol):
    """One rendering engine over all voices. Implemented by the oscbank and istft renderers.

    Attributes set in __init__(sample_rate, max_voices, ...):
      sample_rate: output rate in Hz (any of 22050..96000), independent of the timbre's analysis rate.
      max_voices: number of voice slots.
      chunk_size: `render` is always called with exactly this many samples.
      latency_samples: samples between a control/note event applied before a `render` call and the first
        output sample that reflects it (0 for oscbank; the look-ahead for istft).
    """

    sample_rate: int
    max_voices: int
    chunk_size: int
    latency_samples: int

    def set_timbre(self, timbre: Timbre) -> None:
        """New target timbre for all voices (latest value wins). Not real-time safe (may compute tables);
        called from the control thread. The change is heard from the next `render` on, interpolated so that
        it is click-free."""

    def start_voice(self, voice: int, f0_hz: float) -> None:
        """A note starts on slot `voice` (fresh or stolen): reset its phase state. Real-time safe."""

    def render(self, f0_hz: np.ndarray, gain: np.ndarray, active: np.ndarray, out: np.ndarray) -> None:
        """Add the next chunk of all active voices into `out`.

        f0_hz: float32 [max_voices] pitch of each voice for this chunk (bend included).
        gain: float32 [max_voices, chunk_size] per-sample amplitude envelope (velocity included), 0..1.
        active: bool [max_voices]; inactive voices cost nothing and keep no state.
        out: float32 [chunk_size], accumulated into (not overwritten).
        Real-time safe: yes (no allocation, no locks, no I/O; GIL released in kernels).
        """
