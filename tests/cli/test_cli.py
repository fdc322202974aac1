"""The command line as a user meets it: every contract command answers --help; errors are one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vaesynth import cli
from vaesynth.commands import devices

CONTRACT = {
    "serve": [
        "--model",
        "--osc-port",
        "--osc-host",
        "--midi-in",
        "--audio-device",
        "--sample-rate",
        "--blocksize",
        "--engine",
        "--voices",
        "--record",
    ],
    "train": ["--data", "--out", "--epochs", "--latent-dim", "--beta"],
    "render": ["--model", "--midi", "--out", "--automation", "--engine", "--sample-rate"],
    "resynth": ["--model"],
    "encode": ["--model", "--data", "--out"],
    "eval": ["--model", "--data", "--json"],
    "report": ["--model", "--out"],
    "dataset": ["--out"],
    "devices": [],
}


@pytest.mark.parametrize("command", sorted(CONTRACT))
def test_help_lists_contract_options(command, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for opt in CONTRACT[command]:
        assert opt in out, f"{command} --help lacks {opt}"


def test_python_dash_m_runs_the_same_cli():
    r = subprocess.run([sys.executable, "-m", "vaesynth", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for command in CONTRACT:
        assert command in r.stdout


def test_user_error_is_one_line_without_traceback():
    # A dataset spec that names nothing is a user error: one line on stderr, non-zero exit.
    r = subprocess.run(
        [sys.executable, "-m", "vaesynth", "dataset", "/nonexistent/folder", "--out", "/tmp/x.npz"],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.jack
def test_devices_lists_the_jack_server(jack_server, capsys):
    outputs = devices.audio_outputs()
    assert any("JACK" in d["hostapi"] for d in outputs), outputs
    # A real outside MIDI source on the JACK graph must show up as an input we could open.
    import rtmidi

    source = rtmidi.MidiOut(rtmidi.API_UNIX_JACK)
    source.open_virtual_port("vaesynth-test-source")
    try:
        ports = devices.midi_inputs()
    finally:
        source.delete()
    assert any("vaesynth-test-source" in p["name"] and p["api"] == "jack" for p in ports), ports
    assert cli.main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "Audio outputs:" in out and "JACK" in out
