"""`vaesynth train`: a beta-VAE and its PCA, into one checkpoint."""

from vaesynth.errors import NotBuiltYet


def register(sub):
    p = sub.add_parser("train", help="train a beta-VAE and fit the PCA; writes one checkpoint",
                       description="Train a beta-VAE on a dataset and fit the PCA of its latent space.")
    p.add_argument("--data", required=True, metavar="SPEC",
                   help="audio folder, toy:NAME, sf2:PATH, or a prepared .npz")
    p.add_argument("--out", required=True, metavar="CKPT", help="checkpoint to write (.pt)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs")
    p.add_argument("--latent-dim", type=int, default=None, help="latent size")
    p.add_argument("--beta", type=float, default=None, help="weight of the KL term")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint at --out")
    p.add_argument("--seed", type=int, default=0, help="random seed (runs are reproducible)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    raise NotBuiltYet("train", 3)
