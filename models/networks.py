"""Encoder and decoder bodies: fully connected (seed 001's mlp400, a deeper mlp) and convolutional over
frequency (seed 000 / vschaos2 style). Each maps plain tensors; the VAE wrapper (vae.py) adds the
likelihood and the KL.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def mlp(sizes: list[int], activation=nn.ReLU, last_activation: bool = False) -> nn.Sequential:
    """Linear layers through `sizes` ([n_in, h1, ..., n_out]) with `activation` between them."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or last_activation:
            layers.append(activation())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """x [B, n_bins] (+ cond [B, n_cond]) -> (mu, logvar) [B, latent_dim] through hidden layers."""

    def __init__(self, n_bins: int, latent_dim: int, hidden: tuple[int, ...], n_cond: int = 0):
        super().__init__()
        self.body = mlp([n_bins + n_cond, *hidden], last_activation=True)
        self.head = nn.Linear(hidden[-1], 2 * latent_dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None):
        if cond is not None:
            x = torch.cat([x, cond], dim=-1)
        mu, logvar = self.head(self.body(x)).chunk(2, dim=-1)
        return mu, logvar


class MLPDecoder(nn.Module):
    """z [B, latent_dim] (+ cond) -> unconstrained output [B, n_bins] (the VAE applies the link)."""

    def __init__(self, n_bins: int, latent_dim: int, hidden: tuple[int, ...], n_cond: int = 0):
        super().__init__()
        self.net = mlp([latent_dim + n_cond, *reversed(hidden), n_bins])

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is not None:
            z = torch.cat([z, cond], dim=-1)
        return self.net(z)


class ConvEncoder(nn.Module):
    """Strided 1-D convolutions over frequency (channels `hidden`, stride 2 each), then a linear head."""

    def __init__(self, n_bins: int, latent_dim: int, hidden: tuple[int, ...], n_cond: int = 0):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        length = n_bins
        for c in hidden:
            layers += [nn.Conv1d(c_in, c, kernel_size=5, stride=2, padding=2), nn.LeakyReLU(0.2)]
            c_in = c
            length = (length - 1) // 2 + 1
        self.conv = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Linear(c_in * length + n_cond, 256), nn.LeakyReLU(0.2), nn.Linear(256, 2 * latent_dim)
        )

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None):
        h = self.conv(x.unsqueeze(1)).flatten(1)
        if cond is not None:
            h = torch.cat([h, cond], dim=-1)
        mu, logvar = self.head(h).chunk(2, dim=-1)
        return mu, logvar


class ConvDecoder(nn.Module):
    """z -> (C, L0) -> transposed convolutions doubling the frequency length -> cropped to n_bins."""

    def __init__(self, n_bins: int, latent_dim: int, hidden: tuple[int, ...], n_cond: int = 0):
        super().__init__()
        self.n_bins = n_bins
        chans = list(reversed(hidden))
        self.l0 = math.ceil(n_bins / 2 ** len(hidden))
        self.c0 = chans[0]
        self.fc = nn.Sequential(
            nn.Linear(latent_dim + n_cond, 256),
            nn.LeakyReLU(0.2),
            nn.Linear(256, self.c0 * self.l0),
            nn.LeakyReLU(0.2),
        )
        layers: list[nn.Module] = []
        for i, c in enumerate(chans):
            c_out = chans[i + 1] if i + 1 < len(chans) else chans[-1]
            layers += [nn.ConvTranspose1d(c, c_out, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv1d(chans[-1], 1, kernel_size=5, padding=2))
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is not None:
            z = torch.cat([z, cond], dim=-1)
        h = self.fc(z).view(-1, self.c0, self.l0)
        return self.deconv(h)[:, 0, : self.n_bins]
