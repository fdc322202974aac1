"""Knob maps: the default CC 70-77 map, TOML maps (the example file included), one-line errors with line
numbers, and MIDI learn; plus `serve`'s one-line user errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaesynth import cli
from vaesynth.errors import UserError
from vaesynth.live.knobmap import KnobMap, Target, parse_target

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "knobs.toml"


def test_default_map_matches_interface_cc70_77_to_pc0_7_over_pm3_std():
    m = KnobMap()
    assert sorted(m.entries) == list(range(70, 78))
    assert m.lookup(70).message(0) == ("/vaesynth/pc", [0, -3.0])
    assert m.lookup(77).message(127) == ("/vaesynth/pc", [7, 3.0])
    address, (index, value) = m.lookup(72).message(64)
    assert index == 2 and value == pytest.approx(-3 + 6 * 64 / 127)


def test_example_knob_map_parses_to_its_entries():
    m = KnobMap.from_toml(EXAMPLE, n_pcs=8, latent_dim=8)
    assert m.lookup(21) == Target("pc", 0, -4.0, 4.0)
    assert m.lookup(23).message(127) == ("/vaesynth/pc", [2, -3.0])  # reversed range
    assert m.lookup(24) == Target("z", 0, -2.5, 2.5)
    assert m.lookup(7).message(0) == ("/vaesynth/gain", [-60.0])
    assert m.lookup(1).message(127) == ("/vaesynth/pc", [3, 3.0])
    assert m.lookup(70) == Target("pc", 0, -3.0, 3.0)  # defaults = true keeps the default map


def test_defaults_false_keeps_only_the_listed_entries(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text('defaults = false\n[cc]\n10 = { target = "gain" }\n')
    m = KnobMap.from_toml(p)
    assert list(m.entries) == [10] and m.lookup(10).message(127) == ("/vaesynth/gain", [0.0])


@pytest.mark.parametrize(
    "text, line, words",
    [
        ('defaults = true\n\n[cc.74]\ntarget = "pcx 0"\n', 3, "cc.74"),
        ('[cc.200]\ntarget = "pc 0"\n', 1, "0-127"),
        ('[cc]\n7 = { target = "gain", range = [1.0] }\n', 2, "range"),
        ('[cc.20]\ntarget = "pc 9"\n', 1, "out of range"),
        ('[cc.20]\ntarget = "pc 1"\ncurve = "log"\n', 1, "curve"),
        ('colour = "red"\n', 1, "unknown key"),
        ('[cc.20\ntarget = "pc 1"\n', 1, "not valid TOML"),
    ],
)
def test_bad_knob_map_is_a_one_line_error_naming_line_and_key(tmp_path, text, line, words):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(UserError) as e:
        KnobMap.from_toml(p, n_pcs=8, latent_dim=4)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg and words in msg
    assert f"line {line}" in msg


def test_learn_binds_the_next_cc_except_pedal_and_panic():
    m = KnobMap()
    m.arm_learn(parse_target("z 1"))
    assert m.try_learn(64) is None and m.learning is not None  # sustain never learns
    assert m.try_learn(30) == Target("z", 1, -3.0, 3.0)
    assert m.learning is None and m.lookup(30).message(0) == ("/vaesynth/z", [1, -3.0])
    assert m.try_learn(31) is None  # disarmed after one binding


def test_serve_bad_audio_device_lists_the_devices(jack_server, tiny_model, capsys):
    rc = cli.main(
        ["serve", "--model", str(tiny_model), "--audio-device", "no-such-device", "--midi-in", "none"]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert "no-such-device" in err and "system" in err and "--audio-device" in err


def test_serve_bad_map_and_missing_model_are_one_line_errors(tiny_model, tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[cc.5]\ntarget = "volume"\n')
    assert cli.main(["serve", "--model", str(tiny_model), "--map", str(bad), "--midi-in", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "line 1" in err and "volume" in err
    assert cli.main(["serve", "--model", str(tmp_path / "missing.pt"), "--midi-in", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "missing.pt" in err
