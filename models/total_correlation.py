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

Memory bank (`PosteriorBank`): at batch 128 in 3-4 active dimensions the estimate of q(z) from the batch's
own B posteriors is close to a nearest-neighbour estimate (the paper used B = 2048). A bank keeps the
(mu, logvar) of the S - B most recent training frames (detached); the density is then estimated over the
reference set of S posteriors = the batch's own B (first, carrying gradients) + the bank's, while the
batch's z stay the query points. The weights generalise the ones above to a set of S frames: "mss" with
M = S - 1 (own frame 1/N, the next in the batch (N - M)/(N M), every other frame of the set 1/M; exact
mixture 1/S when N <= S), "mws" 1/(N S). With S = B (the bank adds nothing) both reduce to the plain
estimators bit for bit. Bank entries come from up to (S - B)/B optimiser steps ago: stale by that much.

Not real-time safe (training only). Cost: B · S · D log-densities; computed one latent dimension at a time so
a 4096-frame validation batch needs two [B, S] buffers, not a [B, S, D] one.
"""

from __future__ import annotations

import math

import torch

ESTIMATORS = ("mss", "mws")
_LOG_2PI = math.log(2.0 * math.pi)


def log_weight_matrix(
    batch_size: int,
    dataset_size: int,
    estimator: str = "mss",
    dtype=torch.float32,
    device=None,
    set_size: int | None = None,
) -> torch.Tensor:
    """log w [B, S] of the estimator (module docstring); row i weighs the frames j of the reference set for
    the sample z_i. set_size: S >= B, frames in the reference set (the batch's own B first, then a memory
    bank's); None = B, the plain minibatch estimator."""
    b, n = int(batch_size), int(dataset_size)
    s = b if set_size is None else int(set_size)
    if b < 1 or n < 1:
        raise ValueError(f"batch_size and dataset_size must be >= 1, got {b} and {n}")
    if s < b:
        raise ValueError(f"set_size must be >= batch_size ({b}), got {s}")
    if estimator == "mws":
        return torch.full((b, s), -math.log(n * s), dtype=dtype, device=device)
    if estimator != "mss":
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    if n <= s or s < 2:  # the set is (taken as) the whole data set: the exact mixture
        return torch.full((b, s), -math.log(s), dtype=dtype, device=device)
    m = s - 1
    w = torch.full((b, s), 1.0 / m, dtype=torch.float64)
    rows = torch.arange(b)
    w[rows, rows] = 1.0 / n
    if b >= 2:
        w[rows, (rows + 1) % b] = (n - m) / (n * m)
    else:  # one query frame: its stratum partner is the set's next frame
        w[0, 1] = (n - m) / (n * m)
    return w.log().to(dtype=dtype, device=device)


class PosteriorBank:
    """Ring buffer of the (mu, logvar) of the most recent training frames (detached), for the q(z) estimate.

    size: S, frames in the reference set = the current batch's B + up to S - B stored ones; latent_dim: D.
    queries: how many of the batch's samples z (its first rows; a random batch's are a random subset) are
    the query points of the estimate; None = all B. The cost is queries · S · D, so fewer queries buy a
    larger set for the same time (a noisier mean over the queries, the same density estimate per query).
    Preallocates [S, D] buffers. Usage per optimiser step: `ref_mu, ref_logvar = bank.reference(mu, logvar)`
    (the batch's own first, then the newest stored), estimate at `z[:bank.n_queries(B)]`, then
    `bank.push(mu, logvar)`. Not real-time safe (training only).
    """

    def __init__(
        self, size: int, latent_dim: int, dtype=torch.float32, device=None, queries: int | None = None
    ):
        if size < 1 or latent_dim < 1:
            raise ValueError(f"size and latent_dim must be >= 1, got {size} and {latent_dim}")
        if queries is not None and queries < 1:
            raise ValueError(f"queries must be >= 1 or None, got {queries}")
        self.queries = None if queries is None else int(queries)
        self.size = int(size)
        self.mu = torch.zeros((self.size, latent_dim), dtype=dtype, device=device)
        self.logvar = torch.zeros((self.size, latent_dim), dtype=dtype, device=device)
        self.count = 0  # valid entries
        self.pos = 0  # next write slot

    def n_queries(self, batch_size: int) -> int:
        """Query points of a batch of batch_size frames: min(queries, batch_size)."""
        return batch_size if self.queries is None else min(self.queries, batch_size)

    def reference(self, mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[S', D] reference set: mu/logvar [B, D] of the batch (gradients kept) then the newest
        min(count, size - B) stored entries (no gradients); S' = B when size <= B or the bank is empty."""
        k = min(self.count, max(0, self.size - mu.shape[0]))
        if k == 0:
            return mu, logvar
        idx = (self.pos - 1 - torch.arange(k)) % self.size  # newest first
        return torch.cat([mu, self.mu[idx]]), torch.cat([logvar, self.logvar[idx]])

    @torch.no_grad()
    def push(self, mu: torch.Tensor, logvar: torch.Tensor) -> None:
        """Store a batch's posteriors [B, D] (detached), overwriting the oldest."""
        b = mu.shape[0]
        if b >= self.size:
            mu, logvar, b = mu[-self.size :], logvar[-self.size :], self.size
        idx = (self.pos + torch.arange(b)) % self.size
        self.mu[idx] = mu.detach().to(self.mu.dtype)
        self.logvar[idx] = logvar.detach().to(self.logvar.dtype)
        self.pos = (self.pos + b) % self.size
        self.count = min(self.size, self.count + b)


def aggregate_log_densities(
    z: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    dataset_size: int,
    estimator: str = "mss",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minibatch estimates of log q(z_i) [B] and of each marginal log q(z_id) [B, D].

    z: [B, D] samples, z_i ~ q(z|x_i) = N(mu_i, diag(exp(logvar_i))); mu, logvar: [S, D] reference set whose
    first B rows are the same batch's posteriors (S = B: the plain minibatch estimator; S > B: the rest are
    a PosteriorBank's). dataset_size: N, frames in the data set the batch was drawn from (training split).
    """
    if z.ndim != 2 or mu.shape != logvar.shape or mu.ndim != 2 or mu.shape[1] != z.shape[1]:
        raise ValueError(f"z must be [B, D], mu and logvar [S, D], got {z.shape}, {mu.shape}, {logvar.shape}")
    b, d = z.shape
    s = mu.shape[0]
    if s < b:
        raise ValueError(f"the reference set ({s} rows) must hold the batch's own {b} posteriors first")
    log_w = log_weight_matrix(b, dataset_size, estimator, dtype=z.dtype, device=z.device, set_size=s)
    inv_var = torch.exp(-logvar)
    joint = torch.zeros((b, s), dtype=z.dtype, device=z.device)
    marginals = []
    for k in range(d):
        diff = z[:, None, k] - mu[None, :, k]  # [B(i), S(j)]
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

    Arguments as `aggregate_log_densities`. A reference set of one frame has no estimate: returns 0.
    """
    if mu.shape[0] < 2:
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
    terms of the paper's decomposition. Arguments as `aggregate_log_densities`; a reference set of one frame
    gives (0, 0).
    """
    if mu.shape[0] < 2:
        zero = torch.zeros((), dtype=z.dtype, device=z.device)
        return zero, zero
    log_qz, log_qz_d = aggregate_log_densities(z, mu, logvar, dataset_size, estimator)
    log_pz_d = -0.5 * (_LOG_2PI + z * z)
    return (log_qz - log_qz_d.sum(-1)).mean(), (log_qz_d - log_pz_d).sum(-1).mean()
