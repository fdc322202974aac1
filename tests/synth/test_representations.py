"""Representation registry round trips (exact and approximate, with measured bounds) and the Normalizer."""

from __future__ import annotations

import numpy as np
import pytest

from vaesynth.synth import spectral
from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.representations import (
    LOGMAG_FLOOR_DB,
    LOGMAG_RANGE_DB,
    Normalizer,
    cqt_settings,
    get_representation,
    logmag,
    logmag_inverse,
    reference_magnitude,
    representation_names,
)

CFG = SpectralConfig(sample_rate=8000, n_fft=512, hop_length=128)


def tone(n_samples: int, sample_rate: int, f0_hz: float = 220.0) -> np.ndarray:
    """Harmonic tone with 1% vibrato under a Hann envelope, partials below 0.45 * sample_rate."""
    t = np.arange(n_samples) / sample_rate
    phase = 2 * np.pi * f0_hz * (t - 0.01 / (2 * np.pi * 5) * np.cos(2 * np.pi * 5 * t))
    x = sum(0.5 ** k * np.sin(k * phase + k) for k in range(1, 12) if k * f0_hz < 0.45 * sample_rate)
    return x * np.hanning(n_samples)


def test_registry_lists_every_representation_default_first():
    assert representation_names() == ["logmag", "linear", "magphase", "mdct", "cqt"]
    exact = {n: get_representation(n).exact for n in representation_names()}
    assert exact == {"logmag": True, "linear": True, "magphase": True, "mdct": True, "cqt": False}
    assert get_representation().name == "logmag"
    with pytest.raises(ValueError, match="logmag, linear, magphase, mdct, cqt"):
        get_representation("mel")


def test_logmag_is_db_re_full_scale_sine_with_floor():
    x = 0.1 * np.sin(2 * np.pi * 1000.0 * np.arange(8000) / 8000)  # bin 64 exactly at n_fft 512
    mag = spectral.magnitude(x, CFG)
    db = logmag(mag, CFG)
    assert reference_magnitude(CFG) == pytest.approx(CFG.n_fft / 4)
    assert db[10, 64] == pytest.approx(-20.0, abs=0.01)  # amplitude 0.1 = -20 dBFS
    # Each frame is floored LOGMAG_RANGE_DB under its own peak: nothing of this frame reads below -100 dB,
    # and its far Hann sidelobes (the sine's window leakage) read exactly -100.
    assert db[10].min() == pytest.approx(-20.0 - LOGMAG_RANGE_DB, abs=0.01)
    assert np.sum(db[10] == db[10].min()) > CFG.n_bins // 2
    # digital silence, and frames quieter than the absolute floor, read exactly LOGMAG_FLOOR_DB
    assert np.all(logmag(np.zeros((3, CFG.n_bins)), CFG) == np.float32(LOGMAG_FLOOR_DB))
    tiny = reference_magnitude(CFG) * 10 ** ((LOGMAG_FLOOR_DB - 30) / 20)
    assert logmag(np.array([tiny]), CFG)[0] == np.float32(LOGMAG_FLOOR_DB)
    # a quiet frame keeps its own 80 dB: the floor follows the frame's level down to LOGMAG_FLOOR_DB
    quiet = logmag(mag * 1e-2, CFG)  # peak -60 dB: floor -140 dB
    np.testing.assert_allclose(quiet[10], db[10] - 40.0, atol=1e-3)
    quieter = logmag(mag * 1e-3, CFG)  # peak -80 dB: the absolute floor cuts its range to 60 dB
    np.testing.assert_allclose(quieter[10], np.maximum(db[10] - 60.0, LOGMAG_FLOOR_DB), atol=1e-3)
    # above the floor the inverse is exact (float32)
    above = db > db.min(axis=-1, keepdims=True)
    assert above.sum() > 0
    np.testing.assert_allclose(logmag_inverse(db, CFG)[above], mag[above], rtol=1e-5)


@pytest.mark.parametrize("name", ["logmag", "linear"])
def test_magnitude_representations_roundtrip_exactly(name):
    rep = get_representation(name)
    assert rep.domain == "magnitude"
    x = tone(4000, CFG.sample_rate) + 1e-3 * np.random.default_rng(0).standard_normal(4000)
    mag = spectral.magnitude(x, CFG)
    frames = rep.forward(mag, CFG)
    assert frames.dtype == np.float32 and frames.shape == (mag.shape[0], rep.n_features(CFG))
    # exact wherever the magnitude is above its frame's logmag floor (everywhere for linear)
    db = logmag(mag, CFG)
    keep = db > db.min(axis=-1, keepdims=True)
    assert keep.mean() > 0.5
    np.testing.assert_allclose(rep.inverse(frames, CFG)[keep], mag[keep], rtol=1e-5)
    np.testing.assert_allclose(rep.to_magnitudes(frames, CFG)[keep], mag[keep], rtol=1e-5)


@pytest.mark.parametrize("name", ["magphase", "mdct"])
def test_audio_representations_roundtrip_exactly(name):
    rep = get_representation(name)
    assert rep.domain == "audio"
    x = np.random.default_rng(1).standard_normal(3001)
    frames = rep.forward(x, CFG)
    assert frames.dtype == np.float32 and frames.shape[1] == rep.n_features(CFG)
    np.testing.assert_allclose(rep.inverse(frames, CFG, len(x)), x, atol=1e-5)
    np.testing.assert_allclose(rep.to_magnitudes(frames, CFG, len(x)), spectral.magnitude(x, CFG), atol=1e-3)


def test_cqt_representation_inverse_is_approximate_with_measured_bound():
    rep = get_representation("cqt")
    x = tone(CFG.sample_rate, CFG.sample_rate)
    frames = rep.forward(x, CFG)
    s = cqt_settings(CFG)
    assert frames.shape == (1 + len(x) // CFG.hop_length, s["n_bins"])
    np.testing.assert_allclose(frames, np.abs(spectral.cqt(x, **s)), rtol=1e-5, atol=1e-7)
    y = rep.inverse(frames, CFG, len(x))
    # Magnitude-only frames: 32 fast Griffin-Lim iterations. Measured spectral convergence on this tone:
    # |CQT| 0.048, STFT magnitude 0.088 (0.087 / 0.149 at 44.1 kHz, n_fft 2048; zero iterations: 0.74).
    sc_cqt = np.linalg.norm(rep.forward(y, CFG) - frames) / np.linalg.norm(frames)
    mag = spectral.magnitude(x, CFG)
    sc_stft = np.linalg.norm(rep.to_magnitudes(frames, CFG, len(x)) - mag) / np.linalg.norm(mag)
    assert sc_cqt < 0.08
    assert sc_stft < 0.15


def test_normalizer_per_bin_standardises_and_inverts():
    rng = np.random.default_rng(2)
    train = rng.normal(loc=np.linspace(-80, 0, 6), scale=np.linspace(1, 10, 6), size=(5000, 6))
    norm = Normalizer(per_bin=True).fit(train)
    z = norm.transform(train)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=1e-4)
    np.testing.assert_allclose(norm.inverse_transform(z), train, atol=1e-4)
    g = Normalizer(per_bin=False).fit(train)
    assert g.mean.shape == (1,)
    assert g.mean[0] == pytest.approx(train.mean(), rel=1e-5)
    assert g.std[0] == pytest.approx(train.std(), rel=1e-5)


def test_normalizer_fitted_on_train_only_ignores_validation_values():
    rng = np.random.default_rng(3)
    train = rng.normal(size=(400, 8))
    val_a = rng.normal(size=(100, 8))
    val_b = 1000.0 * rng.normal(size=(100, 8)) + 50.0  # wildly different held-out frames
    na, nb = Normalizer().fit(train), Normalizer().fit(train)
    za, zb = na.transform(val_a), nb.transform(val_b)  # transforming held-out data never refits
    np.testing.assert_array_equal(na.state_dict()["mean"], nb.state_dict()["mean"])
    np.testing.assert_array_equal(na.state_dict()["std"], nb.state_dict()["std"])
    np.testing.assert_allclose(na.mean, train.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(za, (val_a - train.mean(axis=0)) / train.std(axis=0), rtol=1e-4, atol=1e-4)
    assert np.abs(zb).max() > 100  # the held-out outliers stay outliers: stats came from train


def test_normalizer_constant_bins_and_state_roundtrip():
    frames = np.full((50, 4), LOGMAG_FLOOR_DB)
    frames[:, 0] = np.linspace(-60, -10, 50)  # one varying bin; the rest sit at the floor
    norm = Normalizer().fit(frames)
    z = norm.transform(frames)
    assert np.all(np.isfinite(z)) and np.all(z[:, 1:] == 0.0)
    state = norm.state_dict()
    assert set(state) == {"mean", "std", "per_bin", "min_std_ratio"}
    assert all(isinstance(v, (np.ndarray, float)) for v in state.values())
    back = Normalizer.from_state(state)
    np.testing.assert_array_equal(back.transform(frames), z)
    torch = pytest.importorskip("torch")
    t_state = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in state.items()}
    from_torch = Normalizer.from_state(t_state)
    np.testing.assert_array_equal(from_torch.inverse_transform(z), norm.inverse_transform(z))
    with pytest.raises(RuntimeError, match="not fitted"):
        Normalizer().transform(frames)
