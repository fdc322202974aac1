"""Total correlation of the aggregate posterior, estimated on a minibatch (beta-TCVAE).

Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs" (the paper that defined MIG): the KL term
of the ELBO averaged over the data splits into index-code mutual information, the total correlation
TC = KL(q(z) || prod_d q(z_d)) of the aggregate posterior q(z) = (1/N) sum_n q(z|x_n), and a dimension-wise
KL. Penalising TC on its own pushes the latents towards statistical independence, which is what MIG rewards.

q(z) has N terms (the training set), so it is estimated from the minibatch: for each sample z_i ~ q(z|x_i)
of a batch of B frames drawn from N,
  log q(z_i)   ~ logsumexp_j (log w_ij + sum_d log q(z_id | x_j))
  log q(z_id)  ~ logsumexp_j (log w_ij + log q(z_id | x_j))
with importance weights w_ij (each row sums to 1 for "mss"):
- "mss", minibatch stratified sampling (the paper's appendix C.2, M = B - 1): w_ii = 1/N (z_i's own
  frame, one of N), one other frame (the next in the batch, cyclically) gets (N - M)/(N M), the remaining
  B - 2 frames 1/M. For a batch drawn uniformly from the data set the density estimate is unbiased.
  (The authors' reference code writes the 1/N entries down a column instead of the diagonal, a known bug,
  rtqichen/beta-tcvae pull request #1; this follows the paper.) When N <= B the batch is taken to be the
  whole data set: w_ij = 1/B, the exact mixture density.
- "mws", minibatch weighted sampling (the paper's eq. (5)): w_ij = 1/(N B). Biased: on a batch that is the
  whole data set its TC is the exact value + (D - 1)·log N, a constant offset that leaves the gradient
  unchanged.
Not real-time safe (training only). Cost: B² · D log-densities; computed one latent dimension at a time so a
4096-frame validation batch needs two [B, B] buffers, not a [B, B, D] one.
"""

from __future__ import annotations

import math

import torch

ESTIMATORS = ("mss", "mws")
_LOG_2PI = math.log(2.0 * math.pi)


def log_weight_matrix(
    batch_size: int, dataset_size: int, estimator: str = "mss", dtype=torch.float32, device=None
) -> torch.Tensor:
    """log w [B, B] of the estimator (module docstring); row i weighs the frames j for the sample z_i."""
    b, n = int(batch_size), int(dataset_size)
    if b < 1 or n < 1:
        raise ValueError(f"batch_size and dataset_size must be >= 1, got {b} and {n}")
    if estimator == "mws":
        return torch.full((b, b), -math.log(n * b), dtype=dtype, device=device)
    if estimator != "mss":
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    if n <= b or b < 2:  # the batch is (taken as) the whole data set: the exact mixture
        return torch.full((b, b), -math.log(b), dtype=dtype, device=device)
    m = b - 1
    w = torch.full((b, b), 1.0 / m, dtype=torch.float64)
    rows = torch.arange(b)
    w[rows, rows] = 1.0 / n
    w[rows, (rows + 1) % b] = (n - m) / (n * m)
    return w.log().to(dtype=dtype, device=device)


def aggregate_log_densities(
    z: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    dataset_size: int,
    estimator: str = "mss",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minibatch estimates of log q(z_i) [B] and of each marginal log q(z_id) [B, D].

    z: [B, D] samples, z_i ~ q(z|x_i) = N(mu_i, diag(exp(logvar_i))); mu, logvar: [B, D] of the same batch.
    dataset_size: N, frames in the data set the batch was drawn from (the training split).
    """
    if z.shape != mu.shape or z.shape != logvar.shape or z.ndim != 2:
        raise ValueError(f"z, mu, logvar must all be [B, D], got {z.shape}, {mu.shape}, {logvar.shape}")
    b, d = z.shape
    log_w = log_weight_matrix(b, dataset_size, estimator, dtype=z.dtype, device=z.device)
    inv_var = torch.exp(-logvar)
    joint = torch.zeros((b, b), dtype=z.dtype, device=z.device)
    marginals = []
    for k in range(d):
        diff = z[:, None, k] - mu[None, :, k]  # [B(i), B(j)]
        log_q = -0.5 * (_LOG_2PI + logvar[None, :, k] + diff * diff * inv_var[None, :, k])
        joint = joint + log_q
        marginals.append(torch.logsumexp(log_q + log_w, dim=1))
    return torch.logsumexp(joint + log_w, dim=1), torch.stack(marginals, dim=-1)


def total_correlation(
    z: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    dataset_size: int,
    estimator: str = "mss",
) -> torch.Tensor:
    """Minibatch estimate (nats, scalar tensor, differentiable) of TC = E_q(z)[log q(z) - sum_d log q(z_d)].

    Arguments as `aggregate_log_densities`. A batch of one frame has no estimate: returns 0.
    """
    if z.shape[0] < 2:
        return torch.zeros((), dtype=z.dtype, device=z.device)
    log_qz, log_qz_d = aggregate_log_densities(z, mu, logvar, dataset_size, estimator)
    return (log_qz - log_qz_d.sum(-1)).mean()


def kl_decomposition(
    z: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    dataset_size: int,
    estimator: str = "mss",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minibatch estimates (nats, scalar tensors, differentiable) of the total correlation and of the
    dimension-wise KL sum_d KL(q(z_d) || N(0, 1)) = E_q(z)[sum_d log q(z_d) - log N(z_d; 0, 1)], the last two
    terms of the paper's decomposition. Arguments as `aggregate_log_densities`; a batch of one gives (0, 0).
    """
    if z.shape[0] < 2:
        zero = torch.zeros((), dtype=z.dtype, device=z.device)
        return zero, zero
    log_qz, log_qz_d = aggregate_log_densities(z, mu, logvar, dataset_size, estimator)
    log_pz_d = -0.5 * (_LOG_2PI + z * z)
    return (log_qz - log_qz_d.sum(-1)).mean(), (log_qz_d - log_pz_d).sum(-1).mean()
