"""`vaesynth devices`: audio outputs (sounddevice) and MIDI inputs (python-rtmidi, every compiled API)."""

from __future__ import annotations

import os

from vaesynth.errors import UserError


def register(sub):
    p = sub.add_parser(
        "devices",
        help="list audio outputs and MIDI inputs",
        description="List audio output devices and MIDI input ports of every MIDI API.",
    )
    p.set_defaults(func=run)
    return p


def audio_outputs() -> list[dict]:
    """Audio devices with output channels: dicts with index, name, hostapi, channels, default_samplerate."""
    try:
        import sounddevice as sd
    except OSError as e:  # PortAudio library missing
        raise UserError(f"PortAudio is not installed ({e}); install libportaudio2") from None
    hostapis = sd.query_hostapis()
    try:
        default_out = sd.default.device[1]
    except Exception:
        default_out = -1
    out = []
    for dev in sd.query_devices():
        if dev["max_output_channels"] > 0:
            out.append(
                {
                    "index": dev["index"],
                    "name": dev["name"],
                    "hostapi": hostapis[dev["hostapi"]]["name"],
                    "channels": dev["max_output_channels"],
                    "default_samplerate": dev["default_samplerate"],
                    "default": dev["index"] == default_out,
                }
            )
    return out


def midi_inputs() -> list[dict]:
    """MIDI input ports of every API python-rtmidi was compiled with, as dicts with api, backend, name."""
    import rtmidi

    out = []
    for api in rtmidi.get_compiled_api():
        if api == rtmidi.API_RTMIDI_DUMMY:
            continue
        api_name = rtmidi.get_api_name(api)
        if api == rtmidi.API_LINUX_ALSA and not os.path.exists("/dev/snd/seq"):
            continue  # no ALSA sequencer on this machine; opening it only prints libasound errors
        try:
            midi_in = rtmidi.MidiIn(api)
        except rtmidi.SystemError:  # the API exists in the build but not on this machine (no ALSA seq, ...)
            continue
        try:
            for name in midi_in.get_ports():
                out.append({"api": api_name, "backend": f"mido.backends.rtmidi/{api_name}", "name": name})
        finally:
            midi_in.delete()
    return out


def run(args) -> int:
    outputs = audio_outputs()
    print("Audio outputs:")
    if not outputs:
        print("  (none) - start an audio server, e.g. `jackd -R -d dummy -r 48000 -p 128 &`")
    for d in outputs:
        mark = "*" if d["default"] else " "
        print(
            f" {mark}{d['index']:3d}  {d['name']}  [{d['hostapi']}, {d['channels']} ch, "
            f"{d['default_samplerate']:.0f} Hz]"
        )
    print("MIDI inputs:")
    ports = midi_inputs()
    if not ports:
        print("  (none) - `vaesynth serve --midi-in virtual` opens a port other programs can connect to")
    for p in ports:
        print(f"       {p['name']}  [{p['api']}]")
    return 0
