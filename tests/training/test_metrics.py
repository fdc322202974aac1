"""Quality measures against closed forms, direct formulas and independent references (sklearn, torch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import mutual_info_score

from vaesynth.training import metrics
from vaesynth.training.metrics import (
    active_mask,
    active_units,
    evaluate_reconstruction,
    kl_per_dim,
    lsd_db,
    lsd_db_per_frame,
    mig,
    mutual_information_matrix,
    spectral_convergence,
)


def _spectra(rng, n_frames=40, n_bins=257, dynamic_range_db=100.0):
    """Positive magnitudes spread over dynamic_range_db, so a real share of bins falls below a 60 dB floor."""
    level_db = -dynamic_range_db * rng.random((n_frames, n_bins))
    return 10.0 ** (level_db / 20.0)


def _lsd_reference(target, estimate, floor_db=60.0):
    """Frame-by-frame loop, written independently of the vectorised implementation."""
    out = []
    for t, e in zip(target, estimate, strict=True):
        t_db = np.array([20 * np.log10(max(abs(v), 1e-10)) for v in t])
        e_db = np.array([20 * np.log10(max(abs(v), 1e-10)) for v in e])
        keep = [i for i in range(len(t)) if t_db[i] >= t_db.max() - floor_db]
        out.append(np.sqrt(np.mean([(t_db[i] - e_db[i]) ** 2 for i in keep])))
    return np.array(out)


# --- LSD -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gain_db", [-20.0, -0.5, 0.0, 3.0, 12.0])
def test_lsd_db_of_scaled_estimate_matches_gain_db(gain_db):
    target = _spectra(np.random.default_rng(1))
    estimate = target * 10.0 ** (gain_db / 20.0)
    np.testing.assert_allclose(lsd_db_per_frame(target, estimate), abs(gain_db), atol=1e-9)
    assert lsd_db(target, estimate) == pytest.approx(abs(gain_db), abs=1e-9)


def test_lsd_db_ignores_bins_below_the_floor():
    rng = np.random.default_rng(2)
    target = _spectra(rng)
    below = 20 * np.log10(target) < 20 * np.log10(target.max(axis=1, keepdims=True)) - 60.0
    assert 0.2 < below.mean() < 0.6  # the test data really exercises the floor
    estimate = target * 10.0 ** (rng.normal(0, 3, target.shape) / 20.0)
    base = lsd_db_per_frame(target, estimate)
    # Changing the estimate below the floor changes nothing ...
    wild = estimate.copy()
    wild[below] = rng.random(below.sum()) * 10.0
    np.testing.assert_allclose(lsd_db_per_frame(target, wild), base, rtol=0, atol=1e-12)
    # ... nor does changing the target there, as long as it stays below the floor.
    quieter = target.copy()
    quieter[below] *= 1e-3
    np.testing.assert_allclose(lsd_db_per_frame(quieter, estimate), base, rtol=0, atol=1e-12)
    # A wider floor does count them.
    assert lsd_db(target, wild, floor_db=120.0) > lsd_db(target, wild) + 1.0


def test_lsd_db_matches_loop_reference():
    rng = np.random.default_rng(3)
    # More frames than one processing block, so block boundaries are covered.
    n_frames = metrics._BLOCK_FRAMES + 37
    target = _spectra(rng, n_frames=n_frames, n_bins=9)
    estimate = _spectra(rng, n_frames=n_frames, n_bins=9)
    estimate[0] = 0.0
    target[1] = 0.0
    np.testing.assert_allclose(
        lsd_db_per_frame(target, estimate), _lsd_reference(target, estimate), rtol=1e-12
    )
    assert lsd_db(target, estimate, floor_db=20.0) == pytest.approx(
        _lsd_reference(target, estimate, floor_db=20.0).mean(), rel=1e-12
    )


def test_lsd_db_of_zero_estimate_is_large_and_finite_matching_the_epsilon():
    target = np.array([[1.0, 0.1, 0.01]])
    # Every bin is within 60 dB of the peak; the estimate is clipped at 1e-10 = -200 dB.
    expected = np.sqrt(np.mean((np.array([0.0, -20.0, -40.0]) + 200.0) ** 2))
    assert lsd_db(target, np.zeros_like(target)) == pytest.approx(expected, rel=1e-12)


def test_lsd_db_of_complex_input_matches_its_modulus():
    rng = np.random.default_rng(4)
    target = _spectra(rng) * np.exp(2j * np.pi * rng.random((40, 257)))
    estimate = _spectra(rng)
    assert lsd_db(target, estimate) == pytest.approx(lsd_db(np.abs(target), estimate), rel=1e-12)


def test_lsd_db_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        lsd_db(np.ones((3, 5)), np.ones((3, 4)))


# --- spectral convergence --------------------------------------------------------------------------------


def test_spectral_convergence_matches_numpy_formula():
    rng = np.random.default_rng(5)
    n_frames = metrics._BLOCK_FRAMES + 11
    target = rng.random((n_frames, 33))
    estimate = rng.random((n_frames, 33))
    expected = np.linalg.norm(target - estimate) / np.linalg.norm(target)
    assert spectral_convergence(target, estimate) == pytest.approx(expected, rel=1e-12)
    assert spectral_convergence(target, target) == 0.0
    # Magnitudes: the modulus of complex frames.
    phase = np.exp(2j * np.pi * rng.random(target.shape))
    assert spectral_convergence(target * phase, estimate) == pytest.approx(expected, rel=1e-12)
    # Normalised by the target, not the estimate.
    assert spectral_convergence(target, 2 * target) == pytest.approx(1.0, rel=1e-12)


def test_spectral_convergence_of_all_zero_target_raises():
    with pytest.raises(ValueError, match="all-zero target"):
        spectral_convergence(np.zeros((2, 3)), np.ones((2, 3)))


def test_evaluate_reconstruction_matches_the_individual_measures():
    rng = np.random.default_rng(6)
    target, estimate = _spectra(rng), _spectra(rng)
    out = evaluate_reconstruction(torch.from_numpy(target), estimate)
    assert out == {
        "lsd_db": lsd_db(target, estimate),
        "spectral_convergence": spectral_convergence(target, estimate),
    }


# --- KL and active units ---------------------------------------------------------------------------------


def test_kl_per_dim_matches_closed_form_and_torch_kl_divergence():
    rng = np.random.default_rng(7)
    mu = rng.normal(0, 2, (500, 6))
    logvar = rng.normal(0, 1.5, (500, 6))
    got = kl_per_dim(mu, logvar)
    sigma2 = np.exp(logvar)
    closed = np.mean(np.log(1.0 / np.sqrt(sigma2)) + (sigma2 + mu**2) / 2.0 - 0.5, axis=0)
    np.testing.assert_allclose(got, closed, rtol=1e-12)
    q = torch.distributions.Normal(torch.from_numpy(mu), torch.from_numpy(np.exp(0.5 * logvar)))
    p = torch.distributions.Normal(torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64))
    np.testing.assert_allclose(got, torch.distributions.kl_divergence(q, p).mean(0).numpy(), rtol=1e-10)
    # The prior itself costs nothing.
    np.testing.assert_allclose(kl_per_dim(np.zeros((4, 3)), np.zeros((4, 3))), 0.0, atol=0)


def test_active_units_counts_dims_whose_mean_varies_more_than_threshold():
    rng = np.random.default_rng(8)
    unit = rng.normal(size=(1000, 5))
    unit = (unit - unit.mean(0)) / unit.std(0)  # population variance exactly 1
    variances = np.array([1.0, 0.02, 0.011, 0.009, 0.0])
    mu = unit * np.sqrt(variances) + 3.0  # an offset must not matter
    assert active_units(mu) == 3
    assert active_units(mu, threshold=0.015) == 2
    assert active_units(torch.from_numpy(mu), threshold=0.5) == 1
    np.testing.assert_array_equal(active_mask(mu), [True, True, True, False, False])  # which ones


# --- MIG -------------------------------------------------------------------------------------------------


def _histogram_codes(x, n_bins=20):
    """disentanglement_lib's histogram_discretize, written independently of the implementation."""
    return np.digitize(x, np.histogram(x, n_bins)[1][:-1])


def _factor_codes(v, n_bins=20):
    """Category labels of a factor with <= n_bins distinct values, else its histogram codes."""
    values = np.unique(v)
    return np.searchsorted(values, v) if len(values) <= n_bins else _histogram_codes(v, n_bins)


def _mig_reference(mu, factors, n_bins=20):
    codes = [_histogram_codes(mu[:, j], n_bins) for j in range(mu.shape[1])]
    per_factor = []
    for k in range(factors.shape[1]):
        v = _factor_codes(factors[:, k], n_bins)
        h = mutual_info_score(v, v)
        if h == 0:
            per_factor.append(np.nan)
            continue
        m = sorted((mutual_info_score(c, v) for c in codes), reverse=True)
        per_factor.append((m[0] - m[1]) / h)
    per_factor = np.array(per_factor)
    return np.nanmean(per_factor), per_factor


def test_mig_is_one_for_perfectly_disentangled_discrete_factors():
    rng = np.random.default_rng(9)
    factors = rng.integers(0, 8, size=(20000, 3)).astype(np.float64)
    # Each latent a monotone function of one factor (values stay in distinct bins), in shuffled order.
    mu = np.stack([np.exp(factors[:, 2] / 8), -3 * factors[:, 0] + 1, np.sqrt(factors[:, 1] + 4)], axis=1)
    mean, per_factor = mig(mu, factors)
    # Below 1 only by the finite-sample MI bias with the independent latents (~(8-1)^2 / (2 N) nats).
    np.testing.assert_allclose(per_factor, 1.0, atol=5e-3)
    assert mean == pytest.approx(1.0, abs=5e-3)


def test_mig_is_one_for_affine_latents_of_continuous_uniform_factors():
    rng = np.random.default_rng(10)
    factors = rng.random((20000, 2))
    mu = np.stack([2.0 * factors[:, 1] - 1.0, 0.5 * factors[:, 0], rng.normal(size=20000)], axis=1)
    mean, per_factor = mig(mu, factors)
    np.testing.assert_allclose(per_factor, 1.0, atol=0.02)


def test_mig_is_zero_for_mixed_or_noise_latents():
    rng = np.random.default_rng(11)
    factors = rng.integers(0, 8, size=(20000, 3)).astype(np.float64)
    # Every latent the same equal mix of all factors: no latent is better than another.
    mixed = np.repeat(factors.sum(axis=1, keepdims=True), 4, axis=1) * np.array([1.0, -2.0, 0.5, 3.0])
    mean, per_factor = mig(mixed, factors)
    np.testing.assert_allclose(per_factor, 0.0, atol=1e-12)
    noise = rng.normal(size=(20000, 4))
    mean, per_factor = mig(noise, factors)
    assert np.all(np.abs(per_factor) < 0.01) and abs(mean) < 0.01


def test_mig_matches_sklearn_mutual_info_score_reference():
    rng = np.random.default_rng(12)
    n = 3000
    factors = np.stack(
        [
            rng.integers(0, 5, n).astype(float),  # few categories: kept as they are
            rng.normal(size=n),  # continuous: 20 bins
            rng.integers(0, 20, n) * 0.37,  # exactly 20 categories: kept
            np.full(n, 2.0),  # zero entropy: NaN, excluded
        ],
        axis=1,
    )
    mix = rng.normal(size=(3, 6))
    mu = factors[:, :3] @ mix + rng.normal(scale=0.5, size=(n, 6))
    mean, per_factor = mig(mu, factors)
    ref_mean, ref_per_factor = _mig_reference(mu, factors)
    np.testing.assert_allclose(per_factor[:3], ref_per_factor[:3], rtol=0, atol=1e-6)
    assert np.isnan(per_factor[3]) and np.isnan(ref_per_factor[3])
    assert mean == pytest.approx(ref_mean, abs=1e-6)
    assert mean > 0.01  # a non-trivial case


def test_mutual_information_matrix_matches_sklearn():
    rng = np.random.default_rng(13)
    mu = rng.normal(size=(800, 3))
    factors = np.stack([rng.integers(0, 3, 800), np.round(mu[:, 1] * 3)], axis=1).astype(float)
    mi, entropy = mutual_information_matrix(mu, factors)
    for k in range(2):
        v = _factor_codes(factors[:, k])
        assert entropy[k] == pytest.approx(mutual_info_score(v, v), abs=1e-12)
        for j in range(3):
            assert mi[j, k] == pytest.approx(mutual_info_score(_histogram_codes(mu[:, j]), v), abs=1e-12)


def test_mig_uses_only_frames_where_a_factor_is_known():
    rng = np.random.default_rng(14)
    n = 2000
    factor = rng.integers(0, 4, n).astype(float)
    mu = np.stack([factor + rng.normal(scale=0.3, size=n), rng.normal(size=n)], axis=1)
    known = rng.random(n) < 0.7
    with_nan = np.where(known, factor, np.nan)[:, None]
    _, per_factor = mig(mu, with_nan)
    # Reference: latent bins from all frames, MI over the known ones.
    codes = [_histogram_codes(mu[:, j])[known] for j in range(2)]
    v = _factor_codes(factor[known])
    m = sorted((mutual_info_score(c, v) for c in codes), reverse=True)
    assert per_factor[0] == pytest.approx((m[0] - m[1]) / mutual_info_score(v, v), abs=1e-9)


def test_mig_with_no_informative_factor_is_nan():
    mean, per_factor = mig(np.random.default_rng(15).normal(size=(50, 2)), np.ones((50, 2)))
    assert np.isnan(mean) and np.all(np.isnan(per_factor))
