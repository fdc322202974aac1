"""Validation split by group: whole sounds (notes, files, toy samples) are held out, so no validation frame
has a near-identical neighbour frame in the training split."""

from __future__ import annotations

import numpy as np

from vaesynth.errors import UserError

# Fewer training frames than this many per latent dimension cannot pin the latent space down.
MIN_FRAMES_PER_LATENT_DIM = 10


def frame_groups(groups: np.ndarray | None, n_frames: int) -> np.ndarray:
    """The dataset's group ids [n_frames] (int64), or every frame its own group when unknown."""
    if groups is None:
        return np.arange(n_frames, dtype=np.int64)
    return np.asarray(groups, dtype=np.int64)


def split_by_group(groups: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Choose held-out groups.

    groups: int64 [n_frames] group id per frame. val_fraction: fraction of the GROUPS held out (at least one,
    and at least one left for training). seed: the choice is a permutation drawn from
    numpy.random.default_rng(seed), so the same seed gives the same split.
    Returns (train_index int64 [n_train], val_groups int64 [n_val_groups], sorted). UserError if there are
    fewer than two groups (nothing could be held out).
    """
    unique = np.unique(groups)
    if unique.size < 2:
        raise UserError(
            f"the dataset has {unique.size} sound(s): need at least 2 so that one can be held out "
            "for validation (more files, or a larger --size)"
        )
    n_val = int(round(val_fraction * unique.size))
    n_val = min(max(n_val, 1), unique.size - 1)
    rng = np.random.default_rng(seed)
    val_groups = np.sort(rng.permutation(unique)[:n_val])
    train_index = np.flatnonzero(~np.isin(groups, val_groups))
    return train_index, val_groups


def val_index_for(groups: np.ndarray, val_groups: np.ndarray) -> np.ndarray:
    """Indices [n_val] of the frames that belong to the held-out groups."""
    return np.flatnonzero(np.isin(groups, np.asarray(val_groups, dtype=np.int64)))


def check_sizes(n_frames: int, n_train: int, n_val: int, latent_dim: int, spec: str) -> None:
    """One-line UserError when the data is empty or too small for the latent size."""
    if n_frames == 0:
        raise UserError(f"dataset {spec!r} has no frames (silent or empty files?)")
    if n_val == 0:
        raise UserError(f"dataset {spec!r}: the validation split is empty")
    need = MIN_FRAMES_PER_LATENT_DIM * latent_dim
    if n_train < need:
        raise UserError(
            f"dataset {spec!r} has {n_train} training frames for --latent-dim {latent_dim}: need at "
            f"least {need} ({MIN_FRAMES_PER_LATENT_DIM}x latent_dim); use more data or a smaller "
            "--latent-dim"
        )
