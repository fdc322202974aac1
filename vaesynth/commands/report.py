"""`vaesynth report`: figures, sounds and an HTML page of a model's latent space (or several, compared)."""

from __future__ import annotations

import time


def register(sub):
    p = sub.add_parser(
        "report",
        help="figures (PNG), sounds (WAV) and an index.html of a model",
        description="Training curves, reconstructions, latent and PCA traversals, the PCA map of the data "
        "coloured by its factors, explained variance, KL per dimension, the metrics of `vaesynth eval`, "
        "and PCA-axis sweeps rendered by the engine. Open DIR/index.html in a browser. "
        "With --compare, several models side by side.",
    )
    p.add_argument("--model", metavar="CKPT", help="checkpoint (.pt); default: the bundled model")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write (created)")
    p.add_argument(
        "--data",
        metavar="SPEC",
        help="dataset for metrics, reconstructions and maps (default: the model's training data, "
        "its held-out sounds)",
    )
    p.add_argument(
        "--compare",
        nargs="+",
        metavar="CKPT",
        help="compare checkpoints side by side (with --model, that one comes first)",
    )
    p.add_argument("--engine", choices=["oscbank", "istft"], default="oscbank", help="engine for the sweeps")
    p.add_argument(
        "--note", type=int, metavar="N", help="MIDI note of the sweeps (default: the model's pitch)"
    )
    p.add_argument("--sweep-seconds", type=float, default=3.0, metavar="S", help="length of each sweep")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from vaesynth.errors import UserError
    from vaesynth.report.sounds import SweepSettings

    if args.note is not None and not 0 <= args.note <= 127:
        raise UserError(f"--note must be a MIDI note 0..127, got {args.note}")
    if not 0.1 <= args.sweep_seconds <= 60:
        raise UserError(f"--sweep-seconds must be in 0.1..60, got {args.sweep_seconds}")
    sweep = SweepSettings(sweep_s=args.sweep_seconds, note=args.note, engine=args.engine)
    t0 = time.perf_counter()
    if args.compare:
        from vaesynth.report.compare import build_comparison, summary_line

        models = ([args.model] if args.model else []) + list(args.compare)
        if len(models) < 2:
            raise UserError("--compare needs at least two checkpoints (or --model and one more)")
        result = build_comparison(models, args.out, args.data, sweep, progress=not args.quiet)
    else:
        from vaesynth.report.build import build_report, summary_line

        result = build_report(args.model, args.out, args.data, sweep, progress=not args.quiet)
    print(summary_line(result, time.perf_counter() - t0))
    return 0
