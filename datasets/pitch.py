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

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft

# Below this mean-square level (-100 dBFS) a frame is treated as silence: d'(tau) is 0/0 there.
_SILENCE_POWER = 1e-10
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


def _yin_chunk(frames: np.ndarray, sample_rate: int, tau_min: int, tau_max: int, win: int,
               n_fft: int, threshold: float):
    """YIN on a chunk of frames [n, L]: returns (f0_hz [n], confidence [n]) float64."""
    n = frames.shape[0]
    a = frames[:, :win]
    spec_b = rfft(frames, n=n_fft, axis=-1)
    spec_a = rfft(a, n=n_fft, axis=-1)
    cross = spec_b * np.conj(spec_a)  # r(tau) = sum_j a[j] b[j + tau]
    r = irfft(cross, n=n_fft, axis=-1)[:, :tau_max + 2]
    sq = np.concatenate([np.zeros((n, 1)), np.cumsum(frames * frames, axis=-1)], axis=-1)
    taus = np.arange(tau_max + 2)
    energy = sq[:, taus + win] - sq[:, taus]  # e(tau) = sum_{j=tau}^{tau+win-1} b[j]^2
    d = np.maximum(energy[:, :1] + energy - 2.0 * r, 0.0)
    # Cumulative mean normalised difference d'(tau) = d(tau) * tau / sum_{k=1..tau} d(k), d'(0) = 1.
    csum = np.cumsum(d[:, 1:], axis=-1)
    cmnd = np.ones_like(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        cmnd[:, 1:] = d[:, 1:] * taus[1:] / csum
    cmnd[~np.isfinite(cmnd)] = 1.0

    lo, hi = tau_min, tau_max  # candidate lags, inclusive; both neighbours of each exist in cmnd
    c = cmnd[:, lo:hi + 1]
    left = cmnd[:, lo - 1:hi]
    right = cmnd[:, lo + 1:hi + 2]
    is_min = (c <= left) & (c < right)
    below = is_min & (c < threshold)
    has = below.any(axis=-1)
    first = np.argmax(below, axis=-1)
    rows = np.arange(n)
    k = lo + first
    conf = np.clip(1.0 - cmnd[rows, k], 0.0, 1.0)

    # Parabolic interpolation on d around the integer minimum: the start for Newton refinement.
    y0, y1, y2 = d[rows, k - 1], d[rows, k], d[rows, k + 1]
    den = y0 - 2.0 * y1 + y2
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(den > 0, 0.5 * (y0 - y2) / den, 0.0)
    tau = k + np.clip(shift, -1.0, 1.0)
    power = sq[:, win] / win
    voiced = has & (power > _SILENCE_POWER)
    if voiced.any():
        v = np.flatnonzero(voiced)
        refined = _refine_lag(cross[v], tau[v], energy[v], n_fft)
        # A Newton step that wandered off the integer minimum's basin keeps the parabolic estimate.
        tau[v] = np.where(np.abs(refined - k[v]) <= 1.0, refined, tau[v])
    f0 = np.where(voiced, sample_rate / tau, np.nan)
    conf = np.where(power > _SILENCE_POWER, conf, 0.0)
    return f0, conf


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
                threshold: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """YIN fundamental frequency per centred frame.

    x: mono signal [n_samples], float. sample_rate: Hz. hop_length: samples between frames (frame t centred
    on sample t * hop_length). fmin_hz/fmax_hz: search range in Hz. frame_length: analysis frame in samples
    (default `default_frame_length`: one longest period of integration plus the largest lag); it must be
    at least 2 * sample_rate / fmin_hz + 2. threshold: YIN absolute threshold on d'(tau).
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
    f0 = np.empty(n_frames, dtype=np.float32)
    conf = np.empty(n_frames, dtype=np.float32)
    for s in range(0, n_frames, _CHUNK_FRAMES):
        e = min(n_frames, s + _CHUNK_FRAMES)
        f, c = _yin_chunk(np.ascontiguousarray(frames[s:e]), sample_rate, tau_min, tau_max, win, n_fft,
                          threshold)
        f0[s:e] = f
        conf[s:e] = c
    return f0, conf


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
