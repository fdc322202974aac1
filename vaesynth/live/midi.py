"""MIDI input: python-rtmidi opens the port (any compiled API), mido parses the bytes.

`open_midi_input(spec, api, sink)` opens an existing port by exact name or substring, a virtual port
(`virtual`), the first available port (None), or nothing (`none`). rtmidi calls back on its own thread with
raw bytes; the callback only stamps the receive time and hands (bytes, t_recv) to `sink` (the server's
bounded control queue). Parsing happens in the control thread (`parse_midi`): garbage bytes are dropped and
counted there, never raised. Sysex and system real-time messages are let through rtmidi on purpose so that
floods are counted as drops rather than vanishing silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

import mido

from vaesynth.errors import UserError

API_NAMES = {"jack": "UNIX_JACK", "alsa": "LINUX_ALSA", "coremidi": "MACOSX_CORE", "winmm": "WINDOWS_MM"}


def jack_running() -> bool:
    """A JACK server answers (jack_lsp exits 0)."""
    if shutil.which("jack_lsp") is None:
        return False
    try:
        return subprocess.run(["jack_lsp"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def default_api() -> str:
    """JACK when a JACK server runs on Linux, else ALSA; CoreMIDI on macOS, WinMM on Windows."""
    if sys.platform == "darwin":
        return "coremidi"
    if sys.platform.startswith("win"):
        return "winmm"
    return "jack" if jack_running() else "alsa"


def _rtmidi_api(name: str) -> int:
    import rtmidi

    key = API_NAMES.get(name)
    if key is None:
        raise UserError(f"unknown MIDI API {name!r} (choose from {', '.join(API_NAMES)})")
    api = getattr(rtmidi, f"API_{key}")
    if api not in rtmidi.get_compiled_api():
        have = [n for n, k in API_NAMES.items() if getattr(rtmidi, f"API_{k}") in rtmidi.get_compiled_api()]
        raise UserError(f"python-rtmidi has no {name} support here (available: {', '.join(have) or 'none'})")
    return api


@dataclass
class MidiInput:
    """An open MIDI input. name: the port's name (or None when disabled); virtual: whether we created it."""

    name: str | None
    api: str
    virtual: bool = False
    _midi_in: object = None

    def close(self) -> None:
        if self._midi_in is not None:
            try:
                self._midi_in.cancel_callback()
                self._midi_in.close_port()
                self._midi_in.delete()
            except Exception:
                pass
            self._midi_in = None


def open_midi_input(spec: str | None, api: str | None, sink, client_name: str = "vaesynth-midi") -> MidiInput:
    """Open the MIDI input named by spec (None: first port, 'virtual', 'none', exact name or substring).

    sink(data: list[int], t_recv: float) is called on rtmidi's thread for every message.
    Returns a MidiInput (name None when there is no input). UserError for an unknown API or port name."""
    api = api or default_api()
    if spec is not None and spec.lower() == "none":
        return MidiInput(None, api)
    import rtmidi

    api_id = _rtmidi_api(api)
    if api == "alsa" and not os.path.exists("/dev/snd/seq"):
        if spec is None:
            return MidiInput(None, api)
        raise UserError("there is no ALSA sequencer on this machine (/dev/snd/seq); try --midi-api jack")
    try:
        midi_in = rtmidi.MidiIn(api_id, name=client_name)
    except rtmidi.SystemError as e:
        if spec is None:
            return MidiInput(None, api)
        raise UserError(f"cannot open the {api} MIDI system ({e}); try another --midi-api") from None
    # sysex, timing clock and active sensing pass through: the control thread counts them as drops.
    midi_in.ignore_types(sysex=False, timing=False, active_sense=False)

    def callback(event, _data=None):
        sink(event[0], time.perf_counter())

    ports = midi_in.get_ports()
    if spec is not None and spec.lower() == "virtual":
        midi_in.open_virtual_port("in")
        name, virtual = _virtual_name(midi_in, client_name), True
    else:
        if spec is None:
            if not ports:
                midi_in.delete()
                return MidiInput(None, api)
            index = 0
        else:
            matches = [i for i, p in enumerate(ports) if p == spec] or [
                i for i, p in enumerate(ports) if spec.lower() in p.lower()
            ]
            if not matches:
                midi_in.delete()
                listing = "; ".join(ports) if ports else "none"
                raise UserError(
                    f"no MIDI input matches {spec!r} ({api} ports: {listing}); "
                    "use --midi-in virtual, none, or a name from `vaesynth devices`"
                )
            index = matches[0]
        midi_in.open_port(index, "in")
        name, virtual = ports[index], False
    midi_in.set_callback(callback)
    return MidiInput(name, api, virtual, midi_in)


def _virtual_name(midi_in, client_name: str) -> str:
    # rtmidi names a virtual port "<client>:<port>" on JACK; ALSA shows "client:port" in aconnect.
    return f"{client_name}:in"


def parse_midi(data) -> mido.Message:
    """Raw bytes -> mido.Message; ValueError/TypeError for anything that is not one valid MIDI message."""
    return mido.Message.from_bytes(list(data))
