"""Offline FGLA phase for the istft engine (synth/istft_offline.py): pitch, level, spectral convergence to the
frames the live renderer draws, output bounds, and that the capture follows the live kernel."""

from __future__ import annotations

import numpy as np
import pytest

from tests.synth.test_offline import SlopeInstrument
from tests.synth.timbres import measure_f0_hz
from vaesynth.synth.controls import Controls
from vaesynth.synth.engine import Engine, make_renderer
from vaesynth.synth.istft import IstftRenderer
from vaesynth.synth.istft_offline import (
    IstftCaptureRenderer,
    note_spectral_convergence_db,
    reconstruct_note,
    render_messages_fgla,
)
from vaesynth.synth.offline import TimedMessage, render_messages

SR = 22050
CHUNK = 64
POLYPHONY = 4
NOTE = 57  # A3, 220 Hz


def make_controls(factory):
    """Controls (real dispatch, torch-free instrument) on a fresh Engine whose istft renderer comes from
    factory(sample_rate, n_slots, chunk_size)."""
    from vaesynth.synth.voices import STEAL_SLOTS

    slots = POLYPHONY + STEAL_SLOTS
    renderers = {"oscbank": make_renderer("oscbank", SR, slots, CHUNK), "istft": factory(SR, slots, CHUNK)}
    engine = Engine(SR, polyphony=POLYPHONY, chunk_size=CHUNK, engine="istft", renderers=renderers)
    controls = Controls(engine, SlopeInstrument())
    controls.send_timbre(at_sample=0)
    return controls


def live(sr, slots, chunk):
    return IstftRenderer(sr, slots, chunk_size=chunk)


def held_note(seconds: float, vibrato_cents: float = 0.0, vibrato_hz: float = 8.0, velocity: int = 100):
    """A held A3 with a sinusoidal pitch-bend vibrato (bend messages every 5 ms)."""
    msgs = [
        TimedMessage(0.0, "/vaesynth/note", (NOTE, velocity)),
        TimedMessage(seconds, "/vaesynth/note", (NOTE, 0)),
    ]
    if vibrato_cents:
        for i in range(int(seconds / 0.005)):
            t = i * 0.005
            bend = vibrato_cents / 100 * np.sin(2 * np.pi * vibrato_hz * t)
            msgs.append(TimedMessage(t, "/vaesynth/bend", (float(bend),)))
    return msgs


def spectral_convergence_db(y, note, recon) -> float:
    sc = note_spectral_convergence_db(y, note, recon)
    assert np.isfinite(sc)  # some frame lies wholly in the sustain
    return sc


@pytest.fixture(scope="module")
def vibrato_renders():
    msgs = held_note(1.0, vibrato_cents=300.0, vibrato_hz=8.0)
    fgla_audio, capture, recons = render_messages_fgla(make_controls, msgs, 1.0, n_iter=32, keep_frames=True)
    live_audio = render_messages(make_controls(live), msgs, 1.0)
    return fgla_audio, live_audio, capture, recons


@pytest.fixture(scope="module")
def steady_renders():
    msgs = held_note(0.8)
    fgla_audio, capture, _ = render_messages_fgla(make_controls, msgs, 0.8, n_iter=32, keep_frames=True)
    live_audio = render_messages(make_controls(live), msgs, 0.8)
    return fgla_audio, live_audio, capture


def test_fgla_render_matches_rtpghi_pitch_and_level(steady_renders):
    fgla_audio, live_audio, capture = steady_renders
    assert len(fgla_audio) == len(live_audio)
    held = slice(int(0.2 * SR), int(0.7 * SR))
    f_fgla = measure_f0_hz(fgla_audio[held], SR, 220.0)
    f_live = measure_f0_hz(live_audio[held], SR, 220.0)
    assert abs(1200 * np.log2(f_fgla / f_live)) < 5.0
    assert abs(1200 * np.log2(f_fgla / 220.0)) < 5.0
    rms = lambda x: float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))  # noqa: E731
    assert 20 * np.log10(rms(fgla_audio[held]) / rms(live_audio[held])) == pytest.approx(0.0, abs=1.0)
    assert rms(live_audio[held]) > 0.01


def test_fgla_render_beats_rtpghi_spectral_convergence_on_vibrato(vibrato_renders):
    """Deep fast vibrato (300 cents at 8 Hz): RTPGHI's frames stop being mutually consistent. Measured
    (22.05 kHz, n_fft 512, hop 128): live RTPGHI about -23 dB, FGLA 32 it. about -27 dB; on a steady note
    both sit at the drawn frames' own consistency floor (about -35.5 dB), so the gain is only there where
    the phase is hard. Required margin: 3 dB."""
    fgla_audio, live_audio, capture, recons = vibrato_renders
    assert len(capture.notes) == 1
    note, recon = capture.notes[0], recons[0]
    sc_live = spectral_convergence_db(live_audio, note, recon)
    sc_fgla = spectral_convergence_db(fgla_audio, note, recon)
    assert sc_fgla < sc_live - 3.0, (sc_fgla, sc_live)
    assert sc_fgla < -24.0


def test_fgla_render_is_finite_and_within_full_scale(vibrato_renders):
    fgla_audio = vibrato_renders[0]
    assert np.all(np.isfinite(fgla_audio)) and np.abs(fgla_audio).max() <= 1.0


def test_fgla_loud_chord_is_limited_to_full_scale():
    msgs = [TimedMessage(0.0, "/vaesynth/gain", (18.0,))]
    for n in (45, 52, 57, 61):
        msgs += [TimedMessage(0.0, "/vaesynth/note", (n, 127)), TimedMessage(0.3, "/vaesynth/note", (n, 0))]
    audio, capture, _ = render_messages_fgla(make_controls, msgs, 0.3, n_iter=4)
    assert len(capture.notes) == 4
    assert np.all(np.isfinite(audio)) and np.abs(audio).max() <= 1.0 and np.abs(audio).max() > 0.9


def test_capture_sees_the_live_kernels_frames(vibrato_renders):
    """The captured frames, phased by offline RTPGHI alone (n_iter 0) and synthesised with the live
    convention, match the live render's spectral convergence to those frames (within 1 dB, on the vibrato
    where it is far from the floor) and its level: the capture draws what the kernel draws, where it draws
    it. (Samples differ: the onset phase is chosen differently, so partials are offset by constants.)"""
    _, live_audio, capture, recons = vibrato_renders
    note = capture.notes[0]
    recon0 = reconstruct_note(capture, note, n_iter=0)
    offline = np.zeros(len(live_audio))
    offline[note.start_sample : note.start_sample + note.n_samples] = recon0.signal * note.gain
    sc_live = spectral_convergence_db(live_audio, note, recon0)
    sc_offline = spectral_convergence_db(offline, note, recon0)
    assert sc_offline == pytest.approx(sc_live, abs=1.0)
    held = slice(int(0.2 * SR), int(0.8 * SR))
    level_db = 10 * np.log10(np.sum(offline[held] ** 2) / np.sum(live_audio[held].astype(np.float64) ** 2))
    assert level_db == pytest.approx(0.0, abs=0.5)


def test_playback_refuses_a_diverged_control_path():
    from vaesynth.synth.istft_offline import IstftPlaybackRenderer

    capture = IstftCaptureRenderer(SR, 2, chunk_size=CHUNK)
    capture.start_voice(0, 220.0)
    playback = IstftPlaybackRenderer(capture, [np.zeros(10)])
    with pytest.raises(RuntimeError, match="diverged"):
        playback.start_voice(1, 220.0)


def test_fgla_streaming_reconstruction_matches_keeping_frames():
    """Notes reconstructed as they end (frames freed) give the same samples as keeping every frame to the
    end; a slot restarted by a later note and a voice that went idle both end their note."""
    msgs = []
    for i, n in enumerate((57, 60, 64, 57, 60)):
        msgs += [
            TimedMessage(0.15 * i, "/vaesynth/note", (n, 90)),
            TimedMessage(0.15 * i + 0.1, "/vaesynth/note", (n, 0)),
        ]
    msgs.append(TimedMessage(0.2, "/vaesynth/bend", (0.7,)))
    kept, cap_kept, _ = render_messages_fgla(make_controls, msgs, 0.8, n_iter=4, keep_frames=True)
    freed, cap_freed, recons = render_messages_fgla(make_controls, msgs, 0.8, n_iter=4, keep_frames=False)
    np.testing.assert_array_equal(freed, kept)
    assert len(cap_freed.notes) == 5 and all(len(n.drawn) == 0 for n in cap_freed.notes)
    assert all(len(n.drawn) > 0 for n in cap_kept.notes)
    assert np.abs(kept).max() > 0.05


def test_fgla_keeps_the_noise_floor_level():
    """A timbre with a noise floor between its harmonics: the floor (random phase, as live) and the total
    level of the fgla render match the live render's within 1 dB."""
    from scipy.signal import welch

    from tests.synth.test_istft import SAW, noisy_timbre
    from vaesynth.synth.voices import STEAL_SLOTS

    timbre = noisy_timbre(SAW, 0.02)

    def controls_for(factory):
        slots = POLYPHONY + STEAL_SLOTS
        renderers = {
            "oscbank": make_renderer("oscbank", SR, slots, CHUNK),
            "istft": factory(SR, slots, CHUNK),
        }
        engine = Engine(SR, polyphony=POLYPHONY, chunk_size=CHUNK, engine="istft", renderers=renderers)
        engine.set_timbre(timbre, at_sample=0)
        return Controls(engine)

    msgs = held_note(1.0)
    fgla_audio, capture, _ = render_messages_fgla(controls_for, msgs, 1.0, n_iter=8)
    assert capture.noise_snapshots[-1][1] > 0  # the timbre has a floor
    live_audio = render_messages(controls_for(live), msgs, 1.0)
    held = slice(int(0.15 * SR), int(0.9 * SR))
    hz, p_fgla = welch(fgla_audio[held], SR, nperseg=2048)
    _, p_live = welch(live_audio[held], SR, nperseg=2048)
    between = np.zeros(len(hz), bool)
    for k in range(3, 20):  # midway between harmonics k and k + 1 of 220 Hz
        between |= np.abs(hz - (k + 0.5) * 220.0) < 40.0
    floor_db = 10 * np.log10(p_fgla[between].mean() / p_live[between].mean())
    assert floor_db == pytest.approx(0.0, abs=1.0)
    level_db = 10 * np.log10(p_fgla.sum() / p_live.sum())
    assert level_db == pytest.approx(0.0, abs=1.0)
