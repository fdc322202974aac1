"""FastDecoder (numpy + numba) reproduces BetaVAE.decode and .controls for every arch it supports."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaesynth.models.config import ModelConfig
from vaesynth.models.fastdecode import FastDecoder
from vaesynth.models.vae import build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def perturbed_model(**kw):
    """A model whose weights are away from their initial values (biases included), in eval mode."""
    torch.manual_seed(0)
    base = dict(
        n_bins=257,
        n_fft=512,
        sample_rate=16000,
        f_ref_hz=200.0,
        latent_dim=4,
        hidden=(48, 32),
        n_noise_bands=8,
    )
    cfg = ModelConfig(**{**base, **kw})
    model = build_model(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


@pytest.mark.parametrize(
    "kw",
    [
        {"arch": "harmonic"},
        {"arch": "harmonic", "pitch_mode": "condition"},
        {"arch": "harmonic", "pitch_mode": "condition", "detune_cents": 30.0},
        {"arch": "harmonic", "likelihood": "bernoulli"},
        {"arch": "harmonic", "hidden": (48, 32, 24)},  # three trunk layers: numpy trunk, not the fused one
        {"arch": "mlp"},
        {"arch": "mlp400", "hidden": (40,), "likelihood": "bernoulli"},
        {"arch": "mlp", "pitch_mode": "condition", "likelihood": "gaussian_learned"},
    ],
)
def test_fast_decode_matches_torch_decode(kw):
    model = perturbed_model(**kw)
    fast = FastDecoder.from_model(model)
    for seed in range(3):
        z = torch.randn(1, 4, generator=torch.Generator().manual_seed(seed)) * 1.5
        cond = torch.tensor([[0.4 * seed - 0.4]]) if model.cfg.n_cond else None
        with torch.inference_mode():
            ref = model.decode(z, cond)[0].numpy()
        got = fast.decode(z[0].numpy(), None if cond is None else cond[0].numpy())
        # model space 1e-3 = 0.08 dB at db_range 80. Torch computes partial positions in float32, numba in
        # float64: a bin at the edge of a lobe's support can flip in or out (a -50 dB side lobe), so allow a
        # few such bins 0.4 dB off
        err = np.abs(got - ref)
        assert np.percentile(err, 99) < 1e-3 and err.max() < 5e-3, err.max()


def test_fast_controls_match_torch_controls():
    model = perturbed_model(arch="harmonic", pitch_mode="condition", detune_cents=20.0)
    fast = FastDecoder.from_model(model)
    z = torch.randn(1, 4)
    cond = torch.tensor([[0.25]])
    with torch.inference_mode():
        ref = model.controls(z, cond)
    got = fast.controls(z[0].numpy(), cond[0].numpy())
    np.testing.assert_allclose(got["amps_db"], ref["amps_db"][0].numpy(), atol=1e-3)
    np.testing.assert_allclose(got["noise_db"], ref["noise_db"][0].numpy(), atol=1e-3)
    for key in ("inharmonicity", "lobe_scale", "f0_ratio", "detune_cents"):
        assert got[key] == pytest.approx(float(ref[key][0]), rel=1e-5)


def test_conv_has_no_fast_path():
    with pytest.raises(ValueError, match="no fast decoder"):
        FastDecoder.from_model(build_model(ModelConfig(arch="conv", n_bins=129, n_fft=256, hidden=(4, 8))))


def test_frame_to_magnitudes_kernel_is_the_codec_plus_the_finite_guard_bit_for_bit():
    """The live one-vector path maps model space to magnitudes in one kernel pass: the same float32 values
    as FrameCodec.to_magnitudes followed by Instrument's guard (non-finite -> 0), floor (x <= 0) -> 0."""
    from vaesynth.models.fastdecode import frame_to_magnitudes_kernel
    from vaesynth.models.features import FrameCodec

    codec = FrameCodec(ref_db=-12.5, db_range=100.0, pitch_mode="normalize", f_ref_hz=220.0, clip_upper=False)
    rng = np.random.default_rng(3)
    x = rng.uniform(-0.5, 1.6, 4096).astype(np.float32)
    x[:5] = [0.0, np.nan, np.inf, -np.inf, 60.0]  # floor, garbage, and a value whose power overflows
    with np.errstate(over="ignore", invalid="ignore"):  # the overflowing value, on the codec's path
        ref = np.nan_to_num(codec.to_magnitudes(x[None, :])[0], nan=0.0, posinf=0.0, neginf=0.0)
    out = np.full(x.shape[0], -1.0, np.float32)
    frame_to_magnitudes_kernel(x, codec.db_range, codec.ref_db, out)
    np.testing.assert_array_equal(out, ref)
    assert out[:5].tolist() == [0.0, 0.0, 0.0, 0.0, 0.0] and (out[5:] > 0).any()
