"""FrameCodec: fitted on training frames only, exact logmag round trip, pitch normalisation against real STFT
frames of harmonic tones, conditioning values, serialisable state."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from vaesynth.models.config import ModelConfig
from vaesynth.models.features import FrameCodec, choose_f_ref_hz, resample_frequency
from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.spectral import magnitude

SPEC = SpectralConfig(sample_rate=16000, n_fft=1024, hop_length=256)
BIN_HZ = SPEC.sample_rate / SPEC.n_fft


def cfg_for(**kw) -> ModelConfig:
    return ModelConfig(n_bins=SPEC.n_bins, n_fft=SPEC.n_fft, sample_rate=SPEC.sample_rate, **kw)


def harmonic_frame(f0_hz: float, n_partials: int = 12, gain: float = 1.0) -> np.ndarray:
    """An interior STFT magnitude frame [n_bins] of a harmonic tone with 1/k amplitudes."""
    t = np.arange(SPEC.n_fft * 4) / SPEC.sample_rate
    x = sum(gain / k * np.sin(2 * np.pi * k * f0_hz * t + 0.7 * k) for k in range(1, n_partials + 1))
    return magnitude(x, SPEC)[6]


def peak_bins_near(frame: np.ndarray, expected_bins: np.ndarray, search: int = 3) -> np.ndarray:
    """For each expected bin, the bin of the largest value within ± search bins (a partial's peak)."""
    out = []
    for e in expected_bins:
        lo = int(round(e)) - search
        out.append(lo + int(np.argmax(frame[lo : lo + 2 * search + 1])))
    return np.array(out)


def test_fit_uses_only_the_training_frames():
    rng = np.random.default_rng(0)
    train = rng.uniform(0.0, 1.0, (20, SPEC.n_bins)).astype(np.float32)
    held_out = 4.0 * train[:3]  # 12 dB louder than anything in training
    codec = FrameCodec.fit(train, None, cfg_for())
    assert codec.ref_db == pytest.approx(20 * np.log10(train.max()), abs=1e-4)
    x_train, _ = codec.to_model(train)
    assert x_train.max() == pytest.approx(1.0, abs=1e-6)
    x_held, _ = codec.to_model(held_out)
    assert x_held.max() == pytest.approx(1.0 + 20 * np.log10(4.0) / codec.db_range, abs=1e-4)
    bern = FrameCodec.fit(train, None, cfg_for(likelihood="bernoulli"))
    assert bern.to_model(held_out)[0].max() == 1.0  # Bernoulli data stays in [0, 1]


def test_round_trip_is_exact_without_pitch_shift():
    rng = np.random.default_rng(1)
    mags = (10 ** rng.uniform(-3, 0, (8, SPEC.n_bins))).astype(np.float32)  # within the 80 dB range
    mags[0, :5] = 0.0  # silence maps to the floor and back to 0
    f0 = np.full(8, 300.0)
    for pitch_mode in ("normalize", "condition"):
        codec = FrameCodec.fit(mags, f0, cfg_for(pitch_mode=pitch_mode, f_ref_hz=300.0))
        x, _ = codec.to_model(mags, f0)
        np.testing.assert_allclose(codec.to_magnitudes(x, f0), mags, rtol=2e-5, atol=0)
        np.testing.assert_allclose(codec.to_magnitudes(x), mags, rtol=2e-5, atol=0)


def test_below_the_floor_maps_to_zero():
    mags = np.ones((2, SPEC.n_bins), dtype=np.float32)
    mags[1] = 10 ** (-100 / 20)  # 100 dB below the reference, db_range 80
    codec = FrameCodec.fit(mags, None, cfg_for())
    x, _ = codec.to_model(mags)
    assert np.all(x[1] == 0.0)
    assert np.all(codec.to_magnitudes(x)[1] == 0.0)


@pytest.mark.parametrize("f0_hz", [131.0, 207.5, 311.0])
def test_pitch_normalisation_puts_partial_k_at_k_times_f_ref(f0_hz):
    f_ref = 220.0
    frames = np.stack([harmonic_frame(f0_hz), harmonic_frame(f_ref)])
    f0 = np.array([f0_hz, f_ref])
    codec = FrameCodec.fit(frames, f0, cfg_for(f_ref_hz=f_ref))
    x, cond = codec.to_model(frames, f0)
    assert cond is None
    n = 8
    expected = np.arange(1, n + 1) * f_ref / BIN_HZ
    np.testing.assert_allclose(peak_bins_near(x[0], expected), expected, atol=1.0)
    # at the frame's own pitch the partials sit at k·f0 (the search window would catch them elsewhere)
    own = np.arange(1, n + 1) * f0_hz / BIN_HZ
    assert np.max(np.abs(peak_bins_near(x[0], own) - own)) > 1.0 or abs(f0_hz - f_ref) < 10
    # and back to the frame's own pitch: partials at k·f0 within a bin
    back = codec.to_magnitudes(x, f0)
    np.testing.assert_allclose(peak_bins_near(back[0], own), own, atol=1.0)


def test_resample_frequency_matches_np_interp():
    rng = np.random.default_rng(2)
    mags = rng.uniform(0, 1, (3, 50)).astype(np.float32)
    ratio = np.array([0.7, 1.0, 1.9])
    out = resample_frequency(mags, ratio)
    bins = np.arange(50)
    for i in range(3):
        ref = np.interp(bins * ratio[i], bins, mags[i], right=0.0)
        np.testing.assert_allclose(out[i], ref, rtol=1e-6, atol=1e-7)


def test_unknown_f0_leaves_the_frame_unshifted():
    frames = np.stack([harmonic_frame(150.0), harmonic_frame(150.0)])
    codec = FrameCodec.fit(frames, np.array([150.0, np.nan]), cfg_for(f_ref_hz=220.0))
    x, _ = codec.to_model(frames, np.array([np.nan, np.nan]))
    x_none, _ = codec.to_model(frames, None)
    np.testing.assert_array_equal(x, x_none)
    above_floor = np.where(20 * np.log10(frames) > codec.ref_db - codec.db_range, frames, 0.0)
    np.testing.assert_allclose(codec.to_magnitudes(x, np.array([np.nan, np.nan])), above_floor, rtol=2e-5)


def test_condition_mode_gives_log2_pitch_and_keeps_frames():
    frames = np.stack([harmonic_frame(110.0), harmonic_frame(440.0), harmonic_frame(220.0)])
    f0 = np.array([110.0, 440.0, np.nan])
    codec = FrameCodec.fit(frames, f0, cfg_for(pitch_mode="condition", f_ref_hz=220.0))
    x, cond = codec.to_model(frames, f0)
    np.testing.assert_allclose(cond[:, 0], [-1.0, 1.0, 0.0], atol=1e-6)
    above_floor = np.where(20 * np.log10(frames) > codec.ref_db - codec.db_range, frames, 0.0)
    np.testing.assert_allclose(codec.to_magnitudes(x), above_floor, rtol=2e-5)


def test_state_is_plain_and_round_trips_through_torch_weights_only():
    frames = np.stack([harmonic_frame(180.0), harmonic_frame(260.0)])
    f0 = np.array([180.0, 260.0])
    codec = FrameCodec.fit(frames, f0, cfg_for(f_ref_hz=choose_f_ref_hz(f0)))
    state = json.loads(json.dumps(codec.state_dict()))
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    again = FrameCodec.from_state(torch.load(buf, weights_only=True))
    np.testing.assert_array_equal(again.to_model(frames, f0)[0], codec.to_model(frames, f0)[0])
    assert again.f_ref_hz == pytest.approx(220.0)


def test_choose_f_ref_hz_is_the_median_known_f0():
    assert choose_f_ref_hz(np.array([100.0, np.nan, 300.0, 200.0, 0.0])) == 200.0
    assert choose_f_ref_hz(None, default=110.0) == 110.0
    assert choose_f_ref_hz(np.array([np.nan])) == 110.0


def test_fit_refuses_mismatched_analysis():
    with pytest.raises(ValueError, match="sample_rate"):
        FrameCodec.fit(np.ones((2, SPEC.n_bins)), None, cfg_for(), sample_rate=44100, n_fft=SPEC.n_fft)
