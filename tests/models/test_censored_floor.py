"""ModelConfig.censored_floor: bins at a floor (global 0 or frame_floor_db below the frame's peak) cost only
where the decoder output lies above them; every other bin, and every bin with the option off, keeps the
two-sided Gaussian NLL."""

from __future__ import annotations

import math

import pytest
import torch

from vaesynth.models.config import ModelConfig
from vaesynth.models.vae import build_model

N_BINS = 65
SIGMA = 0.04


def cfg_for(**kw) -> ModelConfig:
    return ModelConfig(
        n_bins=N_BINS,
        n_fft=2 * (N_BINS - 1),
        pitch_mode="condition",
        n_partials=8,
        f_ref_hz=2000.0,
        db_range=100.0,
        sigma=SIGMA,
        **kw,
    )


def frame_with_floor(frame_floor_db: float) -> torch.Tensor:
    """One model-space frame: peak 0.9, a ramp down, and its last 20 bins at the per-frame floor."""
    floor = 0.9 - frame_floor_db / 100.0
    x = torch.linspace(0.9, floor + 0.05, N_BINS)
    x[-20:] = floor
    return x[None]


def gaussian_nll(err: torch.Tensor) -> torch.Tensor:
    return (0.5 * (err / SIGMA) ** 2 + math.log(SIGMA) + 0.5 * math.log(2 * math.pi)).sum(-1)


@pytest.mark.parametrize("shift", [-0.1, 0.1])
def test_censored_bins_cost_only_above_the_floor(shift, one_torch_thread):
    x = frame_with_floor(65.0)
    model = build_model(cfg_for(frame_floor_db=65.0, censored_floor=True))
    raw = x.clone()
    raw[:, :10] += 0.02  # real bins: two-sided error
    raw[:, -20:] += shift  # floored bins: below (free) or above (costs) the floor
    err = x - raw
    if shift < 0:
        err[:, -20:] = 0.0
    torch.testing.assert_close(model.recon_nll(x, raw), gaussian_nll(err))


def test_without_the_option_floor_bins_are_two_sided(one_torch_thread):
    x = frame_with_floor(65.0)
    model = build_model(cfg_for(frame_floor_db=65.0))
    raw = x.clone()
    raw[:, -20:] -= 0.1
    torch.testing.assert_close(model.recon_nll(x, raw), gaussian_nll(x - raw))
    assert "censored_floor" not in cfg_for().to_dict()


def test_global_floor_is_censored_when_there_is_no_frame_floor(one_torch_thread):
    x = frame_with_floor(65.0)
    x[:, -20:] = 0.0  # at the global floor (model-space 0)
    model = build_model(cfg_for(censored_floor=True))
    raw = x.clone()
    raw[:, -20:] = -0.3
    raw[:, -25:-20] += 0.05  # just above the floor in the target: ordinary bins
    err = x - raw
    err[:, -20:] = 0.0
    torch.testing.assert_close(model.recon_nll(x, raw), gaussian_nll(err))
    assert ModelConfig.from_dict(cfg_for(censored_floor=True).to_dict()).censored_floor


def test_censored_floor_refuses_bernoulli():
    with pytest.raises(ValueError, match="censored_floor"):
        cfg_for(censored_floor=True, likelihood="bernoulli")
