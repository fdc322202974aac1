"""`vaesynth dataset`: prepare (and cache) a dataset as an .npz."""

from vaesynth.errors import NotBuiltYet


def register(sub):
    p = sub.add_parser("dataset", help="prepare a dataset and write it as .npz",
                       description="SPEC: an audio folder, toy:NAME, or sf2:PATH.")
    p.add_argument("spec", metavar="SPEC", help="audio folder, toy:harmonic|richness|additive4|fm5, sf2:PATH")
    p.add_argument("--out", required=True, metavar="FILE.npz", help="file to write")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    raise NotBuiltYet("dataset", 2)
