"""Metrics of a trained instrument on a dataset (`vaesynth eval`), and the data selection shared with
`vaesynth encode`: the same spec a model was trained on is regenerated with the training seed and size, and
eval then uses only its held-out groups; any other data is used whole."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaesynth.errors import UserError
from vaesynth.training import metrics
from vaesynth.training.split import frame_groups, val_index_for


def canonical_spec(spec: str) -> str:
    """A spec with its path made absolute, so `./data` and `/home/me/data` compare equal."""
    for prefix in ("toy:",):
        if spec.startswith(prefix):
            return spec
    prefix = "sf2:" if spec.startswith("sf2:") else ""
    path = spec[len(prefix) :]
    try:
        return prefix + str(Path(path).expanduser().resolve())
    except (OSError, RuntimeError):
        return spec


@dataclass
class Selection:
    """The frames to evaluate/encode and how they were chosen."""

    dataset: object  # vaesynth.datasets.Dataset (already subset for held-out evaluation)
    held_out: bool  # True: only the groups the training run held out
    description: str  # one line for humans and the JSON output


def load_for_model(instrument, spec: str, progress: bool = True):
    """Load `spec` analysed the way `instrument` was trained. Returns (dataset, is_training_data).

    The training spec is regenerated with the training run's seed and size; other specs get the model's
    SpectralConfig. UserError if the data's analysis (sample rate, n_fft, hop) differs from the model's.
    """
    from vaesynth.datasets import load_dataset

    record = instrument.dataset or {}
    trained_spec = record.get("spec_resolved") or record.get("spec")
    is_training = trained_spec is not None and canonical_spec(spec) == canonical_spec(str(trained_spec))
    if is_training:
        dataset = load_dataset(
            spec, seed=int(record.get("seed", 0)), size=record.get("size"), progress=progress
        )
    else:
        dataset = load_dataset(spec, config=instrument.config, progress=progress)
    c, m = dataset.config, instrument.config
    if (c.sample_rate, c.n_fft, c.hop_length) != (m.sample_rate, m.n_fft, m.hop_length):
        raise UserError(
            f"{spec} is analysed at {c.sample_rate} Hz, n_fft {c.n_fft}, hop {c.hop_length}; the "
            f"model needs {m.sample_rate} Hz, n_fft {m.n_fft}, hop {m.hop_length}"
        )
    if dataset.n_frames == 0:
        raise UserError(f"dataset {spec!r} has no frames")
    return dataset, is_training


def select_for_eval(instrument, spec: str, progress: bool = True) -> Selection:
    """The held-out split when `spec` is the training data (same frame count as recorded), else all."""
    dataset, is_training = load_for_model(instrument, spec, progress)
    record = instrument.dataset or {}
    if is_training and int(record.get("n_frames", -1)) == dataset.n_frames and "val_groups" in record:
        groups = frame_groups(dataset.groups, dataset.n_frames)
        val_groups = np.asarray(record["val_groups"], dtype=np.int64)
        index = val_index_for(groups, val_groups)
        if index.size:
            return Selection(
                dataset.subset(index),
                True,
                f"held-out split of the training data: {val_groups.size} sounds, {index.size} "
                f"frames (seed {record.get('seed')})",
            )
    if is_training:
        return Selection(
            dataset,
            False,
            f"all {dataset.n_frames} frames (the training data changed since "
            "training, so its held-out split cannot be recovered)",
        )
    return Selection(dataset, False, f"all {dataset.n_frames} frames of {spec} (not the training data)")


def _json_float(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def evaluate(instrument, dataset) -> dict:
    """Reconstruction and latent metrics (DESIGN.md definitions) of `instrument` on all frames of `dataset`.

    Returns a JSON-ready dict: lsd_db, spectral_convergence, active_units, kl_per_dim (list, nats),
    pca_explained_variance (list of ratios of the model's PCA), n_components_for ({"90": k, ...}), and where
    the data has factors: mig, mig_per_factor ({name: value}; null for a constant factor).
    """
    recon = instrument.reconstruct(dataset.magnitudes, dataset.f0_hz)
    mu, logvar = instrument.encode_frames(dataset.magnitudes, dataset.f0_hz)
    result = {
        "n_frames": int(dataset.n_frames),
        "lsd_db": metrics.lsd_db(dataset.magnitudes, recon),
        "spectral_convergence": metrics.spectral_convergence(dataset.magnitudes, recon),
        "active_units": metrics.active_units(mu),
        "latent_dim": int(instrument.latent_dim),
        "kl_per_dim": [float(v) for v in metrics.kl_per_dim(mu, logvar)],
        "pca_explained_variance": [float(v) for v in instrument.pca.explained_variance_ratio],
        "n_components_for": {str(k): int(v) for k, v in instrument.pca.n_components_for.items()},
    }
    if dataset.factors is not None and dataset.factors.shape[1] and dataset.n_frames >= 2:
        mean, per_factor = metrics.mig(mu, dataset.factors)
        result["mig"] = _json_float(mean)
        result["mig_per_factor"] = {
            name: _json_float(v) for name, v in zip(dataset.factor_names, per_factor, strict=True)
        }
    return result
