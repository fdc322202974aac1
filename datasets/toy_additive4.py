"""`toy:additive4` — seed 001 section 2.2: additive tones at 110 Hz through a resonant biquad low-pass.

The seed writes s(n) = BiQuad(sin(2 pi (2k + j) f0 t), f sr/200, Q) with j in range(0, 1, 0.1),
k in range(0, 20), Q and f in range(1, 11). Read literally that is one sine whose frequency mixes the
"number of harmonics" with the inharmonicity, which contradicts its own factor names and its 20,000
spectra of rich tones. Our reading, as DESIGN.md summarises the set ("f0 110 Hz, 1-40 harmonics,
inharmonicity <= 0.002, biquad LP"):
- n_harmonics N = 2k + 2 in {2, 4, ..., 40} (the seed's 2k; at least 2 partials, so inharmonicity is
  audible in every sound and the factor stays identifiable);
- partials n = 1..N at f_n = n f0 sqrt(1 + (n^2 - 1) B) (seed 000's stiff-string law) with amplitude 1/n
  (the sawtooth-like slope of seed 001's richness set);
- inharmonicity B = 0.002 j / 0.9 for the seed's ten steps j = 0, 0.1, ..., 0.9 (0 .. 0.002; the 40th
  partial of a 110 Hz tone then lies at up to 2.05 x 40 f0 = 9.0 kHz);
- filter: the RBJ-cookbook low-pass biquad (what pyo's Biquad type 0 is) at filter_hz = f x 44100 / 200
  = 220.5 .. 2205 Hz (the seed's f sr/200 at its 44.1 kHz, kept in Hz at any analysis sample rate so the
  sounds do not change with it) and filter_q Q = 1..10 (a +20 dB peak at Q = 10).
Factors are physical values: inharmonicity B, n_harmonics N, filter_q Q, filter_hz (Hz). Grid 10 x 20 x
10 x 10 = 20,000 sounds, one frame each; `size` frames: fewer draws a random grid subset, more draws
uniform continuous factors (N an integer in 2..40).

Steady state: the filter is LTI, so once its transient has died away each partial is the input partial
times |H(f_n)|, shifted by arg H(f_n). We render that exactly instead of running the filter for the ~0.2 s
its transient needs at Q = 10 (tests check it against scipy.signal.lfilter run for 2 s). Level: RMS
REFERENCE_RMS after the filter (constant energy, seed 001). Frame: samples [0, n_fft).
"""

from __future__ import annotations

import numpy as np

from vaesynth.datasets import toy_render as tr
from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.filters import biquad_response, rbj_lowpass_coefficients

FACTOR_NAMES = ["inharmonicity", "n_harmonics", "filter_q", "filter_hz"]
F0_HZ = 110.0
SEED_SAMPLE_RATE = 44100.0
INHARMONICITY = 0.002 * np.arange(10) / 9.0  # the seed's j = 0, 0.1, ..., 0.9 mapped to B = 0.002 j / 0.9
N_HARMONICS = 2.0 * np.arange(20) + 2.0
FILTER_Q = np.arange(1.0, 11.0)
FILTER_HZ = np.arange(1.0, 11.0) * SEED_SAMPLE_RATE / 200.0
MAX_PARTIALS = 40


def grid() -> np.ndarray:
    """The seed's parameter space, float64 [20000, 4] in FACTOR_NAMES order."""
    return tr.cartesian_grid(INHARMONICITY, N_HARMONICS, FILTER_Q, FILTER_HZ)


def draw_continuous(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.stack(
        [
            rng.uniform(0.0, INHARMONICITY[-1], n),
            rng.integers(int(N_HARMONICS[0]), int(N_HARMONICS[-1]) + 1, n).astype(np.float64),
            rng.uniform(FILTER_Q[0], FILTER_Q[-1], n),
            rng.uniform(FILTER_HZ[0], FILTER_HZ[-1], n),
        ],
        axis=-1,
    )


def partials(factors: np.ndarray, sample_rate: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steady-state partials after the filter, before level normalisation.

    factors: [n_sounds, 4]. Returns (freqs_hz, amps, phases_rad), float64 [n_sounds, MAX_PARTIALS]:
    amps = (1/n) |H(f_n)| for n <= N and f_n < 0.95 Nyquist, else 0; phases = arg H(f_n).
    """
    b_inh, n_harm, q, fc = (factors[:, i : i + 1] for i in range(4))
    n = np.arange(1, MAX_PARTIALS + 1, dtype=np.float64)[None, :]
    freqs = n * F0_HZ * np.sqrt(1.0 + (n * n - 1.0) * b_inh)
    b, a = rbj_lowpass_coefficients(fc[:, 0], q[:, 0], sample_rate)
    h = biquad_response(b, a, freqs, sample_rate)
    amps = np.where((n <= n_harm) & (freqs < 0.95 * sample_rate / 2), np.abs(h) / n, 0.0)
    return freqs, amps, np.angle(h)


def render(factors: np.ndarray, config: SpectralConfig) -> tuple[np.ndarray, np.ndarray]:
    """Render and analyse sounds.

    factors: [n_sounds, 4]. Returns (magnitudes float32 [n_sounds, n_bins], loudness_db float32 [n_sounds]).
    Real-time safe: no.
    """
    sr = float(config.sample_rate)
    freqs, amps, phases = partials(factors, sr)
    amps *= (tr.REFERENCE_RMS / tr.sinusoid_rms(amps))[:, None]
    x = tr.additive_bank(freqs, amps, phases, 0, sr, np.empty((len(amps), config.n_fft)))
    return tr.analyse_frames(x, config), tr.segment_level_db(x)


def make(config: SpectralConfig, seed: int, size: int | None, progress: bool) -> dict:
    """Fields of the toy:additive4 Dataset (see module docstring)."""
    rng = np.random.default_rng(seed)
    full = grid()
    n = len(full) if size is None else size
    factors = tr.choose_sounds(n, full, draw_continuous, rng)
    return tr.one_frame_per_sound(
        "toy:additive4", factors, FACTOR_NAMES, F0_HZ, render, config, progress, {"f0_hz": F0_HZ}
    )
