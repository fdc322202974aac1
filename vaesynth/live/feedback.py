"""State feedback for front ends: PCA coordinates, latent vector and a display spectrum, at most 30 Hz.

A client registers with `/vaesynth/feedback i` (its host, port i) or `/vaesynth/feedback s i`; the control
thread calls `Feedback.tick(now)` often and the feedback goes out only when the state changed since the last
send and at least 1/max_rate_hz after it. Messages (vaesynth/live/addresses.py FEEDBACK):
`/vaesynth/state/pc f*`, `/vaesynth/state/z f*`, `/vaesynth/state/spectrum f*` (64 bands, dB re full scale,
-100..0), and `/vaesynth/state/learned i s` when MIDI learn binds a CC (sent at once).
"""

from __future__ import annotations

import numpy as np

from vaesynth.live.osc import encode_message
from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.controls import PREFIX
from vaesynth.synth.spectral import window

N_BANDS = 64
FLOOR_DB = -100.0
MAX_RATE_HZ = 30.0
MAX_CLIENTS = 8


class SpectrumBands:
    """Linear magnitudes [n_bins] -> N_BANDS log-spaced bands (30 Hz .. Nyquist), dB re a full-scale sine
    (a sine of amplitude 1 peaks at sum(window)/2 in the unnormalised STFT), clipped to -100..0."""

    def __init__(self, config: SpectralConfig, n_bands: int = N_BANDS, f_lo_hz: float = 30.0):
        n_bins = config.n_bins
        edges_hz = np.geomspace(f_lo_hz, config.sample_rate / 2, n_bands + 1)
        edges = np.clip(np.round(edges_hz / config.bin_hz).astype(int), 0, n_bins - 1)
        # every band covers at least one bin (low bands of small FFTs share bins)
        self.lo = edges[:-1]
        self.hi = np.maximum(edges[1:], self.lo + 1)
        self.full_scale = float(window(config.window, config.n_fft).sum() / 2)

    def __call__(self, mags: np.ndarray) -> np.ndarray:
        m = np.asarray(mags, np.float64)
        peak = np.array([m[a:b].max() for a, b in zip(self.lo, self.hi, strict=True)])  # hi > lo always
        db = 20 * np.log10(np.maximum(peak / self.full_scale, 1e-12))
        return np.clip(db, FLOOR_DB, 0.0).astype(np.float32)


class Feedback:
    """send(data, addr) -> bool: the OSC socket's send. state(): (pcs, z, spectrum_db) arrays, called only
    when something is due. Counters: `sent` messages per address."""

    def __init__(self, send, state, max_rate_hz: float = MAX_RATE_HZ):
        self._send = send
        self._state = state
        self.period_s = 1.0 / max_rate_hz
        self.clients: list = []
        self._dirty = True
        self._last_s = -1e9
        self.sent = 0

    def register(self, addr, port: int) -> None:
        """Add (host, port); port 0 removes every registration of that host."""
        host = addr
        if port == 0:
            self.clients = [c for c in self.clients if c[0] != host]
            return
        if (host, port) not in self.clients:
            self.clients = (self.clients + [(host, port)])[-MAX_CLIENTS:]
        self._dirty = True  # a new client gets the current state at once

    def changed(self) -> None:
        self._dirty = True

    def tick(self, now_s: float) -> bool:
        """Send the state if it changed and the rate allows. Returns True if sent."""
        if not self.clients or not self._dirty or now_s - self._last_s < self.period_s:
            return False
        pcs, z, spectrum = self._state()
        packets = [
            encode_message(PREFIX + "state/pc", [float(v) for v in pcs]),
            encode_message(PREFIX + "state/z", [float(v) for v in z]),
            encode_message(PREFIX + "state/spectrum", [float(v) for v in spectrum]),
        ]
        for client in self.clients:
            for p in packets:
                if self._send(p, client):
                    self.sent += 1
        self._dirty = False
        self._last_s = now_s
        return True

    def learned(self, cc: int, label: str) -> None:
        data = encode_message(PREFIX + "state/learned", [int(cc), label])
        for client in self.clients:
            self._send(data, client)
