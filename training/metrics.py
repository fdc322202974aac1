"""Reconstruction and latent-space quality measures, as DESIGN.md "Quality measures" defines them.

Every number the project reports (`vaesynth eval`, training logs, benchmarks) comes from these functions, so
that numbers stay comparable: same bins, same floor, same normalisation. Pure numpy functions of arrays;
torch tensors are accepted and converted (detached, on CPU). None of them is real-time safe (they allocate).

Large inputs (20,000 frames x 1025 bins) are processed in blocks of frames so memory stays bounded.
"""

from __future__ import annotations

import numpy as np

# Magnitudes below this are clipped before log10 (a zero estimate gives 20*log10(1e-10) = -200 dB, a large
# finite error instead of inf). Clipping rather than adding keeps log(c*X) - log(X) exact for X > 1e-10.
MAGNITUDE_EPSILON = 1e-10
LSD_FLOOR_DB = 60.0
_BLOCK_FRAMES = 2048


def _as_array(x, name: str) -> np.ndarray:
    """numpy view of an array-like or a torch tensor (detached, moved to CPU)."""
    if hasattr(x, "detach"):  # torch.Tensor, without importing torch here
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.dtype.kind not in "fciub":
        raise ValueError(f"{name} must be numeric, got dtype {x.dtype}")
    return x


def _check_pair(target, estimate) -> tuple[np.ndarray, np.ndarray]:
    target = _as_array(target, "target")
    estimate = _as_array(estimate, "estimate")
    if target.ndim == 1:
        target = target[None, :]
    if estimate.ndim == 1:
        estimate = estimate[None, :]
    if target.ndim != 2:
        raise ValueError(f"target must be [n_frames, n_bins], got shape {target.shape}")
    if target.shape != estimate.shape:
        raise ValueError(f"target {target.shape} and estimate {estimate.shape} must have the same shape")
    if target.shape[0] == 0 or target.shape[1] == 0:
        raise ValueError(f"need at least one frame and one bin, got shape {target.shape}")
    return target, estimate


def _db(magnitude: np.ndarray) -> np.ndarray:
    return 20.0 * np.log10(np.maximum(np.abs(magnitude).astype(np.float64), MAGNITUDE_EPSILON))


def lsd_db_per_frame(target, estimate, floor_db: float = LSD_FLOOR_DB) -> np.ndarray:
    """Log-spectral distance of each frame, in dB.

    target, estimate: linear magnitudes [n_frames, n_bins] (complex values: their modulus is used; a single
    frame [n_bins] is taken as [1, n_bins]). floor_db: only bins whose TARGET level is within floor_db of the
    target frame's peak count (>= peak_db - floor_db), so near-silent bins neither flatter nor dominate.
    Magnitudes are clipped at MAGNITUDE_EPSILON (1e-10, i.e. -200 dB) before the log: a zero estimate gives a
    large finite distance; an all-zero target frame counts all its bins.
    Returns float64 [n_frames]: sqrt(mean over counted bins of (20 log10|X| - 20 log10|X^|)^2).
    Real-time safe: no (allocates).
    """
    target, estimate = _check_pair(target, estimate)
    floor_db = float(floor_db)
    if not floor_db > 0:
        raise ValueError(f"floor_db must be > 0, got {floor_db}")
    n_frames = target.shape[0]
    out = np.empty(n_frames, dtype=np.float64)
    for start in range(0, n_frames, _BLOCK_FRAMES):
        stop = min(start + _BLOCK_FRAMES, n_frames)
        target_db = _db(target[start:stop])
        diff_sq = np.square(target_db - _db(estimate[start:stop]))
        counted = target_db >= target_db.max(axis=1, keepdims=True) - floor_db
        # The peak bin always counts, so the denominator is >= 1.
        out[start:stop] = np.sqrt((diff_sq * counted).sum(axis=1) / counted.sum(axis=1))
    if not np.all(np.isfinite(out)):
        raise ValueError("LSD is not finite: the magnitudes contain NaN or inf")
    return out


def lsd_db(target, estimate, floor_db: float = LSD_FLOOR_DB) -> float:
    """Log-spectral distance in dB: the mean over frames of `lsd_db_per_frame` (same arguments)."""
    return float(np.mean(lsd_db_per_frame(target, estimate, floor_db)))


def spectral_convergence(target, estimate) -> float:
    """Spectral convergence ||X| - |X^||_F / ||X||_F over the whole set (Frobenius norm over all frames).

    target, estimate: linear magnitudes [n_frames, n_bins] (complex: modulus). Lower is better; 0 = identical.
    Raises ValueError for an all-zero target (the ratio is undefined).
    Real-time safe: no (allocates).
    """
    target, estimate = _check_pair(target, estimate)
    err_sq = 0.0
    ref_sq = 0.0
    for start in range(0, target.shape[0], _BLOCK_FRAMES):
        t = np.abs(target[start : start + _BLOCK_FRAMES]).astype(np.float64)
        e = np.abs(estimate[start : start + _BLOCK_FRAMES]).astype(np.float64)
        err_sq += float(np.sum(np.square(t - e)))
        ref_sq += float(np.sum(np.square(t)))
    if not (np.isfinite(err_sq) and np.isfinite(ref_sq)):
        raise ValueError("spectral convergence is not finite: the magnitudes contain NaN or inf")
    if ref_sq == 0.0:
        raise ValueError("spectral convergence is undefined for an all-zero target")
    return float(np.sqrt(err_sq / ref_sq))


def evaluate_reconstruction(target, estimate, floor_db: float = LSD_FLOOR_DB) -> dict:
    """Both reconstruction measures of linear magnitudes [n_frames, n_bins].

    Returns {"lsd_db": float, "spectral_convergence": float}.
    """
    return {
        "lsd_db": lsd_db(target, estimate, floor_db),
        "spectral_convergence": spectral_convergence(target, estimate),
    }


def _check_latents(mu, name: str = "mu") -> np.ndarray:
    mu = _as_array(mu, name).astype(np.float64, copy=False)
    if mu.ndim != 2 or mu.shape[0] == 0:
        raise ValueError(f"{name} must be [n_frames, latent_dim] with n_frames >= 1, got shape {mu.shape}")
    if not np.all(np.isfinite(mu)):
        raise ValueError(f"{name} contains NaN or inf")
    return mu


def kl_per_dim(mu, logvar) -> np.ndarray:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per latent dimension, mean over frames, in nats.

    mu, logvar: [n_frames, latent_dim] posterior means and log-variances (natural log).
    Closed form per element: 0.5 * (mu^2 + exp(logvar) - 1 - logvar). Returns float64 [latent_dim].
    """
    mu = _check_latents(mu, "mu")
    logvar = _check_latents(logvar, "logvar")
    if mu.shape != logvar.shape:
        raise ValueError(f"mu {mu.shape} and logvar {logvar.shape} must have the same shape")
    return np.mean(0.5 * (np.square(mu) + np.exp(logvar) - 1.0 - logvar), axis=0)


def active_mask(mu, threshold: float = 0.01) -> np.ndarray:
    """Which latent units are active (Burda et al. 2016, "Importance Weighted Autoencoders"): bool
    [latent_dim], True where the variance over the data of the posterior mean, Var_x(E_q[z_d | x]), exceeds
    threshold. mu: [n_frames, latent_dim]. Population variance (ddof=0)."""
    mu = _check_latents(mu)
    return np.var(mu, axis=0) > threshold


def active_units(mu, threshold: float = 0.01) -> int:
    """Number of active latent units: the True entries of `active_mask`."""
    return int(np.count_nonzero(active_mask(mu, threshold)))


def discretize_latents(mu: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width histogram codes of each column of [n_frames, n_columns] over its own [min, max].

    Returns int64 [n_frames, n_columns] in 0..n_bins-1 (the histogram_discretize of disentanglement_lib,
    whose MIG follows Chen et al. 2018). A constant column gets a single code.
    """
    codes = np.zeros(mu.shape, dtype=np.int64)
    for j in range(mu.shape[1]):
        col = mu[:, j]
        edges = np.histogram_bin_edges(col, bins=n_bins)
        # Interior edges only: values equal to the max fall in the last bin, as np.histogram counts them.
        codes[:, j] = np.digitize(col, edges[1:-1], right=False)
    return codes


def discretize_factor(factor: np.ndarray, n_bins: int) -> np.ndarray:
    """Codes of one factor [n_frames]: its own categories when it has <= n_bins distinct values, otherwise
    n_bins equal-width bins. Returns int64 [n_frames]."""
    values, inverse = np.unique(factor, return_inverse=True)
    if len(values) <= n_bins:
        return inverse.astype(np.int64).reshape(-1)
    return discretize_latents(factor[:, None], n_bins)[:, 0]


def _entropy(codes: np.ndarray) -> float:
    p = np.bincount(codes) / codes.size
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


def _mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """MI in nats of two non-negative int code vectors of equal length, from their joint histogram."""
    n_a, n_b = int(a.max()) + 1, int(b.max()) + 1
    joint = np.bincount(a * n_b + b, minlength=n_a * n_b).reshape(n_a, n_b) / a.size
    expected = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    return float(np.sum(joint[nz] * np.log(joint[nz] / expected[nz])))


def mutual_information_matrix(mu, factors, n_bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Discretised mutual information between every latent and every factor, and each factor's entropy.

    mu: [n_frames, latent_dim] posterior means; factors: [n_frames, n_factors] (NaN = unknown: that factor's
    MI uses only the frames where it is known). Discretisation as in `mig`. Natural log (nats).
    Returns (mi [latent_dim, n_factors], entropy [n_factors]).
    """
    mu = _check_latents(mu)
    factors = _as_array(factors, "factors").astype(np.float64, copy=False)
    if factors.ndim == 1:
        factors = factors[:, None]
    if factors.ndim != 2 or factors.shape[0] != mu.shape[0]:
        raise ValueError(f"factors must be [{mu.shape[0]}, n_factors], got shape {factors.shape}")
    n_bins = int(n_bins)
    if n_bins < 2:
        raise ValueError(f"n_bins must be >= 2, got {n_bins}")
    latent_codes = discretize_latents(mu, n_bins)
    latent_dim, n_factors = mu.shape[1], factors.shape[1]
    mi = np.zeros((latent_dim, n_factors))
    entropy = np.zeros(n_factors)
    for k in range(n_factors):
        known = np.isfinite(factors[:, k])
        if not np.any(known):
            continue
        factor_codes = discretize_factor(factors[known, k], n_bins)
        entropy[k] = _entropy(factor_codes)
        for j in range(latent_dim):
            mi[j, k] = _mutual_information(latent_codes[known, j], factor_codes)
    return mi, entropy


def mig(mu, factors, n_bins: int = 20) -> tuple[float, np.ndarray]:
    """Mutual information gap (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs").

    mu: [n_frames, latent_dim] posterior means; factors: [n_frames, n_factors] ground-truth factors.
    Each latent is discretised in n_bins equal-width bins over its range; a factor with <= n_bins distinct
    values keeps its own categories, otherwise it is binned the same way. For each factor k:
    (I(z_a; v_k) - I(z_b; v_k)) / H(v_k), with z_a, z_b the two latents sharing most information with v_k
    (with a single latent, the second is taken as 0). Factors with zero entropy get NaN and are left out of
    the mean. Returns (mean_mig: float, NaN if no factor counts; per_factor: float64 [n_factors]).
    """
    mi, entropy = mutual_information_matrix(mu, factors, n_bins)
    per_factor = np.full(entropy.shape, np.nan)
    top = -np.sort(-mi, axis=0)
    second = top[1] if top.shape[0] > 1 else np.zeros(top.shape[1])
    valid = entropy > 0
    per_factor[valid] = (top[0, valid] - second[valid]) / entropy[valid]
    mean = float(np.mean(per_factor[valid])) if np.any(valid) else float("nan")
    return mean, per_factor
