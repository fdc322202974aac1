"""Pitch tracker throughput and gross-error rate: `estimate_f0` vs librosa.yin and librosa.pyin.

    .venv/bin/python benchmarks/bench_pitch.py [--repeats 5] [--no-pyin]

Signal: FluidR3 GM notes (piano, e-piano, guitar, strings, trumpet, sax, clarinet, flute, violin, cello,
tuba, oboe; MIDI 40..84), 1 s each, concatenated (harmonic tones if pyfluidsynth or the SoundFont is
missing). Per case: frames/s (median over repeats), times real time, and the gross-error rate: voiced frames
(skipping each note's first 4, the attack) more than 50 cents from the MIDI note, and the voiced fraction.
Timings are wall clock on whatever else the machine is doing: quote medians, and the machine's load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from functools import partial

import numpy as np

from vaesynth.datasets.pitch import cents_between, estimate_f0, midi_to_hz

SF2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
PROGRAMS = (0, 4, 24, 48, 56, 65, 71, 73, 40, 42, 58, 68)
NOTES = (40, 48, 55, 62, 69, 76, 84)


def render_notes(sample_rate: int, seconds: float = 1.0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """(signal, [(start_sample, note)]) of every PROGRAMS x NOTES note, mono float."""
    n = int(seconds * sample_rate)
    parts, marks = [], []
    try:
        import fluidsynth

        if not os.path.exists(SF2):
            raise ImportError(SF2)
        synth = fluidsynth.Synth(samplerate=float(sample_rate))
        sfid = synth.sfload(SF2)
        for program in PROGRAMS:
            synth.program_select(0, sfid, 0, program)
            for note in NOTES:
                synth.noteon(0, note, 100)
                x = np.asarray(synth.get_samples(n), dtype=np.float64).reshape(-1, 2).mean(axis=1) / 32768
                synth.noteoff(0, note)
                synth.get_samples(sample_rate // 2)  # let the release die away, unrecorded
                marks.append((len(parts) * n, note))
                parts.append(x)
        synth.delete()
    except ImportError:
        t = np.arange(n) / sample_rate
        for note in NOTES:
            f = float(midi_to_hz(note))
            x = sum(0.7 ** k * np.sin(2 * np.pi * k * f * t) for k in range(1, 9)
                    if k * f < sample_rate / 2.2)
            marks.append((len(parts) * n, note))
            parts.append(0.3 * x)
    return np.concatenate(parts), marks


def gross_error(f0_hz: np.ndarray, marks, n_per_note: int, hop_length: int) -> tuple[float, float]:
    """(fraction of judged voiced frames > 50 cents off the note, voiced fraction) over every note."""
    bad, voiced, total = 0, 0, 0
    for start, note in marks:
        a, b = start // hop_length + 4, (start + n_per_note) // hop_length - 2
        err = cents_between(f0_hz[a:b], midi_to_hz(note))
        v = ~np.isnan(err)
        bad += int(np.sum(np.abs(err[v]) > 50))
        voiced += int(v.sum())
        total += len(err)
    return bad / max(voiced, 1), voiced / max(total, 1)


def ours(x: np.ndarray, sample_rate: int, hop_length: int) -> np.ndarray:
    return estimate_f0(x, sample_rate, hop_length)[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-pyin", action="store_true", help="skip librosa.pyin (slow)")
    args = ap.parse_args()
    try:
        import librosa
    except ImportError:
        librosa = None

    print(f"{'tracker':<22}{'sr':>7}{'hop':>5}{'frames':>8}{'frames/s':>11}{'x rt':>7}"
          f"{'gross':>8}{'voiced':>8}")
    for sample_rate, hop in ((44100, 512), (48000, 256), (22050, 256)):
        x, marks = render_notes(sample_rate)
        n_per_note = len(x) // len(marks)
        cases = {"vaesynth estimate_f0": partial(ours, x, sample_rate, hop)}
        if librosa is not None:
            ref = dict(y=x.astype(np.float32), fmin=40.0, fmax=2000.0, sr=sample_rate, frame_length=4096,
                       hop_length=hop)
            cases["librosa.yin (4096)"] = partial(librosa.yin, **ref)
            if not args.no_pyin and sample_rate == 44100:
                cases["librosa.pyin (4096)"] = partial(lambda kw: librosa.pyin(**kw)[0], ref)
        for name, fn in cases.items():
            fn()  # warm-up: numba compile / cache load, librosa caches
            repeats = 1 if "pyin" in name else args.repeats
            seconds = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                f0 = fn()
                seconds.append(time.perf_counter() - t0)
            med = statistics.median(seconds)
            gross, voiced = gross_error(np.asarray(f0, dtype=np.float64), marks, n_per_note, hop)
            rate = len(f0) / med
            realtime = len(x) / sample_rate / med
            print(f"{name:<22}{sample_rate:>7}{hop:>5}{len(f0):>8}{rate:>11.0f}{realtime:>7.0f}"
                  f"{gross:>8.3f}{voiced:>8.3f}")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
