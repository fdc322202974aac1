"""FrameCodec's per-frame floor (ModelConfig.frame_floor_db): bins further below their own frame's peak are
raised to peak - frame_floor_db, everything within it is untouched, and 0 keeps the global floor alone."""

from __future__ import annotations

import numpy as np

from vaesynth.models.config import ModelConfig
from vaesynth.models.features import FrameCodec

N_BINS = 65


def cfg_for(**kw) -> ModelConfig:
    return ModelConfig(n_bins=N_BINS, n_fft=2 * (N_BINS - 1), pitch_mode="condition", **kw)


def frames_db() -> np.ndarray:
    """Two frames in dB re the loudest bin: a loud one (peak 0 dB) and a quiet one (peak -50 dB), each
    falling linearly by 120 dB across the bins."""
    slope = np.linspace(0.0, -120.0, N_BINS)
    return np.stack([slope, slope - 50.0])


def test_frame_floor_raises_only_bins_below_peak_minus_floor():
    db = frames_db()
    mags = 10.0 ** (db / 20.0)
    codec = FrameCodec.fit(mags, None, cfg_for(db_range=200.0, frame_floor_db=70.0))
    x, _ = codec.to_model(mags)
    got_db = (x - 1.0) * codec.db_range
    expected = np.maximum(db, db.max(axis=1, keepdims=True) - 70.0)
    np.testing.assert_allclose(got_db, expected, atol=1e-4)


def test_quiet_frame_keeps_its_60_db_with_the_frame_floor_but_not_without():
    db = frames_db()
    mags = 10.0 ** (db / 20.0)
    within = db[1] >= db[1].max() - 60.0
    plain = FrameCodec.fit(mags, None, cfg_for(db_range=80.0))
    floored = FrameCodec.fit(mags, None, cfg_for(db_range=140.0, frame_floor_db=70.0))
    for codec, exact in ((plain, False), (floored, True)):
        x, _ = codec.to_model(mags)
        back_db = 20.0 * np.log10(np.maximum(codec.to_magnitudes(x), 1e-30))
        err = np.abs(back_db[1, within] - db[1, within]).max()
        assert (err < 1e-3) if exact else (err > 20.0), err


def test_frame_floor_state_round_trips_and_old_states_mean_off():
    mags = 10.0 ** (frames_db() / 20.0)
    codec = FrameCodec.fit(mags, None, cfg_for(db_range=140.0, frame_floor_db=70.0))
    again = FrameCodec.from_state(codec.state_dict())
    np.testing.assert_array_equal(again.to_model(mags)[0], codec.to_model(mags)[0])
    old = {k: v for k, v in codec.state_dict().items() if k != "frame_floor_db"}
    assert FrameCodec.from_state(old).frame_floor_db == 0.0


def test_floor_db_moves_the_reference_so_quiet_frames_keep_their_spectrum():
    """floor_db 120 with db_range 80: the loudest bin maps to 1 + 40/80, the floor lies 120 dB below it, and
    a frame 50 dB down round-trips exactly over its 60 dB (the plain codec clips it)."""
    db = frames_db()
    mags = 10.0 ** (db / 20.0)
    codec = FrameCodec.fit(mags, None, cfg_for(db_range=80.0, floor_db=120.0))
    x, _ = codec.to_model(mags)
    assert abs(float(x.max()) - 1.5) < 1e-6
    back_db = 20.0 * np.log10(np.maximum(codec.to_magnitudes(x), 1e-30))
    kept = db > -120.0 + 1e-6
    np.testing.assert_allclose(back_db[kept], db[kept], atol=1e-3)
    assert np.all(x[~kept] == 0.0)


def test_floor_db_starts_the_harmonic_decoder_at_the_same_level_re_the_loudest_bin():
    from vaesynth.models.harmonic import HarmonicDecoder

    plain = HarmonicDecoder(cfg_for(db_range=80.0))
    deep = HarmonicDecoder(cfg_for(db_range=80.0, floor_db=120.0))
    # bias b -> db_range * (b - 1) dB re the reference; the deep codec's loudest bin is 40 dB above it
    assert abs(80.0 * (float(plain.amp_head.bias[0].detach()) - 1.0) - (-40.0)) < 1e-5
    assert abs(80.0 * (float(deep.amp_head.bias[0].detach()) - 1.0) - 40.0 - (-40.0)) < 1e-5
    assert abs(80.0 * (float(deep.noise_head.bias[0].detach()) - 1.0) - 40.0 - (-70.0)) < 1e-5
