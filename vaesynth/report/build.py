"""`vaesynth report --model CKPT --out DIR`: one model's figures, sweep sounds, metrics and index.html.

Data: `--data SPEC`, else the training spec recorded in the checkpoint; on the training data only its
held-out sounds are used (the selection of `vaesynth eval`). Without loadable data the figures that need
frames (reconstructions, PCA map, KL per dimension, metrics) are skipped with a note on the page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vaesynth.errors import UserError
from vaesynth.report import analysis, figures, tables
from vaesynth.report.html import Section, write_page
from vaesynth.report.sounds import SweepSettings, render_sweep, write_wavs

MAX_SWEEPS = 8  # the default knob map plays PCA axes 0..7
MAX_PCA_TRAVERSAL_AXES = 16


@dataclass
class ReportResult:
    """index: the page; figures, sounds: files written; metrics: the eval object (None without data);
    notes: what was skipped and why."""

    index: Path
    figures: list[Path] = field(default_factory=list)
    sounds: list[Path] = field(default_factory=list)
    metrics: dict | None = None
    notes: list[str] = field(default_factory=list)


def prepare_out_dir(out) -> Path:
    """Create `out` (and parents) and check it is writable; UserError (one line) otherwise."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".vaesynth-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UserError(f"cannot write to {out}: {e.strerror or e}") from None
    return out


def select_data(instrument, spec: str | None, progress: bool):
    """(Selection or None, note or None). An explicit spec that fails raises its UserError; the recorded
    training spec that fails (moved folder, missing SoundFont) gives a note instead."""
    from vaesynth.training.evaluation import select_for_eval

    if spec is not None:
        return select_for_eval(instrument, spec, progress), None
    recorded = (instrument.dataset or {}).get("spec")
    if not recorded:
        return None, "the checkpoint records no training data and no --data was given"
    try:
        return select_for_eval(instrument, str(recorded), progress), None
    except UserError as e:
        return None, f"the training data {recorded!r} could not be loaded ({e}); pass --data SPEC"


def eval_result(instrument, selection, spec: str) -> dict:
    """The `vaesynth eval --json` object for this instrument and selection."""
    from vaesynth.training.evaluation import evaluate

    result = {
        "model": str(instrument.path),
        "data": spec,
        "split": "held-out" if selection.held_out else "all",
        "split_description": selection.description,
    }
    result.update(evaluate(instrument, selection.dataset))
    return result


def metrics_section(result: dict, title: str = "Metrics (vaesynth eval)") -> Section:
    s = Section(title)
    s.text(
        f"On {result['data']}: {result['split_description']}. Definitions: DESIGN.md (LSD over bins "
        "within 60 dB of each frame's peak; spectral convergence on linear magnitudes; MIG over "
        "posterior means in 20 bins). Also in metrics.json."
    )
    rows = [[label, key, (tables.fmt(v), v)] for label, key, v in tables.metric_rows(result)]
    s.table(["metric", "key", "value"], rows, table_id="metrics")
    return s


class _Progress:
    """A tqdm bar over the report's steps, or nothing."""

    def __init__(self, total: int, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="report", unit="step", leave=False, disable=None)

    def step(self, what: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(what)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def build_report(
    model,
    out,
    data: str | None = None,
    sweep: SweepSettings | None = None,
    max_sweeps: int = MAX_SWEEPS,
    progress: bool = True,
) -> ReportResult:
    """Write DIR/index.html with its PNGs, WAVs, metrics.json and traversals.npz.

    model: checkpoint path (None: the bundled default). out: folder (created). data: dataset spec (None:
    the recorded training spec). sweep: how the PCA-axis sweeps are rendered (None: defaults);
    max_sweeps: how many axes get one. Raises UserError (one line) for a bad checkpoint, data or folder.
    """
    from vaesynth.models.instrument import load_instrument

    sweep = sweep or SweepSettings()
    out = prepare_out_dir(out)
    instrument = load_instrument(model, num_threads=None)
    selection, data_note = select_data(instrument, data, progress)
    n_sweeps = min(max_sweeps, instrument.n_pcs)
    bar = _Progress(6 + n_sweeps, progress)
    result = ReportResult(index=out / "index.html")
    if data_note:
        result.notes.append(data_note)
    bin_hz = instrument.config.sample_rate / instrument.config.n_fft
    sections = []
    try:
        # Metrics first: the page opens with the numbers.
        ds = selection.dataset if selection is not None else None
        spec = data or (instrument.dataset or {}).get("spec")
        if selection is not None:
            result.metrics = eval_result(instrument, selection, str(spec))
            (out / "metrics.json").write_text(json.dumps(result.metrics, indent=1))
            sections.append(metrics_section(result.metrics))
        else:
            s = Section("Metrics (vaesynth eval)")
            s.note(f"Skipped: {data_note}.")
            sections.append(s)
        bar.step("metrics")

        sections.append(_curves_section(instrument, out, result))
        bar.step("training curves")
        sections.append(_reconstruction_section(instrument, ds, out, bin_hz, result, data_note))
        bar.step("reconstructions")
        sections.append(_traversal_section(instrument, out, bin_hz, result))
        bar.step("traversals")
        sections.append(_map_section(instrument, ds, out, result, data_note))
        bar.step("PCA map")
        sections.append(_variance_section(instrument, out, result))
        sections.append(_kl_section(result.metrics, out, result, data_note))
        bar.step("explained variance, KL")
        sections.append(_sounds_section(instrument, out, sweep, n_sweeps, result, bar))
    finally:
        bar.close()

    trained_on = (instrument.dataset or {}).get("spec", "unknown data")
    intro = [
        f"Model {instrument.path} ({instrument.model_config.arch}, latent_dim {instrument.latent_dim}, "
        f"{instrument.n_pcs} PCA components, frames drawn at {instrument.f_ref_hz:.1f} Hz); analysis "
        f"{instrument.config.sample_rate} Hz, n_fft {instrument.config.n_fft}, hop "
        f"{instrument.config.hop_length}. Trained on {trained_on}.",
    ]
    write_page(result.index, f"vaesynth report: {instrument.name}", intro, sections)
    return result


# --- sections ------------------------------------------------------------------------------------------


def _curves_section(instrument, out, result) -> Section:
    s = Section("Training curves")
    history = instrument.history or {}
    if not history.get("epoch"):
        s.note("The checkpoint holds no training history.")
        result.notes.append("no training history")
        return s
    path = figures.training_curves(history, out / "training_curves.png")
    result.figures.append(path)
    s.figure(
        path.name,
        "Per-epoch reconstruction loss and KL (nats per frame, before beta) on the training "
        "and validation frames, and the beta schedule (warm-up) the trainer used.",
    )
    return s


def _reconstruction_section(instrument, ds, out, bin_hz, result, data_note) -> Section:
    from vaesynth.training.metrics import lsd_db_per_frame

    s = Section("Reconstructions")
    if ds is None:
        s.note(f"Skipped: {data_note}.")
        return s
    idx = analysis.frames_to_show(ds.magnitudes)
    originals = ds.magnitudes[idx]
    f0 = None if ds.f0_hz is None else ds.f0_hz[idx]
    recons = instrument.reconstruct(originals, f0)
    lsd = lsd_db_per_frame(originals, recons)
    names = [analysis.describe_frame(ds, int(i)) for i in idx]
    path = figures.reconstructions(originals, recons, bin_hz, out / "reconstructions.png", lsd, names)
    result.figures.append(path)
    where = "held-out" if result.metrics and result.metrics["split"] == "held-out" else "evaluation"
    s.figure(
        path.name,
        f"{len(idx)} {where} frames (spread over the non-silent ones) and their "
        "reconstructions (posterior mean decoded at the frame's own pitch), on linear and dB axes.",
    )
    return s


def _traversal_section(instrument, out, bin_hz, result) -> Section:
    s = Section("Latent traversals")
    values = analysis.TRAVERSAL_VALUES
    lat = analysis.latent_traversal(instrument, values)
    pca = analysis.pca_traversal(instrument, values, MAX_PCA_TRAVERSAL_AXES)
    np.savez(
        out / "traversals.npz",
        values=values,
        latent=lat,
        pca=pca,
        bin_hz=bin_hz,
        f_ref_hz=instrument.f_ref_hz,
    )
    p1 = figures.traversal_grid(
        lat,
        values,
        bin_hz,
        [f"z{i}" for i in range(lat.shape[0])],
        out / "traversal_latent.png",
        "latent dimensions",
    )
    ev = instrument.pca.explained_variance_ratio
    p2 = figures.traversal_grid(
        pca,
        values,
        bin_hz,
        [f"PC {i + 1} ({100 * ev[i]:.0f}% var.)" for i in range(pca.shape[0])],
        out / "traversal_pca.png",
        "PCA axes",
    )
    result.figures += [p1, p2]
    s.figure(
        p1.name,
        "Each latent coordinate set to -3..+3 (latent units; the prior's std is 1) with the "
        "others at the data mean; spectra decoded at the model's reference pitch, blue = -3, red = +3. "
        "dB re each panel's peak. A panel whose curves coincide is a dimension the decoder ignores.",
    )
    s.figure(
        p2.name,
        "Each PCA axis (what the synth's knobs move) from -3 to +3 standard deviations, the "
        "other coordinates at the data mean. Arrays in traversals.npz.",
    )
    return s


def _map_section(instrument, ds, out, result, data_note) -> Section:
    s = Section("PCA map of the data")
    if ds is None:
        s.note(f"Skipped: {data_note}.")
        return s
    factors = analysis.colour_factors(ds)
    if not factors:
        s.note("The data has no factors or pitch to colour the map by.")
        return s
    keep = analysis.map_subset(ds.n_frames)
    f0 = None if ds.f0_hz is None else ds.f0_hz[keep]
    mu, _ = instrument.encode_frames(ds.magnitudes[keep], f0)
    pcs = instrument.pca.latent_to_pcs(mu)[:, :2]
    items = []
    for j, (name, values) in enumerate(factors):
        path = figures.pca_map(pcs, values[keep], name, out / f"pca_map_{j}.png")
        result.figures.append(path)
        items.append((path.name, f"coloured by {name}"))
    s.text(
        f"Posterior means of {keep.size} frames projected on PCA components 1 and 2 (standard "
        "deviations), coloured by each known factor: a factor that changes smoothly across the map is one "
        "a knob can reach."
    )
    s.figures_side_by_side(items)
    return s


def _variance_section(instrument, out, result) -> Section:
    s = Section("Explained variance")
    path = figures.explained_variance(
        instrument.pca.explained_variance_ratio,
        instrument.pca.n_components_for,
        out / "explained_variance.png",
    )
    result.figures.append(path)
    s.figure(
        path.name,
        "Variance of the training posterior means along each PCA component and cumulated; "
        "dashed lines at 80/90/95/99% with the number of components each needs.",
    )
    return s


def _kl_section(metrics, out, result, data_note) -> Section:
    s = Section("KL per latent dimension")
    if metrics is None:
        s.note(f"Skipped: {data_note}.")
        return s
    path = figures.kl_per_dim(np.asarray(metrics["kl_per_dim"]), out / "kl_per_dim.png")
    result.figures.append(path)
    s.figure(
        path.name,
        f"KL(q(z|x) || N(0, 1)) per latent dimension (nats, mean over the evaluated frames); "
        f"{metrics['active_units']} of {metrics['latent_dim']} dimensions are active (posterior-mean "
        "variance > 0.01). Near-zero bars are collapsed dimensions.",
    )
    return s


def _sounds_section(instrument, out, sweep, n_sweeps, result, bar) -> Section:
    s = Section("Sounds: PCA-axis sweeps")
    clips = {}
    for i in range(n_sweeps):
        clips[f"sweep_pc{i + 1}"] = render_sweep(instrument, i, sweep)
        bar.step(f"sweep PC {i + 1}")
    paths = write_wavs(clips, out, sweep.sample_rate)
    result.sounds += list(paths.values())
    from vaesynth.report.sounds import note_for

    note = sweep.note if sweep.note is not None else note_for(instrument.f_ref_hz)
    s.text(
        f"MIDI note {note} held while /vaesynth/pc i moves from -3 to +3 std over {sweep.sweep_s:g} s "
        f"({sweep.hold_s:g} s held at each end), rendered offline by the {sweep.engine} engine at "
        f"{sweep.sample_rate} Hz. All clips share one gain (loudest peak at -1 dBFS), so level "
        "differences between axes are the model's."
    )
    s.audio([(p.name, f"PC {i + 1}") for i, p in enumerate(paths.values())])
    return s


def summary_line(result: ReportResult, seconds: float) -> str:
    m = result.metrics
    data = f", metrics on {m['n_frames']} {m['split']} frames (LSD {m['lsd_db']:.2f} dB)" if m else ""
    skipped = f"; skipped: {len(result.notes)} ({result.notes[0]})" if result.notes else ""
    return (
        f"report: {len(result.figures)} figures, {len(result.sounds)} sounds{data} in {seconds:.1f} s "
        f"-> {result.index}{skipped}"
    )
