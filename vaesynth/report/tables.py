"""The metrics of `vaesynth eval` as table rows: (label, JSON key, value), one row per number, so the page
shows exactly the numbers `vaesynth eval --json` prints (keys are dotted paths into that object)."""

from __future__ import annotations

LABELS = {
    "lsd_db": "LSD (dB, held-out frames)",
    "spectral_convergence": "spectral convergence",
    "active_units": "active units",
    "mig": "MIG (mean over factors)",
    "n_frames": "frames evaluated",
}


def metric_rows(result: dict, with_dim: bool = True) -> list[tuple[str, str, float | int | None]]:
    """Flatten an eval result (training/evaluation.evaluate's dict) into (label, key, value) rows;
    with_dim: say "(of latent_dim)" after active units (off where models of several sizes share a row)."""
    rows = []
    for key in ("lsd_db", "spectral_convergence", "active_units", "mig", "n_frames"):
        if key in result:
            label = LABELS[key]
            if with_dim and key == "active_units" and "latent_dim" in result:
                label += f" (of {result['latent_dim']})"
            rows.append((label, key, result[key]))
    for name, v in (result.get("mig_per_factor") or {}).items():
        rows.append((f"MIG of {name}", f"mig_per_factor.{name}", v))
    for percent, k in (result.get("n_components_for") or {}).items():
        rows.append((f"PCs for {percent}% variance", f"n_components_for.{percent}", k))
    for i, v in enumerate(result.get("pca_explained_variance") or []):
        rows.append((f"explained variance of PC {i + 1}", f"pca_explained_variance.{i}", v))
    for i, v in enumerate(result.get("kl_per_dim") or []):
        rows.append((f"KL of z{i} (nats)", f"kl_per_dim.{i}", v))
    return rows


def fmt(value) -> str:
    """A metric for humans: ints as is, floats to 4 significant digits, None as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def lookup(result: dict, key: str):
    """The value at a dotted key of an eval result (list indices as numbers); KeyError if absent."""
    node = result
    for part in key.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node
