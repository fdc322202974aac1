"""beta-TCVAE: the minibatch total-correlation estimators (models/total_correlation.py) against closed
forms and brute-force mixtures, and the loss option `tc_beta` (off = the plain beta-VAE loss, bit for bit)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from tests.models.test_vae import harmonic_frames, tiny_cfg
from vaesynth.models.config import ModelConfig
from vaesynth.models.total_correlation import (
    aggregate_log_densities,
    kl_decomposition,
    log_weight_matrix,
    total_correlation,
)
from vaesynth.models.vae import build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _gaussian_batch(rho: float, s: float, n: int, gen: torch.Generator):
    """Posterior means mu ~ N(0, [[1, rho], [rho, 1]]), posteriors N(mu, s² I), one sample z each (float64).
    With the data set drawn i.i.d. (N -> inf) the aggregate posterior is N(0, Sigma + s² I)."""
    chol = torch.linalg.cholesky(torch.tensor([[1.0, rho], [rho, 1.0]], dtype=torch.float64))
    mu = torch.randn(n, 2, generator=gen, dtype=torch.float64) @ chol.T
    logvar = torch.full((n, 2), 2.0 * math.log(s), dtype=torch.float64)
    z = mu + s * torch.randn(n, 2, generator=gen, dtype=torch.float64)
    return z, mu, logvar


def _gaussian_tc(rho: float, s: float) -> float:
    """TC of N(0, C), C = [[1, rho], [rho, 1]] + s² I: ½(sum log C_dd - log det C)."""
    c = np.array([[1.0, rho], [rho, 1.0]]) + s * s * np.eye(2)
    return 0.5 * (np.log(np.diag(c)).sum() - np.log(np.linalg.det(c)))


@pytest.mark.parametrize("rho", [0.0, 0.8])
def test_mss_total_correlation_matches_gaussian_closed_form(rho):
    gen = torch.Generator().manual_seed(1)
    estimates = [
        float(total_correlation(*_gaussian_batch(rho, 0.5, 1000, gen), dataset_size=10**7, estimator="mss"))
        for _ in range(8)
    ]
    exact = _gaussian_tc(rho, 0.5)  # 0 for rho = 0, 0.263 nats for rho = 0.8
    # measured: mean within 0.005 nats of the closed form, std over batches 0.003 (rho 0) / 0.02 (rho 0.8)
    assert abs(np.mean(estimates) - exact) < 0.02
    if rho == 0.0:
        assert abs(np.mean(estimates)) < 0.02
    else:
        assert np.mean(estimates) > 0.2


def _exact_log_densities(z: np.ndarray, mu: np.ndarray, logvar: np.ndarray):
    """Brute force over the whole data set: log q(z_i) = log (1/N) sum_n q(z_i|x_n) and its marginals."""
    var = np.exp(logvar)
    # [i, n, d]
    log_q = -0.5 * (np.log(2 * np.pi) + logvar[None] + (z[:, None] - mu[None]) ** 2 / var[None])
    n = mu.shape[0]
    return logsumexp(log_q.sum(-1), axis=1) - np.log(n), logsumexp(log_q, axis=1) - np.log(n)


def _random_posteriors(n: int, d: int, seed: int):
    rng = np.random.default_rng(seed)
    mu = rng.normal(0.0, 1.0, (n, d))
    logvar = rng.uniform(-2.0, 0.0, (n, d))
    z = mu + np.exp(0.5 * logvar) * rng.normal(size=(n, d))
    return z, mu, logvar


def test_batch_that_is_the_whole_set_gives_exact_tc_mss_and_exact_plus_offset_mws():
    n, d = 40, 3
    z, mu, logvar = _random_posteriors(n, d, seed=2)
    log_qz, log_qzd = _exact_log_densities(z, mu, logvar)
    exact = float(np.mean(log_qz - log_qzd.sum(-1)))
    t = [torch.from_numpy(a) for a in (z, mu, logvar)]
    mss = float(total_correlation(*t, dataset_size=n, estimator="mss"))
    mws = float(total_correlation(*t, dataset_size=n, estimator="mws"))
    assert mss == pytest.approx(exact, abs=1e-9)
    # minibatch weighted sampling weighs each frame 1/(N B): a constant (D - 1) log N above the exact value
    assert mws == pytest.approx(exact + (d - 1) * math.log(n), abs=1e-9)
    # dimension-wise KL: E[sum_d log q(z_d) - log N(z_d; 0, 1)] over the batch, brute force
    exact_dwkl = float(np.mean((log_qzd + 0.5 * (np.log(2 * np.pi) + z * z)).sum(-1)))
    tc, dwkl = kl_decomposition(*t, dataset_size=n, estimator="mss")
    assert (float(tc), float(dwkl)) == pytest.approx((exact, exact_dwkl), abs=1e-9)


def test_mss_density_estimate_is_unbiased_against_the_exact_mixture():
    # A data set of N = 30 posteriors; z drawn from frame 0's. Batches of B = 6 hold frame 0 and 5 others
    # drawn without replacement, in random order: the stratified estimate of q(z) and of each q(z_d) must
    # average to the exact mixture density over all N frames.
    n, d, b, trials = 30, 2, 6, 6000
    rng = np.random.default_rng(3)
    _, mu, logvar = _random_posteriors(n, d, seed=4)
    z0 = mu[0] + np.exp(0.5 * logvar[0]) * rng.normal(size=d)
    zs = np.repeat(z0[None], n, axis=0)  # every row "is" z0: only row of frame 0 is read
    log_qz, log_qzd = _exact_log_densities(zs, mu, logvar)
    exact = np.exp(np.concatenate([[log_qz[0]], log_qzd[0]]))
    est = np.empty((trials, 1 + d))
    for t in range(trials):
        others = rng.choice(np.arange(1, n), size=b - 1, replace=False)
        order = rng.permutation(np.concatenate([[0], others]))
        row = int(np.flatnonzero(order == 0)[0])
        zb = torch.from_numpy(np.repeat(z0[None], b, axis=0))
        lq, lqd = aggregate_log_densities(
            zb, torch.from_numpy(mu[order]), torch.from_numpy(logvar[order]), n, "mss"
        )
        est[t] = np.exp(np.concatenate([[float(lq[row])], lqd[row].numpy()]))
    mean = est.mean(0)
    stderr = est.std(0) / math.sqrt(trials)
    assert np.all(np.abs(mean - exact) < 4 * stderr + 1e-12), (mean, exact, stderr)
    assert np.all(np.abs(mean / exact - 1) < 0.05)


def test_log_weight_matrix_rows_sum_to_one_for_mss():
    w = log_weight_matrix(128, 18000, "mss", dtype=torch.float64).exp()
    assert torch.allclose(w.sum(1), torch.ones(128, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(torch.diagonal(w), torch.full((128,), 1 / 18000, dtype=torch.float64))


def _old_loss(model, x, beta):
    """The loss as it was before tc_beta (models/vae.py at 00a0724), mlp arch path: the reference."""
    mu, logvar = model.encode(x, None)
    std = torch.exp(0.5 * logvar)
    z = mu + std * torch.randn_like(std)
    raw = model._decode_raw(z, None)
    recon = model.recon_nll(x, raw).mean()
    spectral = torch.zeros((), dtype=x.dtype)
    if model.cfg.sc_weight > 0:
        spectral = model.spectral_convergence_sq(x, model._link(raw)).mean()
    kl_per_dim = (0.5 * (mu * mu + logvar.exp() - 1.0 - logvar)).mean(0)
    kl_term = torch.clamp(kl_per_dim, min=model.cfg.free_bits).sum()
    return recon + beta * kl_term + model.cfg.sc_weight * spectral


def test_loss_with_tc_beta_zero_equals_the_old_loss_bit_for_bit():
    cfg = tiny_cfg("mlp", free_bits=0.1)
    model = build_model(cfg)
    x = harmonic_frames(16)
    torch.manual_seed(5)
    new = model.loss(x, 2.0, dataset_size=1000)["loss"]
    after_new = torch.randn(4)
    torch.manual_seed(5)
    old = _old_loss(model, x, 2.0)
    after_old = torch.randn(4)
    assert torch.equal(new, old)
    assert torch.equal(after_new, after_old)  # no extra draws from the global generator either
    # an old checkpoint's config (no tc keys) builds the same model settings
    d = cfg.to_dict()
    del d["tc_beta"], d["tc_estimator"], d["dwkl_beta"]
    assert ModelConfig.from_dict(d) == cfg


def test_loss_adds_tc_beta_times_the_estimated_total_correlation():
    model = build_model(tiny_cfg("harmonic", tc_beta=3.0))
    x = harmonic_frames(12)
    torch.manual_seed(6)
    off = model.loss(x, 1.0, tc_beta=0.0)
    torch.manual_seed(6)
    on = model.loss(x, 1.0, dataset_size=500)  # tc_beta from the config
    torch.manual_seed(6)
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # the same reparameterised sample
    tc = total_correlation(z, mu, logvar, 500, "mss").detach()
    assert float(off["tc"]) == 0.0
    assert float(on["tc"].detach()) == pytest.approx(float(tc), rel=1e-5)
    assert float((on["loss"] - off["loss"]).detach()) == pytest.approx(3.0 * float(tc), rel=1e-4, abs=1e-3)
    on["loss"].backward()  # differentiable through z, mu and logvar
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_tc_beta_at_follows_the_kl_warmup():
    model = build_model(tiny_cfg("mlp", tc_beta=6.0, warmup_steps=100))
    assert [model.tc_beta_at(s) for s in (0, 50, 100, 1000)] == [0.0, 3.0, 6.0, 6.0]
    assert build_model(tiny_cfg("mlp", tc_beta=6.0)).tc_beta_at(0) == 6.0


def test_tc_penalty_alone_decorrelates_free_latents():
    # Gradient descent on TC alone, over the posterior means of 256 correlated points, must cut the estimate
    # (what the loss term asks of the encoder).
    gen = torch.Generator().manual_seed(7)
    _, mu0, logvar = _gaussian_batch(0.9, 0.3, 256, gen)
    mu = mu0.clone().requires_grad_(True)
    eps = torch.randn(256, 2, generator=gen, dtype=torch.float64)
    opt = torch.optim.Adam([mu], lr=0.05)
    start = None
    for _ in range(60):
        tc = total_correlation(mu + 0.3 * eps, mu, logvar, 256, "mss")
        start = float(tc.detach()) if start is None else start
        opt.zero_grad()
        tc.backward()
        opt.step()
    assert float(tc.detach()) < 0.3 * start


def test_bundled_checkpoint_loads_with_tc_off():
    from pathlib import Path

    import vaesynth
    from vaesynth.models.checkpoint import load_checkpoint

    ck = load_checkpoint(Path(vaesynth.__file__).parent / "assets" / "default.pt")
    assert ck["model_config"].get("tc_beta", 0.0) == 0.0  # the bundled model is trained without TC
    # a checkpoint written before the option (no such keys) loads with it off
    old = {k: v for k, v in ck["model_config"].items() if k not in ("tc_beta", "tc_estimator", "dwkl_beta")}
    for d in (ck["model_config"], old):
        cfg = ModelConfig.from_dict(d)
        assert (cfg.tc_beta, cfg.tc_estimator, cfg.dwkl_beta) == (0.0, "mss", 0.0)
    build_model(cfg).load_state_dict(ck["model_state"])  # no new parameters either


def test_loss_adds_dwkl_beta_times_the_dimension_wise_kl():
    model = build_model(tiny_cfg("mlp", dwkl_beta=2.0))
    x = harmonic_frames(12)
    torch.manual_seed(8)
    off = model.loss(x, 1.0, dwkl_beta=0.0)
    torch.manual_seed(8)
    on = model.loss(x, 1.0, dataset_size=500)
    torch.manual_seed(8)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        tc, dwkl = kl_decomposition(z, mu, logvar, 500, "mss")
    assert float(on["dwkl"].detach()) == pytest.approx(float(dwkl), rel=1e-5)
    assert float((on["loss"] - off["loss"]).detach()) == pytest.approx(2.0 * float(dwkl), rel=1e-4, abs=1e-3)
    assert model.dwkl_beta_at(0) == 2.0


def test_a_negative_dwkl_beta_down_to_minus_beta_frees_the_marginals():
    """dwkl_beta = -beta cancels the dimension-wise KL inside beta·KL (net weight 0): the loss is the plain
    one minus beta times the dwkl estimate; below -beta the net weight would be negative: refused."""
    model = build_model(tiny_cfg("mlp", beta=1.5, dwkl_beta=-1.5))
    x = harmonic_frames(12)
    torch.manual_seed(8)
    off = model.loss(x, 1.5, dwkl_beta=0.0)
    torch.manual_seed(8)
    on = model.loss(x, 1.5, dataset_size=500)
    assert float(on["dwkl"].detach()) > 0
    assert float((on["loss"] - off["loss"]).detach()) == pytest.approx(
        -1.5 * float(on["dwkl"].detach()), rel=1e-4, abs=1e-3
    )
    with pytest.raises(ValueError, match="dwkl_beta >= -beta"):
        tiny_cfg("mlp", beta=1.5, dwkl_beta=-1.6)
