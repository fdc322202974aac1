"""Frame-level pitch (YIN) and loudness, aligned to the centred `stft` framing.

Frame t is centred on sample t * hop_length and n_frames = 1 + n_samples // hop_length, exactly as
`vaesynth.synth.spectral.stft`, so `f0_hz[t]` and `loudness_db[t]` describe the spectral frame t.

YIN (de Cheveigné & Kawahara 2002): difference function d(tau) (here from an FFT cross-correlation and
running energies), cumulative mean normalised difference d'(tau), absolute threshold (first local minimum of
d' below `threshold`), then sub-sample refinement. Parabolic interpolation alone is biased by up to ~10
cents for high notes with many partials (the dip of d is not a parabola), so the lag is refined by Newton
steps on a band-limited d(tau): the cross-correlation is evaluated at fractional lags straight from its
spectrum. Frames whose d' never dips below the threshold are unvoiced (NaN).
"""

from __future__ import annotations

import warnings

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


def _centred_frames(x: np.ndarray, hop_length: int, frame_length: int) -> np.ndarray:
    """[n_frames, frame_length] strided view; frame t covers [t*hop - L/2, t*hop + L/2), zero-padded."""
    n_frames = 1 + len(x) // hop_length
    pad = frame_length // 2
    xp = np.pad(x, (pad, pad + frame_length))
    return np.lib.stride_tricks.sliding_window_view(xp, frame_length)[::hop_length][:n_frames]


class _Analysis:
    """Difference-function quantities of a chunk of frames [n, L] (all float64).

    cross: spectrum of r(tau) [n, n_fft//2+1]; energy: e(tau) [n, tau_max+2]; depth: d' at each dip's
    parabolic vertex for lags tau_min..tau_max [n, span] (d' itself off-dip); is_min: local minima of d';
    power: mean square of the integration window [n].
    """

    def __init__(self, frames: np.ndarray, tau_min: int, tau_max: int, win: int, n_fft: int):
        n = frames.shape[0]
        spec_b = rfft(frames, n=n_fft, axis=-1)
        spec_a = rfft(frames[:, :win], n=n_fft, axis=-1)
        self.cross = spec_b * np.conj(spec_a)  # r(tau) = sum_j a[j] b[j + tau]
        r = irfft(self.cross, n=n_fft, axis=-1)[:, :tau_max + 2]
        sq = np.concatenate([np.zeros((n, 1)), np.cumsum(frames * frames, axis=-1)], axis=-1)
        taus = np.arange(tau_max + 2)
        self.energy = sq[:, taus + win] - sq[:, taus]  # e(tau) = sum_{j=tau}^{tau+win-1} b[j]^2
        d = np.maximum(self.energy[:, :1] + self.energy - 2.0 * r, 0.0)
        # Cumulative mean normalised difference d'(tau) = d(tau) * tau / sum_{k=1..tau} d(k), d'(0) = 1.
        csum = np.cumsum(d[:, 1:], axis=-1)
        cmnd = np.ones_like(d)
        with np.errstate(divide="ignore", invalid="ignore"):
            cmnd[:, 1:] = d[:, 1:] * taus[1:] / csum
        cmnd[~np.isfinite(cmnd)] = 1.0
        lo, hi = tau_min, tau_max  # candidate lags, inclusive; both neighbours of each exist in cmnd
        c, left, right = cmnd[:, lo:hi + 1], cmnd[:, lo - 1:hi], cmnd[:, lo + 1:hi + 2]
        self.is_min = (c <= left) & (c < right)
        # Depth of each dip at its parabolic vertex: integer-lag values are biased for short periods (a
        # 1.5 kHz period of 29.4 samples can read d'(29) several times d'(59) from where samples fall).
        curv = left - 2.0 * c + right
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = np.where(self.is_min & (curv > 0), c - (left - right) ** 2 / (8.0 * curv), c)
        self.depth = np.maximum(depth, 0.0)
        self.d = d
        self.tau_min = tau_min
        self.n_fft = n_fft
        self.power = sq[:, win] / win

    def lag(self, rows: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Fractional lag [len(rows)] of the dips at integer lags k: parabola on d, then Newton steps."""
        d = self.d
        y0, y1, y2 = d[rows, k - 1], d[rows, k], d[rows, k + 1]
        den = y0 - 2.0 * y1 + y2
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.clip(np.where(den > 0, 0.5 * (y0 - y2) / den, 0.0), -1.0, 1.0)
        tau = k + shift
        refined = _refine_lag(self.cross[rows], tau.copy(), self.energy[rows], self.n_fft)
        # A Newton step that wandered off the integer minimum's basin keeps the parabolic estimate.
        return np.where(np.abs(refined - k) <= 1.0, refined, tau)


def _yin_chunk(frames: np.ndarray, sample_rate: int, tau_min: int, tau_max: int, win: int,
               n_fft: int, threshold: float):
    """YIN on a chunk of frames [n, L]: returns (f0_hz [n], confidence [n]) float64."""
    an = _Analysis(frames, tau_min, tau_max, win, n_fft)
    n = frames.shape[0]
    depth, is_min = an.depth, an.is_min
    below = is_min & (depth < threshold)
    has = below.any(axis=-1)
    first = np.argmax(below, axis=-1)
    rows = np.arange(n)
    # Best local estimate. The first dip below threshold can sit short of the period: at T/2 when the
    # 2nd harmonic dominates (strings, organ), or ~1 semitone short for detuned unison piano strings. A
    # dip up to 2.2x later that is much deeper (under half, and 0.02 lower) is taken instead; a signal
    # truly periodic at the first lag has equally deep dips at its multiples, so it keeps the first.
    span = np.arange(depth.shape[1])
    window = is_min & (span >= first[:, None]) & (span < _SEARCH_SPAN * (first[:, None] + tau_min) - tau_min)
    deepest = np.argmin(np.where(window, depth, np.inf), axis=-1)
    c_first, c_deep = depth[rows, first], depth[rows, deepest]
    better = (c_deep < _DEEPER_RATIO * c_first) & (c_first - c_deep > _DEEPER_MARGIN)
    j = np.where(better, deepest, first)
    conf = np.clip(1.0 - depth[rows, j], 0.0, 1.0)
    voiced = has & (an.power > _SILENCE_POWER)
    f0 = np.full(n, np.nan)
    if voiced.any():
        v = np.flatnonzero(voiced)
        f0[v] = sample_rate / an.lag(v, tau_min + j[v])
    conf = np.where(an.power > _SILENCE_POWER, conf, 0.0)
    return f0, conf


def _octave_pass(f0: np.ndarray, conf: np.ndarray, frames: np.ndarray, sample_rate: int, tau_min: int,
                 tau_max: int, win: int, n_fft: int, half_window: int) -> None:
    """Fix isolated octave errors in place (a light stand-in for pYIN's HMM).

    A voiced frame one octave (+-0.1) away from the median log-f0 of the voiced frames within
    +-half_window frames is re-read at the dip nearest the median's lag (within +-8%), if that dip's
    d' < _OCTAVE_MAX_DEPTH. Octave-up errors (first dip at T/2) always have a deep dip at T; octave-down
    errors (plain YIN in some attacks, where d'(T) only just misses the threshold) need one below 0.35.
    """
    logf = np.log2(f0)
    pad = np.pad(logf, half_window, constant_values=np.nan)
    neigh = np.lib.stride_tricks.sliding_window_view(pad, 2 * half_window + 1)
    count = np.sum(~np.isnan(neigh), axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN neighbourhoods (silence) give NaN
        med = np.nanmedian(neigh, axis=-1)
    dev = logf - med
    flag = (~np.isnan(logf)) & (count >= 3) & (np.abs(np.abs(dev) - 1.0) < 0.1)
    idx = np.flatnonzero(flag)
    if len(idx) == 0:
        return
    for s in range(0, len(idx), _CHUNK_FRAMES):
        _octave_fix(f0, conf, frames, idx[s:s + _CHUNK_FRAMES], med, sample_rate, tau_min, tau_max, win,
                    n_fft)


def _octave_fix(f0, conf, frames, idx, med, sample_rate, tau_min, tau_max, win, n_fft) -> None:
    """Re-read frames idx at the dip nearest the lag of their neighbourhood's median log2-f0 `med`."""
    an = _Analysis(np.ascontiguousarray(frames[idx]), tau_min, tau_max, win, n_fft)
    expected = sample_rate / 2.0 ** med[idx] - tau_min  # in depth-column units
    span = np.arange(an.depth.shape[1])
    near = an.is_min & (np.abs(span - expected[:, None]) <= 0.08 * (expected[:, None] + tau_min))
    cand = np.where(near, an.depth, np.inf)
    j = np.argmin(cand, axis=-1)
    rows = np.arange(len(idx))
    ok = cand[rows, j] < _OCTAVE_MAX_DEPTH
    if not ok.any():
        return
    rows, j = rows[ok], j[ok]
    f0[idx[ok]] = sample_rate / an.lag(rows, tau_min + j)
    conf[idx[ok]] = np.clip(1.0 - an.depth[rows, j], 0.0, 1.0)


def _refine_lag(cross: np.ndarray, tau: np.ndarray, energy: np.ndarray, n_fft: int,
                n_iter: int = 3) -> np.ndarray:
    """Newton steps minimising d(tau) = e(0) + e(tau) - 2 r(tau) over fractional tau.

    r(tau) is evaluated band-limited from its spectrum `cross` ([n, n_fft//2+1]); e(tau) varies slowly and
    is interpolated quadratically from its integer samples. Only bins carrying energy matter, so the sums run
    over all bins (n_fft/2 complex multiplies per frame and step: cheap beside the FFTs).
    """
    n_bins = cross.shape[1]
    omega = 2.0 * np.pi * np.arange(n_bins) / n_fft
    # Real inverse DFT weights: bins 1..N/2-1 count twice.
    w = np.full(n_bins, 2.0 / n_fft)
    w[0] = 1.0 / n_fft
    if n_fft % 2 == 0:
        w[-1] = 1.0 / n_fft
    cw = cross * w
    rows = np.arange(len(tau))
    for _ in range(n_iter):
        ph = np.exp(1j * np.outer(tau, omega))
        z = cw * ph
        # r = Re sum z; r' = Re sum i w z; r'' = -Re sum w^2 z
        r1 = -(z.imag @ omega)
        r2 = -(z.real @ (omega * omega))
        k = np.floor(tau).astype(np.int64)
        frac = tau - k
        e0, e1, e2 = energy[rows, k - 1], energy[rows, k], energy[rows, k + 1]
        # quadratic through (k-1, k, k+1): first and second derivatives at tau
        e_d2 = e0 - 2.0 * e1 + e2
        e_d1 = 0.5 * (e2 - e0) + e_d2 * frac
        g = e_d1 - 2.0 * r1
        h = e_d2 - 2.0 * r2
        step = np.where(h > 0, -g / np.where(h > 0, h, 1.0), 0.0)
        tau = np.clip(tau + np.clip(step, -0.5, 0.5), 1.0, energy.shape[1] - 2.0)
    return tau


def estimate_f0(x: np.ndarray, sample_rate: int, hop_length: int, fmin_hz: float = 40.0,
                fmax_hz: float = 2000.0, frame_length: int | None = None,
                threshold: float = 0.15, octave_window_s: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """YIN fundamental frequency per centred frame.

    x: mono signal [n_samples], float. sample_rate: Hz. hop_length: samples between frames (frame t centred
    on sample t * hop_length). fmin_hz/fmax_hz: search range in Hz. frame_length: analysis frame in samples
    (default `default_frame_length`: one longest period of integration plus the largest lag); it must be
    at least 2 * sample_rate / fmin_hz + 2. threshold: YIN absolute threshold on d'(tau).
    octave_window_s: half-width in seconds of the neighbourhood whose median pitch corrects isolated
    octave errors (`_octave_pass`); 0 disables it (frames are then independent). Octave leaps shorter
    than this that sit between notes an octave away can be pulled to their neighbours' octave.
    Returns (f0_hz float32 [n_frames], NaN where unvoiced or silent; confidence float32 [n_frames] in 0..1,
    1 - d'(tau) at the chosen lag, 0 for silence), n_frames = 1 + n_samples // hop_length.
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
        raise ValueError(f"frame_length {frame_length} too short for fmin_hz {fmin_hz}: need at least "
                         f"{2 * tau_max + 2} samples")
    n_fft = next_fast_len(frame_length)
    frames = _centred_frames(x, hop_length, frame_length)
    n_frames = frames.shape[0]
    f0 = np.empty(n_frames)
    conf = np.empty(n_frames)
    for s in range(0, n_frames, _CHUNK_FRAMES):
        e = min(n_frames, s + _CHUNK_FRAMES)
        f0[s:e], conf[s:e] = _yin_chunk(np.ascontiguousarray(frames[s:e]), sample_rate, tau_min, tau_max,
                                        win, n_fft, threshold)
    half_window = int(round(octave_window_s * sample_rate / hop_length))
    if half_window >= 1:
        _octave_pass(f0, conf, frames, sample_rate, tau_min, tau_max, win, n_fft, half_window)
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
