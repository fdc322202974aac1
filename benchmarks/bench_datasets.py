"""Dataset preparation throughput: frames prepared per second for each toy set, SoundFont rendering and an
audio folder, cold (nothing cached) and warm (cache hit).

    .venv/bin/python benchmarks/bench_datasets.py [--toy-size 2000] [--repeats 3] [--full]

Prints one table row per case: frames, median wall seconds over the repeats and frames per second. The audio
folder is 20 SoundFont notes (1 s each, FluidR3) written as .wav into a temporary folder; its cold runs use a
fresh cache folder each time, its warm runs hit the cache. Timings are wall clock on whatever else the
machine is doing: quote medians, and the machine's load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import soundfile as sf

from vaesynth.datasets import audio, sf2, toy
from vaesynth.synth.config import SpectralConfig


def timed(fn, repeats):
    """(median seconds, last result) of `repeats` calls of fn()."""
    seconds, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds), result


def write_note_folder(folder: Path, config: SpectralConfig, n_notes: int = 20) -> None:
    """n_notes dry FluidR3 notes (program x note grid, 1 s held + 0.3 s release) as 16-bit wav files."""
    grid = sf2.note_grid(sf2.DEFAULT_PROGRAMS[:4], sf2.DEFAULT_NOTES[::2][:5], [100])[:n_notes]
    with sf2.NoteRenderer("default", config.sample_rate) as r:
        for i, (p, n, v) in enumerate(grid):
            x = r.render(p, n, v, 1.0, 0.3)
            sf.write(folder / f"note_{i:02d}_p{p}_n{n}.wav", x, config.sample_rate, subtype="PCM_16")


def row(name, n_frames, seconds, note=""):
    fps = n_frames / seconds if seconds > 0 else float("inf")
    print(f"| {name:<34} | {n_frames:>7} | {seconds:>9.3f} | {fps:>11,.0f} | {note} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--toy-size", type=int, default=2000, help="frames per toy set (default 2000)")
    ap.add_argument("--full", action="store_true", help="toy sets at their default sizes (10k-45k frames)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per case; the median is printed")
    ap.add_argument("--sf2-notes", type=int, default=40, help="notes rendered for the sf2 case (default 40)")
    args = ap.parse_args(argv)
    config = SpectralConfig()
    warnings.simplefilter("ignore")
    print(
        f"config: {config.sample_rate} Hz, n_fft {config.n_fft}, hop {config.hop_length}; "
        f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}; median of {args.repeats}"
    )
    print("| case                               |  frames | seconds   |  frames/s   | notes |")
    print("|---|---:|---:|---:|---|")
    for name in toy.TOY_NAMES:
        size = None if args.full else args.toy_size
        seconds, ds = timed(
            lambda n=name, s=size: toy.make_toy(n, config, seed=0, size=s, progress=False), args.repeats
        )
        row(f"toy:{name}", ds.n_frames, seconds, "default size" if size is None else f"size {size}")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if Path(sf2.DEFAULT_SF2).is_file():
            kwargs = dict(config=config, progress=False, size=args.sf2_notes, seed=0)
            seconds, ds = timed(
                lambda: sf2.render_soundfont("default", cache_dir=False, **kwargs), args.repeats
            )
            row("sf2:default (render + analyse)", ds.n_frames, seconds, f"{args.sf2_notes} notes, cold")
            sf2.render_soundfont("default", cache_dir=tmp / "sf2cache", **kwargs)
            seconds, ds = timed(
                lambda: sf2.render_soundfont("default", cache_dir=tmp / "sf2cache", **kwargs), args.repeats
            )
            assert ds.info["cache"] == "hit"
            row("sf2:default (cache hit)", ds.n_frames, seconds, "warm (sf2 content hash memoised by stat)")

            folder = tmp / "notes"
            folder.mkdir()
            write_note_folder(folder, config)
            counter = iter(range(10**6))
            seconds, ds = timed(
                lambda: audio.load_folder(
                    folder, config, progress=False, cache_dir=tmp / f"cold{next(counter)}"
                ),
                args.repeats,
            )
            assert ds.info["cache"] == "miss"
            row("audio folder, cold cache", ds.n_frames, seconds, f"{len(ds.info['files'])} wav files")
            seconds, ds = timed(
                lambda: audio.load_folder(folder, config, progress=False, cache_dir=tmp / "cold0"),
                args.repeats,
            )
            assert ds.info["cache"] == "hit"
            row("audio folder, warm cache", ds.n_frames, seconds, "cache hit")
            seconds, _ = timed(
                lambda: audio.load_folder(folder, config, progress=False, cache_dir=False), args.repeats
            )
            row("audio folder, no cache", ds.n_frames, seconds, "read + trim + STFT + YIN")
        else:
            print(f"(no {sf2.DEFAULT_SF2}: SoundFont and audio-folder cases skipped)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
