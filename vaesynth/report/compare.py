"""`vaesynth report --compare CKPT1 CKPT2 ... --out DIR`: several runs on one page, side by side.

Metrics of `vaesynth eval` in one table (a column per model), validation curves and beta schedules
overlaid, cumulative explained variance, KL per dimension grouped, PCA and latent traversals next to each
other, and each model's PC 1 sweep. Each model is evaluated on `--data` if given, else on its own training
data's held-out sounds (the table says which).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vaesynth.errors import UserError
from vaesynth.report import analysis, figures, tables
from vaesynth.report.build import _Progress, eval_result, prepare_out_dir, select_data
from vaesynth.report.html import Section, write_page
from vaesynth.report.sounds import SweepSettings, render_sweep, write_wavs

COMPARE_PCA_AXES = 4  # traversal panels per model: the first knobs


@dataclass
class ComparisonResult:
    """index: the page; labels: one per model, in order; metrics: eval object per label (None without
    data); figures, sounds: files written; notes: what was skipped."""

    index: Path
    labels: list[str] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    sounds: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def unique_labels(paths) -> list[str]:
    """Short names for checkpoints: the file stem, or parent/stem where stems repeat (seed1/model.pt,
    seed2/model.pt), numbered as a last resort. Safe as file-name parts."""
    paths = [Path(p) for p in paths]
    stems = [p.stem for p in paths]
    labels = [s if stems.count(s) == 1 else f"{p.parent.name}-{s}" for p, s in zip(paths, stems, strict=True)]
    out = []
    for i, label in enumerate(labels):
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label) or "model"
        out.append(safe if labels.count(label) == 1 else f"{safe}-{i + 1}")
    return out


def build_comparison(
    models, out, data: str | None = None, sweep: SweepSettings | None = None, progress: bool = True
) -> ComparisonResult:
    """Write DIR/index.html comparing `models` (checkpoint paths, >= 2), plus metrics.json ({label: eval
    object}). UserError (one line) for a bad checkpoint, data or folder."""
    from vaesynth.models.instrument import load_instrument

    sweep = sweep or SweepSettings()
    out = prepare_out_dir(out)
    instruments = [load_instrument(m, num_threads=None) for m in models]
    result = ComparisonResult(index=out / "index.html", labels=unique_labels(models))
    bar = _Progress(3 * len(instruments) + 1, progress)
    try:
        for label, inst in zip(result.labels, instruments, strict=True):
            try:
                selection, note = select_data(inst, data, progress=False)
            except UserError as e:  # --data that fits one model's analysis and not another's
                if data is None:
                    raise
                selection, note = None, f"--data {data!r} does not fit this model ({e})"
            if selection is None:
                result.metrics[label] = None
                result.notes.append(f"{label}: {note}")
            else:
                spec = data or (inst.dataset or {}).get("spec")
                result.metrics[label] = eval_result(inst, selection, str(spec))
            bar.step(f"metrics {label}")
        (out / "metrics.json").write_text(json.dumps(result.metrics, indent=1))
        sections = [_metrics_section(result), _curves_section(instruments, out, result)]
        sections.append(_traversals_section(instruments, out, result, bar))
        sections += _variance_kl_sections(instruments, out, result)
        sections.append(_sounds_section(instruments, out, sweep, result, bar))
        bar.step("page")
    finally:
        bar.close()
    intro = [
        f"{label}: {inst.path} ({inst.model_config.arch}, latent_dim {inst.latent_dim}, beta "
        f"{inst.model_config.beta:g}, trained on {(inst.dataset or {}).get('spec', 'unknown data')})"
        for label, inst in zip(result.labels, instruments, strict=True)
    ]
    write_page(result.index, f"vaesynth comparison: {', '.join(result.labels)}", intro, sections)
    return result


def _metrics_section(result) -> Section:
    s = Section("Metrics (vaesynth eval)")
    for note in result.notes:
        s.note(f"Skipped: {note}.")
    rows_by_key: dict[str, str] = {}
    for m in result.metrics.values():
        if m is not None:
            for label, key, _ in tables.metric_rows(m, with_dim=False):
                rows_by_key.setdefault(key, label)
    rows_by_key.setdefault("latent_dim", "latent dimensions")
    rows = [["data", ""] + [m["split_description"] if m else "n/a" for m in result.metrics.values()]]
    for key, label in rows_by_key.items():
        row = [label, key]
        for m in result.metrics.values():
            try:
                v = tables.lookup(m, key) if m is not None else None
            except (KeyError, IndexError):
                v = None
            row.append((tables.fmt(v), v))
        rows.append(row)
    s.table(["metric", "key"] + result.labels, rows, table_id="metrics")
    return s


def _curves_section(instruments, out, result) -> Section:
    s = Section("Training curves")
    histories = [inst.history or {} for inst in instruments]
    if not any(h.get("epoch") for h in histories):
        s.note("No checkpoint holds a training history.")
        return s
    path = figures.compare_curves(histories, result.labels, out / "compare_curves.png")
    result.figures.append(path)
    s.figure(
        path.name,
        "Validation reconstruction loss, validation KL (nats per frame) and the beta "
        "schedule of each run against epoch.",
    )
    return s


def _traversals_section(instruments, out, result, bar) -> Section:
    s = Section("Traversals side by side")
    values = analysis.TRAVERSAL_VALUES
    pca_items, lat_items = [], []
    for label, inst in zip(result.labels, instruments, strict=True):
        bin_hz = inst.config.sample_rate / inst.config.n_fft
        pca = analysis.pca_traversal(inst, values, COMPARE_PCA_AXES)
        ev = inst.pca.explained_variance_ratio
        p = figures.traversal_grid(
            pca,
            values,
            bin_hz,
            [f"PC {i + 1} ({100 * ev[i]:.0f}%)" for i in range(pca.shape[0])],
            out / f"traversal_pca_{label}.png",
            label,
            n_cols=2,
        )
        lat = analysis.latent_traversal(inst, values)
        q = figures.traversal_grid(
            lat,
            values,
            bin_hz,
            [f"z{i}" for i in range(lat.shape[0])],
            out / f"traversal_latent_{label}.png",
            label,
            n_cols=2,
        )
        result.figures += [p, q]
        pca_items.append((p.name, f"{label}: PCA axes 1-{pca.shape[0]}, -3..+3 std"))
        lat_items.append((q.name, f"{label}: latent dimensions, -3..+3"))
        bar.step(f"traversals {label}")
    s.text(
        "Spectra decoded along each axis with the other coordinates at the data mean (blue -3, red +3; "
        "dB re each panel's peak)."
    )
    s.figures_side_by_side(pca_items)
    s.figures_side_by_side(lat_items)
    return s


def _variance_kl_sections(instruments, out, result) -> list[Section]:
    s = Section("Explained variance and KL per dimension")
    ratios = [inst.pca.explained_variance_ratio for inst in instruments]
    path = figures.compare_explained_variance(ratios, result.labels, out / "compare_explained_variance.png")
    result.figures.append(path)
    s.figure(path.name, "Cumulative explained variance of each model's PCA (dashed: 80/90/95/99%).")
    kl = [(label, m["kl_per_dim"]) for label, m in result.metrics.items() if m is not None]
    if kl:
        dim = max(len(v) for _, v in kl)
        padded = np.full((len(kl), dim), np.nan)
        for i, (_, v) in enumerate(kl):
            padded[i, : len(v)] = v
        path = figures.kl_per_dim(padded, out / "compare_kl_per_dim.png", [label for label, _ in kl])
        result.figures.append(path)
        s.figure(path.name, "KL per latent dimension (nats, mean over each model's evaluated frames).")
    return [s]


def _sounds_section(instruments, out, sweep, result, bar) -> Section:
    s = Section("Sounds: PC 1 sweeps")
    clips = {}
    for label, inst in zip(result.labels, instruments, strict=True):
        clips[f"sweep_pc1_{label}"] = render_sweep(inst, 0, sweep)
        bar.step(f"sweep {label}")
    paths = write_wavs(clips, out, sweep.sample_rate)
    result.sounds += list(paths.values())
    s.text(
        f"Each model's first PCA axis swept -3..+3 std over {sweep.sweep_s:g} s on a held note "
        f"({sweep.engine} engine, {sweep.sample_rate} Hz, one shared gain)."
    )
    s.audio([(p.name, label) for label, p in zip(result.labels, paths.values(), strict=True)])
    return s


def summary_line(result: ComparisonResult, seconds: float) -> str:
    lsd = ", ".join(f"{label} {m['lsd_db']:.2f}" for label, m in result.metrics.items() if m is not None)
    lsd = f", LSD dB: {lsd}" if lsd else ""
    skipped = f"; skipped: {len(result.notes)}" if result.notes else ""
    return (
        f"report: compared {len(result.labels)} models, {len(result.figures)} figures, "
        f"{len(result.sounds)} sounds{lsd} in {seconds:.1f} s -> {result.index}{skipped}"
    )
