"""The one description both front ends are generated from: which controls exist, what each sends, defaults.

Addresses and argument types come from `vaesynth.live.addresses.INPUT` (the server's own table), the OSC
host/port defaults from `vaesynth serve`'s argument parser and the PCA knob range from the MIDI knob map, so
the Max for Live device, the Pure Data patch and the server cannot drift apart: `address()` refuses a name
or an argument form the server does not accept, at generation time.
"""

from __future__ import annotations

import argparse
import re

from vaesynth.live.addresses import FEEDBACK, INPUT, PREFIX
from vaesynth.synth.controls import PC_CC_COUNT, PC_CC_RANGE_STD

# Messages the front ends send, name -> OSC type tags (one accepted form of INPUT[PREFIX + name]).
SENT = {
    "note": "ii",  # MIDI note, velocity (0 = note off)
    "pc": "if",  # PCA index, value in standard deviations
    "gain": "f",  # output gain, dB
    "engine": "s",  # oscbank | istft
    "bend": "f",  # pitch bend, semitones
    "panic": "",  # all notes off
    "feedback": "i",  # register this front end's feedback port
}
N_PC_CONTROLS = PC_CC_COUNT  # eight knobs, as the MIDI knob map (CC 70..77)
PC_RANGE_STD = PC_CC_RANGE_STD  # knobs span -3..+3 standard deviations, as the MIDI knob map
GAIN_RANGE_DB = (-70.0, 12.0)  # knob range; the engine clamps wider (-96..+40 dB)
BEND_RANGE_SEMITONES = 2.0  # MIDI pitch wheel range, as the server's default MIDI input
FEEDBACK_PORT = 9001  # where the front ends listen for /vaesynth/state/*
REGISTER_INTERVAL_MS = 2000  # re-register for feedback this often, so a server started later is found
SPECTRUM_BANDS = 64  # /vaesynth/state/spectrum
SPECTRUM_RANGE_DB = (-100.0, 0.0)
XY_PAD_AXES = (0, 1)  # PCA components on the pad's x and y


def address(name: str) -> str:
    """Full OSC address for a sent message name; checks the server accepts it with SENT's type tags."""
    full = PREFIX + name
    if full not in INPUT:
        raise KeyError(f"{full} is not in vaesynth.live.addresses.INPUT")
    if not types_accepted(full, SENT[name]):
        raise ValueError(f"{full} does not accept type tags {SENT[name]!r} (accepts {INPUT[full][0]!r})")
    return full


def feedback_address(name: str) -> str:
    """Full OSC address of a feedback message (state/pc, state/spectrum, ...); checks FEEDBACK has it."""
    full = PREFIX + name
    if full not in FEEDBACK:
        raise KeyError(f"{full} is not in vaesynth.live.addresses.FEEDBACK")
    return full


def types_accepted(full_address: str, type_tags: str, table: dict | None = None) -> bool:
    """Whether `table` (default INPUT) lists `type_tags` (e.g. "if") as one of the address's forms.

    Forms are OSC tag strings separated by `|`; `f*` means one or more floats.
    """
    table = INPUT if table is None else table
    if full_address not in table:
        return False
    for form in table[full_address][0].split("|"):
        pattern = "".join(re.escape(c) if c != "*" else "+" for c in form)
        if re.fullmatch(pattern, type_tags):
            return True
    return False


def server_defaults() -> dict:
    """The serve command's defaults: {"osc_host", "osc_port", "engines" (choices), "engine"}."""
    from vaesynth.commands import serve

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    serve.register(sub)
    serve_parser = sub.choices["serve"]
    engine = next(a for a in serve_parser._actions if a.dest == "engine")
    return {
        "osc_host": serve_parser.get_default("osc_host"),
        "osc_port": serve_parser.get_default("osc_port"),
        "engines": tuple(engine.choices),
        "engine": serve_parser.get_default("engine"),
    }


for _name in SENT:  # fail at import, i.e. at generation and in every test, if the table moved
    address(_name)
