"""Dataset specs (INTERFACE.md): a folder, `toy:NAME`, `sf2:PATH`, or a prepared `.npz`."""

from __future__ import annotations

from pathlib import Path

from vaesynth.datasets.base import Dataset
from vaesynth.errors import UserError
from vaesynth.synth.config import SpectralConfig


def load_dataset(
    spec: str,
    config: SpectralConfig | None = None,
    *,
    seed: int = 0,
    size: int | None = None,
    progress: bool = True,
    cache_dir: str | Path | None = None,
) -> Dataset:
    """Prepare the frames a spec names.

    spec: `toy:harmonic|richness|additive4|fm5`, `sf2:PATH`, a folder of audio files, or a `.npz` written by
      `vaesynth dataset`. config: analysis settings (default: the generator's own / SpectralConfig()).
    seed, size: for generated sets (toy, sf2): deterministic for a seed; size = number of sounds or frames
      (each generator documents which), None = near the seeds' sizes.
    Raises UserError with one line for anything the user can fix.
    """
    if spec.startswith("toy:"):
        from vaesynth.datasets import toy

        return toy.make_toy(spec[4:], config=config, seed=seed, size=size, progress=progress)
    if spec.startswith("sf2:"):
        from vaesynth.datasets import sf2

        return sf2.render_soundfont(
            spec[4:], config=config, seed=seed, size=size, progress=progress, cache_dir=cache_dir
        )
    path = Path(spec).expanduser()
    if path.suffix == ".npz":
        return Dataset.load_npz(path)
    if path.is_dir():
        from vaesynth.datasets import audio

        return audio.load_folder(path, config=config, progress=progress, cache_dir=cache_dir)
    if not path.exists():
        raise UserError(
            f"dataset {spec!r} not found: give a folder of audio files, toy:NAME, sf2:PATH or a .npz"
        )
    raise UserError(
        f"dataset {spec!r} is a file, not a folder: give its folder, toy:NAME, sf2:PATH or a .npz"
    )
