"""KL capacity (Burgess et al. 2018, `capacity_nats` / `capacity_steps`): the KL term is
beta · |KL - C(step)|, C ramps linearly and saturates, off (the default) leaves the loss bit for bit as
before, composes with the beta-TCVAE terms, refuses free bits, and the settings round-trip through the
config dict."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from tests.models.test_vae import harmonic_frames, tiny_cfg
from tests.models.test_vae_tc import _old_loss
from vaesynth.models.config import ModelConfig
from vaesynth.models.vae import build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _kl_term(cfg, out):
    """What the loss adds beyond recon and the spectral term (mlp arch: no guide, no TC)."""
    return out["loss"] - out["recon"] - cfg.sc_weight * out["spectral"]


def _independent_kl(model, x) -> float:
    """KL(q(z|x) || N(0, I)) per frame, batch mean, by torch.distributions (the encoder is deterministic)."""
    with torch.no_grad():
        mu, logvar = model.encode(x)
        q = Normal(mu, torch.exp(0.5 * logvar))
        return float(kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1).mean())


@pytest.mark.parametrize("step", [25, 100, 5000])  # C = 2.5 (below the KL), 10 and 10 (above it)
def test_loss_is_beta_times_abs_kl_minus_capacity(step):
    torch.manual_seed(2)
    cfg = tiny_cfg("mlp", beta=3.0, capacity_nats=10.0, capacity_steps=100)
    model = build_model(cfg)
    x = harmonic_frames(16)
    c = model.capacity_at(step)
    assert c == pytest.approx(10.0 * min(1.0, step / 100))
    torch.manual_seed(0)
    out = model.loss(x, model.beta_at(step), capacity=c)
    kl = _independent_kl(model, x)
    assert float(out["kl"].detach()) == pytest.approx(kl, rel=1e-5)  # "kl" stays the plain KL
    assert float(_kl_term(cfg, out).detach()) == pytest.approx(3.0 * abs(kl - c), rel=1e-4, abs=1e-4)
    # the encoder gets a gradient from the term (unlike a free-bits floor), pulling the KL towards C
    _kl_term(cfg, out).backward()
    assert any(p.grad is not None and torch.any(p.grad != 0) for p in model.encoder.parameters())


def test_capacity_defaults_to_c_max_when_not_passed():
    torch.manual_seed(2)
    cfg = tiny_cfg("mlp", beta=2.0, capacity_nats=7.0, capacity_steps=100)
    model = build_model(cfg)
    x = harmonic_frames(8)
    torch.manual_seed(0)
    out = model.loss(x, 2.0)
    assert float(_kl_term(cfg, out).detach()) == pytest.approx(
        2.0 * abs(_independent_kl(model, x) - 7.0), rel=1e-4
    )


def test_capacity_ramps_linearly_then_saturates():
    model = build_model(tiny_cfg("mlp", capacity_nats=25.0, capacity_steps=10000))
    steps = (-5, 0, 2500, 5000, 9999, 10000, 10001, 10**7)
    expected = [0.0, 0.0, 6.25, 12.5, 25.0 * 9999 / 10000, 25.0, 25.0, 25.0]
    assert [model.capacity_at(s) for s in steps] == pytest.approx(expected)
    diffs = [model.capacity_at(s + 1) - model.capacity_at(s) for s in range(0, 10000, 997)]
    assert diffs == pytest.approx([25.0 / 10000] * len(diffs))  # linear: constant increments
    assert build_model(tiny_cfg("mlp", capacity_nats=4.0)).capacity_at(0) == 4.0  # no ramp: C_max at once
    assert build_model(tiny_cfg("mlp")).capacity_at(123) == 0.0  # off
    assert build_model(tiny_cfg("mlp", capacity_steps=50)).capacity_at(10) == 0.0  # steps alone: inert


def test_capacity_off_leaves_the_loss_bit_for_bit():
    x = harmonic_frames(16)
    for extra in ({}, {"capacity_nats": 0.0}, {"capacity_nats": 0.0, "capacity_steps": 500}):
        cfg = tiny_cfg("mlp", free_bits=0.1, **extra)
        torch.manual_seed(4)
        model = build_model(cfg)
        for capacity in (None, 7.0):  # an explicit C is ignored while capacity is off
            torch.manual_seed(5)
            new = model.loss(x, 2.0, capacity=capacity)["loss"]
            after_new = torch.randn(4)
            torch.manual_seed(5)
            old = _old_loss(model, x, 2.0)
            after_old = torch.randn(4)
            assert torch.equal(new, old)
            assert torch.equal(after_new, after_old)
    # a config without the fields (an old checkpoint's) is the default; the default's dict has no new keys
    d = tiny_cfg("mlp").to_dict()
    assert "capacity_nats" not in d and "capacity_steps" not in d
    assert ModelConfig.from_dict(d) == tiny_cfg("mlp", capacity_nats=0.0, capacity_steps=0)


def test_capacity_composes_with_the_tc_terms():
    torch.manual_seed(2)
    cfg = tiny_cfg("mlp", beta=2.0, capacity_nats=6.0, capacity_steps=10, tc_beta=3.0, dwkl_beta=0.5)
    model = build_model(cfg)
    x = harmonic_frames(16)
    torch.manual_seed(0)
    out = model.loss(x, 2.0, dataset_size=400, capacity=4.0)
    kl = _independent_kl(model, x)
    tc, dwkl = float(out["tc"].detach()), float(out["dwkl"].detach())
    expected = 2.0 * abs(kl - 4.0) + 3.0 * tc + 0.5 * dwkl
    assert tc != 0.0
    assert float(_kl_term(cfg, out).detach()) == pytest.approx(expected, rel=1e-4, abs=1e-4)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"capacity_nats": -1.0}, "capacity_nats and capacity_steps must be >= 0"),
        ({"capacity_nats": math.nan}, "capacity_nats and capacity_steps must be >= 0"),
        ({"capacity_nats": 5.0, "capacity_steps": -10}, "capacity_nats and capacity_steps must be >= 0"),
        ({"capacity_nats": 5.0, "free_bits": 0.5}, "capacity_nats and free_bits cannot be combined"),
    ],
)
def test_config_refuses_bad_capacity_settings(kw, match):
    with pytest.raises(ValueError, match=match):
        tiny_cfg("mlp", **kw)


def test_capacity_settings_round_trip_through_the_config_dict():
    cfg = tiny_cfg("harmonic", beta=4.0, warmup_steps=50, capacity_nats=25.0, capacity_steps=10000)
    d = cfg.to_dict()
    assert (d["capacity_nats"], d["capacity_steps"]) == (25.0, 10000)
    assert ModelConfig.from_dict(d) == cfg
    # warm-up still ramps beta (gamma) while C ramps on its own schedule
    model = build_model(cfg)
    assert (model.beta_at(25), model.capacity_at(25)) == pytest.approx((2.0, 0.0625))


def test_bundled_checkpoint_config_loads_with_capacity_off_and_unchanged():
    from pathlib import Path

    import vaesynth
    from vaesynth.models.checkpoint import load_checkpoint

    ck = load_checkpoint(Path(vaesynth.__file__).parent / "assets" / "default.pt")
    cfg = ModelConfig.from_dict(ck["model_config"])
    assert (cfg.capacity_nats, cfg.capacity_steps) == (0.0, 0)
    assert cfg.to_dict() == ck["model_config"]  # re-saved configs stay identical
