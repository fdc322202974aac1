"""The OSC address space, in one table: the server dispatches from it, the front ends (Max for Live device,
Pure Data patch) are generated from it, and the docs list it. INTERFACE.md is the contract; entries marked
`extension` are additions to it.

Type strings use OSC tags: i int32, f float32, s string; `f*` = one or more floats; `|` separates the
accepted forms of one address.
"""

from __future__ import annotations

from vaesynth.synth.controls import ADDRESSES as ENGINE_ADDRESSES
from vaesynth.synth.controls import PREFIX

# Messages the server receives.
INPUT = {
    PREFIX + "note": ("ii", "note on: MIDI note 0-127, velocity 0-127 (0 = note off)"),
    PREFIX + "z": ("if|f*", "one latent coordinate (index, raw latent units) or the whole latent vector"),
    PREFIX + "pc": ("if|f*", "one PCA coordinate (index, standard deviations) or the first k coordinates"),
    PREFIX + "bend": ("f", "pitch bend for all voices, in semitones"),
    PREFIX + "gain": ("f", "output gain in dB"),
    PREFIX + "engine": ("s", "rendering engine: oscbank | istft (crossfaded, no click)"),
    PREFIX + "panic": ("", "all notes off, state reset"),
    PREFIX + "sustain": ("i", "extension: sustain pedal, 0 up, non-zero down (MIDI CC 64)"),
    PREFIX + "info": ("", "replies to the sender with /vaesynth/info s (a JSON object)"),
    PREFIX + "feedback": (
        "i|si",
        "extension: state feedback to the sender's host, port i (or to IP address s, port i); port 0 stops",
    ),
    PREFIX + "learn": (
        "si|s",
        "extension: MIDI learn - the next CC moved is bound to target s (pc, z, gain) index i",
    ),
}

# Messages the server sends to a registered feedback address (at most 30 per second each).
FEEDBACK = {
    PREFIX + "state/pc": ("f*", "current PCA coordinates, standard deviations"),
    PREFIX + "state/z": ("f*", "current latent vector"),
    PREFIX + "state/spectrum": ("f*", "decoded spectrum for display: 64 bands, dB re full scale, -100..0"),
    PREFIX + "state/learned": ("is", "extension: MIDI learn bound CC i to target s"),
}

assert {a[len(PREFIX) :] for a in INPUT} >= set(ENGINE_ADDRESSES), "every engine address is served"
