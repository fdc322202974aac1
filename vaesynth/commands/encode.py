"""`vaesynth encode`: the latent view of a dataset."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def register(sub):
    p = sub.add_parser(
        "encode",
        help="write per-frame latents and PCA coordinates of a dataset",
        description="Encode a dataset: per-frame mu, logvar and PCA coordinates to an .npz.",
    )
    p.add_argument("--model", required=True, metavar="CKPT", help="checkpoint (.pt)")
    p.add_argument("--data", required=True, metavar="SPEC", help="dataset spec or prepared .npz")
    p.add_argument("--out", required=True, metavar="FILE.npz", help="file to write")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def encode_dataset(model: str | Path | None, spec: str, progress: bool = True) -> dict:
    """Arrays of the encode .npz: mu, logvar float32 [n_frames, latent_dim]; pcs float32 [n_frames, n_pcs]
    (PCA coordinates in standard deviations of each component); f0_hz, factors, factor_names, groups where
    the dataset knows them."""
    from vaesynth.models.instrument import load_instrument
    from vaesynth.training.evaluation import load_for_model

    inst = load_instrument(model, num_threads=None)
    dataset, _ = load_for_model(inst, spec, progress)
    mu, logvar = inst.encode_frames(dataset.magnitudes, dataset.f0_hz)
    arrays = {
        "mu": mu,
        "logvar": logvar,
        "pcs": inst.pca.latent_to_pcs(mu).astype(np.float32),
        "pca_explained_variance": np.asarray(inst.pca.explained_variance_ratio, dtype=np.float32),
    }
    if dataset.f0_hz is not None:
        arrays["f0_hz"] = dataset.f0_hz
    if dataset.factors is not None:
        arrays["factors"] = dataset.factors
        arrays["factor_names"] = np.array(dataset.factor_names, dtype=np.str_)
    if dataset.groups is not None:
        arrays["groups"] = dataset.groups
    return arrays


def write_npz(path: str | Path, arrays: dict) -> None:
    """np.savez to a temporary file in the same folder, then renamed into place (atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)  # mkstemp makes 0600; the result gets the usual file mode
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def run(args) -> int:
    arrays = encode_dataset(args.model, args.data, progress=not args.quiet)
    write_npz(args.out, arrays)
    n, d = arrays["mu"].shape
    print(
        f"encoded {n} frames into {d} latent dims and {arrays['pcs'].shape[1]} PCA coordinates; "
        f"wrote {args.out}"
    )
    return 0
