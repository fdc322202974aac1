"""`vaesynth report`: figures and an HTML page of a model's latent space."""

from vaesynth.errors import NotBuiltYet


def register(sub):
    p = sub.add_parser("report", help="figures (PNG) and an index.html of a model",
                       description="Training curves, reconstructions, latent traversals, PCA map.")
    p.add_argument("--model", metavar="CKPT", help="checkpoint (.pt)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write")
    p.add_argument("--data", metavar="SPEC", help="dataset for reconstructions and maps")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    raise NotBuiltYet("report", 7)
