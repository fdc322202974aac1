"""The report's figures: plain arrays in, one PNG out (matplotlib, Agg backend, no display needed).

Every function takes what it draws as arrays (no model, no dataset object), writes `path` and returns it,
so figures can be tested on known inputs and reused by `compare.py`. Spectra are drawn in dB relative to a
stated reference with a floor, so a silent decode does not stretch the axis to -300 dB.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: no display, no GUI toolkit; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 100
FLOOR_DB = 80.0  # spectra are shown down to this far below their peak
MAX_CATEGORIES = 12  # a factor with at most this many distinct values gets a legend, not a colour bar


def _save(fig, path) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def to_db(magnitudes: np.ndarray, ref: float | None = None, floor_db: float = FLOOR_DB) -> np.ndarray:
    """Linear magnitudes (any shape) -> dB re `ref` (default: their max), floored at -floor_db."""
    m = np.abs(np.asarray(magnitudes, dtype=np.float64))
    ref = float(m.max(initial=0.0)) if ref is None else float(ref)
    ref = ref if ref > 0 else 1.0
    return np.maximum(20 * np.log10(np.maximum(m, 1e-12) / ref), -floor_db)


def _log_freq_axis(ax, bin_hz: float, n_bins: int) -> None:
    """Log frequency in kHz from ~20 Hz (or the first bin) to Nyquist: musical spectra put most of their
    partials in the lowest octaves, which a linear axis squeezes into a corner."""
    ax.set_xscale("log")
    ax.set_xlim(max(bin_hz, 0.02e3) / 1000, (n_bins - 1) * bin_hz / 1000)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))


def _linear_extent_khz(spectra: np.ndarray, bin_hz: float, within_db: float = 40.0) -> float:
    """Upper frequency (kHz) for a linear-magnitude plot: 1.2x the highest bin within `within_db` of the peak
    (the rest is invisible on a linear axis), at most Nyquist."""
    m = np.abs(np.asarray(spectra)).max(axis=0)
    loud = np.nonzero(m >= m.max(initial=0.0) * 10 ** (-within_db / 20))[0]
    nyquist = (m.size - 1) * bin_hz / 1000
    return nyquist if loud.size == 0 else min(nyquist, 1.2 * (loud[-1] + 1) * bin_hz / 1000)


def _grid(n: int, n_cols: int = 4) -> tuple[int, int]:
    n_cols = max(1, min(n_cols, n))
    return int(math.ceil(n / n_cols)), n_cols


def training_curves(history: dict, path) -> Path:
    """Per-epoch losses of `training/trainer.py`'s history: reconstruction (train/val), KL (train/val, nats
    per frame) and the beta schedule, one panel each, against epoch."""
    epoch = np.asarray(history.get("epoch", []), dtype=float)
    if epoch.size == 0:
        raise ValueError("history has no epochs")
    panels = [
        ("reconstruction loss", ("train_recon", "val_recon")),
        ("KL (nats / frame)", ("train_kl", "val_kl")),
        ("beta", ("beta",)),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), layout="constrained")
    for ax, (title, keys) in zip(axes, panels, strict=True):
        for key in keys:
            y = np.asarray(history.get(key, []), dtype=float)
            if y.size == epoch.size:
                ax.plot(epoch, y, marker="." if epoch.size < 40 else None, label=key.replace("_", " "))
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend(fontsize=8)
    return _save(fig, path)


def reconstructions(
    originals: np.ndarray,
    recons: np.ndarray,
    bin_hz: float,
    path,
    lsd_db: Sequence[float] | None = None,
    names: Sequence[str] | None = None,
) -> Path:
    """Original vs reconstructed frames, one row per frame: linear magnitude on a linear frequency axis
    (left) and dB re the original's peak on a log frequency axis (right). originals, recons: [n_frames,
    n_bins] linear; bin_hz: Hz per bin; lsd_db: per-frame LSD and names (what each frame is: factors,
    pitch) for the titles."""
    originals, recons = np.asarray(originals), np.asarray(recons)
    n = originals.shape[0]
    freqs_khz = np.arange(originals.shape[1]) * bin_hz / 1000
    fig, axes = plt.subplots(n, 2, figsize=(12, 2.4 * n), squeeze=False, layout="constrained")
    for i in range(n):
        ref = float(np.abs(originals[i]).max(initial=0.0))
        title = names[i] if names is not None else f"frame {i + 1}"
        title += f" (LSD {lsd_db[i]:.1f} dB)" if lsd_db is not None else ""
        lin, db = axes[i]
        lin.plot(freqs_khz, originals[i], lw=1, label="original")
        lin.plot(freqs_khz, recons[i], lw=1, alpha=0.8, label="reconstruction")
        lin.set_title(title + ", linear", fontsize=9)
        lin.set_ylabel("magnitude")
        lin.set_xlim(0, _linear_extent_khz(np.stack([originals[i], recons[i]]), bin_hz))
        db.plot(freqs_khz, to_db(originals[i], ref), lw=1, label="original")
        db.plot(freqs_khz, to_db(recons[i], ref), lw=1, alpha=0.8, label="reconstruction")
        db.set_title(title + ", dB re original peak", fontsize=9)
        db.set_ylabel("dB")
        _log_freq_axis(db, bin_hz, originals.shape[1])
        for ax in (lin, db):
            ax.grid(alpha=0.3)
        if i == 0:
            lin.legend(fontsize=8)
    axes[-1, 0].set_xlabel("frequency (kHz)")
    axes[-1, 1].set_xlabel("frequency (kHz, log)")
    return _save(fig, path)


def traversal_grid(
    spectra: np.ndarray,
    values: np.ndarray,
    bin_hz: float,
    labels: Sequence[str],
    path,
    title: str = "",
    n_cols: int = 4,
) -> Path:
    """One panel per axis: the spectra decoded as that axis moves through `values`, overlaid, coloured from
    blue (lowest value) to red (highest), on a log frequency axis. spectra: [n_axes, n_values, n_bins]
    linear magnitudes; values: [n_values] axis positions; labels: one per axis. dB are relative to each
    panel's peak (a level change along the axis shows within a panel; quiet decodes are not pushed under
    the floor). n_cols: panels per row."""
    spectra = np.asarray(spectra)
    n_axes, n_values = spectra.shape[:2]
    freqs_khz = np.arange(spectra.shape[2]) * bin_hz / 1000
    rows, cols = _grid(n_axes, n_cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.6 * cols + 1, 2.6 * rows + 0.4), squeeze=False, layout="constrained"
    )
    cmap = plt.get_cmap("coolwarm")
    norm = matplotlib.colors.Normalize(float(np.min(values)), float(np.max(values)))
    for a in range(rows * cols):
        ax = axes.flat[a]
        if a >= n_axes:
            ax.axis("off")
            continue
        ref = float(np.abs(spectra[a]).max(initial=0.0))
        for j in range(n_values):
            ax.plot(freqs_khz, to_db(spectra[a, j], ref), lw=0.9, color=cmap(norm(values[j])))
        ax.set_title(labels[a], fontsize=9)
        ax.set_ylim(-FLOOR_DB - 2, 3)
        _log_freq_axis(ax, bin_hz, spectra.shape[2])
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("frequency (kHz, log)", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("dB", fontsize=8)
    bar = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes, shrink=0.8)
    bar.set_label("position on the axis")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def pca_map(pcs: np.ndarray, factor: np.ndarray, factor_name: str, path) -> Path:
    """The data in the plane of PCA components 1 and 2 (std units), coloured by one factor. pcs: [n, >=1]
    (with one component, the factor itself is the vertical axis); factor: [n]. A factor with few distinct
    values (program, parity) gets a categorical legend, a continuous one a colour bar."""
    pcs, factor = np.asarray(pcs, dtype=float), np.asarray(factor, dtype=float)
    keep = np.isfinite(factor) & np.all(np.isfinite(pcs), axis=1)
    pcs, factor = pcs[keep], factor[keep]
    x = pcs[:, 0]
    y = pcs[:, 1] if pcs.shape[1] > 1 else factor
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    size = float(np.clip(3000 / max(1, x.size), 3, 30))
    uniques = np.unique(factor)
    if uniques.size <= MAX_CATEGORIES:
        cmap = plt.get_cmap("tab10" if uniques.size <= 10 else "tab20")
        for k, u in enumerate(uniques):
            sel = factor == u
            ax.scatter(x[sel], y[sel], s=size, color=cmap(k), alpha=0.7, label=f"{u:g}", lw=0)
        ax.legend(title=factor_name, fontsize=7, title_fontsize=8, loc="best", markerscale=1.5)
    else:
        sc = ax.scatter(x, y, c=factor, s=size, cmap="viridis", alpha=0.8, lw=0)
        fig.colorbar(sc, ax=ax).set_label(factor_name)
    ax.set_xlabel("PC 1 (std)")
    ax.set_ylabel("PC 2 (std)" if pcs.shape[1] > 1 else factor_name)
    ax.set_title(f"PCA map coloured by {factor_name}", fontsize=10)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def explained_variance(ratio: np.ndarray, n_components_for: dict, path) -> Path:
    """Explained-variance ratio per PCA component (bars) and cumulative (line), with the 80/90/95/99% marks
    and the number of components each needs. ratio: [n_components]; n_components_for: {percent: k}."""
    ratio = np.asarray(ratio, dtype=float)
    k = np.arange(1, ratio.size + 1)
    fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
    ax.bar(k, ratio, color="tab:blue", alpha=0.7, label="per component")
    ax.plot(k, np.cumsum(ratio), color="tab:orange", marker="o", label="cumulative")
    # Labels outside the right edge, spread apart where the marks crowd (95% and 99% are 0.04 apart).
    label_y = 1.2
    for percent, n in sorted(((int(p), int(v)) for p, v in n_components_for.items()), reverse=True):
        ax.axhline(percent / 100, color="grey", lw=0.8, ls="--")
        label_y = min(percent / 100, label_y - 0.055)
        ax.annotate(
            f"{percent}%: {n} PC{'s' if n != 1 else ''}",
            xy=(1.0, percent / 100),
            xytext=(1.02, label_y),
            xycoords=("axes fraction", "data"),
            textcoords=("axes fraction", "data"),
            va="center",
            fontsize=8,
            arrowprops=dict(arrowstyle="-", color="grey", lw=0.6),
        )
    ax.set_xticks(k)
    ax.set_xlim(0.4, k[-1] + 0.6)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("PCA component")
    ax.set_ylabel("explained variance ratio")
    ax.legend(fontsize=8, loc="center right")
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def kl_per_dim(kl_nats: np.ndarray, path, labels: Sequence[str] | None = None) -> Path:
    """KL divergence of each latent dimension's posterior from the prior (nats, mean over frames) as bars;
    with `labels`, kl_nats is [n_models, latent_dim] and models are grouped side by side."""
    kl = np.atleast_2d(np.asarray(kl_nats, dtype=float))
    n_models, dim = kl.shape
    fig, ax = plt.subplots(figsize=(max(5, 0.5 * dim * n_models + 2), 3.5))
    width = 0.8 / n_models
    for m in range(n_models):
        x = np.arange(dim) + (m - (n_models - 1) / 2) * width
        ax.bar(x, kl[m], width, label=labels[m] if labels else None)
    ax.set_xticks(np.arange(dim), [f"z{i}" for i in range(dim)])
    ax.set_xlabel("latent dimension")
    ax.set_ylabel("KL (nats)")
    ax.grid(alpha=0.3, axis="y")
    if labels:
        ax.legend(fontsize=8)
    return _save(fig, path)


def compare_curves(histories: Sequence[dict], labels: Sequence[str], path) -> Path:
    """Validation reconstruction, validation KL and beta of several runs against epoch, one line per run."""
    panels = [("val reconstruction", "val_recon"), ("val KL (nats / frame)", "val_kl"), ("beta", "beta")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), layout="constrained")
    for ax, (title, key) in zip(axes, panels, strict=True):
        for history, label in zip(histories, labels, strict=True):
            epoch = np.asarray(history.get("epoch", []), dtype=float)
            y = np.asarray(history.get(key, []), dtype=float)
            if epoch.size and y.size == epoch.size:
                ax.plot(epoch, y, label=label)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return _save(fig, path)


def compare_explained_variance(ratios: Sequence[np.ndarray], labels: Sequence[str], path) -> Path:
    """Cumulative explained variance of several models' PCAs, with the 80/90/95/99% lines."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for r, label in zip(ratios, labels, strict=True):
        r = np.asarray(r, dtype=float)
        ax.plot(np.arange(1, r.size + 1), np.cumsum(r), marker="o", label=label)
    for percent in (80, 90, 95, 99):
        ax.axhline(percent / 100, color="grey", lw=0.8, ls="--")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("number of PCA components")
    ax.set_ylabel("cumulative explained variance")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)
