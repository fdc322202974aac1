"""What the report draws, computed from an Instrument (and data): traversals, PCA coordinates of frames,
the factors to colour them by, and which frames to show reconstructed. No plotting here."""

from __future__ import annotations

import numpy as np

TRAVERSAL_VALUES = np.linspace(-3.0, 3.0, 7)  # std (PCA axes) or latent units (latent dimensions)
MAX_MAP_POINTS = 4000  # scatter plots beyond this are subsampled (fixed seed)
SILENT_PEAK_RATIO = 1e-3  # frames whose peak is below this fraction of the loudest are not shown


def pca_traversal(instrument, values=TRAVERSAL_VALUES, n_axes: int | None = None) -> np.ndarray:
    """Spectra decoded along each PCA axis, the other coordinates at the data mean (what the synth's knobs
    do). values: [n_values] in standard deviations. Returns float32 [n_axes, n_values, n_bins] linear
    magnitudes at f_ref_hz."""
    n_axes = instrument.n_pcs if n_axes is None else min(int(n_axes), instrument.n_pcs)
    values = np.asarray(values, dtype=np.float64)
    out = []
    for i in range(n_axes):
        pcs = np.zeros((values.size, i + 1))
        pcs[:, i] = values
        out.append(instrument.decode_pcs(pcs))
    return np.stack(out).astype(np.float32)


def latent_traversal(instrument, values=TRAVERSAL_VALUES) -> np.ndarray:
    """Spectra decoded as each latent coordinate takes `values` (raw latent units, the prior's std is 1),
    the other coordinates at the data mean (the PCA mean, where the synth starts). Returns float32
    [latent_dim, n_values, n_bins]."""
    values = np.asarray(values, dtype=np.float64)
    base = np.asarray(instrument.pca.mean, dtype=np.float64)
    out = []
    for i in range(instrument.latent_dim):
        z = np.repeat(base[None, :], values.size, axis=0)
        z[:, i] = values
        out.append(instrument.decode_latent(z.astype(np.float32)))
    return np.stack(out).astype(np.float32)


def hz_to_midi(f0_hz: np.ndarray) -> np.ndarray:
    """Frequencies (Hz) -> MIDI note numbers (float; NaN stays NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 69.0 + 12.0 * np.log2(np.asarray(f0_hz, dtype=np.float64) / 440.0)


def colour_factors(dataset) -> list[tuple[str, np.ndarray]]:
    """(name, per-frame values) to colour the PCA map by: the dataset's factors (toy parameters, program,
    note, velocity) that vary, then the estimated pitch as a MIDI note where frames have an f0 and no factor
    already is the pitch."""
    out = []
    if dataset.factors is not None:
        for j, name in enumerate(dataset.factor_names):
            col = dataset.factors[:, j].astype(np.float64)
            finite = col[np.isfinite(col)]
            if finite.size and np.ptp(finite) > 0:
                out.append((name, col))
    names = {n.lower() for n, _ in out}
    if dataset.f0_hz is not None and not names & {"f0_hz", "note", "pitch"}:
        midi = hz_to_midi(dataset.f0_hz)
        finite = midi[np.isfinite(midi)]
        if finite.size and np.ptp(finite) > 0.5:
            out.append(("pitch (MIDI, estimated f0)", midi))
    return out


def map_subset(n_frames: int, max_points: int = MAX_MAP_POINTS, seed: int = 0) -> np.ndarray:
    """Indices of at most max_points frames (all when fewer), sorted; a fixed seed keeps reports stable."""
    if n_frames <= max_points:
        return np.arange(n_frames)
    return np.sort(np.random.default_rng(seed).choice(n_frames, max_points, replace=False))


def frames_to_show(magnitudes: np.ndarray, n: int = 4) -> np.ndarray:
    """n frame indices spread evenly over the non-silent frames (peak above SILENT_PEAK_RATIO of the
    loudest), so the reconstruction figure shows sounds rather than release tails."""
    peaks = np.abs(magnitudes).max(axis=1)
    audible = np.nonzero(peaks >= SILENT_PEAK_RATIO * peaks.max(initial=0.0))[0]
    if audible.size == 0:
        audible = np.arange(magnitudes.shape[0])
    pick = np.linspace(0, audible.size - 1, min(n, audible.size)).round().astype(int)
    return audible[np.unique(pick)]


def describe_frame(dataset, index: int) -> str:
    """A short title for one frame: its factors and estimated f0, e.g. "program 0, note 60, f0 262 Hz"."""
    parts = []
    if dataset.factors is not None:
        parts += [f"{n} {v:.3g}" for n, v in zip(dataset.factor_names, dataset.factors[index], strict=True)]
    if dataset.f0_hz is not None and np.isfinite(dataset.f0_hz[index]):
        parts.append(f"f0 {dataset.f0_hz[index]:.0f} Hz")
    return ", ".join(parts) if parts else f"frame {index}"
