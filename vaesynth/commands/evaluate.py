"""`vaesynth eval`: reconstruction and latent-space metrics (definitions in DESIGN.md)."""

from __future__ import annotations

import json


def register(sub):
    p = sub.add_parser(
        "eval",
        help="reconstruction and latent-space metrics",
        description="LSD, spectral convergence, active units, MIG, PCA explained variance. On "
        "the training data only its held-out sounds are used.",
    )
    p.add_argument("--model", required=True, metavar="CKPT", help="checkpoint (.pt)")
    p.add_argument("--data", required=True, metavar="SPEC", help="dataset spec or prepared .npz")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def evaluate_model(model, spec: str, progress: bool = True) -> dict:
    """The eval JSON object: training/evaluation.evaluate's metrics plus model, data and the split used."""
    from vaesynth.models.instrument import load_instrument
    from vaesynth.training.evaluation import evaluate, select_for_eval

    inst = load_instrument(model, num_threads=None)
    selection = select_for_eval(inst, spec, progress)
    result = {
        "model": str(inst.path),
        "data": spec,
        "split": "held-out" if selection.held_out else "all",
        "split_description": selection.description,
    }
    result.update(evaluate(inst, selection.dataset))
    return result


def format_text(r: dict) -> str:
    ev = r["pca_explained_variance"]
    lines = [
        f"model {r['model']} on {r['data']}: {r['split_description']}",
        f"  LSD                  {r['lsd_db']:.2f} dB",
        f"  spectral convergence {r['spectral_convergence']:.3f}",
        f"  active units         {r['active_units']} of {r['latent_dim']}",
        f"  KL per dim (nats)    {' '.join(f'{v:.2f}' for v in r['kl_per_dim'])}",
        f"  PCA explained var.   {' '.join(f'{v:.2f}' for v in ev)}",
        f"  PCs for 90% / 99%    {r['n_components_for'].get('90')} / {r['n_components_for'].get('99')}",
    ]
    if "mig" in r:
        per = ", ".join(f"{k} {'n/a' if v is None else f'{v:.3f}'}" for k, v in r["mig_per_factor"].items())
        mig = "n/a" if r["mig"] is None else f"{r['mig']:.3f}"
        lines.append(f"  MIG                  {mig} ({per})")
    return "\n".join(lines)


def run(args) -> int:
    result = evaluate_model(args.model, args.data, progress=not args.quiet and not args.json)
    print(json.dumps(result) if args.json else format_text(result))
    return 0
