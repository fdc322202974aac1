"""The torch-free decoder (models/npdecode.py) and Instrument backend: decodes equal torch's BetaVAE.decode /
controls within float tolerance for every arch and option it supports, the numpy Instrument equals the torch
one, models it cannot play fall back to torch, and the serve loading path never imports torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.training.synthetic import tiny_config, write_npz
from vaesynth.errors import UserError
from vaesynth.models import harmonic, npdecode
from vaesynth.models.checkpoint import load_checkpoint, save_checkpoint
from vaesynth.models.config import ModelConfig
from vaesynth.models.fastdecode import FastDecoder
from vaesynth.models.instrument import default_model_path, load_instrument
from vaesynth.models.vae import build_model

# Model space is dB / db_range: 2e-4 is 0.016 dB at db_range 80 (float32 torch vs float64 rendering).
MODEL_SPACE_ATOL = 2e-4


def test_constants_match_models_harmonic():
    for name in (
        "MAX_INHARMONICITY",
        "KERNEL_HALF_WIDTH_BINS",
        "KERNEL_OVERSAMPLE",
        "LOBE_SCALE_RANGE",
        "POWER_EPS",
    ):
        assert getattr(npdecode, name) == getattr(harmonic, name), name


def _random_model(seed: int, **overrides):
    """An untrained BetaVAE with its weights spread out (so partials, noise, B and lobes all vary)."""
    base = dict(n_bins=129, n_fft=256, sample_rate=8000, latent_dim=4, hidden=(32, 16), f_ref_hz=220.0)
    cfg = ModelConfig(**{**base, **overrides})
    torch.manual_seed(seed)
    model = build_model(cfg).eval()
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.add_(0.1 * torch.randn_like(p))
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    return cfg, model, state


CONFIGS = [
    pytest.param(dict(arch="mlp"), id="mlp"),
    pytest.param(
        dict(arch="mlp400", hidden=(24,), likelihood="bernoulli", pitch_mode="condition"), id="mlp400"
    ),
    pytest.param(dict(arch="harmonic"), id="harmonic"),
    pytest.param(
        dict(arch="harmonic", likelihood="bernoulli", pitch_mode="condition", detune_cents=20.0),
        id="harm-cond",
    ),
    pytest.param(dict(arch="harmonic", n_partials=40, n_noise_bands=8), id="harm-40-partials"),
]


@pytest.mark.parametrize("overrides", CONFIGS)
def test_numpy_decoder_matches_torch_decode_and_controls(overrides):
    cfg, model, state = _random_model(1, **overrides)
    dec = npdecode.NumpyDecoder(cfg, state)
    rng = np.random.default_rng(0)
    z = (2.0 * rng.standard_normal((7, cfg.latent_dim))).astype(np.float32)
    cond = rng.uniform(-1.5, 1.5, (7, 1)).astype(np.float32) if cfg.n_cond else None
    with torch.no_grad():
        ref = model.decode(torch.from_numpy(z), None if cond is None else torch.from_numpy(cond)).numpy()
    got = dec.decode(z, cond)
    assert got.dtype == np.float32 and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=MODEL_SPACE_ATOL)
    assert np.ptp(ref) > 0.1  # the comparison covers a spread of values, not one constant
    fast = FastDecoder(cfg, state)  # the one-vector path serve calls, from the same arrays
    for i in range(z.shape[0]):
        one = fast.decode(z[i], None if cond is None else cond[i])
        np.testing.assert_allclose(one, got[i], rtol=0, atol=1e-5)
    if cfg.arch == "harmonic":
        with torch.no_grad():
            c_ref = model.controls(torch.from_numpy(z), None if cond is None else torch.from_numpy(cond))
        c_got = dec.controls(z, cond)
        assert set(c_got) == set(c_ref)
        for k, v in c_ref.items():
            np.testing.assert_allclose(
                c_got[k], v.numpy(), rtol=1e-4, atol=1e-4 * (1 + np.abs(v.numpy()).max())
            )


def test_conditioned_decoder_without_cond_plays_at_the_reference_pitch():
    cfg, model, state = _random_model(2, arch="harmonic", pitch_mode="condition")
    dec = npdecode.NumpyDecoder(cfg, state)
    z = np.random.default_rng(1).standard_normal((3, cfg.latent_dim)).astype(np.float32)
    np.testing.assert_array_equal(dec.decode(z), dec.decode(z, np.zeros((3, 1), np.float32)))


def test_misfitting_arrays_and_conv_are_refused():
    cfg, _, state = _random_model(3, arch="harmonic")
    bad = dict(state)
    bad["decoder.amp_head.weight"] = bad["decoder.amp_head.weight"][:, :-1]
    with pytest.raises(ValueError, match="amp_head"):
        npdecode.NumpyDecoder(cfg, bad)
    missing = {k: v for k, v in state.items() if k != "decoder.noise_interp"}
    with pytest.raises(ValueError, match="noise_interp"):
        npdecode.NumpyDecoder(cfg, missing)
    conv_cfg, _, conv_state = _random_model(3, arch="conv", hidden=(4, 8))
    with pytest.raises(npdecode.UnsupportedArch):
        npdecode.NumpyDecoder(conv_cfg, conv_state)


# --- the Instrument backends ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_harmonic(tmp_path_factory):
    from vaesynth.training.trainer import train

    folder = tmp_path_factory.mktemp("npdecode")
    return train(tiny_config(write_npz(folder), folder / "h.pt", arch="harmonic", epochs=3))


def _assert_same_instrument(fast, ref):
    assert fast.backend == "numpy" and fast.fallback_reason is None and ref.backend == "torch"
    assert (fast.latent_dim, fast.n_pcs, fast.f_ref_hz, fast.name) == (
        ref.latent_dim,
        ref.n_pcs,
        ref.f_ref_hz,
        ref.name,
    )
    rng = np.random.default_rng(5)
    z = (1.5 * rng.standard_normal((6, ref.latent_dim))).astype(np.float32)
    batch = ref.decode_latent(z)
    scale = float(batch.max())
    tol = dict(rtol=3e-3, atol=1e-6 * scale)  # 3e-3 relative is 0.026 dB
    np.testing.assert_allclose(fast.decode_latent(z), batch, **tol)
    for i in range(3):
        np.testing.assert_allclose(fast.decode_latent(z[i]), ref.decode_latent(z[i]), **tol)
        np.testing.assert_allclose(
            fast.decode_latent(z[i], f0_hz=330.0), ref.decode_latent(z[i], f0_hz=330.0), **tol
        )
    pcs = np.array([1.0, -2.0])
    np.testing.assert_allclose(fast.timbre_for_pcs(pcs).magnitudes, ref.timbre_for_pcs(pcs).magnitudes, **tol)
    if ref.model_config.arch == "harmonic":
        c_fast, c_ref = fast.controls_for_latent(z), ref.controls_for_latent(z)
        for k in c_ref:
            np.testing.assert_allclose(c_fast[k], c_ref[k], rtol=1e-4, atol=1e-3)


def test_numpy_instrument_matches_torch_instrument_for_the_bundled_model():
    _assert_same_instrument(load_instrument(None, torch_free=True), load_instrument(None))


def test_numpy_instrument_matches_torch_instrument_for_a_tiny_trained_model(tiny_harmonic):
    fast, ref = load_instrument(tiny_harmonic, torch_free=True), load_instrument(tiny_harmonic)
    _assert_same_instrument(fast, ref)
    # Encoding builds the torch network on demand from the numpy arrays: the very same numbers.
    mags = ref.decode_latent(np.zeros((4, ref.latent_dim), np.float32)) + 1e-3
    for a, b in zip(fast.encode_frames(mags), ref.encode_frames(mags), strict=True):
        np.testing.assert_array_equal(a, b)


def test_conv_and_torch_only_content_fall_back_to_torch(tiny_harmonic, tmp_path):
    ck = load_checkpoint(tiny_harmonic)
    conv_cfg = ModelConfig.from_dict({**ck["model_config"], "arch": "conv", "hidden": [4, 8]})
    conv = save_checkpoint(
        tmp_path / "conv.pt",
        {**ck, "model_config": conv_cfg.to_dict(), "model_state": build_model(conv_cfg).state_dict()},
    )
    bf16_state = dict(ck["model_state"])
    bf16_state["decoder.shape_head.bias"] = bf16_state["decoder.shape_head.bias"].to(torch.bfloat16)
    bf16 = save_checkpoint(tmp_path / "bf16.pt", {**ck, "model_state": bf16_state})
    z = np.random.default_rng(2).standard_normal(ck["model_config"]["latent_dim"]).astype(np.float32)
    for path, reason in ((conv, "conv"), (bf16, "BFloat16")):
        inst = load_instrument(path, torch_free=True)
        assert inst.backend == "torch" and reason in inst.fallback_reason
        np.testing.assert_array_equal(inst.decode_latent(z), load_instrument(path).decode_latent(z))


def test_misfitting_weights_are_refused_with_the_same_message(tiny_harmonic, tmp_path):
    ck = load_checkpoint(tiny_harmonic)
    state = dict(ck["model_state"])
    state["decoder.trunk.0.weight"] = state["decoder.trunk.0.weight"][:, :-1].clone()
    bad = save_checkpoint(tmp_path / "bad.pt", {**ck, "model_state": state})
    messages = []
    for torch_free in (False, True):
        with pytest.raises(UserError) as e:
            load_instrument(bad, torch_free=torch_free)
        messages.append(str(e.value))
    assert messages[0] == messages[1] and "do not fit" in messages[0] and "\n" not in messages[0]


SERVE_LOAD = """
import argparse, sys
import vaesynth.cli  # every subcommand registered, as `vaesynth serve` starts
from vaesynth.commands import serve
result = {}
serve._load_model(argparse.Namespace(model=None, map=None), result)
assert "error" not in result, result.get("error")
inst = result["instrument"]
inst.timbre_for_pcs([1.0, -1.0, 0.5])
print(inst.backend, sorted(m for m in ("torch", "sklearn") if m in sys.modules))
"""


def test_the_serve_loading_path_never_imports_torch():
    r = subprocess.run([sys.executable, "-c", SERVE_LOAD], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["numpy", "[]"], r.stdout
    assert default_model_path().exists()
