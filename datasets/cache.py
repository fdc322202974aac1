"""On-disk cache of prepared datasets (audio folders, SoundFont renderings).

A prepared dataset is stored as one `.npz` named by a key: the hash of everything its frames depend on
(each source file's content hash, the analysis settings, the generator's options and `CACHE_VERSION`).
The cache lives in `$VAESYNTH_CACHE`, else `$XDG_CACHE_HOME/vaesynth`, else `~/.cache/vaesynth`.

- Content hashes of source files are memoised by (absolute path, size, mtime_ns) in `file-hashes.json`,
  so a warm run stats the files instead of reading them; a changed file changes its stat and is re-hashed.
- Writes are atomic (a temp file in the same folder, renamed into place): a crash never leaves a half entry.
- An entry that cannot be read (truncated, not a zip, missing arrays) is deleted and reported as a miss,
  so the caller rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from vaesynth.datasets.base import Dataset
from vaesynth.synth.config import SpectralConfig

# Bump when the preparation of frames changes in a way that makes old entries wrong.
CACHE_VERSION = 1

_HASH_INDEX = "file-hashes.json"
_CHUNK_BYTES = 1 << 20


class CacheWarning(UserWarning):
    """A cache entry or index could not be used (it is rebuilt); never fatal."""


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache folder: `cache_dir` if given, else $VAESYNTH_CACHE, $XDG_CACHE_HOME/vaesynth or
    ~/.cache/vaesynth."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("VAESYNTH_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "vaesynth"
    return Path.home() / ".cache" / "vaesynth"


def hash_bytes_of_file(path: str | os.PathLike) -> str:
    """blake2b-128 hex digest of a file's content (read in 1 MiB chunks)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK_BYTES), b""):
            h.update(chunk)
    return h.hexdigest()


class FileHasher:
    """Content hashes of source files, memoised on disk by (absolute path, size, mtime_ns).

    root: the cache folder holding the memo (None = no memo, always read the files).
    """

    def __init__(self, root: Path | None):
        self.path = None if root is None else root / _HASH_INDEX
        self.memo: dict[str, str] = {}
        self.dirty = False
        if self.path is not None and self.path.exists():
            try:
                memo = json.loads(self.path.read_text())
                if isinstance(memo, dict):
                    self.memo = {str(k): str(v) for k, v in memo.items()}
            except (OSError, ValueError):
                warnings.warn(f"ignoring unreadable cache index {self.path}", CacheWarning, stacklevel=2)

    def content_hash(self, path: str | os.PathLike) -> str:
        """Content hash of one file; raises OSError when the file cannot be read."""
        st = os.stat(path)
        stamp = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"
        digest = self.memo.get(stamp)
        if digest is None:
            digest = hash_bytes_of_file(path)
            self.memo[stamp] = digest
            self.dirty = True
        return digest

    def save(self) -> None:
        """Write the memo back (atomic; a failure to write only costs re-hashing next time)."""
        if self.path is None or not self.dirty:
            return
        try:
            _atomic_write_bytes(self.path, json.dumps(self.memo, sort_keys=True).encode())
            self.dirty = False
        except OSError:
            pass


def code_fingerprint(*module_names: str) -> str:
    """Hash of the source files of the modules that compute the frames, so that an edit to the analysis
    code (pitch tracker, STFT, trimming) invalidates old entries without anyone remembering to bump
    CACHE_VERSION. A module without a readable source file contributes its name only."""
    import importlib

    h = hashlib.blake2b(digest_size=16)
    for name in module_names:
        h.update(name.encode())
        path = getattr(importlib.import_module(name), "__file__", None)
        try:
            with open(path, "rb") as f:
                h.update(f.read())
        except (OSError, TypeError):
            pass
    return h.hexdigest()


def make_key(kind: str, parts: dict) -> str:
    """Cache key for a prepared dataset: `kind` (e.g. "folder", "sf2") + a hash of `parts` and CACHE_VERSION.

    parts: JSON-serialisable description of everything the frames depend on.
    """
    blob = json.dumps(
        {"cache_version": CACHE_VERSION, "kind": kind, "parts": parts}, sort_keys=True, default=str
    )
    return f"{kind}-{hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()}"


def entry_path(key: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the entry for `key` is (or would be) stored."""
    return cache_root(cache_dir) / f"{key}.npz"


def load(key: str, cache_dir: str | os.PathLike | None = None) -> Dataset | None:
    """The cached dataset for `key`, or None on a miss. A corrupt entry is removed and counts as a miss."""
    path = entry_path(key, cache_dir)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)

            def opt(name):
                return z[name] if name in keys else None

            config = SpectralConfig(
                int(z["sample_rate"]), int(z["n_fft"]), int(z["hop_length"]), str(z["window"])
            )
            info = json.loads(str(z["info_json"]))
            ds = Dataset(
                magnitudes=z["magnitudes"],
                config=config,
                f0_hz=opt("f0_hz"),
                loudness_db=opt("loudness_db"),
                factors=opt("factors"),
                factor_names=[str(s) for s in z["factor_names"]] if "factor_names" in keys else [],
                groups=opt("groups"),
                name=str(z["name"]),
                info=info,
            )
            if int(z["cache_version"]) != CACHE_VERSION:
                raise ValueError("cache version mismatch")
            return ds
    except Exception as e:  # truncated zip, missing arrays, bad JSON, bad shapes: rebuild
        warnings.warn(
            f"cache entry {path.name} is unreadable ({type(e).__name__}); rebuilding it",
            CacheWarning,
            stacklevel=2,
        )
        try:
            path.unlink()
        except OSError:
            pass
        return None


def save(key: str, dataset: Dataset, cache_dir: str | os.PathLike | None = None) -> Path | None:
    """Store `dataset` (with its JSON-serialisable `info`) under `key`, atomically.

    Returns the entry's path, or None if the cache folder is not writable (caching is best effort).
    """
    path = entry_path(key, cache_dir)
    arrays = {
        "cache_version": np.int64(CACHE_VERSION),
        "magnitudes": dataset.magnitudes,
        "sample_rate": np.int64(dataset.config.sample_rate),
        "n_fft": np.int64(dataset.config.n_fft),
        "hop_length": np.int64(dataset.config.hop_length),
        "window": np.str_(dataset.config.window),
        "name": np.str_(dataset.name),
        "info_json": np.str_(json.dumps(dataset.info, default=str)),
    }
    for name in ("f0_hz", "loudness_db", "factors", "groups"):
        v = getattr(dataset, name)
        if v is not None:
            arrays[name] = v
    if dataset.factors is not None:
        arrays["factor_names"] = np.array(dataset.factor_names, dtype=np.str_)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        warnings.warn(
            f"could not write the dataset cache in {path.parent} ({e.strerror or e}); continuing without it",
            CacheWarning,
            stacklevel=2,
        )
        return None
    return path


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
