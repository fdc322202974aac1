"""A checkpoint as a playable instrument: what serve, render, resynth, eval and report use.

`load_instrument(path)` rebuilds the network, the frame codec and the PCA from one checkpoint file (the
bundled default model when path is None). Decoding runs torch at one intra-op thread under inference_mode:
one latent vector to one linear-magnitude frame costs tens of microseconds (benchmarks/bench_training.py).
Decoding is for the control thread, never the audio callback (it allocates and calls torch).

`load_instrument(path, torch_free=True)` (what `vaesynth serve` uses) never imports torch: the checkpoint is
read by models/torchzip.py and decoded by models/npdecode.py's numpy port (~0.1 ms per vector), which saves
about a second of start-up. The torch network is built only if something asks for it (`model`, encoding).
Where the numpy path cannot serve a model (a conv decoder, content only torch reads), it falls back to torch
and says why in `fallback_reason`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaesynth.errors import UserError
from vaesynth.models.checkpoint import TorchRequired, load_checkpoint
from vaesynth.models.config import ModelConfig
from vaesynth.models.features import FrameCodec
from vaesynth.models.pca import LatentPCA
from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.protocol import Timbre

# Inputs beyond these are clamped: the decoder has never seen latents far outside the prior (N(0, 1)), and
# the knob range is ±3 standard deviations of each PCA component.
LATENT_LIMIT = 8.0
PCS_LIMIT = 6.0
ENCODE_BATCH = 4096


def default_model_path() -> Path:
    """The bundled default instrument, `vaesynth/assets/default.pt` inside the installed package."""
    import vaesynth

    return Path(vaesynth.__file__).resolve().parent / "assets" / "default.pt"


def _finite(name: str, a: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite (got NaN or inf)")
    return a


class Instrument:
    """A trained model ready to decode.

    Attributes: latent_dim, n_pcs (PCA components), pca (LatentPCA), config (SpectralConfig of the analysis),
    f_ref_hz (pitch of decoded frames, Hz), model_config (ModelConfig), codec (FrameCodec), model (BetaVAE,
    eval mode; built on first use for the numpy backend), factor_names, history (per-epoch losses), dataset
    (what it was trained on), path, name, backend ("torch" or "numpy": what decodes), fallback_reason (why a
    torch-free load fell back to torch, else None).
    checkpoint: as load_checkpoint returns it, with tensors="torch" for backend "torch" and "numpy" for
    backend "numpy" (torch is then never imported unless `model`, encode_frames or reconstruct is used).
    """

    def __init__(
        self, checkpoint: dict, path: Path | None = None, num_threads: int | None = 1, backend: str = "torch"
    ):
        if backend not in ("torch", "numpy"):
            raise ValueError(f"backend must be 'torch' or 'numpy', got {backend!r}")
        if checkpoint.get("pca") is None or not checkpoint.get("complete", False):
            raise UserError(
                f"{path}: training has not finished (no PCA yet); finish it with `vaesynth train --resume`"
            )
        try:
            self.model_config = ModelConfig.from_dict(checkpoint["model_config"])
            self.codec = FrameCodec.from_state(checkpoint["codec"])
            self.pca = LatentPCA.from_state(checkpoint["pca"])
            self.config = SpectralConfig.from_dict(checkpoint["spectral_config"])
        except (ValueError, KeyError, TypeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UserError(f"{path}: checkpoint contents do not fit this release ({first[:160]})") from None
        self.backend = backend
        self.fallback_reason: str | None = None
        self.path = path
        self.name = Path(path).stem if path is not None else "model"
        self._num_threads = num_threads
        self._state = checkpoint["model_state"]
        self._model = None
        self._np = None
        if backend == "numpy":
            from vaesynth.models.npdecode import NumpyDecoder, UnsupportedArch

            if not isinstance(self._state, dict):
                raise UserError(f"{path}: checkpoint contents do not fit this release (model_state)")
            try:
                self._np = NumpyDecoder(self.model_config, self._state)
            except UnsupportedArch:  # load_instrument(torch_free=True) loads these with torch instead
                raise
            except ValueError:
                raise self._weights_misfit() from None
        else:
            self._build_model()
        self.f_ref_hz = float(checkpoint.get("f_ref_hz", self.model_config.f_ref_hz))
        self.factor_names = list(checkpoint.get("factor_names", []))
        self.history = checkpoint.get("history", {})
        self.dataset = checkpoint.get("dataset", {})
        self.train_config = checkpoint.get("train_config", {})
        self.latent_dim = int(self.model_config.latent_dim)
        self.n_pcs = int(self.pca.n_components)
        self._conditioned = self.model_config.n_cond > 0
        # One-vector fast path (the live synth's): a preallocated input decoded by the torch-free FastDecoder
        # (torch's per-op dispatch dominates a one-vector forward) on either backend, where the arch has one;
        # warmed up here so the first knob move does not pay numba's compilation.
        self._z1 = np.zeros((1, self.latent_dim), dtype=np.float32)
        self._fast = None
        if self.model_config.arch != "conv":
            from vaesynth.models.fastdecode import FastDecoder, frame_to_magnitudes_kernel

            self._fast_mags = frame_to_magnitudes_kernel
            self._fast = (
                FastDecoder(self.model_config, self._state, layers=self._np)
                if self._np is not None
                else FastDecoder.from_model(self.model)
            )
            self.decode_latent(self._z1[0])

    def _weights_misfit(self) -> UserError:
        return UserError(
            f"{self.path}: its weights do not fit the {self.model_config.arch!r} network this release "
            f"builds (written by an incompatible vaesynth; retrain it)"
        )

    def _build_model(self):
        import torch

        from vaesynth.models.vae import build_model

        try:
            model = build_model(self.model_config)
        except (ValueError, KeyError, TypeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UserError(
                f"{self.path}: checkpoint contents do not fit this release ({first[:160]})"
            ) from None
        state = self._state
        if self.backend == "numpy":
            state = {k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}
        try:
            model.load_state_dict(state)
        except (RuntimeError, KeyError, TypeError, AttributeError):
            raise self._weights_misfit() from None
        model.eval()
        if self._num_threads:
            # The control thread decodes one vector at a time: more threads only add sync overhead and
            # compete with the render thread for cores.
            torch.set_num_threads(self._num_threads)
        self._model = model
        return model

    @property
    def model(self):
        """The torch BetaVAE (eval mode); built from the checkpoint's arrays on first use (imports torch)."""
        return self._model if self._model is not None else self._build_model()

    # --- decoding ---------------------------------------------------------------------------------------
    def _cond(self, f0_hz, n: int):
        import torch

        if not self._conditioned:
            return None
        if f0_hz is None:
            return torch.zeros(n, self.model_config.n_cond)
        return torch.from_numpy(self.codec.cond_for(np.broadcast_to(np.asarray(f0_hz, np.float64), (n,)), n))

    def _latent_batch(self, z) -> tuple[np.ndarray, bool]:
        z = np.asarray(z, dtype=np.float32)
        single = z.ndim == 1
        z2 = z[None, :] if single else z
        if z2.ndim != 2 or z2.shape[1] != self.latent_dim:
            raise ValueError(f"z must be [{self.latent_dim}] or [B, {self.latent_dim}], got shape {z.shape}")
        return np.clip(_finite("z", z2), -LATENT_LIMIT, LATENT_LIMIT), single

    def _to_mags(self, x_hat: np.ndarray, f0: np.ndarray | None) -> np.ndarray:
        mags = self.codec.to_magnitudes(x_hat, f0)
        if not np.isfinite(mags).all():  # never hand a non-finite spectrum to an engine
            mags = np.nan_to_num(mags, nan=0.0, posinf=0.0, neginf=0.0)
        return mags

    def decode_latent(self, z, f0_hz: float | None = None) -> np.ndarray:
        """Latent vector(s) -> linear magnitudes.

        z: [latent_dim] or [B, latent_dim] raw latent units (clamped to ±LATENT_LIMIT; NaN/inf -> ValueError).
        f0_hz: pitch to draw the frame at (Hz); None = f_ref_hz (what the engines expect: they re-pitch).
        Returns float32 [n_bins] or [B, n_bins], finite and >= 0 (the codec maps model space to >= 0).
        Real-time safe: no (allocates; torch for backend "torch"); the control thread's job. Not thread-safe
        (the one-vector path reuses a buffer): one control thread per Instrument.
        """
        z = np.asarray(z, dtype=np.float32)
        one = None if f0_hz is None else np.array([float(f0_hz)])
        if z.shape == (self.latent_dim,):  # the live synth's case: keep it lean (~numpy/torch call overhead)
            if not np.isfinite(z).all():
                raise ValueError("z must be finite (got NaN or inf)")
            np.clip(z, -LATENT_LIMIT, LATENT_LIMIT, out=self._z1[0])
            if self._fast is not None:
                cond = None if one is None or not self._conditioned else self.codec.cond_for(one, 1)[0]
                x_hat = self._fast.decode(self._z1[0], cond)
                if one is None:  # at f_ref: the codec and the finite guard in one kernel pass
                    mags = np.empty(x_hat.shape[0], np.float32)
                    self._fast_mags(x_hat, self.codec.db_range, self.codec.ref_db, mags)
                    return mags
                return self._to_mags(x_hat[None, :], one)[0]
            zb, single = self._z1, True
        else:
            zb, single = self._latent_batch(z)
        f0 = None if f0_hz is None else np.full(zb.shape[0], float(f0_hz))
        if self._np is not None:
            x_hat = self._np.decode(zb, self.codec.cond_for(f0, zb.shape[0]) if f0 is not None else None)
        else:
            import torch

            with torch.inference_mode():
                zt = torch.from_numpy(zb)
                x_hat = self.model.decode(zt, self._cond(f0_hz, zt.shape[0])).numpy()
        mags = self._to_mags(x_hat, f0)
        return mags[0] if single else mags

    def pcs_to_latent(self, pcs) -> np.ndarray:
        """PCA coordinates [k] or [B, k] (k <= n_pcs, standard deviations, clamped to ±PCS_LIMIT) -> latent
        vectors float32 [latent_dim] / [B, latent_dim]."""
        pcs = np.asarray(pcs, dtype=np.float64)
        if pcs.ndim not in (1, 2) or pcs.shape[-1] > self.n_pcs:
            raise ValueError(f"pcs must be [k] or [B, k] with k <= {self.n_pcs}, got shape {pcs.shape}")
        pcs = np.clip(_finite("pcs", pcs), -PCS_LIMIT, PCS_LIMIT)
        return self.pca.pcs_to_latent(pcs).astype(np.float32)

    def decode_pcs(self, pcs, f0_hz: float | None = None) -> np.ndarray:
        """PCA coordinates (see pcs_to_latent) -> linear magnitudes [n_bins] / [B, n_bins]."""
        return self.decode_latent(self.pcs_to_latent(pcs), f0_hz)

    def timbre_for_latent(self, z) -> Timbre:
        """One latent vector [latent_dim] -> the Timbre the engines play (at f_ref_hz)."""
        z = np.asarray(z)
        if z.ndim != 1:
            raise ValueError(f"timbre_for_latent takes one vector [{self.latent_dim}], got shape {z.shape}")
        return Timbre(self.decode_latent(z), self.config, self.f_ref_hz)

    def timbre_for_pcs(self, pcs) -> Timbre:
        """PCA coordinates [k] (standard deviations) -> Timbre."""
        return self.timbre_for_latent(self.pcs_to_latent(pcs))

    def controls_for_latent(self, z) -> dict:
        """Harmonic arch only: the decoder's synthesis controls for z [latent_dim] or [B, latent_dim] as numpy
        (amps_db, inharmonicity, lobe_scale, noise_db, f0_ratio; see models/harmonic.py)."""
        zb, single = self._latent_batch(z)
        if self._np is not None:
            out = self._np.controls(zb)
            return {k: (v[0] if single else v) for k, v in out.items()}
        import torch

        with torch.inference_mode():
            out = self.model.controls(torch.from_numpy(zb), self._cond(None, zb.shape[0]))
        return {k: (v[0] if single else v).numpy() for k, v in out.items()}

    # --- encoding ---------------------------------------------------------------------------------------
    def _frames(self, magnitudes, f0_hz):
        mags = np.asarray(magnitudes, dtype=np.float32)
        if mags.ndim == 1:
            mags = mags[None, :]
        if mags.ndim != 2 or mags.shape[1] != self.config.n_bins:
            raise ValueError(f"magnitudes must be [n_frames, {self.config.n_bins}], got shape {mags.shape}")
        mags = np.abs(_finite("magnitudes", mags))
        if f0_hz is not None:
            f0_hz = np.asarray(f0_hz, dtype=np.float64).reshape(-1)
            if f0_hz.shape != (mags.shape[0],):
                raise ValueError(f"f0_hz must be [{mags.shape[0]}], got shape {f0_hz.shape}")
        return mags, f0_hz

    def encode_frames(self, magnitudes, f0_hz=None) -> tuple[np.ndarray, np.ndarray]:
        """Linear magnitudes [n_frames, n_bins] (+ f0_hz [n_frames], NaN = unknown) -> posterior
        (mu, logvar), float32 [n_frames, latent_dim] each."""
        import torch

        mags, f0_hz = self._frames(magnitudes, f0_hz)
        mus, logvars = [], []
        with torch.inference_mode():
            for start in range(0, mags.shape[0], ENCODE_BATCH):
                f0 = None if f0_hz is None else f0_hz[start : start + ENCODE_BATCH]
                x, cond = self.codec.to_model(mags[start : start + ENCODE_BATCH], f0)
                mu, logvar = self.model.encode(
                    torch.from_numpy(x), None if cond is None else torch.from_numpy(cond)
                )
                mus.append(mu.numpy())
                logvars.append(logvar.numpy())
        if not mus:
            return np.zeros((0, self.latent_dim), np.float32), np.zeros((0, self.latent_dim), np.float32)
        return np.concatenate(mus), np.concatenate(logvars)

    def reconstruct(self, magnitudes, f0_hz=None) -> np.ndarray:
        """Encode (posterior mean) and decode frames [n_frames, n_bins] at their own pitch -> linear
        magnitudes float32 [n_frames, n_bins]."""
        import torch

        mags, f0_hz = self._frames(magnitudes, f0_hz)
        out = np.empty_like(mags)
        with torch.inference_mode():
            for start in range(0, mags.shape[0], ENCODE_BATCH):
                stop = min(start + ENCODE_BATCH, mags.shape[0])
                f0 = None if f0_hz is None else f0_hz[start:stop]
                x, cond = self.codec.to_model(mags[start:stop], f0)
                c = None if cond is None else torch.from_numpy(cond)
                mu, _ = self.model.encode(torch.from_numpy(x), c)
                x_hat = self.model.decode(mu, c).numpy()
                out[start:stop] = self.codec.to_magnitudes(x_hat, f0)
        return out


def load_instrument(
    path: str | Path | None = None, num_threads: int | None = 1, *, torch_free: bool = False
) -> Instrument:
    """Load a finished checkpoint as an Instrument; path None = the bundled default model.

    num_threads: torch intra-op threads to set (1 for the live synth; None leaves torch's setting).
    torch_free: read and decode without importing torch (backend "numpy", for `vaesynth serve`); a model the
    numpy path cannot serve (a conv decoder, content only torch reads) loads with torch instead and says why
    in `fallback_reason`. Both refuse the same files with the same messages.
    Raises UserError (one line) for a missing, foreign, truncated, future or unfinished checkpoint.
    """
    if path is None:
        path = default_model_path()
        if not path.exists():
            raise UserError(
                f"the bundled default model is missing ({path}); pass --model CKPT "
                "(train one with `vaesynth train`)"
            )
    path = Path(path)
    if torch_free:
        from vaesynth.models.npdecode import NUMPY_ARCHS

        try:
            checkpoint = load_checkpoint(path, tensors="numpy")
        except TorchRequired as e:
            reason = str(e)
        else:
            arch = (
                checkpoint["model_config"].get("arch")
                if isinstance(checkpoint["model_config"], dict)
                else None
            )
            if arch in NUMPY_ARCHS:
                return Instrument(checkpoint, path, num_threads, backend="numpy")
            reason = f"arch {arch!r} has no numpy decoder"
        inst = Instrument(load_checkpoint(path), path, num_threads)
        inst.fallback_reason = reason
        return inst
    return Instrument(load_checkpoint(path), path, num_threads)
