"""ModelConfig.encoder_hidden: a wider encoder than decoder (the encoder never runs at play time). Left empty
it changes nothing (same weights, same config dict as before it existed); set, it shapes only the encoder,
and the decoder (and so FastDecoder's cost and output) is the one `hidden` gives."""

from __future__ import annotations

import numpy as np
import torch

from vaesynth.models.config import ModelConfig
from vaesynth.models.fastdecode import FastDecoder
from vaesynth.models.vae import build_model

N_BINS = 129


def cfg_for(**kw) -> ModelConfig:
    return ModelConfig(
        n_bins=N_BINS, n_fft=2 * (N_BINS - 1), pitch_mode="condition", n_partials=16, f_ref_hz=440.0, **kw
    )


def _state(cfg: ModelConfig, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    return build_model(cfg).state_dict()


def test_empty_encoder_hidden_matches_the_config_without_it(one_torch_thread):
    plain, explicit = cfg_for(hidden=(32, 16)), cfg_for(hidden=(32, 16), encoder_hidden=(32, 16))
    assert "encoder_hidden" not in plain.to_dict()  # checkpoints of default runs keep their old dict
    a, b = _state(plain), _state(explicit)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_encoder_hidden_shapes_the_encoder_only(one_torch_thread):
    cfg = cfg_for(hidden=(32, 16), encoder_hidden=(64, 48, 24))
    model = build_model(cfg)
    widths = [m.out_features for m in model.encoder.body if isinstance(m, torch.nn.Linear)]
    assert widths == [64, 48, 24]
    assert model.encoder.head.in_features == 24
    plain = build_model(cfg_for(hidden=(32, 16)))
    dec = {k: v.shape for k, v in model.state_dict().items() if k.startswith("decoder.")}
    assert dec == {k: v.shape for k, v in plain.state_dict().items() if k.startswith("decoder.")}


def test_encoder_hidden_round_trips_and_fast_decoder_matches_torch(one_torch_thread):
    cfg = cfg_for(hidden=(32, 16), encoder_hidden=(64, 24))
    assert cfg.to_dict()["encoder_hidden"] == [64, 24]
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    torch.manual_seed(1)
    model = build_model(cfg).eval()
    fast = FastDecoder.from_model(model)
    rng = np.random.default_rng(0)
    for _ in range(5):
        z = rng.standard_normal(cfg.latent_dim).astype(np.float32)
        cond = np.array([rng.uniform(-1, 1)], dtype=np.float32)
        with torch.no_grad():
            ref = model.decode(torch.from_numpy(z)[None], torch.from_numpy(cond)[None])[0].numpy()
        np.testing.assert_allclose(fast.decode(z, cond), ref, atol=1e-4)


def test_encoder_hidden_rejects_nonpositive_sizes():
    try:
        cfg_for(encoder_hidden=(64, 0))
    except ValueError as e:
        assert "encoder_hidden" in str(e)
    else:
        raise AssertionError("encoder_hidden (64, 0) was accepted")
