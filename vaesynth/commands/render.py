"""`vaesynth render`: offline rendering of a MIDI file through the live engine."""

from vaesynth.errors import NotBuiltYet


def register(sub):
    p = sub.add_parser("render", help="render a MIDI file offline through the synth engine",
                       description="Render IN.mid to OUT.wav through the same engine as `serve`.")
    p.add_argument("--model", metavar="CKPT", help="checkpoint (.pt); default: the bundled model")
    p.add_argument("--midi", required=True, metavar="IN.mid", help="standard MIDI file to play")
    p.add_argument("--out", required=True, metavar="OUT.wav", help="WAV file to write")
    p.add_argument("--automation", metavar="SCORE", help="timed OSC messages, one per line")
    p.add_argument("--engine", choices=["oscbank", "istft"], default="oscbank", help="rendering engine")
    p.add_argument("--sample-rate", type=int, default=48000, metavar="HZ", help="output rate (default 48000)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    raise NotBuiltYet("render", 4)
