"""Datasets: toy generators, audio folders, SoundFonts and prepared .npz files, as spectral frames.

`load_dataset(spec)` is the one entry point; see README.md in this folder for the modules.
"""

from vaesynth.datasets.base import Dataset
from vaesynth.datasets.spec import load_dataset

__all__ = ["Dataset", "load_dataset"]
