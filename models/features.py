"""Linear magnitude frames <-> model space (the "logmag" representation), with pitch normalisation.

Model space: x = clip(20·log10(|X| / ref) / db_range + 1, 0, ·), ref the loudest training frame's peak, so
silence (≤ -db_range dB re ref) is 0 and ref is 1. One global scale, no per-bin z-scoring: seed 001 saw
normalised inputs collapse, and the harmonic decoder draws absolute levels. For the Bernoulli likelihood the
upper end is clipped at 1 too (louder-than-reference held-out frames are rare).

Per-frame floor (ModelConfig.frame_floor_db > 0): bins more than frame_floor_db below their own frame's peak
are raised to that level before the global floor applies. Why: one global floor db_range below the loudest
training frame clips quiet notes' spectra well inside the 60 dB that LSD counts (FluidR3, db_range 80: 1.2 dB
of LSD from the clipping alone), while a deeper global floor makes the model spend its capacity drawing
-100 dB valleys nobody hears; a floor relative to each frame keeps what matters and nothing below it.

Pitch ("normalize" mode): frame b' = |X|(b' · f0 / f_ref), linear interpolation along frequency, so the
partial k·f0 lands at k·f_ref; frames with unknown f0 (NaN) are left as they are; bins that would read above
Nyquist are silent. `to_magnitudes(x, f0_hz)` applies the inverse map. "condition" mode keeps frames at
their own pitch and hands the model cond = log2(f0 / f_ref) (0 where unknown).
"""

from __future__ import annotations

import numpy as np

from vaesynth.models.config import ModelConfig

TINY = 1e-12


def choose_f_ref_hz(f0_hz: np.ndarray | None, default: float = 110.0) -> float:
    """A reference pitch for a training set: the median of its known f0 (Hz), or `default`."""
    if f0_hz is None:
        return float(default)
    f0 = np.asarray(f0_hz, dtype=np.float64)
    f0 = f0[np.isfinite(f0) & (f0 > 0)]
    return float(np.median(f0)) if f0.size else float(default)


def resample_frequency(magnitudes: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """out[n, b] = magnitudes[n, b · ratio[n]] (linear interpolation; 0 beyond the last bin).

    magnitudes: [N, n_bins]; ratio: [N] (f0 / f_ref to normalise, f_ref / f0 to undo; NaN = leave as is).
    Returns float32 [N, n_bins]. Real-time safe: no (allocates).
    """
    mags = np.asarray(magnitudes, dtype=np.float32)
    n, n_bins = mags.shape
    ratio = np.asarray(ratio, dtype=np.float64).reshape(n)
    ratio = np.where(np.isfinite(ratio) & (ratio > 0), ratio, 1.0)
    src = np.arange(n_bins)[None, :] * ratio[:, None]  # [N, n_bins]
    i0 = np.floor(src).astype(np.int64)
    frac = (src - i0).astype(np.float32)
    inside = i0 < n_bins - 1
    exact_last = i0 == n_bins - 1  # reading exactly the last bin
    i0c = np.minimum(i0, n_bins - 2)
    rows = np.arange(n)[:, None]
    lo = mags[rows, i0c]
    hi = mags[rows, i0c + 1]
    out = np.where(inside, lo * (1 - frac) + hi * frac, 0.0)
    out = np.where(exact_last & (frac == 0), mags[:, -1:], out)
    return out.astype(np.float32)


class FrameCodec:
    """Fitted on the training split only (`fit`); serialisable as plain floats/str (`state_dict`)."""

    def __init__(
        self,
        ref_db: float,
        db_range: float,
        pitch_mode: str,
        f_ref_hz: float,
        clip_upper: bool,
        frame_floor_db: float = 0.0,
    ):
        self.ref_db = float(ref_db)
        self.db_range = float(db_range)
        self.pitch_mode = str(pitch_mode)
        self.f_ref_hz = float(f_ref_hz)
        self.clip_upper = bool(clip_upper)
        self.frame_floor_db = float(frame_floor_db)

    @classmethod
    def fit(
        cls,
        magnitudes: np.ndarray,
        f0_hz: np.ndarray | None,
        cfg: ModelConfig,
        sample_rate: int | None = None,
        n_fft: int | None = None,
    ) -> "FrameCodec":
        """Fit on TRAINING frames: magnitudes [N, n_bins] linear, f0_hz [N] Hz (NaN unknown) or None.

        The reference level is the loudest (pitch-normalised) training bin, or cfg.floor_db - cfg.db_range dB
        below it when cfg.floor_db is set (the floor then lies cfg.floor_db below the loudest bin).
        """
        mags = np.asarray(magnitudes, dtype=np.float32)
        if mags.ndim != 2 or mags.shape[1] != cfg.n_bins:
            raise ValueError(f"magnitudes must be [n_frames, {cfg.n_bins}], got {mags.shape}")
        if sample_rate is not None and int(sample_rate) != cfg.sample_rate:
            raise ValueError(f"sample_rate {sample_rate} != ModelConfig.sample_rate {cfg.sample_rate}")
        if n_fft is not None and int(n_fft) != cfg.n_fft:
            raise ValueError(f"n_fft {n_fft} != ModelConfig.n_fft {cfg.n_fft}")
        codec = cls(
            0.0, cfg.db_range, cfg.pitch_mode, cfg.f_ref_hz, cfg.likelihood == "bernoulli", cfg.frame_floor_db
        )
        shifted = codec._normalise_pitch(mags, f0_hz)
        peak = float(np.max(shifted)) if shifted.size else 1.0
        headroom_db = cfg.floor_db - cfg.db_range if cfg.floor_db else 0.0
        codec.ref_db = float(20.0 * np.log10(max(peak, TINY))) - headroom_db
        return codec

    def _normalise_pitch(self, mags, f0_hz):
        if self.pitch_mode != "normalize" or f0_hz is None:
            return np.asarray(mags, dtype=np.float32)
        return resample_frequency(mags, np.asarray(f0_hz, dtype=np.float64) / self.f_ref_hz)

    def cond_for(self, f0_hz: np.ndarray | None, n_frames: int) -> np.ndarray | None:
        """cond [N, 1] = log2(f0 / f_ref) (0 where unknown) in "condition" mode, else None."""
        if self.pitch_mode != "condition":
            return None
        if f0_hz is None:
            return np.zeros((n_frames, 1), dtype=np.float32)
        f0 = np.asarray(f0_hz, dtype=np.float64).reshape(n_frames)
        c = np.where(np.isfinite(f0) & (f0 > 0), np.log2(np.where(f0 > 0, f0, 1.0) / self.f_ref_hz), 0.0)
        return c[:, None].astype(np.float32)

    def to_model(self, magnitudes: np.ndarray, f0_hz: np.ndarray | None = None):
        """Linear magnitudes [N, n_bins] (+ f0_hz [N]) -> (x float32 [N, n_bins], cond [N, 1] or None)."""
        mags = self._normalise_pitch(np.asarray(magnitudes, dtype=np.float32), f0_hz)
        db = 20.0 * np.log10(np.maximum(mags.astype(np.float64), TINY)) - self.ref_db
        if self.frame_floor_db > 0 and db.size:
            # a per-frame floor: what lies further below the frame's own peak is raised to it
            db = np.maximum(db, db.max(axis=1, keepdims=True) - self.frame_floor_db)
        x = np.maximum(db / self.db_range + 1.0, 0.0)
        if self.clip_upper:
            x = np.minimum(x, 1.0)
        return x.astype(np.float32), self.cond_for(f0_hz, mags.shape[0])

    def to_magnitudes(self, x_hat: np.ndarray, f0_hz: np.ndarray | None = None) -> np.ndarray:
        """Model-space frames [N, n_bins] -> linear magnitudes [N, n_bins].

        "normalize" mode: at f_ref, or moved back to f0_hz [N] when given. Values at 0 (the floor) come back
        as 0. "condition" mode: frames are already at their own pitch; f0_hz is ignored.
        """
        x = np.asarray(x_hat, dtype=np.float64)
        mags = np.where(x > 0, 10.0 ** (((x - 1.0) * self.db_range + self.ref_db) / 20.0), 0.0)
        mags = mags.astype(np.float32)
        if self.pitch_mode == "normalize" and f0_hz is not None:
            mags = resample_frequency(mags, self.f_ref_hz / np.asarray(f0_hz, dtype=np.float64))
        return mags

    def state_dict(self) -> dict:
        return {
            "ref_db": float(self.ref_db),
            "db_range": float(self.db_range),
            "pitch_mode": self.pitch_mode,
            "f_ref_hz": self.f_ref_hz,
            "clip_upper": self.clip_upper,
            "frame_floor_db": self.frame_floor_db,
        }

    @classmethod
    def from_state(cls, d: dict) -> "FrameCodec":
        return cls(
            float(d["ref_db"]),
            float(d["db_range"]),
            str(d["pitch_mode"]),
            float(d["f_ref_hz"]),
            bool(d["clip_upper"]),
            float(d.get("frame_floor_db", 0.0)),  # absent in checkpoints written before it existed
        )
