"""`vaesynth encode`: the latent view of a dataset."""

from vaesynth.errors import NotBuiltYet


def register(sub):
    p = sub.add_parser("encode", help="write per-frame latents and PCA coordinates of a dataset",
                       description="Encode a dataset: per-frame mu, logvar and PCA coordinates to an .npz.")
    p.add_argument("--model", required=True, metavar="CKPT", help="checkpoint (.pt)")
    p.add_argument("--data", required=True, metavar="SPEC", help="dataset spec or prepared .npz")
    p.add_argument("--out", required=True, metavar="FILE.npz", help="file to write")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    raise NotBuiltYet("encode", 3)
