"""Spectral representations and their inverses. Pure functions of arrays and a SpectralConfig.

Frames are centred: frame t covers samples [t*hop - n_fft/2, t*hop + n_fft/2), the signal zero-padded at
both ends, so `istft(stft(x))` reconstructs x exactly (hann window, hop <= n_fft/2, COLA-normalised).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import get_window

from vaesynth.synth.config import SpectralConfig


def analysis_window(config: SpectralConfig) -> np.ndarray:
    """Periodic analysis window [n_fft], float64."""
    return get_window(config.window, config.n_fft, fftbins=True).astype(np.float64)


def n_frames_for(n_samples: int, config: SpectralConfig) -> int:
    """Number of centred frames `stft` returns for a signal of n_samples."""
    return 1 + n_samples // config.hop_length


def stft(x: np.ndarray, config: SpectralConfig) -> np.ndarray:
    """Complex STFT of a mono signal.

    x: [n_samples] float. Returns complex64 [n_frames, n_bins], n_frames = 1 + n_samples // hop_length.
    Real-time safe: no (allocates).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"stft expects a mono signal [n_samples], got shape {x.shape}")
    n_fft, hop = config.n_fft, config.hop_length
    pad = n_fft // 2
    xp = np.pad(x, (pad, pad + n_fft))
    n_frames = n_frames_for(len(x), config)
    frames = np.lib.stride_tricks.sliding_window_view(xp, n_fft)[::hop][:n_frames]
    return np.fft.rfft(frames * analysis_window(config), axis=-1).astype(np.complex64)


def istft(spec: np.ndarray, config: SpectralConfig, n_samples: int | None = None) -> np.ndarray:
    """Inverse of `stft` by weighted overlap-add (least-squares ISTFT).

    spec: complex [n_frames, n_bins]. Returns float64 [n_samples] (default (n_frames - 1) * hop_length).
    Real-time safe: no (allocates).
    """
    spec = np.asarray(spec)
    n_fft, hop = config.n_fft, config.hop_length
    n_frames = spec.shape[0]
    win = analysis_window(config)
    frames = np.fft.irfft(spec, n=n_fft, axis=-1) * win
    total = (n_frames - 1) * hop + n_fft
    out = np.zeros(total)
    norm = np.zeros(total)
    for t in range(n_frames):
        out[t * hop:t * hop + n_fft] += frames[t]
        norm[t * hop:t * hop + n_fft] += win * win
    pad = n_fft // 2
    out = out[pad:]
    norm = norm[pad:]
    if n_samples is None:
        n_samples = (n_frames - 1) * hop
    out = out[:n_samples]
    norm = norm[:n_samples]
    return out / np.maximum(norm, 1e-8)


def magnitude(x: np.ndarray, config: SpectralConfig) -> np.ndarray:
    """Linear STFT magnitude frames, float32 [n_frames, n_bins]."""
    return np.abs(stft(x, config)).astype(np.float32)
