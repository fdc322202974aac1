"""Frame-level pitch (YIN) and loudness, aligned to the centred `stft` framing.

Frame t is centred on sample t * hop_length and n_frames = 1 + n_samples // hop_length, exactly as
`vaesynth.synth.spectral.stft`, so `f0_hz[t]` and `loudness_db[t]` describe the spectral frame t.

YIN (de Cheveigné & Kawahara 2002): difference function d(tau) (from an FFT cross-correlation and running
energies), cumulative mean normalised difference d'(tau), absolute threshold (first local minimum of d'
below `threshold`), sub-sample refinement. Frames whose d' never dips below the threshold are unvoiced (NaN).
Beyond the paper, for real instrument notes (FluidR3 GM: piano, strings, brass, winds, plucked):
- dips are compared at their parabolic vertex (integer-lag values are biased for short periods);
- best local estimate: a much deeper dip up to 2.2x after the first is taken (octave-up errors when the 2nd
  harmonic dominates; piano unison detuning leaves a shallow dip a semitone short of the period);
- an octave pass re-reads frames an octave away from their neighbourhood's median pitch (cf. pYIN's HMM);
- the lag is refined by Newton steps on a band-limited d(tau), the cross-correlation evaluated at fractional
  lags from its spectrum: parabolic interpolation alone is off by up to ~10 cents for high, rich notes.
The FFTs run in numpy; everything per frame after them is one numba kernel (nogil).
"""

from __future__ import annotations

import warnings

import numba
import numpy as np
from scipy.fft import irfft, next_fast_len, rfft

# Below this mean-square level (-100 dBFS) a frame is treated as silence: d'(tau) is 0/0 there.
_SILENCE_POWER = 1e-10
# A later minimum replaces the first one below threshold if its d' is below this fraction of it.
_DEEPER_RATIO = 0.5
_DEEPER_MARGIN = 0.02
_SEARCH_SPAN = 2.2
# Octave pass: deepest d' accepted at the lag the neighbouring frames imply.
_OCTAVE_MAX_DEPTH = 0.35
# Newton steps on the band-limited difference function (quadratic convergence from the parabola's lag).
_NEWTON_STEPS = 3
# Frames processed per vectorised chunk: bounds memory at ~chunk * fft_size * 16 bytes.
_CHUNK_FRAMES = 256


def midi_to_hz(note):
    """MIDI note number (float ok) -> frequency in Hz, A4 = note 69 = 440 Hz."""
    return 440.0 * 2.0 ** ((np.asarray(note, dtype=np.float64) - 69.0) / 12.0)


def hz_to_midi(f_hz):
    """Frequency in Hz (> 0) -> fractional MIDI note number; NaN stays NaN."""
    return 69.0 + 12.0 * np.log2(np.asarray(f_hz, dtype=np.float64) / 440.0)


def cents_between(f_hz, ref_hz):
    """Signed interval from ref_hz to f_hz in cents (1200 * log2(f / ref)); NaN where either is NaN."""
    return 1200.0 * np.log2(np.asarray(f_hz, dtype=np.float64) / np.asarray(ref_hz, dtype=np.float64))


def default_frame_length(sample_rate: int, fmin_hz: float) -> int:
    """YIN frame length in samples for `fmin_hz`: an integration window of one longest period plus the
    largest lag (so every lag is compared over a full window), rounded up to an even length."""
    tau_max = int(np.ceil(sample_rate / fmin_hz)) + 1
    n = 2 * tau_max + 2
    return n + (n % 2)


def _centred_frames(x: np.ndarray, hop_length: int, frame_length: int, offset: int = 0) -> np.ndarray:
    """[n_frames, frame_length] strided view; frame t covers [t*hop - L/2 + offset, t*hop + L/2 + offset),
    zero-padded (0 <= offset <= L/2)."""
    n_frames = 1 + len(x) // hop_length
    pad = frame_length // 2 - offset
    xp = np.pad(x, (pad, pad + frame_length + 2 * offset))
    return np.lib.stride_tricks.sliding_window_view(xp, frame_length)[::hop_length][:n_frames]


@numba.njit(nogil=True, cache=True)
def _depth_at(cmnd: np.ndarray, tau: int) -> float:
    """d' at the parabolic vertex through (tau-1, tau, tau+1), or d'(tau) if not convex; >= 0."""
    left, c, right = cmnd[tau - 1], cmnd[tau], cmnd[tau + 1]
    curv = left - 2.0 * c + right
    v = c - (left - right) ** 2 / (8.0 * curv) if curv > 0.0 else c
    return max(v, 0.0)


@numba.njit(nogil=True, cache=True)
def _refine_lag(d: np.ndarray, energy: np.ndarray, cross: np.ndarray, k: int, n_fft: int) -> float:
    """Fractional lag of the dip of d at integer lag k: a parabola on d, then Newton steps on a
    band-limited d(tau) = e(0) + e(tau) - 2 r(tau), r from its spectrum `cross` [n_fft//2+1] (real inverse
    DFT at fractional tau), e interpolated quadratically from its integer samples."""
    y0, y1, y2 = d[k - 1], d[k], d[k + 1]
    den = y0 - 2.0 * y1 + y2
    shift = 0.5 * (y0 - y2) / den if den > 0.0 else 0.0
    shift = min(max(shift, -1.0), 1.0)
    start = k + shift
    tau = start
    n_bins = cross.shape[0]
    w0 = 2.0 * np.pi / n_fft
    for _ in range(_NEWTON_STEPS):
        # r'(tau) and r''(tau) of r(tau) = sum_b wt_b Re(C_b e^{i w_b tau}); phasor by rotation
        rot_re, rot_im = np.cos(w0 * tau), np.sin(w0 * tau)
        p_re, p_im = 1.0, 0.0
        r1 = 0.0
        r2 = 0.0
        for b in range(n_bins):
            wt = 1.0 if (b == 0 or (b == n_bins - 1 and n_fft % 2 == 0)) else 2.0
            z_re = cross[b].real * p_re - cross[b].imag * p_im
            z_im = cross[b].real * p_im + cross[b].imag * p_re
            om = w0 * b
            r1 -= wt * om * z_im
            r2 -= wt * om * om * z_re
            p_re, p_im = p_re * rot_re - p_im * rot_im, p_re * rot_im + p_im * rot_re
        r1 /= n_fft
        r2 /= n_fft
        kk = int(np.floor(tau))
        frac = tau - kk
        e0, e1, e2 = energy[kk - 1], energy[kk], energy[kk + 1]
        e_d2 = e0 - 2.0 * e1 + e2
        e_d1 = 0.5 * (e2 - e0) + e_d2 * frac
        g = e_d1 - 2.0 * r1
        h = e_d2 - 2.0 * r2
        step = -g / h if h > 0.0 else 0.0
        tau = tau + min(max(step, -0.5), 0.5)
        tau = min(max(tau, 1.0), energy.shape[0] - 2.0)
    # A Newton run that wandered off the integer minimum's basin keeps the parabolic estimate.
    return tau if abs(tau - k) <= 1.0 else start


@numba.njit(nogil=True, cache=True)
def _yin_kernel(
    frames, r, cross, tau_min, tau_max, win, n_fft, threshold, expected_lag, sample_rate, f0_out, conf_out
):
    """YIN per frame, after the FFTs. frames [n, L]; r [n, >= tau_max + 2] cross-correlation
    r(tau) = sum_j b[j] b[j + tau] over the integration window; cross [n, n_fft//2+1] its spectrum.

    expected_lag [n]: <= 0 for the normal search (first dip of d' below threshold, or a much deeper dip
    up to _SEARCH_SPAN x later); > 0 to take the deepest dip within +-8% of that lag if its d' is below
    _OCTAVE_MAX_DEPTH (frames left unchanged otherwise). Writes f0_out (NaN unvoiced) and conf_out.
    """
    n = frames.shape[0]
    m = tau_max + 2
    energy = np.empty(m)
    d = np.empty(m)
    cmnd = np.empty(m)
    for i in range(n):
        b = frames[i]
        e = 0.0
        for j in range(win):
            e += b[j] * b[j]
        energy[0] = e
        for tau in range(1, m):  # e(tau) = sum_{j=tau}^{tau+win-1} b[j]^2, updated as the window slides
            e += b[tau + win - 1] * b[tau + win - 1] - b[tau - 1] * b[tau - 1]
            energy[tau] = e
        power = energy[0] / win
        silent = power <= _SILENCE_POWER
        if expected_lag[i] <= 0.0:
            f0_out[i] = np.nan
            conf_out[i] = 0.0
        if silent:
            continue
        # Cumulative mean normalised difference d'(tau) = d(tau) * tau / sum_{k=1..tau} d(k), d'(0) = 1.
        d[0] = 0.0
        cmnd[0] = 1.0
        csum = 0.0
        for tau in range(1, m):
            v = energy[0] + energy[tau] - 2.0 * r[i, tau]
            d[tau] = v if v > 0.0 else 0.0
            csum += d[tau]
            cmnd[tau] = d[tau] * tau / csum if csum > 0.0 else 1.0
        best = -1
        best_depth = np.inf
        if expected_lag[i] > 0.0:
            lo_lag = max(tau_min, int(np.ceil(expected_lag[i] * 0.92)))
            hi_lag = min(tau_max, int(np.floor(expected_lag[i] * 1.08)))
            for tau in range(lo_lag, hi_lag + 1):
                if cmnd[tau] <= cmnd[tau - 1] and cmnd[tau] < cmnd[tau + 1]:
                    dep = _depth_at(cmnd, tau)
                    if dep < best_depth:
                        best, best_depth = tau, dep
            if best < 0 or best_depth >= _OCTAVE_MAX_DEPTH:
                continue
        else:
            first = -1
            first_depth = 1.0
            for tau in range(tau_min, tau_max + 1):
                if cmnd[tau] <= cmnd[tau - 1] and cmnd[tau] < cmnd[tau + 1]:
                    dep = _depth_at(cmnd, tau)
                    if dep < threshold:
                        first, first_depth = tau, dep
                        break
            if first < 0:
                conf_out[i] = max(0.0, 1.0 - np.min(cmnd[tau_min : tau_max + 1]))
                continue
            # Best local estimate. The first dip below threshold can sit short of the period: at T/2
            # when the 2nd harmonic dominates (strings, organ), or ~1 semitone short for detuned unison
            # piano strings. A dip up to 2.2x later that is much deeper (under half, and 0.02 lower) is
            # taken instead; a signal truly periodic at the first lag has equally deep dips at its
            # multiples, so it keeps the first.
            best, best_depth = first, first_depth
            limit = min(tau_max, int(_SEARCH_SPAN * first))
            for tau in range(first + 1, limit):
                if cmnd[tau] <= cmnd[tau - 1] and cmnd[tau] < cmnd[tau + 1]:
                    dep = _depth_at(cmnd, tau)
                    if dep < best_depth:
                        best, best_depth = tau, dep
            if not (best_depth < _DEEPER_RATIO * first_depth and first_depth - best_depth > _DEEPER_MARGIN):
                best, best_depth = first, first_depth
        tau_hat = _refine_lag(d, energy, cross[i], best, n_fft)
        f0_out[i] = sample_rate / tau_hat
        conf_out[i] = min(max(1.0 - best_depth, 0.0), 1.0)


class _Yin:
    """Sizes and the FFT front end shared by the main pass and the octave pass."""

    def __init__(
        self, sample_rate: int, tau_min: int, tau_max: int, win: int, frame_length: int, threshold: float
    ):
        self.sample_rate = float(sample_rate)
        self.tau_min, self.tau_max, self.win = tau_min, tau_max, win
        self.n_fft = next_fast_len(frame_length)
        self.threshold = float(threshold)

    def run(self, frames: np.ndarray, expected_lag: np.ndarray, f0: np.ndarray, conf: np.ndarray) -> None:
        """frames [n, L] -> f0/conf [n] in place (see `_yin_kernel`)."""
        frames = np.ascontiguousarray(frames, dtype=np.float64)
        spec_b = rfft(frames, n=self.n_fft, axis=-1)
        spec_a = rfft(frames[:, : self.win], n=self.n_fft, axis=-1)
        cross = spec_b * np.conj(spec_a)  # r(tau) = sum_j a[j] b[j + tau]
        r = np.ascontiguousarray(irfft(cross, n=self.n_fft, axis=-1)[:, : self.tau_max + 2])
        _yin_kernel(
            frames,
            r,
            cross,
            self.tau_min,
            self.tau_max,
            self.win,
            self.n_fft,
            self.threshold,
            np.ascontiguousarray(expected_lag, dtype=np.float64),
            self.sample_rate,
            f0,
            conf,
        )


def _octave_pass(yin: _Yin, f0: np.ndarray, conf: np.ndarray, frames: np.ndarray, half_window: int) -> None:
    """Fix isolated octave errors in place (a light stand-in for pYIN's HMM).

    A voiced frame one octave (+-0.1) away from the median log-f0 of the voiced frames within
    +-half_window frames (at least 3 of them) is re-read at the dip nearest the median's lag (within
    +-8%), if that dip's d' < _OCTAVE_MAX_DEPTH. Octave-up errors (first dip at T/2) always have a deep
    dip at T; octave-down errors (plain YIN in some attacks, where d'(T) only just misses the threshold)
    need one below 0.35.
    """
    logf = np.log2(f0)
    pad = np.pad(logf, half_window, constant_values=np.nan)
    neigh = np.lib.stride_tricks.sliding_window_view(pad, 2 * half_window + 1)
    count = np.sum(~np.isnan(neigh), axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN neighbourhoods (silence) give NaN
        med = np.nanmedian(neigh, axis=-1)
    flag = (~np.isnan(logf)) & (count >= 3) & (np.abs(np.abs(logf - med) - 1.0) < 0.1)
    idx = np.flatnonzero(flag)
    for s in range(0, len(idx), _CHUNK_FRAMES):
        sel = idx[s : s + _CHUNK_FRAMES]
        f, c = f0[sel], conf[sel]
        yin.run(frames[sel], yin.sample_rate / 2.0 ** med[sel], f, c)
        f0[sel], conf[sel] = f, c


def estimate_f0(
    x: np.ndarray,
    sample_rate: int,
    hop_length: int,
    fmin_hz: float = 40.0,
    fmax_hz: float = 2000.0,
    frame_length: int | None = None,
    threshold: float = 0.15,
    octave_window_s: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """YIN fundamental frequency per centred frame.

    x: mono signal [n_samples], float. sample_rate: Hz. hop_length: samples between frames (frame t centred
    on sample t * hop_length). fmin_hz/fmax_hz: search range in Hz. frame_length: analysis frame in samples
    (default `default_frame_length`: one longest period of integration plus the largest lag); it must be
    at least 2 * sample_rate / fmin_hz + 2. threshold: YIN absolute threshold on d'(tau).
    octave_window_s: half-width in seconds of the neighbourhood whose median pitch corrects isolated
    octave errors (`_octave_pass`); 0 disables it (frames are then independent). Octave leaps shorter
    than this that sit between notes an octave away can be pulled to their neighbours' octave.
    Returns (f0_hz float32 [n_frames], NaN where unvoiced or silent; confidence float32 [n_frames] in 0..1:
    periodicity 1 - d' at the chosen dip, for unvoiced frames 1 - the smallest d' in range, 0 for
    silence), n_frames = 1 + n_samples // hop_length.
    Real-time safe: no (allocates).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"estimate_f0 expects a mono signal [n_samples], got shape {x.shape}")
    if not (0 < fmin_hz < fmax_hz < sample_rate / 2):
        raise ValueError(f"need 0 < fmin_hz < fmax_hz < sample_rate/2, got {fmin_hz}, {fmax_hz}")
    if hop_length < 1:
        raise ValueError(f"hop_length must be >= 1, got {hop_length}")
    tau_min = max(2, int(np.floor(sample_rate / fmax_hz)))
    tau_max = int(np.ceil(sample_rate / fmin_hz))
    if frame_length is None:
        frame_length = default_frame_length(sample_rate, fmin_hz)
    win = frame_length - tau_max - 2
    if win < tau_max:
        raise ValueError(
            f"frame_length {frame_length} too short for fmin_hz {fmin_hz}: need at least "
            f"{2 * tau_max + 2} samples"
        )
    yin = _Yin(sample_rate, tau_min, tau_max, win, frame_length, threshold)
    # YIN at lag T compares the samples [start, start + win + T): centre that span on t * hop for the
    # geometric-mean lag of the search range, so no lag's evidence sits more than ~half its range off
    # the STFT frame's centre (unshifted, a 220 Hz frame would be centred ~10 ms early).
    t_mid = np.sqrt(tau_min * tau_max)
    offset = int(round((frame_length - win - t_mid) / 2.0))
    offset = min(max(offset, 0), frame_length // 2)
    frames = _centred_frames(x, hop_length, frame_length, offset)
    n_frames = frames.shape[0]
    f0 = np.empty(n_frames)
    conf = np.empty(n_frames)
    none = np.zeros(_CHUNK_FRAMES)
    for s in range(0, n_frames, _CHUNK_FRAMES):
        e = min(n_frames, s + _CHUNK_FRAMES)
        yin.run(frames[s:e], none[: e - s], f0[s:e], conf[s:e])
    half_window = int(round(octave_window_s * sample_rate / hop_length))
    if half_window >= 1:
        _octave_pass(yin, f0, conf, frames, half_window)
    return f0.astype(np.float32), conf.astype(np.float32)


def loudness_db(x: np.ndarray, sample_rate: int, hop_length: int, frame_length: int) -> np.ndarray:
    """RMS level in dBFS per centred frame (rectangular window of frame_length samples), floor -120 dB.

    x: mono [n_samples] float (full scale = 1.0). sample_rate: Hz (unused by RMS, kept for a uniform API).
    Returns float32 [n_frames], n_frames = 1 + n_samples // hop_length, frame t centred on t * hop_length.
    Real-time safe: no (allocates).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"loudness_db expects a mono signal [n_samples], got shape {x.shape}")
    n_frames = 1 + len(x) // hop_length
    pad = frame_length // 2
    xp = np.pad(x * x, (pad, pad + frame_length))
    csum = np.concatenate([[0.0], np.cumsum(xp)])
    starts = np.arange(n_frames) * hop_length
    ms = (csum[starts + frame_length] - csum[starts]) / frame_length
    db = 10.0 * np.log10(np.maximum(ms, 1e-12))
    return np.maximum(db, -120.0).astype(np.float32)
