"""LatentPCA against scikit-learn and numpy's SVD, its invertibility, and its checkpoint state."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from vaesynth.models.pca import LatentPCA


def _latents(rng, n_frames=600, latent_dim=8):
    """Correlated, offset, anisotropic latents: a realistic posterior-mean cloud."""
    return (
        rng.normal(size=(n_frames, latent_dim)) @ rng.normal(size=(latent_dim, latent_dim))
        + rng.normal(size=latent_dim) * 3
    )


@pytest.fixture()
def fitted():
    mu = _latents(np.random.default_rng(0))
    return mu, LatentPCA.fit(mu)


def test_latent_to_pcs_to_latent_round_trip_is_exact(fitted):
    mu, pca = fitted
    z = np.random.default_rng(1).normal(size=(50, 8)) * 5
    np.testing.assert_allclose(pca.pcs_to_latent(pca.latent_to_pcs(z)), z, rtol=0, atol=1e-10)
    pcs = np.random.default_rng(2).normal(size=(7, 8))
    np.testing.assert_allclose(pca.latent_to_pcs(pca.pcs_to_latent(pcs)), pcs, rtol=0, atol=1e-10)


def test_pcs_of_training_data_have_zero_mean_and_unit_std(fitted):
    mu, pca = fitted
    pcs = pca.latent_to_pcs(mu)
    np.testing.assert_allclose(pcs.mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(pcs.std(axis=0, ddof=1), 1.0, rtol=1e-10)
    # And they are uncorrelated.
    np.testing.assert_allclose(np.corrcoef(pcs, rowvar=False), np.eye(8), atol=1e-10)


def test_components_match_sklearn_and_numpy_svd(fitted):
    mu, pca = fitted
    ref = PCA().fit(mu)
    np.testing.assert_allclose(np.abs(np.sum(pca.components * ref.components_, axis=1)), 1.0, atol=1e-10)
    np.testing.assert_allclose(pca.explained_variance, ref.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(pca.explained_variance_ratio, ref.explained_variance_ratio_, rtol=1e-10)
    np.testing.assert_allclose(pca.mean, mu.mean(axis=0), atol=1e-12)
    # numpy SVD of the centred data: right singular vectors up to sign, variances s^2 / (n - 1).
    _, s, vt = np.linalg.svd(mu - mu.mean(axis=0), full_matrices=False)
    np.testing.assert_allclose(np.abs(np.sum(pca.components * vt, axis=1)), 1.0, atol=1e-10)
    np.testing.assert_allclose(pca.std, s / np.sqrt(len(mu) - 1), rtol=1e-10)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(8), atol=1e-12)


def test_n_components_for_matches_cumulative_ratio():
    rng = np.random.default_rng(3)
    # Centred orthonormal columns scaled so the explained-variance ratios are exactly these.
    ratios = np.array([0.5, 0.3, 0.15, 0.04, 0.01])
    basis = rng.normal(size=(200, 5))
    basis, _ = np.linalg.qr(basis - basis.mean(axis=0))  # the span of centred columns stays centred
    rotation, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    mu = (basis * np.sqrt(ratios * 199)) @ rotation
    pca = LatentPCA.fit(mu)
    np.testing.assert_allclose(pca.explained_variance_ratio, ratios, atol=1e-12)
    # 95 % is reached exactly by three components (0.5 + 0.3 + 0.15), despite float rounding.
    assert pca.n_components_for == {80: 2, 90: 3, 95: 3, 99: 4}
    # On generic data: the smallest k with cumulative ratio >= p.
    pca = LatentPCA.fit(_latents(rng, latent_dim=12))
    cumulative = np.cumsum(pca.explained_variance_ratio)
    for percent, k in pca.n_components_for.items():
        assert k == int(np.searchsorted(cumulative, percent / 100.0)) + 1


def test_to_state_survives_torch_save_and_weights_only_load(fitted):
    mu, pca = fitted
    buffer = io.BytesIO()
    torch.save({"pca": pca.to_state()}, buffer)
    buffer.seek(0)
    loaded = LatentPCA.from_state(torch.load(buffer, weights_only=True)["pca"])
    for name in ("mean", "components", "explained_variance", "explained_variance_ratio", "std"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(pca, name))
    assert loaded.n_components_for == pca.n_components_for
    np.testing.assert_array_equal(loaded.latent_to_pcs(mu[:5]), pca.latent_to_pcs(mu[:5]))


def test_pcs_to_latent_with_fewer_pcs_puts_the_rest_at_the_mean(fitted):
    _, pca = fitted
    z = pca.pcs_to_latent([1.5, -2.0])
    np.testing.assert_allclose(pca.latent_to_pcs(z), [1.5, -2.0, 0, 0, 0, 0, 0, 0], atol=1e-10)
    np.testing.assert_allclose(pca.pcs_to_latent(np.zeros(0)), pca.mean, atol=0)
    # One std along the first component moves the latent by that std along its direction.
    np.testing.assert_allclose(
        pca.pcs_to_latent([1.0]) - pca.mean, pca.std[0] * pca.components[0], atol=1e-12
    )
    with pytest.raises(ValueError, match="k <= 8"):
        pca.pcs_to_latent(np.zeros(9))


def test_latent_to_pcs_of_a_batch_matches_one_at_a_time_and_torch_input(fitted):
    mu, pca = fitted
    batch = pca.latent_to_pcs(mu[:6].reshape(2, 3, 8))
    singles = np.stack([pca.latent_to_pcs(z) for z in mu[:6]]).reshape(2, 3, 8)
    np.testing.assert_allclose(batch, singles, atol=1e-12)
    np.testing.assert_allclose(pca.latent_to_pcs(torch.from_numpy(mu[:6])), singles.reshape(6, 8), atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fit_on_rank_deficient_latents_is_finite_and_invertible(dtype):
    rng = np.random.default_rng(4)
    # Rank 3 in 8 dimensions, e.g. a VAE with five collapsed (constant) or duplicated units.
    mu = (rng.normal(size=(500, 3)) @ rng.normal(size=(3, 8)) + 1.0).astype(dtype)
    pca = LatentPCA.fit(mu)
    for name in ("components", "explained_variance", "explained_variance_ratio", "std", "scale"):
        assert np.all(np.isfinite(getattr(pca, name))), name
    assert np.all(pca.scale[3:] == 1.0)  # zero-variance components: unit scale, no division by ~0
    assert max(pca.n_components_for.values()) <= 3
    pcs = pca.latent_to_pcs(mu)
    assert np.all(np.isfinite(pcs))
    tol = 1e-10 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(pcs[:, :3].std(axis=0, ddof=1), 1.0, rtol=tol)
    np.testing.assert_allclose(pcs[:, 3:], 0.0, atol=tol)
    np.testing.assert_allclose(pca.pcs_to_latent(pcs), mu, atol=tol * 10)
    z = pca.pcs_to_latent([3.0, -3.0, 3.0, 1.0, 1.0])
    np.testing.assert_allclose(pca.latent_to_pcs(z), [3, -3, 3, 1, 1, 0, 0, 0], atol=1e-9)


def test_fit_on_constant_latents_is_finite():
    pca = LatentPCA.fit(np.full((20, 4), 0.25))
    np.testing.assert_array_equal(pca.explained_variance_ratio, 0.0)
    assert pca.n_components_for == {80: 0, 90: 0, 95: 0, 99: 0}
    np.testing.assert_allclose(pca.pcs_to_latent([0.0, 0.0]), 0.25, atol=0)
    np.testing.assert_allclose(
        pca.pcs_to_latent(pca.latent_to_pcs([1.0, 2.0, 3.0, 4.0])), [1, 2, 3, 4], atol=1e-12
    )


def test_fit_with_fewer_frames_than_latent_dims_keeps_n_frames_components():
    mu = np.random.default_rng(5).normal(size=(3, 6))
    pca = LatentPCA.fit(mu)
    assert pca.n_components == 3 and pca.latent_dim == 6
    np.testing.assert_allclose(pca.pcs_to_latent(pca.latent_to_pcs(mu)), mu, atol=1e-10)  # in the span


def _state(pca, **changes):
    state = pca.to_state()
    state.update(changes)
    return state


@pytest.mark.parametrize(
    "change, message",
    [
        ({"version": 99}, "version 99"),
        ({"mean": torch.zeros(5)}, "components must be"),
        ({"std": torch.ones(8)}, "sqrt"),
        ({"components": torch.ones(8, 8, dtype=torch.float64)}, "orthonormal"),
        ({"explained_variance": torch.full((8,), float("nan"))}, "NaN"),
        ({"n_components_for": {80: 1}}, "keys"),
        ({"n_components_for": [1, 2]}, "dict"),
    ],
)
def test_from_state_rejects_malformed_state_with_one_line(fitted, change, message):
    _, pca = fitted
    with pytest.raises(ValueError, match=message) as info:
        LatentPCA.from_state(_state(pca, **change))
    assert "\n" not in str(info.value)


def test_from_state_rejects_missing_keys(fitted):
    _, pca = fitted
    state = pca.to_state()
    del state["components"]
    with pytest.raises(ValueError, match="lacks components"):
        LatentPCA.from_state(state)


def test_latent_pca_is_immutable(fitted):
    _, pca = fitted
    with pytest.raises(ValueError):
        pca.mean[0] = 1.0
    with pytest.raises(AttributeError):
        pca.mean = np.zeros(8)


def test_from_state_accepts_numpy_arrays_and_string_percent_keys(fitted):
    # The checkpoint hands the section back as numpy arrays; a JSON detour would turn int keys into str.
    mu, pca = fitted
    state = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in pca.to_state().items()}
    state["n_components_for"] = {str(k): v for k, v in state["n_components_for"].items()}
    loaded = LatentPCA.from_state(state)
    assert loaded.n_components_for == pca.n_components_for
    for name in ("mean", "components", "explained_variance", "explained_variance_ratio", "std", "scale"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(pca, name))
    # Same arrays; the product may still differ in the last bit (BLAS picks its kernel by memory alignment).
    np.testing.assert_allclose(loaded.pcs_to_latent([1.0, 2.0]), pca.pcs_to_latent([1.0, 2.0]), rtol=1e-13)
