"""`vaesynth eval`: reconstruction and latent-space metrics (definitions in DESIGN.md)."""

from vaesynth.errors import NotBuiltYet


def register(sub):
    p = sub.add_parser("eval", help="reconstruction and latent-space metrics",
                       description="LSD, spectral convergence, active units, MIG, PCA explained variance.")
    p.add_argument("--model", required=True, metavar="CKPT", help="checkpoint (.pt)")
    p.add_argument("--data", required=True, metavar="SPEC", help="dataset spec or prepared .npz")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    raise NotBuiltYet("eval", 3)
