"""A tiny synthetic harmonic dataset for training tests (seconds to train): known factors, groups, f0."""

from __future__ import annotations

import numpy as np

from vaesynth.datasets.base import Dataset
from vaesynth.synth.config import SpectralConfig

CONFIG = SpectralConfig(sample_rate=8000, n_fft=256, hop_length=64)
FACTOR_NAMES = ["slope_db", "n_harmonics"]


def harmonic_frame(
    f0_hz: float, slope_db: float, n_harmonics: int, config: SpectralConfig = CONFIG
) -> np.ndarray:
    """Linear magnitude [n_bins] of a steady harmonic tone under a Hann window: partial k at k*f0_hz with
    level -slope_db*log2(k) dB, drawn as the window's main lobe (4 bins wide) around its frequency."""
    bins = np.arange(config.n_bins)
    mags = np.full(config.n_bins, 1e-5)
    for k in range(1, n_harmonics + 1):
        f = k * f0_hz
        if f >= config.sample_rate / 2 - 2 * config.bin_hz:
            break
        d = bins - f / config.bin_hz
        lobe = np.where(np.abs(d) < 2, 0.5 + 0.5 * np.cos(np.pi * d / 2), 0.0)
        mags += 10 ** (-slope_db * np.log2(k) / 20) * lobe
    return mags


def make_dataset(
    n_sounds: int = 24, frames_per_sound: int = 8, seed: int = 0, f0_hz: float = 220.0
) -> Dataset:
    """n_sounds groups; each sound has one (slope_db, n_harmonics); its frames vary in level by a few dB."""
    rng = np.random.default_rng(seed)
    frames, factors, groups = [], [], []
    for g in range(n_sounds):
        slope = rng.uniform(0.0, 12.0)
        n_h = int(rng.integers(2, 15))
        for _ in range(frames_per_sound):
            gain = 10 ** (rng.uniform(-3, 0) / 20)
            frames.append(gain * harmonic_frame(f0_hz, slope, n_h))
            factors.append([slope, n_h])
            groups.append(g)
    n = len(frames)
    return Dataset(
        np.array(frames, dtype=np.float32),
        CONFIG,
        f0_hz=np.full(n, f0_hz, dtype=np.float32),
        factors=np.array(factors, dtype=np.float32),
        factor_names=list(FACTOR_NAMES),
        groups=np.array(groups),
        name="synthetic-harmonic",
    )


# Settings for a model that trains in a second or two on 2 contended cores.
TINY_TRAIN = dict(
    epochs=12, batch_size=32, latent_dim=4, arch="mlp", hidden=(64, 32), lr=2e-3, threads=1, quiet=True
)


def tiny_cli_args() -> list[str]:
    """TINY_TRAIN without the epochs, as `vaesynth train` options: a CLI run equals a `tiny_config` run."""
    args = []
    for key, value in TINY_TRAIN.items():
        flag = "--" + key.replace("_", "-")
        if key == "epochs":
            continue
        if value is True:
            args.append(flag)
        elif isinstance(value, tuple):
            args += [flag, ",".join(str(v) for v in value)]
        else:
            args += [flag, str(value)]
    return args


def tiny_config(data: str, out: str, **overrides):
    """TrainConfig of a tiny run on `data` (an .npz written by `write_npz`)."""
    from vaesynth.training.config import TrainConfig

    return TrainConfig(data=str(data), out=str(out), **{**TINY_TRAIN, **overrides})


def write_npz(folder, name: str = "synthetic.npz", **kwargs):
    """The synthetic set as a prepared .npz (a dataset spec every command accepts); returns its path."""
    path = folder / name
    make_dataset(**kwargs).save_npz(path)
    return path
