"""`vaesynth dataset`: prepare (and cache) a dataset as an .npz."""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

from vaesynth.errors import UserError


def register(sub):
    p = sub.add_parser(
        "dataset",
        help="prepare a dataset and write it as .npz",
        description="Prepare spectral frames from SPEC (audio folder, toy:NAME or sf2:PATH) and write them "
        "as an .npz: magnitudes [n_frames, n_bins] (linear), sample_rate, n_fft, hop_length, and where "
        "known f0_hz, loudness_db, factors/factor_names and groups. Audio folders and SoundFonts "
        "are cached ($VAESYNTH_CACHE, else $XDG_CACHE_HOME/vaesynth or ~/.cache/vaesynth).",
    )
    p.add_argument(
        "spec",
        metavar="SPEC",
        help="audio folder (wav/flac/aiff/ogg, recursive), toy:harmonic|richness|additive4|fm5, "
        "sf2:PATH (sf2:default = FluidR3 GM), or an .npz this command wrote",
    )
    p.add_argument("--out", required=True, metavar="FILE.npz", help="file to write")
    p.add_argument(
        "--sample-rate",
        type=int,
        metavar="HZ",
        help="analysis sample rate; audio is resampled to it (default 44100)",
    )
    p.add_argument("--n-fft", type=int, metavar="N", help="FFT size in samples (default 2048)")
    p.add_argument("--hop-length", type=int, metavar="N", help="samples between frames (default 512)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed for generated sets (toy, sf2 subsets); default 0"
    )
    p.add_argument(
        "--size",
        type=int,
        metavar="N",
        help="toy: number of frames; sf2: number of notes drawn from the "
        "program x note x velocity grid (default: the whole grid)",
    )
    for flag, default in (
        ("programs", "0,4,24,48,56,65,71,73"),
        ("notes", "40:84:4"),
        ("velocities", "50,80,110"),
    ):
        p.add_argument(
            f"--{flag}",
            type=_int_list,
            metavar="LIST",
            help=f"sf2: MIDI {flag} of the grid, comma-separated or LO:HI:STEP with HI included "
            f"(default {default})",
        )
    p.add_argument(
        "--cache-dir", metavar="DIR", help="cache folder (default $VAESYNTH_CACHE or ~/.cache/vaesynth)"
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def _int_list(text: str) -> tuple[int, ...]:
    """A MIDI list, comma-separated ("40,44,48") or LO:HI:STEP ("40:84:4", HI included) -> tuple of ints.

    Raises argparse.ArgumentTypeError, which argparse prints as one line."""
    import argparse

    try:
        if ":" in text:
            lo, hi, *step = (int(t) for t in text.split(":"))
            if len(step) > 1 or (step and step[0] < 1):
                raise ValueError
            values = tuple(range(lo, hi + 1, step[0] if step else 1))
        else:
            values = tuple(int(t) for t in text.replace(" ", "").split(",") if t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N,N,... or LO:HI:STEP, got {text!r}") from None
    if not values or min(values) < 0 or max(values) > 127:
        raise argparse.ArgumentTypeError(f"expected MIDI numbers 0..127, got {text!r}")
    return values


def spectral_config_from_args(args):
    """SpectralConfig from --sample-rate/--n-fft/--hop-length, or None when none is given (generator default).

    Unspecified fields take SpectralConfig's defaults (44100 Hz, 2048, 512). Invalid values raise UserError.
    """
    from vaesynth.synth.config import SpectralConfig

    given = {
        k: v
        for k, v in (
            ("sample_rate", args.sample_rate),
            ("n_fft", args.n_fft),
            ("hop_length", args.hop_length),
        )
        if v is not None
    }
    if not given:
        return None
    try:
        return SpectralConfig(**given)
    except ValueError as e:
        raise UserError(str(e)) from None


def run(args) -> int:
    from vaesynth.datasets.spec import load_dataset

    out = Path(args.out).expanduser()
    if out.suffix != ".npz":
        raise UserError(f"--out must name an .npz file, got {str(out)!r}")
    if not out.parent.exists():
        raise UserError(f"folder {str(out.parent)!r} for --out does not exist")
    if args.size is not None and args.size < 1:
        raise UserError(f"--size must be >= 1, got {args.size}")
    config = spectral_config_from_args(args)
    cache_dir = False if args.no_cache else args.cache_dir
    grid = {k: getattr(args, k, None) for k in ("programs", "notes", "velocities")}
    grid = {k: v for k, v in grid.items() if v is not None}
    if grid and not args.spec.startswith("sf2:"):
        raise UserError(f"--{next(iter(grid))} is for sf2: specs only, not {args.spec!r}")
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if grid:
                from vaesynth.datasets.sf2 import render_soundfont

                ds = render_soundfont(
                    args.spec[4:],
                    config,
                    seed=args.seed,
                    size=args.size,
                    progress=not args.quiet,
                    cache_dir=cache_dir,
                    **grid,
                )
            else:
                ds = load_dataset(
                    args.spec,
                    config,
                    seed=args.seed,
                    size=args.size,
                    progress=not args.quiet,
                    cache_dir=cache_dir,
                )
        finally:
            _print_warnings(caught)
    seconds = time.perf_counter() - t0
    if config is not None:
        # A prepared .npz keeps the settings it was made with: say so rather than write something else.
        for name in ("sample_rate", "n_fft", "hop_length"):
            asked = getattr(args, name)
            if asked is not None and asked != getattr(ds.config, name):
                raise UserError(
                    f"{args.spec} has {name} {getattr(ds.config, name)}, not {asked}: "
                    "prepare it again from its audio"
                )
    try:
        ds.save_npz(out)
    except OSError as e:
        raise UserError(f"cannot write {str(out)!r}: {e.strerror or e}") from None
    factors = ", ".join(ds.factor_names) if ds.factor_names else "none"
    cache_states = {
        "hit": "cache hit",
        "miss": "cache miss (now cached)",
        "off": "cache off",
        "unwritable": "cache not writable",
    }
    cache_state = cache_states.get(ds.info.get("cache"), "not cached")
    skipped = ds.info.get("n_skipped")
    skipped_txt = f", {skipped} file(s) skipped" if skipped else ""
    print(
        f"wrote {out}: {ds.n_frames} frames x {ds.config.n_bins} bins ({ds.config.sample_rate} Hz, n_fft "
        f"{ds.config.n_fft}, hop {ds.config.hop_length}), factors: {factors}{skipped_txt}; "
        f"{seconds:.2f} s, {cache_state}"
    )
    return 0


def _print_warnings(caught) -> None:
    seen = set()
    for w in caught:
        msg = " ".join(str(w.message).split())
        if msg not in seen:
            seen.add(msg)
            print(f"vaesynth dataset: warning: {msg}", file=sys.stderr)
