"""Frame-level representations the model trains on, their inverses, and the training-split normaliser.

Two domains:
- "magnitude": forward takes linear STFT magnitudes [n_frames, n_bins] (what a prepared Dataset holds) and
  inverse gives them back. `logmag` (the default) and `linear`.
- "audio": forward takes a mono signal [n_samples] and inverse gives a signal back. `magphase` (STFT
  magnitude and phase), `mdct` (frame_length = n_fft, hop n_fft/2, perfect reconstruction) and `cqt`
  (|CQT| frames; inverse by phase retrieval, approximate).

Every representation also gives `to_magnitudes(frames, config)`: linear STFT magnitude frames, which is
what the engines render.

logmag floor. dB are relative to the STFT magnitude of a full-scale sine (sum(window) / 2), so 0 dB is a
0 dBFS partial at any n_fft. Each frame is floored LOGMAG_RANGE_DB (80 dB) under its own peak, and never
below LOGMAG_FLOOR_DB (-140 dB; digital silence). Why per frame: an absolute floor is either far under the
music, so that empty bins and silence become the largest, most variable part of the target (an MSE in dB
then spends itself on where a partial falls off into nothing), or it cuts quiet notes: on FluidR3 notes
rendered as `sf2:` does (velocities 50-110), frame peaks spread from -92 to -36 dB (5th-95th percentile)
and an absolute -100 dB floor clipped a third of the bins the LSD metric scores (those within 60 dB of
their frame's peak). The relative floor keeps 20 dB of margin under that 60 dB window (0.9% of scored bins
clipped, all in frames quieter than -80 dB), puts 28% of bins at the floor instead of 90%, and gives every
frame the same dynamic range whatever its level; silence reads a flat -140 dB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from vaesynth.synth import spectral
from vaesynth.synth.config import SpectralConfig

LOGMAG_FLOOR_DB = -140.0
LOGMAG_RANGE_DB = 80.0
CQT_FMIN_HZ = 32.703195662574764  # C1, librosa's default
CQT_BINS_PER_OCTAVE = 24
GRIFFIN_LIM_ITERATIONS = 32


def reference_magnitude(config: SpectralConfig) -> float:
    """STFT magnitude of a full-scale (amplitude 1) sine at a bin centre: sum(window) / 2."""
    return float(np.sum(spectral.analysis_window(config)) / 2.0)


def logmag(magnitudes: np.ndarray, config: SpectralConfig, floor_db: float = LOGMAG_FLOOR_DB,
           range_db: float = LOGMAG_RANGE_DB) -> np.ndarray:
    """Linear magnitudes [..., n_bins] -> dB re a full-scale sine, float32, same shape.

    Each frame (last axis) is floored at max(its peak - range_db, floor_db): see the module docstring.
    `logmag_inverse` is exact wherever the result is above that floor. Real-time safe: no (allocates).
    """
    ref = reference_magnitude(config)
    m = np.asarray(magnitudes, dtype=np.float64)
    db = 20.0 * np.log10(np.maximum(m, ref * 10.0 ** ((floor_db - 1.0) / 20.0)) / ref)
    floor = np.maximum(db.max(axis=-1, keepdims=True) - range_db, floor_db)
    return np.maximum(db, floor).astype(np.float32)


def logmag_inverse(db: np.ndarray, config: SpectralConfig) -> np.ndarray:
    """Inverse of `logmag`: dB -> linear magnitudes, float32 (exact above the floor)."""
    db = np.asarray(db, dtype=np.float64)
    return (reference_magnitude(config) * 10.0 ** (db / 20.0)).astype(np.float32)


def cqt_settings(config: SpectralConfig) -> dict:
    """CQT parameters for a SpectralConfig: C1 upwards, 24 bins/octave, as many bins as stay below Nyquist
    (librosa's filter cutoff rule), hop = config.hop_length."""
    bpo = CQT_BINS_PER_OCTAVE
    r2 = 2.0 ** (2.0 / bpo)
    q = (r2 + 1.0) / (r2 - 1.0)
    f_top = 0.5 * config.sample_rate / (1.0 + 0.5 * spectral.HANN_BANDWIDTH_BINS / q)
    n_bins = int(np.floor(bpo * np.log2(f_top / CQT_FMIN_HZ))) + 1
    return {"sample_rate": config.sample_rate, "hop_length": config.hop_length, "fmin_hz": CQT_FMIN_HZ,
            "n_bins": n_bins, "bins_per_octave": bpo}


def cqt_frames(x: np.ndarray, config: SpectralConfig) -> np.ndarray:
    """|CQT| frames float32 [1 + n_samples // hop_length, n_bins] with `cqt_settings(config)`."""
    return np.abs(spectral.cqt(x, **cqt_settings(config))).astype(np.float32)


def cqt_griffin_lim(frames: np.ndarray, config: SpectralConfig, n_samples: int | None = None,
                    n_iter: int = GRIFFIN_LIM_ITERATIONS, momentum: float = 0.99) -> np.ndarray:
    """Signal whose |CQT| approximates `frames` [n_frames, n_bins]: fast Griffin-Lim (Perraudin et al.
    2013) alternating `icqt` and `cqt`, zero initial phase. Returns float64 [n_samples].
    Real-time safe: no (allocates; ~2 CQTs per iteration)."""
    s = cqt_settings(config)
    frames = np.asarray(frames, dtype=np.float64)
    if n_samples is None:
        n_samples = (frames.shape[0] - 1) * config.hop_length
    inv = dict(sample_rate=s["sample_rate"], hop_length=s["hop_length"], fmin_hz=s["fmin_hz"],
               bins_per_octave=s["bins_per_octave"], n_samples=n_samples)
    angles = np.ones(frames.shape, dtype=np.complex128)
    previous = np.zeros(frames.shape, dtype=np.complex128)
    for _ in range(n_iter):
        y = spectral.icqt(frames * angles, **inv)
        rebuilt = spectral.cqt(y, **s).astype(np.complex128)
        angles = rebuilt - (momentum / (1.0 + momentum)) * previous
        angles /= np.abs(angles) + 1e-12
        previous = rebuilt
    return spectral.icqt(frames * angles, **inv)


def _magphase_forward(x: np.ndarray, config: SpectralConfig) -> np.ndarray:
    mag, phase = spectral.magphase(spectral.stft(x, config))
    return np.concatenate([mag, phase], axis=-1)


def _magphase_inverse(frames: np.ndarray, config: SpectralConfig, n_samples: int | None = None) -> np.ndarray:
    n = config.n_bins
    return spectral.istft(spectral.from_magphase(frames[:, :n], frames[:, n:]), config, n_samples)


@dataclass(frozen=True)
class Representation:
    """One frame representation.

    name: registry key. domain: "magnitude" (forward takes linear STFT magnitudes [n_frames, n_bins]) or
    "audio" (forward takes a signal [n_samples]). exact: whether inverse(forward(v)) == v to float32
    precision (logmag: above its floor). forward(v, config) -> float32 [n_frames, n_features(config)].
    inverse(frames, config, n_samples=None) -> what forward took. description: one line, with the
    measured error for approximate inverses.
    """

    name: str
    domain: str
    exact: bool
    description: str
    forward: Callable[..., np.ndarray]
    inverse: Callable[..., np.ndarray]
    n_features: Callable[[SpectralConfig], int]

    def to_magnitudes(self, frames: np.ndarray, config: SpectralConfig,
                      n_samples: int | None = None) -> np.ndarray:
        """Linear STFT magnitude frames float32 [n_frames', n_bins] for these frames (for audio-domain
        representations via the inverse signal, so n_frames' follows the signal's length)."""
        out = self.inverse(frames, config, n_samples)
        if self.domain == "magnitude":
            return np.asarray(out, dtype=np.float32)
        return spectral.magnitude(out, config)


REPRESENTATIONS: dict[str, Representation] = {
    "logmag": Representation(
        "logmag", "magnitude", True,
        f"dB re a full-scale sine, floored {LOGMAG_RANGE_DB:g} dB under each frame's peak and at "
        f"{LOGMAG_FLOOR_DB:g} dB (default); exact above the floor",
        lambda m, cfg: logmag(m, cfg),
        lambda f, cfg, n_samples=None: logmag_inverse(f, cfg),
        lambda cfg: cfg.n_bins),
    "linear": Representation(
        "linear", "magnitude", True, "linear STFT magnitude",
        lambda m, cfg: np.asarray(m, dtype=np.float32),
        lambda f, cfg, n_samples=None: np.asarray(f, dtype=np.float32),
        lambda cfg: cfg.n_bins),
    "magphase": Representation(
        "magphase", "audio", True, "STFT [linear magnitude | phase in radians], inverse by ISTFT",
        _magphase_forward, _magphase_inverse,
        lambda cfg: 2 * cfg.n_bins),
    "mdct": Representation(
        "mdct", "audio", True, "MDCT, sine window, frame n_fft, hop n_fft/2 (TDAC: perfect reconstruction)",
        lambda x, cfg: spectral.mdct(x, cfg.n_fft),
        lambda f, cfg, n_samples=None: spectral.imdct(f, cfg.n_fft, n_samples),
        lambda cfg: cfg.n_fft // 2),
    "cqt": Representation(
        "cqt", "audio", False,
        "|CQT| (librosa.cqt's definition, C1 up, 24 bins/octave, hop_length); inverse by 32 iterations of "
        "fast Griffin-Lim through the approximate ICQT (harmonic tone: spectral convergence 0.05-0.09 on "
        "|CQT|, 0.09-0.15 on STFT magnitude)",
        cqt_frames, lambda f, cfg, n_samples=None: cqt_griffin_lim(f, cfg, n_samples),
        lambda cfg: cqt_settings(cfg)["n_bins"]),
}

DEFAULT_REPRESENTATION = "logmag"


def representation_names() -> list[str]:
    """Every registered representation name, default first."""
    return [DEFAULT_REPRESENTATION] + [n for n in REPRESENTATIONS if n != DEFAULT_REPRESENTATION]


def get_representation(name: str = DEFAULT_REPRESENTATION) -> Representation:
    """The representation registered as `name`; ValueError listing the names otherwise."""
    try:
        return REPRESENTATIONS[name]
    except KeyError:
        raise ValueError(f"unknown representation {name!r}: choose one of {', '.join(representation_names())}"
                         ) from None


class Normalizer:
    """Mean/std standardisation of frames, fitted on TRAINING frames only.

    per_bin=True: one mean and std per feature column; False: one global mean and std. std is floored at
    min_std_ratio * (global std) so constant columns (e.g. bins always at the logmag floor) map to 0
    instead of blowing up.
    """

    def __init__(self, per_bin: bool = True, min_std_ratio: float = 1e-3):
        self.per_bin = bool(per_bin)
        self.min_std_ratio = float(min_std_ratio)
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, frames: np.ndarray) -> "Normalizer":
        """Fit on training frames [n_frames, n_features] (float64 accumulation). Returns self."""
        f = np.asarray(frames, dtype=np.float64)
        if f.ndim != 2 or f.shape[0] < 1:
            raise ValueError(f"Normalizer.fit expects frames [n_frames, n_features], got {f.shape}")
        global_std = float(f.std())
        floor = max(self.min_std_ratio * global_std, 1e-12)
        if self.per_bin:
            mean, std = f.mean(axis=0), f.std(axis=0)
        else:
            mean, std = np.array([f.mean()]), np.array([global_std])
        self.mean = mean.astype(np.float32)
        self.std = np.maximum(std, floor).astype(np.float32)
        return self

    def _check(self) -> None:
        if self.mean is None:
            raise RuntimeError("Normalizer is not fitted: call fit(training_frames) or from_state(d)")

    def transform(self, frames: np.ndarray) -> np.ndarray:
        """(frames - mean) / std, float32, same shape [..., n_features]."""
        self._check()
        return ((np.asarray(frames, dtype=np.float32) - self.mean) / self.std).astype(np.float32)

    def inverse_transform(self, frames: np.ndarray) -> np.ndarray:
        """frames * std + mean, float32, same shape."""
        self._check()
        return (np.asarray(frames, dtype=np.float32) * self.std + self.mean).astype(np.float32)

    def state_dict(self) -> dict:
        """{"mean": float32 [n], "std": float32 [n], "per_bin": float 1.0/0.0, "min_std_ratio": float};
        n = n_features (per_bin) or 1 (global). Plain arrays and floats: safe for weights_only loading."""
        self._check()
        return {"mean": self.mean.copy(), "std": self.std.copy(), "per_bin": float(self.per_bin),
                "min_std_ratio": self.min_std_ratio}

    @classmethod
    def from_state(cls, d: dict) -> "Normalizer":
        """Rebuild from `state_dict()` (arrays may be numpy arrays or torch tensors)."""
        norm = cls(per_bin=bool(float(d["per_bin"])), min_std_ratio=float(d.get("min_std_ratio", 1e-3)))
        norm.mean = np.asarray(d["mean"], dtype=np.float32).reshape(-1)
        norm.std = np.asarray(d["std"], dtype=np.float32).reshape(-1)
        if norm.mean.shape != norm.std.shape:
            raise ValueError(f"normaliser mean {norm.mean.shape} and std {norm.std.shape} differ in shape")
        return norm
