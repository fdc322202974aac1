"""`vaesynth resynth`: encode a recording, decode it, render it."""

from vaesynth.errors import NotBuiltYet


def register(sub):
    p = sub.add_parser("resynth", help="encode a recording frame by frame and play it back through the synth",
                       description="Reconstruction and timbre transfer of a recording.")
    p.add_argument("--model", required=True, metavar="CKPT", help="checkpoint (.pt)")
    p.add_argument("input", metavar="IN.wav", help="recording to resynthesise")
    p.add_argument("output", metavar="OUT.wav", help="WAV file to write")
    p.add_argument("--engine", choices=["oscbank", "istft"], default="istft", help="rendering engine")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    raise NotBuiltYet("resynth", 4)
