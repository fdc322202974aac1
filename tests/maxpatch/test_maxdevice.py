"""The Max for Live device as Max would read it, and what it sends, checked by running its cords (maxsim)."""

from __future__ import annotations

import json
import math
import struct

import pytest

from tests.maxpatch.maxsim import MaxSim
from vaesynth.live.addresses import INPUT, PREFIX
from vaesynth.maxpatch import amxd, generate, maxdevice, spec
from vaesynth.maxpatch.maxobjects import signature

LIVE_DEVICE_HEIGHT = 169  # pixels Live gives a device


@pytest.fixture(scope="module")
def patcher() -> dict:
    return json.loads((generate.HERE / "vaesynth.maxpat").read_text())


@pytest.fixture
def sim(patcher) -> MaxSim:
    return MaxSim(patcher)


def boxes(patcher):
    return [b["box"] for b in patcher["patcher"]["boxes"]]


def osc_type_tags(args) -> str:
    """Type tags udpsend writes for Max atoms: int i, float f, symbol s."""
    return "".join("i" if isinstance(a, int) else "f" if isinstance(a, float) else "s" for a in args)


def sent(sim: MaxSim) -> list[list]:
    return sim.received[sim.find("newobj", "udpsend")]


def test_amxd_holds_the_maxpat(patcher):
    kind, inner = amxd.unpack_amxd((generate.HERE / "vaesynth.amxd").read_bytes())
    assert kind == generate.DEVICE_TYPE == "midi_effect"
    assert inner == patcher


def test_every_box_has_id_class_rect_and_its_objects_inlets(patcher):
    ids = [b["id"] for b in boxes(patcher)]
    assert len(ids) == len(set(ids))
    for b in boxes(patcher):
        assert (
            b["maxclass"]
            and len(b["patching_rect"]) == 4
            and all(isinstance(v, float) for v in b["patching_rect"])
        )
        n_in, n_out, types = signature(b["maxclass"], b.get("text", ""))
        assert (b["numinlets"], b["numoutlets"]) == (n_in, n_out), b
        assert b.get("outlettype", []) == types, b


def test_every_patchline_joins_existing_inlet_and_outlet(patcher):
    by_id = {b["id"]: b for b in boxes(patcher)}
    lines = [line["patchline"] for line in patcher["patcher"]["lines"]]
    assert lines
    for line in lines:
        (src, outlet), (dst, inlet) = line["source"], line["destination"]
        assert src in by_id and dst in by_id, line
        assert 0 <= outlet < by_id[src]["numoutlets"], line
        assert 0 <= inlet < by_id[dst]["numinlets"], line
    assert len({json.dumps(x) for x in lines}) == len(lines), "duplicate cords"


def test_live_parameters_have_unique_names_ranges_and_initial_values(patcher):
    params = [
        b for b in boxes(patcher) if b["maxclass"].startswith("live.") and b["maxclass"] != "live.comment"
    ]
    assert all(b.get("parameter_enable") == 1 for b in params)
    values = [b["saved_attribute_attributes"]["valueof"] for b in params]
    longnames = [v["parameter_longname"] for v in values]
    assert len(longnames) == len(set(longnames))
    for v in values:
        assert v["parameter_shortname"] and v["parameter_type"] in (0, 1, 2)
        if v["parameter_type"] == 1:  # Live's "Int (0-255)"
            assert 0 <= v["parameter_mmin"] and v["parameter_mmax"] <= 255
        if v["parameter_type"] == 2:
            assert (v["parameter_mmin"], v["parameter_mmax"]) == (0, len(v["parameter_enum"]) - 1)
        assert v["parameter_mmin"] < v["parameter_mmax"]
        assert v["parameter_initial_enable"] == 1
        assert v["parameter_mmin"] <= v["parameter_initial"][0] <= v["parameter_mmax"]
    declared = {k: v for k, v in patcher["patcher"]["parameters"].items() if k.startswith("obj-")}
    assert declared == {
        b["id"]: [b["varname"], b["saved_attribute_attributes"]["valueof"]["parameter_shortname"], 0]
        for b in params
    }


def test_pca_dials_are_eight_automatable_floats_from_minus_3_to_3(patcher):
    dials = [b for b in boxes(patcher) if b["maxclass"] == "live.dial" and b["varname"].startswith("PC ")]
    assert [b["varname"] for b in dials] == [f"PC {k}" for k in range(1, 9)]
    for b in dials:
        v = b["saved_attribute_attributes"]["valueof"]
        assert (v["parameter_type"], v["parameter_mmin"], v["parameter_mmax"]) == (0, -3.0, 3.0)
        assert v["parameter_initial"] == [0.0] and v["parameter_invisible"] == 0  # automatable


def test_udpsend_and_port_default_to_the_servers_defaults(patcher, sim):
    defaults = spec.server_defaults()
    assert (defaults["osc_host"], defaults["osc_port"]) == ("127.0.0.1", 9000)  # INTERFACE.md
    udpsend = [b["text"].split() for b in boxes(patcher) if b.get("text", "").startswith("udpsend")]
    assert udpsend == [["udpsend", "127.0.0.1", "9000"]]
    port = sim.boxes[sim.find("live.numbox", varname="OSC Port")]
    assert port["saved_attribute_attributes"]["valueof"]["parameter_initial"] == [9000.0]
    host = sim.boxes[sim.find("textedit")]
    assert host["text"] == "127.0.0.1"


def test_every_address_in_the_device_is_served(patcher):
    tokens = [
        t
        for b in boxes(patcher)
        if b["maxclass"] != "comment"
        for t in b.get("text", "").split()
        if t.startswith("/")
    ]
    assert tokens
    from vaesynth.live.addresses import FEEDBACK

    for t in tokens:
        assert t in INPUT or t in FEEDBACK, t


def test_presentation_fits_the_live_device_view(patcher):
    shown = [b for b in boxes(patcher) if b.get("presentation")]
    assert len(shown) >= 8 + 1 + 3 + 1  # dials, pad, menu/gain/panic, displays
    for b in shown:
        x, y, w, h = b["presentation_rect"]
        assert x >= 0 and y >= 0 and x + w <= maxdevice.DEVICE_WIDTH and y + h <= LIVE_DEVICE_HEIGHT, b
    for i, a in enumerate(shown):  # nothing hides another control
        ax, ay, aw, ah = a["presentation_rect"]
        for b in shown[i + 1 :]:
            bx, by, bw, bh = b["presentation_rect"]
            assert not (ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah), (a["id"], b["id"])


# --- behaviour: what each control sends ---


@pytest.mark.parametrize("k", range(8))
def test_pc_dial_sends_index_int_and_value_float(sim, k):
    sim.receive(sim.find("live.dial", varname=f"PC {k + 1}"), 0, [1.25])
    assert sent(sim) == [["/vaesynth/pc", k, 1.25]]
    assert osc_type_tags(sent(sim)[0][1:]) == "if"


def test_pc_dial_clamps_to_its_range(sim):
    sim.receive(sim.find("live.dial", varname="PC 3"), 0, [7.0])
    assert sent(sim) == [["/vaesynth/pc", 2, 3.0]]


def test_notes_send_note_and_velocity_as_ints(sim):
    notein = sim.find("newobj", "notein")
    sim.emit(notein, 1, [100])  # notein fires right to left
    sim.emit(notein, 0, [60])
    sim.emit(notein, 1, [0])
    sim.emit(notein, 0, [60])
    assert sent(sim) == [["/vaesynth/note", 60, 100], ["/vaesynth/note", 60, 0]]
    assert all(osc_type_tags(m[1:]) == "ii" for m in sent(sim))


def test_midi_passes_through_unchanged(sim):
    for byte in (0x90, 60, 100):
        sim.emit(sim.find("newobj", "midiin"), 0, [byte])
    assert sim.received[sim.find("newobj", "midiout")] == [[0x90], [60], [100]]


@pytest.mark.parametrize("wheel, semitones", [(0, -2.0), (64, 0.0), (127, 2.0 * 63 / 64)])
def test_pitch_wheel_sends_bend_in_semitones(sim, wheel, semitones):
    sim.emit(sim.find("newobj", "bendin"), 0, [wheel])
    ((address, value),) = sent(sim)
    assert (
        address == "/vaesynth/bend"
        and isinstance(value, float)
        and value == pytest.approx(semitones, abs=1e-12)
    )


def test_engine_menu_sends_engine_names(sim):
    menu = sim.find("live.menu", varname="Engine")
    engines = spec.server_defaults()["engines"]
    assert sim.boxes[menu]["saved_attribute_attributes"]["valueof"]["parameter_enum"] == list(engines)
    for index in range(len(engines)):
        sim.receive(menu, 0, [index])
    assert sent(sim) == [["/vaesynth/engine", name] for name in engines]


def test_gain_dial_sends_db_float(sim):
    sim.receive(sim.find("live.dial", varname="Gain"), 0, [-6.0])
    assert sent(sim) == [["/vaesynth/gain", -6.0]]


def test_panic_button_sends_panic_without_arguments(sim):
    sim.receive(sim.find("message", "/vaesynth/panic"), 0, ["bang"])
    assert sent(sim) == [["/vaesynth/panic"]]


@pytest.mark.parametrize("typed", [["text", "10.0.0.2"], ["10.0.0.2"]])
def test_host_field_and_port_box_configure_udpsend(sim, typed):
    sim.emit(sim.find("textedit"), 0, typed)
    sim.receive(sim.find("live.numbox", varname="OSC Port"), 0, [9100])
    assert sent(sim) == [["host", "10.0.0.2"], ["port", 9100]]
    assert isinstance(sent(sim)[1][1], int)


def test_device_registers_for_feedback_at_load_and_on_port_change(sim):
    sim.emit(sim.find("newobj", "live.thisdevice"), 0, ["bang"])
    sim.receive(sim.find("live.numbox", varname="Feedback Port"), 0, [9100])
    assert sent(sim) == [["/vaesynth/feedback", spec.FEEDBACK_PORT], ["/vaesynth/feedback", 9100]]
    assert all(osc_type_tags(m[1:]) == "i" for m in sent(sim))
    assert sim.received[sim.find("newobj", "udpreceive")] == [["port", 9100]]
    assert sim.boxes[sim.find("newobj", "udpreceive")]["text"] == f"udpreceive {spec.FEEDBACK_PORT}"


def test_xy_pad_moves_pc_1_and_pc_2_dials(sim):
    pad = sim.find("pictslider")
    sim.emit(pad, 0, [127])
    sim.emit(pad, 1, [0])
    sim.emit(pad, 0, [0])
    assert sent(sim) == [["/vaesynth/pc", 0, 3.0], ["/vaesynth/pc", 1, -3.0], ["/vaesynth/pc", 0, -3.0]]


def test_feedback_spectrum_and_pcs_reach_the_displays(sim):
    receive = sim.find("newobj", "udpreceive")
    spectrum = [-100.0 + 100.0 * k / 63 for k in range(64)]
    sim.emit(receive, 0, [PREFIX + "state/spectrum", *spectrum])
    pcs = [1.5, -3.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0]
    sim.emit(receive, 0, [PREFIX + "state/pc", *pcs])
    spectrum_view = sim.find("multislider", size=64)
    pcs_view = sim.find("multislider", size=8)
    assert sim.received[spectrum_view] == [spectrum]
    assert sim.received[pcs_view] == [pcs]
    ((x, y),) = sim.received[sim.find("pictslider")]
    step = 6.0 / maxdevice.PAD_RANGE
    assert -3.0 + x * step == pytest.approx(1.5, abs=step) and -3.0 + y * step == pytest.approx(
        -3.0, abs=step
    )
    assert sent(sim) == [], "feedback is displayed, never sent back"


def test_every_message_the_controls_send_is_served_with_its_types(sim):
    """Drive every control once; each OSC message must be an INPUT address with an accepted type form."""
    for k in range(8):
        sim.receive(sim.find("live.dial", varname=f"PC {k + 1}"), 0, [0.5])
    sim.receive(sim.find("live.dial", varname="Gain"), 0, [0.0])
    for index in range(2):
        sim.receive(sim.find("live.menu"), 0, [index])
    notein = sim.find("newobj", "notein")
    sim.emit(notein, 1, [90])
    sim.emit(notein, 0, [64])
    sim.emit(sim.find("newobj", "bendin"), 0, [80])
    sim.emit(sim.find("pictslider"), 0, [30])
    sim.emit(sim.find("newobj", "live.thisdevice"), 0, ["bang"])
    sim.receive(sim.find("message", "/vaesynth/panic"), 0, ["bang"])
    osc = [m for m in sent(sim) if m[0].startswith("/")]
    assert {m[0] for m in osc} == {spec.address(n) for n in spec.SENT}
    for m in osc:
        assert spec.types_accepted(m[0], osc_type_tags(m[1:])), m
        assert all(math.isfinite(a) for a in m[1:] if not isinstance(a, str))


def test_osc_type_tags_of_max_atoms_match_udpsend_encoding():
    # udpsend writes Max ints as 32-bit OSC ints and floats as 32-bit floats; our tag helper must agree
    # with how the server decodes them (python-osc), or "pc 3 1.5" would read as two floats.
    from pythonosc.osc_message_builder import OscMessageBuilder

    b = OscMessageBuilder("/vaesynth/pc")
    for a in (3, 1.5):
        b.add_arg(a, "i" if isinstance(a, int) else "f")
    msg = b.build()
    assert msg.params == [3, 1.5] and osc_type_tags(msg.params) == "if"
    assert struct.unpack(">i", msg.dgram[-8:-4]) == (3,)
