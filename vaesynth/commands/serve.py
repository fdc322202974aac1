"""`vaesynth serve`: the live synth (OSC + MIDI in, sounddevice out)."""

from vaesynth.errors import NotBuiltYet


def register(sub):
    p = sub.add_parser("serve", help="the live synth: OSC and MIDI in, audio out",
                       description="Play a model live. Without --model it plays the bundled default model.")
    p.add_argument("--model", metavar="CKPT", help="checkpoint (.pt); default: the bundled model")
    p.add_argument("--osc-port", type=int, default=9000, help="UDP port for OSC (default 9000)")
    p.add_argument("--osc-host", default="127.0.0.1",
                   help="address to bind for OSC (default 127.0.0.1; 0.0.0.0 exposes it to the network)")
    p.add_argument("--midi-in", default=None, metavar="NAME|virtual|none",
                   help="MIDI input port name, 'virtual' for a virtual port, 'none' to disable "
                        "(default: the first available port)")
    p.add_argument("--midi-channel", type=int, default=None, help="listen to one channel 1-16 (default: all)")
    p.add_argument("--map", metavar="TOML", help="knob map: CC number -> target and range")
    p.add_argument("--audio-device", metavar="NAME|INDEX", help="output device (default: the system default)")
    p.add_argument("--sample-rate", type=int, default=None, metavar="HZ", help="device sample rate")
    p.add_argument("--blocksize", type=int, default=128, help="audio block size in samples (default 128)")
    p.add_argument("--engine", choices=["oscbank", "istft"], default="oscbank", help="rendering engine")
    p.add_argument("--voices", type=int, default=16, help="polyphony (default 16)")
    p.add_argument("--record", metavar="OUT.wav", help="also write exactly what is played to a WAV file")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    raise NotBuiltYet("serve", 5)
