"""BetaVAE: every arch x likelihood trains, configs round-trip, KL/NLL against torch.distributions, warm-up,
free bits, batch == one-at-a-time, and the harmonic decoder against a real windowed sinusoid."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from vaesynth.models.config import ARCHS, LIKELIHOODS, PITCH_MODES, ModelConfig
from vaesynth.models.harmonic import HarmonicDecoder, estimate_comb, estimate_inharmonicity
from vaesynth.models.vae import build_model

SR = 8000
N_FFT = 256
N_BINS = N_FFT // 2 + 1
TINY_HIDDEN = {"mlp400": (32,), "mlp": (32, 16), "conv": (4, 8), "harmonic": (32, 16)}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_cfg(arch="harmonic", likelihood="gaussian", pitch_mode="normalize", **kw) -> ModelConfig:
    return ModelConfig(
        arch=arch,
        n_bins=N_BINS,
        latent_dim=3,
        likelihood=likelihood,
        hidden=TINY_HIDDEN[arch],
        pitch_mode=pitch_mode,
        f_ref_hz=250.0,
        sample_rate=SR,
        n_fft=N_FFT,
        n_partials=12,
        n_noise_bands=8,
        **kw,
    )


def harmonic_frames(n_frames: int, seed: int = 0) -> torch.Tensor:
    """Model-space frames of harmonic tones at 250 Hz with random spectral slopes: peaks on bins 8, 16, ..."""
    rng = np.random.default_rng(seed)
    bins = np.arange(N_BINS)
    x = np.zeros((n_frames, N_BINS))
    for i in range(n_frames):
        slope = rng.uniform(0.02, 0.1)
        for k in range(1, 13):
            x[i] = np.maximum(x[i], (0.9 - slope * k) * np.exp(-0.5 * ((bins - 8 * k) / 0.8) ** 2))
    return torch.tensor(np.clip(x, 0.0, 1.0), dtype=torch.float32)


def cond_for(cfg: ModelConfig, n: int):
    return torch.linspace(-0.5, 0.5, n)[:, None] if cfg.n_cond else None


def seeded_loss(model, x, beta, cond, seed=0):
    torch.manual_seed(seed)
    return model.loss(x, beta, cond)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_loss_is_finite_and_decreases_for_every_arch_and_likelihood(arch, likelihood):
    torch.manual_seed(0)
    cfg = tiny_cfg(arch, likelihood)
    model = build_model(cfg)
    x = harmonic_frames(32)
    before = seeded_loss(model, x, 1.0, None)["loss"].item()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(40):
        out = model.loss(x, 1.0)
        assert torch.isfinite(out["loss"])
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    after = seeded_loss(model, x, 1.0, None)["loss"].item()
    assert math.isfinite(after)
    assert after < before - 0.05 * abs(before), (before, after)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("likelihood", LIKELIHOODS)
@pytest.mark.parametrize("pitch_mode", PITCH_MODES)
def test_config_round_trips_and_every_config_builds(arch, likelihood, pitch_mode):
    cfg = tiny_cfg(arch, likelihood, pitch_mode, beta=2.0, warmup_steps=10, free_bits=0.1)
    d = json.loads(json.dumps(cfg.to_dict()))  # plain JSON types only
    assert ModelConfig.from_dict(d) == cfg
    model = build_model(ModelConfig.from_dict(d))
    buf = io.BytesIO()
    torch.save({"config": cfg.to_dict(), "state": model.state_dict()}, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    again = build_model(ModelConfig.from_dict(loaded["config"]))
    again.load_state_dict(loaded["state"])
    model.eval()
    again.eval()
    z = torch.randn(4, cfg.latent_dim)
    cond = cond_for(cfg, 4)
    with torch.inference_mode():
        torch.testing.assert_close(again.decode(z, cond), model.decode(z, cond))


def test_from_dict_rejects_unknown_keys_and_bad_values():
    d = tiny_cfg().to_dict()
    with pytest.raises(ValueError, match="unknown ModelConfig keys: colour"):
        ModelConfig.from_dict({**d, "colour": "red"})
    with pytest.raises(ValueError, match="arch"):
        ModelConfig.from_dict({**d, "arch": "transformer"})
    with pytest.raises(ValueError, match="n_fft"):
        ModelConfig.from_dict({**d, "n_fft": 512})


@pytest.mark.parametrize("arch", ARCHS)
def test_loss_kl_matches_torch_distributions_closed_form(arch):
    torch.manual_seed(1)
    cfg = tiny_cfg(arch)
    model = build_model(cfg)
    x = harmonic_frames(16)
    out = seeded_loss(model, x, 1.0, None)
    mu, logvar = model.encode(x)
    ref = kl_divergence(
        Normal(mu, torch.exp(0.5 * logvar)), Normal(torch.zeros_like(mu), torch.ones_like(mu))
    )
    torch.testing.assert_close(out["kl_per_dim"], ref.mean(0), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out["kl"], ref.sum(-1).mean(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_recon_nll_matches_torch_distributions_log_prob(likelihood):
    torch.manual_seed(2)
    cfg = tiny_cfg("mlp", likelihood)
    model = build_model(cfg)
    x = harmonic_frames(8)
    raw = torch.randn(8, N_BINS) * 0.3 + 0.5
    nll = model.recon_nll(x, raw)
    if likelihood == "bernoulli":
        ref = -Bernoulli(logits=raw, validate_args=False).log_prob(x).sum(-1)
    elif likelihood == "gaussian":
        ref = -Normal(raw, cfg.sigma).log_prob(x).sum(-1)
    else:
        ref = -Normal(raw, torch.exp(model.obs_logstd)).log_prob(x).sum(-1)
    torch.testing.assert_close(nll, ref, rtol=1e-5, atol=1e-3)


def test_beta_at_warmup_schedule_values():
    model = build_model(tiny_cfg(beta=4.0, warmup_steps=100))
    assert [model.beta_at(s) for s in (0, 25, 50, 100, 1000)] == pytest.approx([0.0, 1.0, 2.0, 4.0, 4.0])
    assert build_model(tiny_cfg(beta=3.0)).beta_at(0) == 3.0


def test_free_bits_floor_holds_the_kl_term_and_blocks_its_gradient():
    torch.manual_seed(3)
    free_bits = 50.0  # far above the KL of an untrained encoder on these frames
    cfg = tiny_cfg("mlp", free_bits=free_bits)
    model = build_model(cfg)
    x = harmonic_frames(16)
    out = seeded_loss(model, x, 2.0, None)
    assert torch.all(out["kl_per_dim"] < free_bits)
    kl_term = out["loss"] - out["recon"] - cfg.sc_weight * out["spectral"]
    assert kl_term.item() == pytest.approx(2.0 * cfg.latent_dim * free_bits, rel=1e-5)
    # the KL term is constant below the floor: the encoder gets no gradient from it
    kl_term.backward()
    assert all(p.grad is None or torch.all(p.grad == 0) for p in model.encoder.parameters())
    # without free bits the same term is beta * KL
    model0 = build_model(tiny_cfg("mlp"))
    out0 = seeded_loss(model0, x, 2.0, None)
    torch.testing.assert_close(
        out0["loss"] - out0["recon"] - model0.cfg.sc_weight * out0["spectral"],
        2.0 * out0["kl"],
        rtol=1e-4,
        atol=1e-2,
    )


def test_spectral_term_matches_metrics_spectral_convergence():
    from vaesynth.training.metrics import spectral_convergence

    model = build_model(tiny_cfg("mlp"))
    x = harmonic_frames(1)
    x_hat = (x * 0.9 + 0.05).clamp(0, 1)
    to_mag = lambda v: np.where(v.numpy() > 0, 10 ** ((v.numpy() - 1) * model.cfg.db_range / 20), 0.0)  # noqa: E731
    ref = spectral_convergence(to_mag(x), to_mag(x_hat)) ** 2
    # model space 0 is the floor (-db_range dB), not exact silence: allow that much
    assert model.spectral_convergence_sq(x, x_hat).item() == pytest.approx(ref, rel=1e-3)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("pitch_mode", PITCH_MODES)
def test_batch_matches_one_at_a_time(arch, pitch_mode):
    torch.manual_seed(4)
    cfg = tiny_cfg(arch, pitch_mode=pitch_mode)
    model = build_model(cfg).eval()
    x = harmonic_frames(5)
    cond = cond_for(cfg, 5)
    with torch.inference_mode():
        mu, logvar = model.encode(x, cond)
        x_hat = model.decode(mu, cond)
        for i in range(5):
            c = None if cond is None else cond[i : i + 1]
            mu_i, logvar_i = model.encode(x[i : i + 1], c)
            torch.testing.assert_close(mu_i, mu[i : i + 1], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(logvar_i, logvar[i : i + 1], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(model.decode(mu[i : i + 1], c), x_hat[i : i + 1], rtol=1e-5, atol=1e-5)


def _single_partial_controls(decoder: HarmonicDecoder, f0_hz: float, amp_db: float = -6.0) -> dict:
    k = decoder.n_partials
    amps_db = torch.full((1, k), -400.0)
    amps_db[0, 0] = amp_db
    return {
        "amps_db": amps_db,
        "inharmonicity": torch.zeros(1),
        "lobe_scale": torch.ones(1),
        "noise_db": torch.full((1, decoder.cfg.n_noise_bands), -400.0),
        "f0_ratio": torch.tensor([f0_hz / decoder.cfg.f_ref_hz]),
    }


@pytest.mark.parametrize("f0_hz", [1000.0, 1013.7])
def test_harmonic_render_matches_fft_of_windowed_sinusoid(f0_hz):
    n_fft, sr = 1024, 8000
    cfg = ModelConfig(
        n_bins=n_fft // 2 + 1,
        n_fft=n_fft,
        sample_rate=sr,
        f_ref_hz=1000.0,
        n_partials=3,
        hidden=(16,),
        latent_dim=2,
        pitch_mode="condition",
    )
    dec = HarmonicDecoder(cfg)
    mag = dec.render(_single_partial_controls(dec, f0_hz))[0].detach().numpy()
    win = np.hanning(n_fft + 1)[:-1]  # periodic hann
    t = np.arange(n_fft) / sr
    # a cosine of amplitude A peaks at A·|W(0)|/2 = A·sum(win)/2 in the FFT; amps_db is that peak
    # re the reference level, so scale the FFT by 2/sum(win) and the -6 dB amplitude
    ref = np.abs(np.fft.rfft(win * np.cos(2 * np.pi * f0_hz * t + 0.3))) * 2 / win.sum() * 10 ** (-6 / 20)
    peak_bin = f0_hz / (sr / n_fft)
    assert int(np.argmax(mag)) == int(np.argmax(ref)) == int(round(peak_bin))
    near = np.abs(np.arange(cfg.n_bins) - peak_bin) < 2.0  # the main lobe
    np.testing.assert_allclose(20 * np.log10(mag[near]), 20 * np.log10(ref[near]), atol=0.1)
    side = (np.abs(np.arange(cfg.n_bins) - peak_bin) >= 2.0) & (
        np.abs(np.arange(cfg.n_bins) - peak_bin) < 4.0
    )
    # side lobes (exact zeros of hann at integer offsets: compare above a -100 dB floor)
    np.testing.assert_allclose(
        np.maximum(20 * np.log10(mag[side]), -100), np.maximum(20 * np.log10(ref[side]), -100), atol=1.0
    )


def test_harmonic_render_places_inharmonic_partials_on_the_stiff_string_law():
    cfg = tiny_cfg()  # 12 partials
    dec = HarmonicDecoder(cfg)
    b = 0.003
    for k in (3, 7, 12):
        c = _single_partial_controls(dec, cfg.f_ref_hz)
        c["amps_db"] = torch.full_like(c["amps_db"], -400.0)
        c["amps_db"][0, k - 1] = 0.0
        c["inharmonicity"] = torch.tensor([b])
        mag = dec.render(c)[0].detach().numpy()
        expected_bin = k * cfg.f_ref_hz * math.sqrt(1 + (k * k - 1) * b) / (SR / N_FFT)
        assert abs(int(np.argmax(mag)) - expected_bin) <= 0.5


def test_estimate_inharmonicity_recovers_the_rendered_b():
    n_fft, sr = 2048, 44100
    cfg = ModelConfig(
        n_bins=n_fft // 2 + 1,
        n_fft=n_fft,
        sample_rate=sr,
        f_ref_hz=110.0,
        n_partials=30,
        hidden=(16,),
        latent_dim=2,
    )
    dec = HarmonicDecoder(cfg)
    true_b = torch.tensor([0.0, 0.0004, 0.0011, 0.002])
    k = torch.arange(1, 31, dtype=torch.float32)
    c = {
        "amps_db": (-20.0 * torch.log10(k)).expand(4, -1),
        "inharmonicity": true_b,
        "lobe_scale": torch.ones(4),
        "noise_db": torch.full((4, cfg.n_noise_bands), -90.0),
        "f0_ratio": torch.ones(4),
    }
    x = dec.to_model_space(dec.render(c))
    est = estimate_inharmonicity(x, torch.ones(4), cfg)
    torch.testing.assert_close(est, true_b, atol=1e-5, rtol=0)


def test_estimate_comb_recovers_detune_and_b_of_a_mistuned_tone():
    n_fft, sr = 2048, 44100
    cfg = ModelConfig(
        n_bins=n_fft // 2 + 1,
        n_fft=n_fft,
        sample_rate=sr,
        f_ref_hz=220.0,
        n_partials=30,
        hidden=(16,),
        latent_dim=2,
        detune_cents=30.0,
        pitch_mode="condition",
    )
    dec = HarmonicDecoder(cfg)
    true_cents = torch.tensor([-12.0, 0.0, 21.0])
    true_b = torch.tensor([0.0008, 0.0, 0.0003])
    k = torch.arange(1, 31, dtype=torch.float32)
    c = {
        "amps_db": (-20.0 * torch.log10(k)).expand(3, -1),
        "inharmonicity": true_b,
        "lobe_scale": torch.ones(3),
        "noise_db": torch.full((3, cfg.n_noise_bands), -90.0),
        "f0_ratio": torch.exp2(true_cents / 1200.0) * 1.5,
    }  # nominal pitch 330 Hz, mistuned
    x = dec.to_model_space(dec.render(c))
    b, cents = estimate_comb(x, torch.full((3,), 1.5), cfg)
    torch.testing.assert_close(cents, true_cents, atol=1.6, rtol=0)  # grid step 3 cents
    torch.testing.assert_close(b, true_b, atol=3e-5, rtol=0)


def test_controls_are_refused_for_non_parametric_archs():
    model = build_model(tiny_cfg("mlp"))
    with pytest.raises(ValueError, match="no parametric controls"):
        model.controls(torch.zeros(1, 3))


def test_conditioned_model_requires_cond():
    model = build_model(tiny_cfg("mlp", pitch_mode="condition"))
    with pytest.raises(ValueError, match="pitch-conditioned"):
        model.encode(harmonic_frames(2))
