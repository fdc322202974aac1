"""Frozen configuration shared by data preparation, training and the live engine."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SpectralConfig:
    """How audio becomes spectral frames (and back).

    sample_rate: Hz. n_fft: FFT size in samples (n_bins = n_fft // 2 + 1). hop_length: samples between frames.
    window: a scipy.signal.get_window name, periodic ("hann").
    """

    sample_rate: int = 44100
    n_fft: int = 2048
    hop_length: int = 512
    window: str = "hann"

    def __post_init__(self):
        if not (1000 <= self.sample_rate <= 384000):
            raise ValueError(f"sample_rate must be in 1000..384000 Hz, got {self.sample_rate}")
        if self.n_fft < 16 or self.n_fft % 2:
            raise ValueError(f"n_fft must be even and >= 16, got {self.n_fft}")
        if not (1 <= self.hop_length <= self.n_fft):
            raise ValueError(f"hop_length must be in 1..n_fft, got {self.hop_length}")

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def bin_hz(self) -> float:
        """Width of one FFT bin in Hz."""
        return self.sample_rate / self.n_fft

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SpectralConfig":
        return cls(**{k: d[k] for k in ("sample_rate", "n_fft", "hop_length", "window") if k in d})
