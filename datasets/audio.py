"""Folders of audio files as spectral frames: read, mix to mono, resample, trim silence, analyse, cache.

`load_folder(path)` is what a folder spec (`vaesynth dataset ./my_sounds`) runs. Files are found recursively
(wav, flac, aiff/aif, ogg; extension case-insensitive), in sorted relative-path order, so the frame order and
the group ids (one group per file) are deterministic. Files that cannot be used (unreadable, corrupt,
truncated mid-stream, empty, all silent) are skipped with a one-line `AudioFileWarning` each and counted.
"""

from __future__ import annotations

import os
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np

from vaesynth.datasets import cache
from vaesynth.datasets.base import Dataset
from vaesynth.errors import UserError
from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.spectral import magnitude

AUDIO_EXTENSIONS = (".wav", ".flac", ".aiff", ".aif", ".ogg")

# Silence trimming: blocks whose peak is more than this far below the file's peak are silence...
TRIM_THRESHOLD_DB = -60.0
# ...and this much is kept on each side of the sounding part, so that onsets and the last bit of decay
# keep their context (in samples: max(hop_length, 10 ms)).
TRIM_MARGIN_S = 0.010
# Denominator bound of the rational resampling ratio: exact for every common rate pair (44.1k/48k = 147/160).
MAX_RESAMPLE_DENOMINATOR = 1000


class AudioFileWarning(UserWarning):
    """One audio file was skipped; the message is one line naming the file and why."""


def find_audio_files(folder: str | os.PathLike) -> list[Path]:
    """Audio files under `folder`, recursively, sorted by relative path. Extensions are case-insensitive."""
    folder = Path(folder)
    found = [p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def resample(x: np.ndarray, sample_rate_in: int, sample_rate_out: int) -> np.ndarray:
    """Polyphase resampling (scipy.signal.resample_poly) by a rational approximation of the rate ratio.

    x: [n_samples] float. Returns float32 [≈ n_samples * out / in]. The ratio is the closest fraction with a
    denominator ≤ 1000 (exact for 22.05k/44.1k/48k/96k pairs). Real-time safe: no.
    """
    if sample_rate_in == sample_rate_out:
        return np.asarray(x, dtype=np.float32)
    from scipy.signal import resample_poly

    ratio = Fraction(int(sample_rate_out), int(sample_rate_in)).limit_denominator(MAX_RESAMPLE_DENOMINATOR)
    return resample_poly(np.asarray(x, dtype=np.float64), ratio.numerator, ratio.denominator).astype(
        np.float32
    )


def read_audio(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """Read one file as mono float32 at `sample_rate` Hz (channels averaged, then resampled).

    Raises ValueError with a short reason for files that cannot be used (unreadable, corrupt, zero-length,
    non-finite samples). Real-time safe: no.
    """
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            rate = f.samplerate
            data = f.read(dtype="float32", always_2d=True)
    except sf.LibsndfileError as e:
        reason = str(e).split(":", 1)[-1].strip() if ":" in str(e) else str(e)
        raise ValueError(reason or "unreadable") from None
    except (RuntimeError, OSError) as e:
        raise ValueError(str(e) or type(e).__name__) from None
    if data.shape[0] == 0:
        raise ValueError("no samples")
    if not np.all(np.isfinite(data)):
        raise ValueError("non-finite samples")
    mono = data.mean(axis=1)
    return resample(mono, rate, sample_rate)


def sounding_range(
    x: np.ndarray, block_length: int, threshold_db: float = TRIM_THRESHOLD_DB, margin_length: int = 0
) -> tuple[int, int]:
    """[start, stop) samples of the part of `x` that is not silence.

    The signal is cut in blocks of `block_length` samples; a block is silent when its peak |x| is more than
    `-threshold_db` dB below the peak of the whole signal. The range runs from the first to the last
    non-silent block, widened by `margin_length` samples each side (clipped to the signal).
    Returns (0, 0) for an all-zero or empty signal. Real-time safe: no.
    """
    n = len(x)
    if n == 0:
        return 0, 0
    peak = float(np.max(np.abs(x)))
    if peak <= 0.0:
        return 0, 0
    n_blocks = -(-n // block_length)
    padded = np.zeros(n_blocks * block_length, dtype=np.float32)
    padded[:n] = np.abs(x)
    block_peak = padded.reshape(n_blocks, block_length).max(axis=1)
    loud = np.flatnonzero(block_peak > peak * 10.0 ** (threshold_db / 20.0))
    start = max(0, int(loud[0]) * block_length - margin_length)
    stop = min(n, (int(loud[-1]) + 1) * block_length + margin_length)
    return start, stop


def frames_of(x: np.ndarray, config: SpectralConfig):
    """Magnitude frames, per-frame f0 and loudness of one mono signal (frames centred like `stft`).

    Returns (magnitudes float32 [n_frames, n_bins], f0_hz float32 [n_frames] NaN = unvoiced,
    loudness_db float32 [n_frames]). Real-time safe: no.
    """
    from vaesynth.datasets.pitch import estimate_f0, loudness_db

    mags = magnitude(x, config)
    f0_hz, _periodicity = estimate_f0(x, config.sample_rate, config.hop_length)
    loud_db = loudness_db(x, config.sample_rate, config.hop_length, config.n_fft)
    return mags, np.asarray(f0_hz, dtype=np.float32), np.asarray(loud_db, dtype=np.float32)


def trim_margin_length(config: SpectralConfig) -> int:
    """Samples kept each side of the sounding part: max(hop_length, 10 ms)."""
    return max(config.hop_length, int(round(TRIM_MARGIN_S * config.sample_rate)))


def load_folder(
    path: str | os.PathLike,
    config: SpectralConfig | None = None,
    progress: bool = True,
    cache_dir: str | os.PathLike | None | bool = None,
) -> Dataset:
    """Prepare every usable audio file under `path` as frames (see the module docstring).

    config: analysis settings (default SpectralConfig()); files are resampled to config.sample_rate.
    progress: show a tqdm bar on stderr. cache_dir: cache folder (None = the default one, False = no cache).
    Returns a Dataset with magnitudes, f0_hz, loudness_db and groups (= index into info["files"]); `info`
    holds "files" (relative paths used), "skipped" ({relative path: reason}), "n_found", "n_skipped",
    "seconds_used" and "cache" ("hit", "miss", "off", or
    "unwritable" when the cache folder could not be written).
    Raises UserError (one line) for a missing folder, a folder without audio files, or one where no file
    is usable.
    """
    config = config or SpectralConfig()
    folder = Path(path).expanduser()
    if not folder.exists():
        raise UserError(f"audio folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise UserError(f"{str(folder)!r} is not a folder")
    files = find_audio_files(folder)
    if not files:
        raise UserError(
            f"no audio files ({', '.join(e[1:] for e in AUDIO_EXTENSIONS)}) found under {str(folder)!r}"
        )

    use_cache = cache_dir is not False
    root = cache.cache_root(None if cache_dir is False else cache_dir) if use_cache else None
    hasher = cache.FileHasher(root)
    fingerprints, unreadable = [], {}
    for p in files:
        rel = p.relative_to(folder).as_posix()
        try:
            # Without a cache no key is needed: reading the file reports what hashing would.
            fingerprints.append((rel, hasher.content_hash(p) if use_cache else ""))
        except OSError as e:
            unreadable[rel] = e.strerror or type(e).__name__
    hasher.save()
    key = cache.make_key(
        "folder",
        {
            "files": fingerprints,
            "unreadable": sorted(unreadable),
            "config": config.to_dict(),
            "code": cache.code_fingerprint(
                "vaesynth.datasets.audio", "vaesynth.datasets.pitch", "vaesynth.synth.spectral"
            ),
            "trim_threshold_db": TRIM_THRESHOLD_DB,
            "trim_margin_s": TRIM_MARGIN_S,
        },
    )
    if use_cache:
        hit = cache.load(key, root)
        if hit is not None:
            hit.info["cache"] = "hit"
            hit.info["folder"] = str(folder.resolve())  # the key holds contents, not where they are
            hit.name = str(path)
            _warn_skipped(hit.info.get("skipped", {}), folder)
            return hit

    mags, f0s, louds, groups, used, skipped = [], [], [], [], [], dict(unreadable)
    seconds = 0.0
    margin = trim_margin_length(config)
    from tqdm import tqdm

    readable = [(folder / rel, rel) for rel, _ in fingerprints]
    for p, rel in tqdm(readable, desc="reading audio", unit="file", disable=not progress, leave=False):
        try:
            x = read_audio(p, config.sample_rate)
        except ValueError as e:
            skipped[rel] = str(e)
            continue
        start, stop = sounding_range(x, config.hop_length, TRIM_THRESHOLD_DB, margin)
        if stop <= start:
            skipped[rel] = "silent"
            continue
        x = x[start:stop]
        m, f0, loud = frames_of(x, config)
        mags.append(m)
        f0s.append(f0)
        louds.append(loud)
        groups.append(np.full(len(m), len(used), dtype=np.int64))
        used.append(rel)
        seconds += len(x) / config.sample_rate
    _warn_skipped(skipped, folder)
    if not used:
        raise UserError(
            f"none of the {len(files)} audio files under {str(folder)!r} is usable "
            f"({len(skipped)} skipped: unreadable, corrupt or silent)"
        )
    info = {
        "source": "folder",
        "folder": str(folder.resolve()),
        "files": used,
        "skipped": skipped,
        "n_found": len(files),
        "n_skipped": len(skipped),
        "seconds_used": round(seconds, 3),
        "trim_threshold_db": TRIM_THRESHOLD_DB,
    }
    ds = Dataset(
        np.concatenate(mags),
        config,
        f0_hz=np.concatenate(f0s),
        loudness_db=np.concatenate(louds),
        groups=np.concatenate(groups),
        name=str(path),
        info=info,
    )
    if use_cache:
        ds.info["cache"] = "miss" if cache.save(key, ds, root) is not None else "unwritable"
    else:
        ds.info["cache"] = "off"
    return ds


def _warn_skipped(skipped: dict, folder: Path) -> None:
    for rel, reason in skipped.items():
        warnings.warn(f"skipped {rel}: {reason}", AudioFileWarning, stacklevel=3)
    if skipped:
        warnings.warn(f"{len(skipped)} audio file(s) under {folder} skipped", AudioFileWarning, stacklevel=3)
