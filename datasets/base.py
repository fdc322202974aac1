"""The prepared-dataset container and its .npz file format (INTERFACE.md, `vaesynth dataset`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vaesynth.errors import UserError
from vaesynth.synth.config import SpectralConfig

NPZ_FORMAT_VERSION = 1


@dataclass
class Dataset:
    """Spectral frames with what is known about them.

    magnitudes: float32 [n_frames, n_bins], linear STFT magnitude (the source of every representation).
    config: the SpectralConfig the frames were analysed with.
    f0_hz: float32 [n_frames] fundamental per frame, NaN where unvoiced/unknown; None if not known at all.
    loudness_db: float32 [n_frames] A-weighted-free RMS loudness in dB, or None.
    factors: float32 [n_frames, n_factors] generative factors (toy parameters, program/note/velocity),
      or None.
    factor_names: one name per factor column.
    groups: int64 [n_frames] id of the sound (note, file, toy sample) each frame came from; validation
      splits hold out whole groups so that held-out frames are truly unseen. None = every frame its own group.
    name: the spec it was made from.
    """

    magnitudes: np.ndarray
    config: SpectralConfig
    f0_hz: np.ndarray | None = None
    loudness_db: np.ndarray | None = None
    factors: np.ndarray | None = None
    factor_names: list[str] = field(default_factory=list)
    groups: np.ndarray | None = None
    name: str = ""
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        self.magnitudes = np.ascontiguousarray(self.magnitudes, dtype=np.float32)
        if self.magnitudes.ndim != 2 or self.magnitudes.shape[1] != self.config.n_bins:
            raise ValueError(
                f"magnitudes must be [n_frames, {self.config.n_bins}], got {self.magnitudes.shape}"
            )
        n = self.n_frames
        for name in ("f0_hz", "loudness_db"):
            v = getattr(self, name)
            if v is not None:
                v = np.asarray(v, dtype=np.float32)
                if v.shape != (n,):
                    raise ValueError(f"{name} must be [{n}], got {v.shape}")
                setattr(self, name, v)
        if self.factors is not None:
            self.factors = np.asarray(self.factors, dtype=np.float32)
            if self.factors.ndim != 2 or self.factors.shape[0] != n:
                raise ValueError(f"factors must be [{n}, n_factors], got {self.factors.shape}")
            if len(self.factor_names) != self.factors.shape[1]:
                raise ValueError("factor_names must name every factor column")
        if self.groups is not None:
            self.groups = np.asarray(self.groups, dtype=np.int64)
            if self.groups.shape != (n,):
                raise ValueError(f"groups must be [{n}], got {self.groups.shape}")

    @property
    def n_frames(self) -> int:
        return self.magnitudes.shape[0]

    def subset(self, index: np.ndarray) -> "Dataset":
        """The frames at `index` (an int array or boolean mask), with every per-frame field."""

        def take(v):
            return None if v is None else v[index]

        return Dataset(
            self.magnitudes[index],
            self.config,
            take(self.f0_hz),
            take(self.loudness_db),
            take(self.factors),
            list(self.factor_names),
            take(self.groups),
            self.name,
            dict(self.info),
        )

    def save_npz(self, path: str | Path) -> None:
        """Write the INTERFACE.md .npz (atomic: a temp file renamed into place)."""
        path = Path(path)
        arrays = {
            "format_version": np.int64(NPZ_FORMAT_VERSION),
            "magnitudes": self.magnitudes,
            "sample_rate": np.int64(self.config.sample_rate),
            "n_fft": np.int64(self.config.n_fft),
            "hop_length": np.int64(self.config.hop_length),
            "window": np.str_(self.config.window),
            "name": np.str_(self.name),
        }
        if self.f0_hz is not None:
            arrays["f0_hz"] = self.f0_hz
        if self.loudness_db is not None:
            arrays["loudness_db"] = self.loudness_db
        if self.factors is not None:
            arrays["factors"] = self.factors
            arrays["factor_names"] = np.array(self.factor_names, dtype=np.str_)
        if self.groups is not None:
            arrays["groups"] = self.groups
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        tmp.replace(path)

    @classmethod
    def load_npz(cls, path: str | Path) -> "Dataset":
        """Read a prepared .npz; a file that is not one is refused with a one-line UserError."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                keys = set(z.files)
                missing = {"magnitudes", "sample_rate", "n_fft", "hop_length"} - keys
                if missing:
                    raise UserError(
                        f"{path} is not a vaesynth dataset (missing {', '.join(sorted(missing))})"
                    )
                config = SpectralConfig(
                    int(z["sample_rate"]),
                    int(z["n_fft"]),
                    int(z["hop_length"]),
                    str(z["window"]) if "window" in keys else "hann",
                )
                return cls(
                    magnitudes=z["magnitudes"],
                    config=config,
                    f0_hz=z["f0_hz"] if "f0_hz" in keys else None,
                    loudness_db=z["loudness_db"] if "loudness_db" in keys else None,
                    factors=z["factors"] if "factors" in keys else None,
                    factor_names=[str(s) for s in z["factor_names"]] if "factor_names" in keys else [],
                    groups=z["groups"] if "groups" in keys else None,
                    name=str(z["name"]) if "name" in keys else path.stem,
                )
        except UserError:
            raise
        except FileNotFoundError:
            raise UserError(f"{path}: no such file") from None
        except Exception as e:  # zip errors, truncated files, bad shapes
            raise UserError(f"{path} is not a readable vaesynth dataset ({type(e).__name__}: {e})") from None
