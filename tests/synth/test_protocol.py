"""Timbre refuses what must never reach a renderer: non-finite or negative magnitudes, a wrong shape, a
reference pitch outside (0, Nyquist); it accepts silence and float64 input (stored as float32)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.synth.timbres import CONFIG, F_REF_HZ
from vaesynth.synth.protocol import Timbre


def frame(value=0.5, at=None, fill=0.1):
    m = np.full(CONFIG.n_bins, fill, np.float32)
    if at is not None:
        m[at] = value
    return m


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, -1e-6, np.float32(-0.5)])
@pytest.mark.parametrize("at", [0, CONFIG.n_bins // 2, CONFIG.n_bins - 1])
def test_timbre_refuses_a_non_finite_or_negative_bin_anywhere(bad, at):
    with pytest.raises(ValueError, match="finite and non-negative"):
        Timbre(frame(bad, at), CONFIG, F_REF_HZ)


def test_timbre_accepts_silence_negative_zero_and_float64_as_float32():
    assert not np.any(Timbre(frame(fill=0.0), CONFIG, F_REF_HZ).magnitudes)
    Timbre(frame(-0.0, 3), CONFIG, F_REF_HZ)
    t = Timbre(frame().astype(np.float64), CONFIG, F_REF_HZ)
    assert t.magnitudes.dtype == np.float32 and t.magnitudes.flags.c_contiguous
    big = frame(float(np.finfo(np.float32).max), 7)
    assert Timbre(big, CONFIG, F_REF_HZ).magnitudes[7] == np.finfo(np.float32).max


def test_timbre_refuses_a_wrong_shape_or_reference_pitch():
    with pytest.raises(ValueError, match="magnitudes must be"):
        Timbre(np.zeros(CONFIG.n_bins - 1, np.float32), CONFIG, F_REF_HZ)
    for f in (0.0, -10.0, CONFIG.sample_rate / 2):
        with pytest.raises(ValueError, match="f_ref_hz"):
            Timbre(frame(), CONFIG, f)
