"""The additive harmonic decoder (ModelConfig.decoder = "additive", models/harmonic.AdditiveHeads): its head
outputs are a sum of one function per latent (no cross-latent interaction, unlike the trunk), its batched
contraction equals a per-latent loop of linear layers, the numpy and one-vector decoders equal torch's
decode, trunk checkpoints keep their config dicts, and `vaesynth train --decoder additive` writes a
checkpoint that a torch-free Instrument plays like the torch one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.training.synthetic import tiny_cli_args, write_npz
from vaesynth import cli
from vaesynth.models import npdecode
from vaesynth.models.checkpoint import load_checkpoint
from vaesynth.models.config import ModelConfig
from vaesynth.models.fastdecode import FastDecoder
from vaesynth.models.instrument import load_instrument
from vaesynth.models.vae import build_model
from vaesynth.training.config import TrainConfig

# Model space is dB / db_range: 2e-4 is 0.016 dB at db_range 80 (float32 torch vs float64 rendering), as
# tests/models/test_npdecode.py.
MODEL_SPACE_ATOL = 2e-4
BASE = dict(n_bins=129, n_fft=256, sample_rate=8000, latent_dim=4, f_ref_hz=220.0, decoder="additive")


def _random_model(seed: int, **overrides):
    """An untrained additive BetaVAE with its weights spread out (partials, noise, B and lobes all vary)."""
    cfg = ModelConfig(**{**BASE, "additive_hidden": (16, 8), **overrides})
    torch.manual_seed(seed)
    model = build_model(cfg).eval()
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.add_(0.1 * torch.randn_like(p))
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    return cfg, model, state


def _heads(model, z, cond=None) -> np.ndarray:
    """Pre-activations of the heads [B, K + bands + 3] (the additive part, before any squashing)."""
    dec = model.decoder
    with torch.no_grad():
        if dec.cfg.decoder == "additive":
            return dec.additive(z, cond).double().numpy()
        h = dec.trunk(z if cond is None else torch.cat([z, cond], -1))
        return torch.cat([dec.amp_head(h), dec.noise_head(h), dec.shape_head(h)], -1).double().numpy()


def test_additive_heads_have_no_cross_latent_interaction_unlike_the_trunk():
    # f(z + a e_i + b e_j) - f(z + a e_i) - f(z + b e_j) + f(z) is 0 for a sum of per-latent functions and
    # not for a shared trunk: the property the identifiability argument rests on.
    rng = np.random.default_rng(0)
    z = torch.from_numpy(rng.standard_normal((16, 4)).astype(np.float32))
    mixed = {}
    for name, over in (("additive", {}), ("trunk", {"decoder": "trunk", "hidden": (32, 16)})):
        _, model, _ = _random_model(3, **over)
        worst = 0.0
        for i, j in ((0, 1), (1, 3), (0, 2)):
            zi, zj, zij = z.clone(), z.clone(), z.clone()
            zi[:, i] += 1.3
            zj[:, j] -= 0.9
            zij[:, i] += 1.3
            zij[:, j] -= 0.9
            d2 = _heads(model, zij) - _heads(model, zi) - _heads(model, zj) + _heads(model, z)
            worst = max(worst, float(np.abs(d2).max()))
        mixed[name] = worst
    assert mixed["additive"] < 1e-5  # float32 rounding of values ~1
    assert mixed["trunk"] > 1e-2


def test_additive_gain_interaction_is_one_level_for_all_partials_and_bands():
    # With the gain network the cross-latent part is one scalar: the same for every partial and noise band
    # (spread 0 across them) and absent from the shape outputs (B, lobe width, detune).
    cfg, model, _ = _random_model(5, additive_gain=8)
    n_gain = cfg.partial_count + cfg.n_noise_bands
    z = torch.from_numpy(np.random.default_rng(2).standard_normal((16, 4)).astype(np.float32))
    zi, zj, zij = z.clone(), z.clone(), z.clone()
    zi[:, 0] += 1.5
    zj[:, 2] -= 1.1
    zij[:, 0] += 1.5
    zij[:, 2] -= 1.1
    d2 = _heads(model, zij) - _heads(model, zi) - _heads(model, zj) + _heads(model, z)
    assert float(np.abs(d2[:, :n_gain]).max()) > 1e-3  # the gain does interact
    assert float(np.ptp(d2[:, :n_gain], axis=1).max()) < 1e-5
    assert float(np.abs(d2[:, n_gain:]).max()) < 1e-5


@pytest.mark.parametrize("block", [1, 2])
def test_additive_heads_match_a_per_latent_loop_of_linear_layers(block):
    cfg, model, _ = _random_model(4, pitch_mode="condition", additive_block=block)
    heads = model.decoder.additive
    rng = np.random.default_rng(1)
    z = torch.from_numpy(rng.standard_normal((5, cfg.latent_dim)).astype(np.float32))
    cond = torch.from_numpy(rng.uniform(-1, 1, (5, 1)).astype(np.float32))
    ref = heads.bias.detach().clone().expand(5, -1).clone()
    with torch.no_grad():
        for d in range(cfg.latent_dim // block):
            h = torch.cat([z[:, d * block : (d + 1) * block], cond], -1)
            for w, b in zip(heads.weights[:-1], heads.biases, strict=True):
                h = F.leaky_relu(F.linear(h, w[d].T, b[d]))
            ref += F.linear(h, heads.weights[-1][d].T)
        got = heads(z, cond)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    assert float(ref.std()) > 0.1


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="plain"),
        pytest.param(
            dict(likelihood="bernoulli", pitch_mode="condition", detune_cents=20.0, additive_hidden=(12,)),
            id="cond-one-layer",
        ),
        pytest.param(dict(additive_gain=8), id="gain"),
        pytest.param(dict(additive_gain=6, pitch_mode="condition"), id="gain-cond"),
        pytest.param(dict(additive_block=2, pitch_mode="condition"), id="block2-cond"),
    ],
)
def test_additive_numpy_and_fast_decoders_match_torch(overrides):
    cfg, model, state = _random_model(1, **overrides)
    dec = npdecode.NumpyDecoder(cfg, state)
    rng = np.random.default_rng(0)
    z = (1.5 * rng.standard_normal((7, cfg.latent_dim))).astype(np.float32)
    cond = rng.uniform(-1.5, 1.5, (7, 1)).astype(np.float32) if cfg.n_cond else None
    tc = None if cond is None else torch.from_numpy(cond)
    with torch.no_grad():
        ref = model.decode(torch.from_numpy(z), tc).numpy()
        c_ref = model.controls(torch.from_numpy(z), tc)
    got = dec.decode(z, cond)
    np.testing.assert_allclose(got, ref, rtol=0, atol=MODEL_SPACE_ATOL)
    assert np.ptp(ref) > 0.1  # a spread of values, not one constant
    c_got = dec.controls(z, cond)
    for k, v in c_ref.items():
        np.testing.assert_allclose(c_got[k], v.numpy(), rtol=1e-4, atol=1e-4 * (1 + np.abs(v.numpy()).max()))
    fast = FastDecoder(cfg, state)
    for i in range(z.shape[0]):
        np.testing.assert_allclose(fast.decode(z[i], None if cond is None else cond[i]), got[i], atol=1e-5)


def test_misfitting_additive_arrays_are_refused():
    cfg, _, state = _random_model(2)
    bad = dict(state)
    bad["decoder.additive.weights.1"] = bad["decoder.additive.weights.1"][:, :, :-1]
    with pytest.raises(ValueError, match="additive.weights.1"):
        npdecode.NumpyDecoder(cfg, bad)
    with pytest.raises(ValueError, match="decoder.additive"):  # the layers of another width
        npdecode.NumpyDecoder(ModelConfig(**{**BASE, "additive_hidden": (16,)}), state)


def test_trunk_config_dicts_keep_their_keys_and_additive_ones_round_trip():
    assert not {"decoder", "additive_hidden"} & set(ModelConfig().to_dict())
    assert not {"decoder", "additive_hidden"} & set(TrainConfig(data="x", out="y").to_dict())
    cfg = ModelConfig(decoder="additive", additive_hidden=(32,))
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="decoder"):
        ModelConfig(decoder="bogus")
    with pytest.raises(ValueError, match="harmonic"):
        ModelConfig(arch="mlp", decoder="additive")


def test_train_cli_decoder_additive_checkpoint_plays_torch_free_like_torch(tmp_path):
    data = write_npz(tmp_path)
    out = tmp_path / "add.pt"
    args = [*tiny_cli_args(), "--arch", "harmonic", "--decoder", "additive", "--additive-hidden", "16"]
    assert cli.main(["train", "--data", str(data), "--out", str(out), "--epochs", "2", *args]) == 0
    mc = load_checkpoint(out)["model_config"]
    assert (mc["decoder"], mc["additive_hidden"]) == ("additive", [16])
    fast = load_instrument(out, num_threads=None, torch_free=True)
    assert fast.backend == "numpy" and fast.fallback_reason is None
    slow = load_instrument(out, num_threads=None)
    z = np.random.default_rng(2).standard_normal((4, fast.latent_dim)).astype(np.float32)
    ref = slow.decode_latent(z)
    np.testing.assert_allclose(fast.decode_latent(z), ref, rtol=1e-3, atol=1e-6 * ref.max())
    for i in range(4):  # the live one-vector path
        np.testing.assert_allclose(fast.decode_latent(z[i]), ref[i], rtol=1e-3, atol=1e-6 * ref.max())
