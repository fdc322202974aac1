"""Oscillator bank: partial amplitudes from a spectrum, additive synthesis vs a float64 reference, pitch,
Nyquist handling, click-free timbre changes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.synth.timbres import (
    click_ratio,
    harmonic_timbre,
    measure_f0_hz,
    sawtooth_amplitudes,
    square_amplitudes,
)
from vaesynth.synth.engine import Engine
from vaesynth.synth.oscbank import NYQUIST_FADE_START, OscBankRenderer, harmonic_amplitudes


def test_harmonic_amplitudes_match_source_partials():
    amps = square_amplitudes(40)
    est = harmonic_amplitudes(harmonic_timbre(amps))
    odd = amps > 0
    # Present partials within 0.01 dB (hann scalloping alone would be up to 1.4 dB uncorrected).
    err_db = 20 * np.log10(est[:40][odd] / amps[odd])
    assert np.max(np.abs(err_db)) < 0.01, err_db
    # Absent (even) partials pick up only the neighbours' window skirts: at least 50 dB below the fundamental.
    assert np.all(est[:40][~odd] < amps[0] * 10 ** (-50 / 20))


def _render_direct(renderer, f0_hz, n_chunks, slot=0):
    chunk = renderer.chunk_size
    f0 = np.zeros(renderer.max_voices, np.float32)
    f0[slot] = f0_hz
    gain = np.zeros((renderer.max_voices, chunk), np.float32)
    gain[slot] = 1.0
    active = np.zeros(renderer.max_voices, bool)
    active[slot] = True
    renderer.start_voice(slot, f0_hz)
    out = np.zeros(n_chunks * chunk, np.float32)
    for i in range(n_chunks):
        renderer.render(f0, gain, active, out[i * chunk : (i + 1) * chunk])
    return out


def test_oscbank_matches_float64_additive_reference():
    sr, f0 = 48000, 261.6255653
    timbre = harmonic_timbre(sawtooth_amplitudes(30))
    r = OscBankRenderer(sr, 4, chunk_size=64, timbre_ramp_ms=1.0)
    r.set_timbre(timbre)
    # Let the 1 ms timbre ramp settle on an idle bank, then start the voice.
    idle = np.zeros(4, bool)
    for _ in range(4):
        r.render(np.zeros(4, np.float32), np.zeros((4, 64), np.float32), idle, np.zeros(64, np.float32))
    y = _render_direct(r, f0, 300)  # 0.4 s: many chunks, so phase continuity across chunks is exercised
    amps = harmonic_amplitudes(timbre)
    f0 = float(np.float32(f0))  # the protocol hands pitches over as float32
    n = np.arange(len(y))
    k = np.arange(1, len(amps) + 1)
    ref = np.zeros(len(y))
    for kk, a in zip(k, amps, strict=False):
        if kk * f0 < NYQUIST_FADE_START * sr / 2:
            ref += a * np.sin(2 * np.pi * kk * f0 * n / sr)
    # float32 recurrence re-derived from float64 phase every chunk: error ~1e-6 of full scale.
    assert np.max(np.abs(y - ref)) < 2e-5 * np.max(np.abs(ref))


@pytest.mark.parametrize("note", [24, 36, 48, 60, 69, 84, 96, 108])
def test_rendered_pitch_within_5_cents_of_midi_note(note):
    sr = 48000
    e = Engine(sr, timbre=harmonic_timbre(sawtooth_amplitudes(30)))
    e.note_on(note, 100, at_sample=0)
    y = e.process(sr)[sr // 10 :]  # skip the attack
    expected = 440.0 * 2 ** ((note - 69) / 12)
    cents = 1200 * np.log2(measure_f0_hz(y.astype(np.float64), sr, expected) / expected)
    assert abs(cents) < 5.0, cents


def test_no_partials_at_or_above_nyquist_and_fade_near_it():
    sr, note = 22050, 96  # f0 2093 Hz: partial 5 (10465 Hz) is in the fade band, partial 6 above Nyquist
    f0 = 440.0 * 2 ** ((note - 69) / 12)
    r = OscBankRenderer(sr, 2, chunk_size=64, timbre_ramp_ms=1.0)
    r.set_timbre(harmonic_timbre(np.full(12, 0.05), f_ref_hz=220.0))
    idle = np.zeros(2, bool)
    for _ in range(2):
        r.render(np.zeros(2, np.float32), np.zeros((2, 64), np.float32), idle, np.zeros(64, np.float32))
    y = _render_direct(r, f0, 400).astype(np.float64)[2048:]
    n = np.arange(len(y))
    nyq = sr / 2
    alias_6 = sr - 6 * f0  # where partial 6 would fold to
    freqs = [f0, 2 * f0, 3 * f0, 4 * f0, 5 * f0, alias_6]
    # Least-squares sinusoid fit at the known frequencies: exact amplitudes, no window scalloping.
    basis = np.concatenate(
        [[np.sin(2 * np.pi * f * n / sr), np.cos(2 * np.pi * f * n / sr)] for f in freqs]
    ).T
    coef = np.linalg.lstsq(basis, y, rcond=None)[0]
    amp = dict(zip(freqs, np.hypot(coef[0::2], coef[1::2]), strict=True))

    def level(f):
        return amp[f]

    assert level(alias_6) < 1e-5 * level(f0)
    fade_lo = NYQUIST_FADE_START * nyq
    expected = 0.5 * (1 + np.cos(np.pi * (5 * f0 - fade_lo) / (nyq - fade_lo)))
    assert level(5 * f0) / level(f0) == pytest.approx(expected, rel=1e-3)
    assert level(2 * f0) / level(f0) == pytest.approx(1.0, rel=1e-3)


def test_timbre_change_is_click_free():
    sr = 48000
    saw, square = harmonic_timbre(sawtooth_amplitudes(30)), harmonic_timbre(square_amplitudes(30, 0.5))

    def sustained(timbre_first, timbre_then=None, change_at=None, n=sr // 2):
        e = Engine(sr, timbre=timbre_first)
        e.note_on(57, 127, at_sample=0)
        if timbre_then is not None:
            e.set_timbre(timbre_then, at_sample=change_at)
        return e.process(n).astype(np.float64)

    change = 12000  # a chunk boundary, 0.25 s in: the envelope is at its sustain level
    y = sustained(saw, square, change)
    steady = np.concatenate([sustained(saw)[6000:change], sustained(square)[change + 2000 :]])
    # The partials move linearly over 8 ms; the largest jump during the move stays within the larger of the
    # two steady-state jumps plus the (tiny) per-sample amplitude slope: bound 1.05.
    assert click_ratio(y, change, 2000, steady) < 1.05
