"""Offline rendering: automation scores, the control dispatch shared with serve, MIDI files -> audio."""

from __future__ import annotations

import mido
import numpy as np
import pytest

from tests.synth.timbres import harmonic_timbre, measure_f0_hz
from vaesynth.errors import UserError
from vaesynth.models.pca import LatentPCA
from vaesynth.synth.automation import parse_score
from vaesynth.synth.controls import Controls, midi_to_control
from vaesynth.synth.engine import Engine
from vaesynth.synth.offline import read_midi_messages, render_messages

SR = 48000


class SlopeInstrument:
    """A model stand-in without torch: latent z[0] sets the spectral slope of a 30-partial harmonic tone.
    Its PCA is a real LatentPCA fitted on random latents."""

    latent_dim = 3

    def __init__(self):
        rng = np.random.default_rng(0)
        self.pca = LatentPCA.fit(rng.normal(size=(200, 3)) * [1.0, 0.5, 0.25])
        self.n_pcs = self.pca.n_components
        self.decoded = []

    def timbre_for_latent(self, z):
        self.decoded.append(np.array(z))
        k = np.arange(1, 31)
        return harmonic_timbre(0.3 * k ** (-1.0 - 0.2 * np.tanh(float(z[0]))))


def test_parse_score_types_comments_and_order():
    msgs = parse_score("""
        # a comment line
        1.0  /vaesynth/note 60 0      # note off
        0.0  /vaesynth/note 60 100
        0.5  /vaesynth/pc 0 2.0
        0.5  /vaesynth/engine "istft"
        0.75 /vaesynth/panic
    """)
    assert [(m.time_s, m.address, m.args) for m in msgs] == [
        (0.0, "/vaesynth/note", (60, 100)),
        (0.5, "/vaesynth/pc", (0, 2.0)),
        (0.5, "/vaesynth/engine", ("istft",)),
        (0.75, "/vaesynth/panic", ()),
        (1.0, "/vaesynth/note", (60, 0)),
    ]
    assert isinstance(msgs[1].args[0], int) and isinstance(msgs[1].args[1], float)


@pytest.mark.parametrize(
    "text, line, what",
    [
        ("0 /vaesynth/note 60 1\nabc /vaesynth/note 60 0", 2, "time"),
        ("0 /vaesynth/note 60 1\n\n-1 /vaesynth/panic", 3, "time"),
        ("0.5", 1, "address"),
        ("# c\n0 /vaesynth/nope 1", 2, "unknown address"),
    ],
)
def test_parse_score_errors_name_the_line(text, line, what):
    with pytest.raises(UserError) as e:
        parse_score(text, source="s.txt")
    msg = str(e.value)
    assert msg.startswith(f"s.txt:{line}:") and what in msg and "\n" not in msg


def test_controls_drop_invalid_and_clamp_out_of_range():
    e = Engine(SR)
    c = Controls(e, SlopeInstrument())
    assert not c.dispatch("/vaesynth/note", [60])  # arity
    assert not c.dispatch("/vaesynth/note", ["a", 100])  # type
    assert not c.dispatch("/vaesynth/bend", [float("nan")])  # NaN
    assert not c.dispatch("/vaesynth/gain", [float("inf")])  # inf
    assert not c.dispatch("/vaesynth/unknown", [])  # address
    assert not c.dispatch("/vaesynth/engine", ["nope"])  # unknown engine
    assert not c.dispatch("/vaesynth/pc", [7, 1.0])  # index out of range
    assert c.n_dropped == 7 and len(e._inbox) == 0
    assert c.dispatch("/vaesynth/note", [200, 300])  # clamped to 127, 127
    assert c.dispatch("/vaesynth/gain", [99.0])  # clamped to +40 dB
    assert c.dispatch("/vaesynth/note", [60.0, 100.0])  # floats from Max are fine
    events = [ev for _, ev in e._inbox]
    assert events == [("note_on", 127, 127), ("gain", 40.0), ("note_on", 60, 100)]


def test_pc_moves_the_latent_along_one_component_only():
    inst = SlopeInstrument()
    c = Controls(Engine(SR), inst)
    c.dispatch("/vaesynth/z", [0.3, -0.2, 0.1])
    before = c.pcs()
    assert c.dispatch("/vaesynth/pc", [1, 2.5])
    after = c.pcs()
    assert after[1] == pytest.approx(2.5) and np.delete(after, 1) == pytest.approx(np.delete(before, 1))
    # The timbre decoded for that message is exactly the one for the latent the PCA maps 2.5 std to.
    np.testing.assert_allclose(inst.decoded[-1], inst.pca.pcs_to_latent(after), atol=1e-6)
    assert c.dispatch("/vaesynth/pc", [9.0, -9.0])  # first k, clamped to +-6
    assert c.pcs()[:2] == pytest.approx([6.0, -6.0])


def test_midi_cc_and_wheel_map_per_interface():
    assert midi_to_control(mido.Message("control_change", control=70, value=127)) == (
        "/vaesynth/pc",
        [0, 3.0],
    )
    assert midi_to_control(mido.Message("control_change", control=77, value=0)) == ("/vaesynth/pc", [7, -3.0])
    assert midi_to_control(mido.Message("pitchwheel", pitch=-8192)) == ("/vaesynth/bend", [-2.0])
    assert midi_to_control(mido.Message("control_change", control=64, value=100)) == (
        "/vaesynth/sustain",
        [1],
    )
    assert midi_to_control(mido.Message("note_off", note=60)) == ("/vaesynth/note", [60, 0])


def _write_midi(path, events, ticks_per_beat=480, tempo=500000):
    """events: (time_s, mido.Message) sorted by time; written on one track at 120 bpm."""
    mid = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=tempo, time=0))
    now = 0
    for t, msg in events:
        tick = int(round(mido.second2tick(t, ticks_per_beat, tempo)))
        track.append(msg.copy(time=tick - now))
        now = tick
    mid.save(path)


def test_midi_render_matches_engine_driven_directly(tmp_path):
    path = tmp_path / "in.mid"
    _write_midi(
        path,
        [
            (0.0, mido.Message("note_on", note=60, velocity=100)),
            (0.25, mido.Message("pitchwheel", pitch=4096)),  # +1 semitone
            (0.5, mido.Message("control_change", control=70, value=127)),
            (0.75, mido.Message("note_off", note=60)),
        ],
    )
    messages, length_s = read_midi_messages(path)
    assert length_s == pytest.approx(0.75)
    inst = SlopeInstrument()
    c = Controls(Engine(SR), inst)
    c.send_timbre(at_sample=0)
    y = render_messages(c, messages, end_time_s=length_s)

    # Reference: the same actions posted straight to an engine, decoded by the same stand-in model.
    ref_inst = SlopeInstrument()
    e = Engine(SR)
    ref_c = Controls(e, ref_inst)
    e.set_timbre(ref_inst.timbre_for_latent(ref_c.z), at_sample=0)
    e.note_on(60, 100, at_sample=0)
    e.set_bend(1.0, at_sample=12000)
    z = ref_c.z + (3.0 - ref_c.pcs()[0]) * ref_inst.pca.scale[0] * ref_inst.pca.components[0]
    e.set_timbre(ref_inst.timbre_for_latent(z), at_sample=24000)
    e.note_off(60, at_sample=36000)
    ref = e.process(len(y))
    np.testing.assert_array_equal(y, ref)
    # Tail: rendering stops once the release (200 ms) has ended, not before.
    release_end = 36000 + int(0.2 * SR)
    assert release_end <= len(y) <= release_end + 2 * 64
    assert np.abs(y[release_end - 2400 : release_end - 1200]).max() > 0
    # The bend is audible: the pitch in 0.3..0.5 s is C#4.
    f = measure_f0_hz(y[14400:24000].astype(np.float64), SR, 277.18)
    assert abs(1200 * np.log2(f / 277.1826)) < 5


def test_sustain_pedal_in_midi_keeps_the_note_until_pedal_up(tmp_path):
    path = tmp_path / "pedal.mid"
    _write_midi(
        path,
        [
            (0.0, mido.Message("control_change", control=64, value=127)),
            (0.0, mido.Message("note_on", note=64, velocity=100)),
            (0.1, mido.Message("note_off", note=64)),
            (0.6, mido.Message("control_change", control=64, value=0)),
        ],
    )
    messages, length_s = read_midi_messages(path)
    c = Controls(Engine(SR), SlopeInstrument())
    c.send_timbre(at_sample=0)
    y = render_messages(c, messages, end_time_s=length_s)
    assert np.abs(y[int(0.5 * SR) : int(0.55 * SR)]).max() > 0.05  # held by the pedal after the note-off
    assert len(y) == pytest.approx(int(0.6 * SR) + int(0.2 * SR), abs=2 * 64)


def test_unreadable_midi_file_is_a_one_line_user_error(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06garbage")
    with pytest.raises(UserError) as e:
        read_midi_messages(bad)
    assert "\n" not in str(e.value)
    with pytest.raises(UserError):
        read_midi_messages(tmp_path / "missing.mid")
