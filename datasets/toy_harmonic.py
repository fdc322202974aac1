"""`toy:harmonic` — seed 000 section 2: additive tones with six factors of variation.

s(t) = sum_n A_n sin(2 pi f_n t),  f_n = n f0 sqrt(1 + (n^2 - 1) B),  A_n = max(a (n - 1) + 1, 0)  (b = 1),
plus white noise at the requested SNR, the whole sound times exp(-alpha t).

Grid (cartesian product, 41,040 sounds, FRAMES_PER_SOUND = 8 consecutive STFT frames each):
- f0_hz: 100..1000 Hz in steps of 50 (seed: "from 100 Hz to 1000 Hz with an increment of at least 50 Hz").
- inharmonicity B: 0, 0.0005, 0.001, 0.002, 0.005. The seed says "from 0 to 1" but also B << 1; these
  reach a 5 % sharp 10th partial at 0.001 and 11 % at 0.005 (bell-like), all below 15 kHz at f0 1 kHz.
- slope a: -0.1 .. -0.9 in steps of 0.1; with b = 1 the spectrum has 1 + floor(1/|a| - eps) partials
  (10 at a = -0.1, 2 at a = -0.9), so slope is also a richness factor, as the seed's linear model implies.
- parity: 0 all partials, 1 odd (n = 1, 3, 5, ...), 2 even. "Even" keeps the fundamental (n = 1, 2, 4, 6,
  ...): without it the tone would sound an octave up and parity would change the pitch, entangling two
  factors the seed meant to be independent; f0_hz stays the pitch of every sound.
- snr_db: 10, 20, 40, 60 dB — signal power over white-noise power across the whole band (the noise is
  scaled to the exact power over each sound's samples).
- decay alpha: 0, 2.5, 5, 10 per second (seed: "from 0 to 10"); frame k's level drops 8.686 alpha dB/s.
  The envelope multiplies signal and noise alike, so every frame has the labelled SNR.
Level: the noise-free signal has RMS REFERENCE_RMS at t = 0. Partials at or above 0.95 Nyquist are left out.
Frames: frame k of a sound covers samples [k hop, k hop + n_fft) from the onset (the window is inside the
sound from the first frame on). `size` counts frames: ceil(size / 8) sounds, the last one cut short.
"""

from __future__ import annotations

import math

import numpy as np

from vaesynth.datasets import toy_render as tr
from vaesynth.synth.config import SpectralConfig

FACTOR_NAMES = ["f0_hz", "inharmonicity", "slope", "parity", "snr_db", "decay"]
F0_HZ = np.arange(100.0, 1001.0, 50.0)
INHARMONICITY = np.array([0.0, 0.0005, 0.001, 0.002, 0.005])
SLOPE = np.round(-0.1 * np.arange(1, 10), 12)
PARITY = np.array([0, 1, 2])
SNR_DB = np.array([10.0, 20.0, 40.0, 60.0])
DECAY_PER_S = np.array([0.0, 2.5, 5.0, 10.0])
FRAMES_PER_SOUND = 8
DEFAULT_FRAMES = 20_000
MAX_PARTIALS = 11  # A_n = 1 - 0.1 (n - 1) reaches 0 at n = 11 for the gentlest slope


def grid() -> np.ndarray:
    """The seed's parameter space, float64 [41040, 6] in FACTOR_NAMES order."""
    return tr.cartesian_grid(F0_HZ, INHARMONICITY, SLOPE, PARITY, SNR_DB, DECAY_PER_S)


def draw_continuous(n: int, rng: np.random.Generator) -> np.ndarray:
    """n sounds with factors uniform over the grid's ranges (parity uniform over 0, 1, 2)."""
    return np.stack(
        [
            rng.uniform(F0_HZ[0], F0_HZ[-1], n),
            rng.uniform(0.0, INHARMONICITY[-1], n),
            rng.uniform(SLOPE[-1], SLOPE[0], n),
            rng.integers(0, 3, n).astype(np.float64),
            rng.uniform(SNR_DB[0], SNR_DB[-1], n),
            rng.uniform(0.0, DECAY_PER_S[-1], n),
        ],
        axis=-1,
    )


def partials(factors: np.ndarray, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Partial frequencies and amplitudes of each sound's noise-free tone at unit level.

    factors: [n_sounds, 6] (FACTOR_NAMES). Returns (freqs_hz, amps), float64 [n_sounds, MAX_PARTIALS];
    amps are the seed's A_n (parity and Nyquist applied, not normalised).
    """
    f0, b, slope, parity = factors[:, 0:1], factors[:, 1:2], factors[:, 2:3], factors[:, 3:4]
    n = np.arange(1, MAX_PARTIALS + 1, dtype=np.float64)[None, :]
    freqs = n * f0 * np.sqrt(1.0 + (n * n - 1.0) * b)
    amps = np.maximum(slope * (n - 1.0) + 1.0, 0.0)
    odd = (n % 2) == 1
    keep = np.where(parity == 1, odd, np.where(parity == 2, ~odd | (n == 1), True))
    amps = np.where(keep & (freqs < 0.95 * sample_rate / 2), amps, 0.0)
    return freqs, amps


def render(
    factors: np.ndarray,
    config: SpectralConfig,
    rng: np.random.Generator,
    frames_per_sound: int = FRAMES_PER_SOUND,
) -> tuple[np.ndarray, np.ndarray]:
    """Render and analyse sounds.

    factors: float64 [n_sounds, 6]. rng: draws the noise (consumed in sound order).
    Returns (magnitudes float32 [n_sounds, frames_per_sound, n_bins], loudness_db float32 [n_sounds,
    frames_per_sound]: RMS of each frame's samples).
    Real-time safe: no.
    """
    n_sounds = len(factors)
    n_fft, hop, sr = config.n_fft, config.hop_length, config.sample_rate
    n_samples = n_fft + (frames_per_sound - 1) * hop
    freqs, amps = partials(factors, sr)
    amps = amps * (tr.REFERENCE_RMS / tr.sinusoid_rms(amps))[:, None]
    x = tr.additive_bank(freqs, amps, np.zeros_like(freqs), 0, float(sr), np.empty((n_sounds, n_samples)))
    noise = rng.standard_normal((n_sounds, n_samples))
    noise_rms = tr.REFERENCE_RMS * 10.0 ** (-factors[:, 4] / 20.0)
    noise *= (noise_rms / np.sqrt(np.mean(noise * noise, axis=-1)))[:, None]
    x += noise
    t_s = np.arange(n_samples) / sr
    x *= np.exp(-factors[:, 5:6] * t_s[None, :])
    segments = np.lib.stride_tricks.sliding_window_view(x, n_fft, axis=-1)[:, ::hop][:, :frames_per_sound]
    return tr.analyse_frames(segments, config), tr.segment_level_db(segments)


def make(config: SpectralConfig, seed: int, size: int | None, progress: bool) -> dict:
    """Fields of the toy:harmonic Dataset (see module docstring)."""
    rng = np.random.default_rng(seed)
    n_frames = DEFAULT_FRAMES if size is None else size
    n_sounds = math.ceil(n_frames / FRAMES_PER_SOUND)
    factors = tr.choose_sounds(n_sounds, grid(), draw_continuous, rng)
    mags = np.empty((n_sounds * FRAMES_PER_SOUND, config.n_bins), dtype=np.float32)
    loud = np.empty(n_sounds * FRAMES_PER_SOUND, dtype=np.float32)
    with tr.progress_bar(n_sounds, "toy:harmonic", progress) as bar:
        for sl in tr.chunks(n_sounds):
            m, ld = render(factors[sl], config, rng)
            frames = slice(sl.start * FRAMES_PER_SOUND, sl.stop * FRAMES_PER_SOUND)
            mags[frames] = m.reshape(-1, config.n_bins)
            loud[frames] = ld.ravel()
            bar.update(sl.stop - sl.start)
    per_frame = np.repeat(factors, FRAMES_PER_SOUND, axis=0)[:n_frames]
    return dict(
        magnitudes=mags[:n_frames],
        f0_hz=per_frame[:, 0],
        loudness_db=loud[:n_frames],
        factors=per_frame,
        factor_names=list(FACTOR_NAMES),
        groups=np.repeat(np.arange(n_sounds), FRAMES_PER_SOUND)[:n_frames],
        info={
            "frames_per_sound": FRAMES_PER_SOUND,
            "grid_sounds": len(F0_HZ)
            * len(INHARMONICITY)
            * len(SLOPE)
            * len(PARITY)
            * len(SNR_DB)
            * len(DECAY_PER_S),
        },
    )
