"""The checkpoint file (INTERFACE.md "Files"): one `.pt`, plain tensors and containers, versioned, atomic.

Layout (a dict; every value is a tensor, str, int, float, bool, None, list or dict of those):

    format            "vaesynth-checkpoint"
    format_version    1
    vaesynth_version  the release that wrote it
    model_config      ModelConfig.to_dict()
    model_state       the network's state_dict (tensors)
    codec             FrameCodec.state_dict()   (arrays stored as tensors, handed back as numpy)
    pca               LatentPCA.to_state()      (idem; None until training has finished)
    spectral_config   SpectralConfig.to_dict()
    f_ref_hz          reference pitch of the decoded frames (Hz)
    factor_names      the dataset's factor names
    dataset           {"spec", "name", "size", "seed", "n_frames", "val_groups", ...}
    train_config      TrainConfig.to_dict()
    history           per-epoch losses {"epoch": [...], "train_loss": [...], ...}
    complete          True once training and the PCA fit have finished
    training          optimizer/RNG/progress state for `--resume` (absent from slim checkpoints)

Loading goes through `torch.load(weights_only=True)`, whose restricted unpickler refuses any global that
is not a plain tensor/container type: a pickle carrying code is refused, never executed. Everything we
store is therefore converted to plain types first (`to_plain`); numpy arrays become tensors.
`load_checkpoint(path, tensors="numpy")` reads the same file without importing torch (models/torchzip.py,
the same opcode and global limits) for `vaesynth serve`, whose decoder is numpy; content only torch can read
raises `TorchRequired`, and the caller falls back to torch. torch is imported only where it is used.
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from vaesynth.errors import UserError
from vaesynth.models import torchzip

FORMAT = "vaesynth-checkpoint"
FORMAT_VERSION = 1

# Sections whose arrays the owning classes want back as numpy (they were saved as tensors).
NUMPY_SECTIONS = ("codec", "pca")
REQUIRED_SECTIONS = ("model_config", "model_state", "codec", "spectral_config")
TENSOR_KINDS = ("torch", "numpy")


class TorchRequired(Exception):
    """`load_checkpoint(tensors="numpy")` met content only torch's loader can judge (a legacy-format file, a
    dtype numpy lacks such as bfloat16, torch.Size, ...): load it with tensors="torch"."""


def to_plain(obj: Any) -> Any:
    """`obj` with numpy arrays/scalars turned into tensors/Python scalars and tuples into lists.

    Raises TypeError for anything else that `torch.load(weights_only=True)` would refuse to read back, so a
    bad value fails at save time, not when a user opens the file.
    """
    import torch

    if isinstance(obj, np.generic):  # before the float check: np.float64 is a float subclass
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return type(obj)(obj) if obj is not None else None
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "US":
            return [str(s) for s in obj.tolist()]
        return torch.from_numpy(np.ascontiguousarray(obj)).clone()
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"checkpoint dict keys must be str or int, got {type(k).__name__}")
            out[k] = to_plain(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(
        f"cannot store a {type(obj).__name__} in a checkpoint (plain tensors and containers only)"
    )


def to_numpy_tree(obj: Any) -> Any:
    """Inverse of `to_plain` for sections that hold numpy arrays: tensors become numpy arrays."""
    torch = sys.modules.get("torch")  # a tensor exists only if torch is loaded; never import it here
    if torch is not None and isinstance(obj, torch.Tensor):
        return obj.numpy()
    if isinstance(obj, dict):
        return {k: to_numpy_tree(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_numpy_tree(v) for v in obj]
    return obj


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_checkpoint(path: str | Path, payload: dict) -> Path:
    """Write `payload` (plus the format header) to `path` atomically.

    The file is written to a temporary name in the same folder, flushed to disk and renamed over `path`
    (os.replace is atomic on POSIX), so a crash or SIGKILL mid-save leaves the previous checkpoint intact.
    Returns the path written.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from vaesynth import __version__

    data = {"format": FORMAT, "format_version": FORMAT_VERSION, "vaesynth_version": __version__}
    data.update(to_plain({k: v for k, v in payload.items() if k not in ("format", "format_version")}))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a checkpoint gets the usual file mode
        with os.fdopen(fd, "wb") as f:
            torch.save(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def load_checkpoint(path: str | Path, *, tensors: str = "torch") -> dict:
    """Read and check a checkpoint; numpy sections (`codec`, `pca`) come back as numpy arrays.

    tensors: "torch" (torch.load(weights_only=True); model_state holds tensors) or "numpy" (read without
    importing torch, models/torchzip.py; every tensor, model_state's too, is a numpy array). Both refuse the
    same files with the same checks.
    Raises UserError (one line) for a missing file, a file that is not a vaesynth checkpoint (any other
    .pt, a text file, a pickle that would run code), a truncated file, or a format version this release
    cannot read; with tensors="numpy", TorchRequired for content only torch reads.
    """
    if tensors not in TENSOR_KINDS:
        raise ValueError(f"tensors must be one of {TENSOR_KINDS}, got {tensors!r}")
    path = Path(path)
    if not path.exists():
        raise UserError(f"checkpoint {path} not found")
    if path.is_dir():
        raise UserError(f"checkpoint {path} is a folder, not a .pt file")
    data = _read_numpy(path) if tensors == "numpy" else _read_torch(path)
    _check_header(data, path)
    if tensors == "torch":
        for key in NUMPY_SECTIONS:
            if data.get(key) is not None:
                data[key] = to_numpy_tree(data[key])
    return data


def _code_refusal(path: Path) -> UserError:
    # Where a pickle that carries code (or any foreign object) ends up, unexecuted.
    return UserError(
        f"{path} is not a vaesynth checkpoint (not plain tensor data; pickled objects and "
        "code are never loaded)"
    )


def _truncated(path: Path) -> UserError:
    return UserError(f"{path} is truncated or corrupt (not a complete vaesynth checkpoint)")


def _read_torch(path: Path) -> Any:
    """torch.load(weights_only=True), its errors as one-line UserErrors."""
    import torch

    try:
        with warnings.catch_warnings():
            # A foreign pickle (protocol > 2) makes torch warn before refusing it; the refusal is our message.
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # weights_only refuses every global that is not a tensor/container type.
        raise _code_refusal(path) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, UnicodeDecodeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if (
            "failed finding central directory" in msg
            or isinstance(e, EOFError)
            or "truncat" in msg.lower()
            or "failed reading" in msg
        ):
            raise _truncated(path) from None
        raise UserError(f"{path} is not a vaesynth checkpoint ({msg[:120]})") from None
    except Exception:  # anything else the unpickler can raise on garbage input (KeyError on a text file)
        raise UserError(f"{path} is not a vaesynth checkpoint (not a PyTorch file)") from None


def _read_numpy(path: Path) -> Any:
    """models/torchzip.read_torch_file, its errors as the same one-line UserErrors as `_read_torch`."""
    try:
        return torchzip.read_torch_file(path)
    except torchzip.ForbiddenContent:
        raise _code_refusal(path) from None
    except torchzip.CorruptFile:
        raise _truncated(path) from None
    except torchzip.NotTorchFile as e:
        raise UserError(f"{path} is not a vaesynth checkpoint ({str(e)[:120]})") from None
    except torchzip.NeedsTorch as e:
        raise TorchRequired(f"{path}: {e}") from None
    except OSError as e:
        raise UserError(f"{path} is not a vaesynth checkpoint ({e.strerror or e})") from None


def _check_header(data: Any, path: Path) -> None:
    """The vaesynth header, format version and required sections; one-line UserError otherwise."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"{path} is not a vaesynth checkpoint (a .pt file without the vaesynth header)")
    version = data.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise UserError(f"{path} has an invalid checkpoint format version {version!r}")
    if version > FORMAT_VERSION:
        raise UserError(
            f"{path} was written by a newer vaesynth (checkpoint format {version}; this release "
            f"reads up to {FORMAT_VERSION}): upgrade vaesynth"
        )
    for key in REQUIRED_SECTIONS:
        if key not in data:
            raise UserError(f"{path} is an incomplete vaesynth checkpoint (no {key})")


def strip_training_state(data: dict) -> dict:
    """A copy of a loaded checkpoint without optimizer/RNG state (smaller; can no longer be resumed)."""
    return {k: v for k, v in data.items() if k != "training"}
