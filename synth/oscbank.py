"""Oscillator-bank renderer: the timbre's harmonic partials, re-pitched to each voice's note.

Partial amplitudes (control thread, `set_timbre`): partial k's amplitude is the peak of the timbre spectrum
within half a harmonic spacing of k * f_ref, corrected for the window's scalloping loss (up to 1.4 dB for
hann): exactly for hann from the neighbour-bin ratio, by quadratic interpolation of dB for other windows;
then converted from STFT magnitude to sinusoid amplitude (a sinusoid of amplitude A peaks at
A * sum(window) / 2). We re-pitch the *harmonic amplitudes* (the note at f_ref transposed, the way a
pitch-normalised model is trained) rather than sampling the spectral envelope at k * f_note: peak picking
is robust to the valleys between partials of a decoded frame, and it makes the bank an exact resynthesis of
a harmonic source (tested): a tone rendered from a timbre and analysed again gives back the same partial
amplitudes (within 0.01 dB).

Audio path (`render`, numba nogil float32): per voice, partial k runs at k * f0; its phasor is rotated
sample by sample (a complex multiply, SIMD across partials: float64 sin is scalar on this machine) and is
re-derived each chunk from an exact float64 phase of the fundamental (the "renormalisation": rounding never
accumulates beyond one chunk). Amplitudes ramp linearly within each chunk from where the previous chunk
ended to the new target, so timbre changes, bends and the Nyquist fade move smoothly. Partials at or above
the output Nyquist are silent; from NYQUIST_FADE_START * Nyquist they fade with a raised cosine.
A timbre change ramps over `timbre_ramp_ms` (several chunks), which keeps the click metric near 1.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.protocol import Timbre
from vaesynth.synth.spectral import analysis_window

MAX_PARTIALS = 256
NYQUIST_FADE_START = 0.9


def harmonic_amplitudes(timbre: Timbre, max_partials: int = MAX_PARTIALS) -> np.ndarray:
    """Sinusoid amplitude of each harmonic of the timbre, by peak picking around k * f_ref.

    Returns float32 [n_partials], n_partials = min(max_partials, partials below the model's Nyquist).
    Real-time safe: no (allocates the result), but fast (a numba loop, a few µs): the engine calls it at a
    chunk boundary so that timbre changes land at the same sample in live and offline rendering.
    """
    cfg = timbre.config
    f_ref = float(timbre.f_ref_hz)
    n_partials = int(min(max_partials, math.floor((cfg.sample_rate / 2 - 1e-9) / f_ref)))
    scale = 2.0 / float(_window_sum(cfg.window, cfg.n_fft))
    amps = np.zeros(n_partials, np.float32)
    _peak_pick(timbre.magnitudes, f_ref / cfg.bin_hz, scale, cfg.window == "hann", amps)
    return amps


_WINDOW_SUMS: dict = {}


def _window_sum(window: str, n_fft: int) -> float:
    key = (window, n_fft)
    if key not in _WINDOW_SUMS:
        cfg = SpectralConfig(n_fft=n_fft, hop_length=n_fft // 2, window=window)
        _WINDOW_SUMS[key] = float(analysis_window(cfg).sum())
    return _WINDOW_SUMS[key]


@numba.njit(nogil=True, cache=True)
def _peak_pick(mags, f_ref_bins, scale, hann, amps):
    """amps[k-1] = scale * interpolated peak of mags within +-f_ref/2 of bin k * f_ref_bins."""
    n_bins = mags.shape[0]
    half = 0.5 * f_ref_bins
    for k in range(1, amps.shape[0] + 1):
        centre = k * f_ref_bins
        lo = max(0, int(math.ceil(centre - half)))
        hi = min(n_bins - 1, int(math.floor(centre + half)))
        if hi < lo:
            amps[k - 1] = 0.0
            continue
        i = lo
        for j in range(lo + 1, hi + 1):
            if mags[j] > mags[i]:
                i = j
        peak = float(mags[i])
        if hann and 0 < i < n_bins - 1 and peak > 0:
            # Exact for one sinusoid under a periodic hann window: the larger neighbour's ratio gives the
            # offset d (0..0.5 bins), and the main lobe |W(d)| = sinc(d) / (1 - d^2) the scalloping loss.
            nb = max(mags[i - 1], mags[i + 1])
            alpha = nb / peak
            d = (2.0 * alpha - 1.0) / (alpha + 1.0)
            if 0.0 < d <= 0.5:
                peak = peak / (math.sin(math.pi * d) / (math.pi * d) / (1.0 - d * d))
        elif 0 < i < n_bins - 1 and peak > 0 and mags[i - 1] > 0 and mags[i + 1] > 0:
            # Other windows: quadratic interpolation of dB magnitudes around the peak bin.
            a = 20.0 * math.log10(mags[i - 1])
            b = 20.0 * math.log10(peak)
            c = 20.0 * math.log10(mags[i + 1])
            denom = a - 2.0 * b + c
            if denom < 0:
                p = 0.5 * (a - c) / denom
                if abs(p) <= 1.0:
                    peak = 10.0 ** ((b - 0.25 * (a - c) * p) / 20.0)
        amps[k - 1] = peak * scale


@numba.njit(nogil=True, fastmath=True, cache=True)
def _ramp_timbre(cur, target, ramp_left, nxt):
    """nxt = where cur is after this chunk's share of the remaining ramp."""
    if ramp_left <= 0:
        nxt[:] = target
    else:
        inv = 1.0 / ramp_left
        for k in range(cur.shape[0]):
            nxt[k] = cur[k] + (target[k] - cur[k]) * inv


@numba.njit(nogil=True, fastmath=True, cache=True)
def oscbank_kernel(
    amp_next, n_partials, phase, last_amp, f0_hz, gain, active, sample_rate, out, zr, zi, rr, ri, a, da
):
    """Add one chunk of every active voice's harmonic partials into `out`.

    amp_next: float32 [max_partials] timbre amplitudes at the end of this chunk (first n_partials used).
    phase: float64 [n_voices] fundamental phase (radians, wrapped), advanced in place.
    last_amp: float32 [n_voices, max_partials] amplitude each partial ended the previous chunk with; updated.
    f0_hz: float32 [n_voices]; gain: float32 [n_voices, chunk]; active: bool [n_voices].
    out: float32 [chunk], accumulated. zr..da: float32 [max_partials] scratch.
    Real-time safe: yes (no allocation; GIL released).
    """
    chunk = out.shape[0]
    nyq = 0.5 * sample_rate
    fade_lo = NYQUIST_FADE_START * nyq
    inv_chunk = 1.0 / chunk
    for v in range(f0_hz.shape[0]):
        if not active[v]:
            continue
        f0 = float(f0_hz[v])
        w = 2.0 * math.pi * f0 / sample_rate
        # Partials strictly below Nyquist at this pitch.
        kmax = n_partials
        if f0 > 0:
            kn = int(math.ceil(nyq / f0)) - 1
            if kn < kmax:
                kmax = kn
        # Phasors from exact float64 phases: z_k = exp(i k phi), rotation exp(i k w), by recurrence.
        c1, s1 = math.cos(phase[v]), math.sin(phase[v])
        cw, sw = math.cos(w), math.sin(w)
        zc, zs = 1.0, 0.0
        rc, rs = 1.0, 0.0
        for k in range(kmax):
            t = zc * c1 - zs * s1
            zs = zc * s1 + zs * c1
            zc = t
            t = rc * cw - rs * sw
            rs = rc * sw + rs * cw
            rc = t
            zr[k] = zc
            zi[k] = zs
            rr[k] = rc
            ri[k] = rs
            f = (k + 1) * f0
            fade = 1.0
            if f >= fade_lo:
                fade = 0.5 * (1.0 + math.cos(math.pi * (f - fade_lo) / (nyq - fade_lo)))
            target = amp_next[k] * fade
            a0 = last_amp[v, k]
            a[k] = a0
            da[k] = (target - a0) * inv_chunk
            last_amp[v, k] = target
        for k in range(kmax, last_amp.shape[1]):
            last_amp[v, k] = 0.0
        for n in range(chunk):
            acc = np.float32(0.0)
            for k in range(kmax):
                acc += a[k] * zi[k]
                a[k] += da[k]
                t32 = zr[k] * rr[k] - zi[k] * ri[k]
                zi[k] = zr[k] * ri[k] + zi[k] * rr[k]
                zr[k] = t32
            out[n] += acc * gain[v, n]
        ph = phase[v] + w * chunk
        phase[v] = ph - 2.0 * math.pi * math.floor(ph / (2.0 * math.pi))


class OscBankRenderer:
    """VoiceRenderer (synth/protocol.py) rendering harmonic partials with an oscillator bank.

    sample_rate: output Hz (22050..96000, independent of the timbre's analysis rate). max_voices: slots.
    chunk_size: samples per `render`. timbre_ramp_ms: how long a new timbre takes to settle (>= one chunk).
    latency_samples: 0 (a note or timbre applied before `render` is heard in that chunk).
    """

    def __init__(
        self,
        sample_rate: int,
        max_voices: int,
        chunk_size: int = 64,
        timbre_ramp_ms: float = 8.0,
        max_partials: int = MAX_PARTIALS,
    ):
        if not (8000 <= sample_rate <= 192000):
            raise ValueError(f"sample_rate must be in 8000..192000 Hz, got {sample_rate}")
        if not (1 <= chunk_size <= 8192):
            raise ValueError(f"chunk_size must be in 1..8192, got {chunk_size}")
        self.sample_rate = int(sample_rate)
        self.max_voices = int(max_voices)
        self.chunk_size = int(chunk_size)
        self.latency_samples = 0
        self.max_partials = int(max_partials)
        self._ramp_chunks = max(1, int(math.ceil(timbre_ramp_ms * 1e-3 * sample_rate / chunk_size)))
        p = self.max_partials
        self._amp_cur = np.zeros(p, np.float32)
        self._amp_next = np.zeros(p, np.float32)
        self._amp_target = np.zeros(p, np.float32)
        self._n_partials = 0
        self._target_n_partials = 0
        self._ramp_left = 0
        self._phase = np.zeros(self.max_voices, np.float64)
        self._last_amp = np.zeros((self.max_voices, p), np.float32)
        self._zr, self._zi, self._rr, self._ri, self._a, self._da = (
            np.zeros(p, np.float32) for _ in range(6)
        )
        self._sr = float(self.sample_rate)
        self.timbre: Timbre | None = None

    # What `render`, `set_timbre` and `start_voice` change (synth/rewind.py; the rest is scratch or constant).
    rewind_state = (
        "_amp_cur",
        "_amp_next",
        "_amp_target",
        "_n_partials",
        "_target_n_partials",
        "_ramp_left",
        "_phase",
        "_last_amp",
        "timbre",
    )

    def set_timbre(self, timbre: Timbre) -> None:
        """New target timbre; its partial amplitudes ramp in over timbre_ramp_ms. Real-time safe: no."""
        amps = harmonic_amplitudes(timbre, self.max_partials)
        self._amp_target[:] = 0.0
        self._amp_target[: len(amps)] = amps
        # Until the ramp ends, the old timbre's extra partials keep sounding as they ramp out to 0.
        self._n_partials = max(self._n_partials, len(amps))
        self._target_n_partials = len(amps)
        self._ramp_left = self._ramp_chunks
        self.timbre = timbre

    def start_voice(self, voice: int, f0_hz: float) -> None:
        """Reset the slot: phase 0 (sine phase, so the note starts at 0) and partials at the current timbre
        (the envelope starts at 0, so no amplitude ramp is needed). Real-time safe: yes."""
        self._phase[voice] = 0.0
        self._last_amp[voice, :] = self._amp_cur

    def render(self, f0_hz: np.ndarray, gain: np.ndarray, active: np.ndarray, out: np.ndarray) -> None:
        """Add the next chunk of all active voices into `out` (see VoiceRenderer.render).
        Real-time safe: yes."""
        _ramp_timbre(self._amp_cur, self._amp_target, self._ramp_left, self._amp_next)
        oscbank_kernel(
            self._amp_next,
            self._n_partials,
            self._phase,
            self._last_amp,
            f0_hz,
            gain,
            active,
            self._sr,
            out,
            self._zr,
            self._zi,
            self._rr,
            self._ri,
            self._a,
            self._da,
        )
        if self._ramp_left > 0:
            self._ramp_left -= 1
            if self._ramp_left == 0:
                self._n_partials = self._target_n_partials
        self._amp_cur, self._amp_next = self._amp_next, self._amp_cur
