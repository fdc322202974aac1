"""The memory-bank q(z) estimate of the total correlation (models/total_correlation.PosteriorBank and the
reference-set form of the estimators) against the plain minibatch estimator, brute-force mixtures and the
closed form for a Gaussian; and the loss option `tc_bank` (a bank holding only the batch = no bank)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.models.test_vae import harmonic_frames, tiny_cfg
from tests.models.test_vae_tc import _exact_log_densities, _gaussian_batch, _gaussian_tc, _random_posteriors
from vaesynth.models.total_correlation import (
    PosteriorBank,
    aggregate_log_densities,
    kl_decomposition,
    log_weight_matrix,
    total_correlation,
)
from vaesynth.models.vae import build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("estimator", ["mss", "mws"])
@pytest.mark.parametrize("n", [18000, 20])
def test_weight_matrix_with_set_of_the_batch_equals_plain_bit_for_bit(estimator, n):
    plain = log_weight_matrix(32, n, estimator, dtype=torch.float64)
    assert torch.equal(log_weight_matrix(32, n, estimator, dtype=torch.float64, set_size=32), plain)


@pytest.mark.parametrize("b, s", [(128, 2048), (1, 50), (7, 8)])
def test_weight_matrix_rows_sum_to_one_with_a_bank(b, s):
    w = log_weight_matrix(b, 18000, "mss", dtype=torch.float64, set_size=s).exp()
    assert w.shape == (b, s)
    assert torch.allclose(w.sum(1), torch.ones(b, dtype=torch.float64), atol=1e-12)
    own = w[torch.arange(b), torch.arange(b)]
    assert torch.allclose(own, torch.full((b,), 1 / 18000, dtype=torch.float64))
    mws = log_weight_matrix(b, 18000, "mws", dtype=torch.float64, set_size=s).exp()
    assert torch.allclose(mws, torch.full((b, s), 1 / (18000 * s), dtype=torch.float64), rtol=1e-12)


def test_bank_holding_exactly_the_batch_equals_the_plain_estimator_bit_for_bit():
    z, mu, logvar = (torch.from_numpy(a) for a in _random_posteriors(64, 4, seed=11))
    bank = PosteriorBank(64, 4, dtype=torch.float64)
    bank.push(mu + 3.0, logvar)  # stored entries that must not be used: the set is full with the batch
    ref_mu, ref_logvar = bank.reference(mu, logvar)
    assert ref_mu is mu and ref_logvar is logvar
    for est in ("mss", "mws"):
        assert torch.equal(
            torch.stack(kl_decomposition(z, ref_mu, ref_logvar, 18000, est)),
            torch.stack(kl_decomposition(z, mu, logvar, 18000, est)),
        )
    empty = PosteriorBank(1024, 4, dtype=torch.float64)  # nothing stored yet: the batch alone
    assert empty.reference(mu, logvar)[0] is mu


def test_bank_ring_buffer_returns_the_newest_entries_newest_first():
    bank = PosteriorBank(10, 2, dtype=torch.float64)
    rows = torch.arange(24, dtype=torch.float64).reshape(12, 2)  # frames 0..11, value = 2·frame (+1)
    for k in range(3):
        bank.push(rows[4 * k : 4 * k + 4], -rows[4 * k : 4 * k + 4])
    assert bank.count == 10
    batch = torch.full((2, 2), -1.0, dtype=torch.float64)
    ref_mu, ref_logvar = bank.reference(batch, batch)
    assert torch.equal(ref_mu[:2], batch)
    # set of 10 = the batch's 2 + the 8 newest frames: 11, 10, ..., 4
    assert torch.equal(ref_mu[2:], rows[torch.arange(11, 3, -1)])
    assert torch.equal(ref_logvar[2:], -rows[torch.arange(11, 3, -1)])


def test_bank_whose_set_is_the_whole_data_set_gives_the_exact_mixture():
    # N = 40 posteriors; the batch is frames 0..7, the bank holds the other 32: the reference set is the
    # whole data set, so log q(z_i) and log q(z_id) are the exact mixture densities, for "mss".
    n, d, b = 40, 3, 8
    z, mu, logvar = _random_posteriors(n, d, seed=12)
    log_qz, log_qzd = _exact_log_densities(z[:b], mu, logvar)
    t = {k: torch.from_numpy(v) for k, v in (("z", z), ("mu", mu), ("lv", logvar))}
    bank = PosteriorBank(n, d, dtype=torch.float64)
    bank.push(t["mu"][b:], t["lv"][b:])
    ref_mu, ref_logvar = bank.reference(t["mu"][:b], t["lv"][:b])
    lq, lqd = aggregate_log_densities(t["z"][:b], ref_mu, ref_logvar, n, "mss")
    np.testing.assert_allclose(lq.numpy(), log_qz, atol=1e-10)
    np.testing.assert_allclose(lqd.numpy(), log_qzd, atol=1e-10)


def test_bank_mss_density_estimate_is_unbiased_against_the_exact_mixture():
    # N = 30 posteriors; z drawn from frame 0's. Queries: frame 0 and 2 others; the reference set: those 3
    # then 4 more frames, all 7 distinct and drawn without replacement (one stratum partner, five at 1/M).
    n, d, b, s, trials = 30, 2, 3, 7, 6000
    rng = np.random.default_rng(13)
    _, mu, logvar = _random_posteriors(n, d, seed=14)
    z0 = mu[0] + np.exp(0.5 * logvar[0]) * rng.normal(size=d)
    log_qz, log_qzd = _exact_log_densities(z0[None], mu, logvar)
    exact = np.exp(np.concatenate([log_qz, log_qzd[0]]))
    est = np.empty((trials, 1 + d))
    for t in range(trials):
        others = rng.choice(np.arange(1, n), size=s - 1, replace=False)
        batch = rng.permutation(np.concatenate([[0], others[: b - 1]]))
        order = np.concatenate([batch, others[b - 1 :]])
        row = int(np.flatnonzero(batch == 0)[0])
        zb = torch.from_numpy(np.repeat(z0[None], b, axis=0))
        lq, lqd = aggregate_log_densities(
            zb, torch.from_numpy(mu[order]), torch.from_numpy(logvar[order]), n, "mss"
        )
        est[t] = np.exp(np.concatenate([[float(lq[row])], lqd[row].numpy()]))
    mean = est.mean(0)
    stderr = est.std(0) / math.sqrt(trials)
    assert np.all(np.abs(mean - exact) < 4 * stderr + 1e-12), (mean, exact, stderr)
    assert np.all(np.abs(mean / exact - 1) < 0.05)


def test_bank_brings_small_batch_tc_nearer_the_gaussian_closed_form():
    # Correlated Gaussian posteriors (rho 0.8, posterior std 0.2, N -> inf): at batch 32 the plain estimate
    # of q(z) is a poor one (each z_i has few neighbours besides its own frame, weighted 1/N) and misses TC;
    # a set of 2048 (32 + a bank of 2016 posteriors from the same aggregate) lands near the closed form.
    rho, s_post, b, n_set = 0.8, 0.2, 32, 2048
    exact = _gaussian_tc(rho, s_post)  # 0.448 nats
    gen = torch.Generator().manual_seed(15)
    plain, banked = [], []
    for _ in range(16):
        z, mu, logvar = _gaussian_batch(rho, s_post, n_set, gen)
        plain.append(float(total_correlation(z[:b], mu[:b], logvar[:b], 10**7, "mss")))
        bank = PosteriorBank(n_set, 2, dtype=torch.float64)
        bank.push(mu[b:], logvar[b:])
        banked.append(float(total_correlation(z[:b], *bank.reference(mu[:b], logvar[:b]), 10**7, "mss")))
    err_plain, err_bank = abs(np.mean(plain) - exact), abs(np.mean(banked) - exact)
    # measured over 16 batches: bank mean 0.425 (std 0.16 per batch), plain -0.006 (std 0.30)
    assert err_bank < 0.1
    assert err_plain > 3 * err_bank


def test_loss_with_a_bank_of_the_batch_size_equals_the_loss_without_and_fills_it():
    model = build_model(tiny_cfg("mlp", tc_beta=3.0, dwkl_beta=1.0))
    x = harmonic_frames(12)
    torch.manual_seed(16)
    plain = model.loss(x, 1.0, dataset_size=500)
    bank = PosteriorBank(12, 3)
    torch.manual_seed(16)
    banked = model.loss(x, 1.0, dataset_size=500, tc_bank=bank)
    for key in ("loss", "tc", "dwkl"):
        assert torch.equal(plain[key], banked[key])
    mu, logvar = model.encode(x)
    assert bank.count == 12
    assert torch.equal(bank.mu, mu.detach()) and torch.equal(bank.logvar, logvar.detach())


@pytest.mark.parametrize("queries", [None, 5])
def test_loss_with_a_bank_estimates_over_batch_and_bank_and_backpropagates(queries):
    model = build_model(tiny_cfg("harmonic", tc_beta=2.0))
    x = harmonic_frames(24)
    bank = PosteriorBank(20, 3, queries=queries)
    torch.manual_seed(17)
    model.loss(x[12:], 1.0, dataset_size=500, tc_bank=bank)  # fills the bank with frames 12..23
    stored_mu, stored_logvar = bank.mu[:12].clone(), bank.logvar[:12].clone()
    torch.manual_seed(18)
    out = model.loss(x[:8], 1.0, dataset_size=500, tc_bank=bank)
    torch.manual_seed(18)
    mu, logvar = model.encode(x[:8])
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # the same reparameterised sample
    ref_mu = torch.cat([mu, stored_mu.flip(0)])  # set of 20: the batch's 8 + the 12 stored, newest first
    ref_logvar = torch.cat([logvar, stored_logvar.flip(0)])
    q = 8 if queries is None else queries  # the batch's first q samples are the query points
    tc = total_correlation(z[:q], ref_mu, ref_logvar, 500, "mss")
    assert float(out["tc"].detach()) == pytest.approx(float(tc.detach()), rel=1e-5, abs=1e-6)
    out["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert bank.count == 20
