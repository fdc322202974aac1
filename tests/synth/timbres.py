"""Synthetic timbres for engine tests (no model, no torch): the STFT magnitude of a rendered harmonic tone."""

from __future__ import annotations

import numpy as np

from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.protocol import Timbre
from vaesynth.synth.spectral import magnitude

CONFIG = SpectralConfig(sample_rate=44100, n_fft=2048, hop_length=512)
F_REF_HZ = 220.0


def harmonic_tone(amplitudes, f_ref_hz: float = F_REF_HZ, sample_rate: int = 44100, seconds: float = 0.25):
    """sum_k amplitudes[k-1] * sin(2 pi k f_ref t), float64 [n_samples]."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    k = np.arange(1, len(amplitudes) + 1)[:, None]
    return (np.asarray(amplitudes, np.float64)[:, None] * np.sin(2 * np.pi * k * f_ref_hz * t)).sum(0)


def harmonic_timbre(amplitudes, f_ref_hz: float = F_REF_HZ, config: SpectralConfig = CONFIG) -> Timbre:
    """The Timbre a model would decode for a steady harmonic tone with these partial amplitudes."""
    x = harmonic_tone(amplitudes, f_ref_hz, config.sample_rate)
    frames = magnitude(x, config)
    return Timbre(frames[len(frames) // 2], config, f_ref_hz)


def sawtooth_amplitudes(n: int = 30, level: float = 0.3):
    return level / np.arange(1, n + 1)


def square_amplitudes(n: int = 30, level: float = 0.3):
    k = np.arange(1, n + 1)
    return np.where(k % 2 == 1, level / k, 0.0)


def measure_f0_hz(x: np.ndarray, sample_rate: int, expected_hz: float) -> float:
    """Frequency of the strongest spectral peak within +-1 semitone of expected_hz: hann window, 16x
    zero-padded FFT, quadratic interpolation of the log magnitude around the peak bin."""
    n = len(x)
    n_fft = 1 << int(np.ceil(np.log2(16 * n)))
    spec = np.abs(np.fft.rfft(x * np.hanning(n), n_fft))
    hz = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    band = np.flatnonzero((hz > expected_hz * 2 ** (-1 / 12)) & (hz < expected_hz * 2 ** (1 / 12)))
    i = band[np.argmax(spec[band])]
    a, b, c = np.log(spec[i - 1 : i + 2] + 1e-30)
    p = 0.5 * (a - c) / (a - 2 * b + c)
    return float((i + p) * sample_rate / n_fft)


def click_ratio(y: np.ndarray, change_at: int, window: int, reference: np.ndarray) -> float:
    """DESIGN.md click metric: the largest sample-to-sample jump of y in [change_at, change_at + window)
    relative to the largest jump of the steady-state `reference` signal."""
    after = np.abs(np.diff(y[change_at - 1 : change_at + window])).max()
    steady = np.abs(np.diff(reference)).max()
    return float(after / steady)
