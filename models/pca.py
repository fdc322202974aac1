"""The PCA of the latent space that the live synth plays: knobs set PCA coordinates in standard deviations.

Fitted once on the training posterior means, stored in the checkpoint as plain tensors (loads with
`torch.load(weights_only=True)`), and used by the control thread to map knob values to latent vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STATE_VERSION = 1
VARIANCE_TARGETS_PERCENT = (80, 90, 95, 99)
# A component whose std is below this fraction of the largest std carries no variance of the data (rank-
# deficient latents, float32 rounding ~1e-7); it is scaled in latent units (1.0) instead of by its std, so
# the map stays invertible and free of division by zero.
DEGENERATE_STD_RATIO = 1e-5
_ORTHONORMAL_TOLERANCE = 1e-5


def _n_components_for(ratio: np.ndarray) -> dict[int, int]:
    """Smallest k whose first-k cumulative explained-variance ratio reaches each target percentage."""
    cumulative = np.cumsum(ratio)
    out = {}
    for percent in VARIANCE_TARGETS_PERCENT:
        if cumulative.size == 0 or cumulative[-1] <= 0:
            out[percent] = 0  # no variance at all: nothing to explain
            continue
        # The tolerance absorbs float rounding when a target is reached exactly (e.g. 4 equal components).
        reached = np.nonzero(cumulative >= percent / 100.0 - 1e-12)[0]
        out[percent] = int(reached[0]) + 1 if reached.size else int(cumulative.size)
    return out


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):  # torch.Tensor, without importing torch at module level
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _frozen(x: np.ndarray) -> np.ndarray:
    x = np.array(x, dtype=np.float64, copy=True)
    x.setflags(write=False)
    return x


@dataclass(frozen=True, eq=False)
class LatentPCA:
    """PCA of posterior means.

    mean: [latent_dim] data mean. components: [n_components, latent_dim] orthonormal rows, largest variance
    first. explained_variance: [n_components] variance of the data along each component (ddof=1, as
    scikit-learn). explained_variance_ratio: [n_components] its fraction of the total variance.
    std: [n_components] sqrt(explained_variance). n_components_for: {80: k, 90: k, 95: k, 99: k}, the
    number of leading components that explain at least that percentage of the variance.
    PCA coordinates ("pcs") are in standard deviations of each component; components with (near-)zero
    variance (std < DEGENERATE_STD_RATIO x the largest std) are in latent units instead (see `scale`).
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    std: np.ndarray
    n_components_for: dict[int, int]

    def __post_init__(self):
        for name in ("mean", "components", "explained_variance", "explained_variance_ratio", "std"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        object.__setattr__(
            self, "n_components_for", {int(k): int(v) for k, v in self.n_components_for.items()}
        )
        _validate(self)
        largest = float(self.std.max()) if self.std.size else 0.0
        scale = (
            np.where(self.std > DEGENERATE_STD_RATIO * largest, self.std, 1.0)
            if largest > 0
            else np.ones_like(self.std)
        )
        object.__setattr__(self, "_scale", _frozen(scale))

    @property
    def latent_dim(self) -> int:
        return int(self.mean.shape[0])

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    @property
    def scale(self) -> np.ndarray:
        """[n_components] latent distance of one pcs unit: std, or 1.0 for a zero-variance component."""
        return self._scale

    @classmethod
    def fit(cls, mu) -> "LatentPCA":
        """Fit on posterior means mu [n_frames, latent_dim] (numpy or torch), n_frames >= 2.

        All min(n_frames, latent_dim) components are kept (scikit-learn PCA, full SVD, its sign convention).
        """
        from sklearn.decomposition import PCA

        mu = _to_numpy(mu)
        if mu.ndim != 2 or mu.shape[0] < 2 or mu.shape[1] < 1:
            raise ValueError(f"PCA needs mu [n_frames >= 2, latent_dim >= 1], got shape {mu.shape}")
        if not np.all(np.isfinite(mu)):
            raise ValueError("PCA input contains NaN or inf")
        with np.errstate(divide="ignore", invalid="ignore"):  # sklearn's own ratio is 0/0 for constant data
            pca = PCA(n_components=None, svd_solver="full").fit(mu)
        explained_variance = np.maximum(pca.explained_variance_, 0.0)
        # Ratio computed here, not taken from sklearn, so zero total variance gives 0 instead of NaN.
        total_variance = float(np.var(mu, axis=0, ddof=1).sum())
        if total_variance > 0:
            ratio = explained_variance / total_variance
        else:
            ratio = np.zeros_like(explained_variance)
        return cls(
            mean=pca.mean_,
            components=pca.components_,
            explained_variance=explained_variance,
            explained_variance_ratio=ratio,
            std=np.sqrt(explained_variance),
            n_components_for=_n_components_for(ratio),
        )

    def latent_to_pcs(self, z) -> np.ndarray:
        """Latent vectors [..., latent_dim] -> PCA coordinates [..., n_components] in std units (float64).

        Real-time safe: no (allocates); meant for the control thread.
        """
        z = _to_numpy(z)
        if z.ndim < 1 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"z must be [..., {self.latent_dim}], got shape {z.shape}")
        return ((z - self.mean) @ self.components.T) / self.scale

    def pcs_to_latent(self, pcs) -> np.ndarray:
        """PCA coordinates [..., k] in std units, k <= n_components -> latent vectors [..., latent_dim].

        The first k components are set; the others stay at 0 (the data mean). Returns float64.
        Real-time safe: no (allocates); meant for the control thread.
        """
        pcs = _to_numpy(pcs)
        if pcs.ndim < 1 or pcs.shape[-1] > self.n_components:
            raise ValueError(f"pcs must be [..., k] with k <= {self.n_components}, got shape {pcs.shape}")
        k = pcs.shape[-1]
        return self.mean + (pcs * self.scale[:k]) @ self.components[:k]

    def to_state(self) -> dict:
        """Plain tensors, ints and dicts, safe for `torch.load(weights_only=True)`."""
        import torch

        return {
            "version": STATE_VERSION,
            "mean": torch.from_numpy(self.mean.copy()),
            "components": torch.from_numpy(self.components.copy()),
            "explained_variance": torch.from_numpy(self.explained_variance.copy()),
            "explained_variance_ratio": torch.from_numpy(self.explained_variance_ratio.copy()),
            "std": torch.from_numpy(self.std.copy()),
            "n_components_for": dict(self.n_components_for),
        }

    @classmethod
    def from_state(cls, d) -> "LatentPCA":
        """Rebuild from `to_state`'s dict; ValueError with a one-line message if it is malformed."""
        if not isinstance(d, dict):
            raise ValueError(f"PCA state must be a dict, got {type(d).__name__}")
        keys = (
            "mean",
            "components",
            "explained_variance",
            "explained_variance_ratio",
            "std",
            "n_components_for",
        )
        missing = [k for k in ("version", *keys) if k not in d]
        if missing:
            raise ValueError(f"PCA state lacks {', '.join(missing)}")
        if d["version"] != STATE_VERSION:
            raise ValueError(f"PCA state version {d['version']} is not supported (expected {STATE_VERSION})")
        if not isinstance(d["n_components_for"], dict):
            raise ValueError("PCA state n_components_for must be a dict {percent: k}")
        try:
            arrays = {k: _to_numpy(d[k]) for k in keys[:-1]}
            n_for = {int(k): int(v) for k, v in d["n_components_for"].items()}
        except (TypeError, ValueError) as exc:
            raise ValueError(f"PCA state is malformed: {exc}".splitlines()[0]) from None
        return cls(**arrays, n_components_for=n_for)


def _validate(pca: LatentPCA) -> None:
    """Shape and value checks shared by construction and `from_state`; one-line ValueError."""
    if pca.mean.ndim != 1 or pca.mean.shape[0] < 1:
        raise ValueError(f"PCA mean must be [latent_dim], got shape {pca.mean.shape}")
    latent_dim = pca.mean.shape[0]
    if pca.components.ndim != 2 or pca.components.shape[1] != latent_dim or pca.components.shape[0] < 1:
        raise ValueError(
            f"PCA components must be [n_components, {latent_dim}], got shape {pca.components.shape}"
        )
    n = pca.components.shape[0]
    if n > latent_dim:
        raise ValueError(f"PCA has {n} components for latent_dim {latent_dim}")
    for name in ("explained_variance", "explained_variance_ratio", "std"):
        shape = getattr(pca, name).shape
        if shape != (n,):
            raise ValueError(f"PCA {name} must be [{n}], got shape {shape}")
    for name in ("mean", "components", "explained_variance", "explained_variance_ratio", "std"):
        if not np.all(np.isfinite(getattr(pca, name))):
            raise ValueError(f"PCA {name} contains NaN or inf")
    if np.any(pca.explained_variance < 0) or np.any(pca.std < 0) or np.any(pca.explained_variance_ratio < 0):
        raise ValueError("PCA variances and std must be >= 0")
    if not np.allclose(pca.std, np.sqrt(pca.explained_variance), rtol=1e-5, atol=1e-12):
        raise ValueError("PCA std must equal sqrt(explained_variance)")
    gram = pca.components @ pca.components.T
    if not np.allclose(gram, np.eye(n), atol=_ORTHONORMAL_TOLERANCE):
        raise ValueError("PCA components must have orthonormal rows")
    if set(pca.n_components_for) != set(VARIANCE_TARGETS_PERCENT):
        raise ValueError(f"PCA n_components_for must have keys {list(VARIANCE_TARGETS_PERCENT)}")
    if any(not 0 <= k <= n for k in pca.n_components_for.values()):
        raise ValueError(f"PCA n_components_for values must be in 0..{n}")
