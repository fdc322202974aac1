"""`render --engine istft`: live RTPGHI phase vs the offline FGLA phase (synth/istft_offline.py).

Renders a phrase (overlapping notes of a sawtooth timbre, 6 Hz vibrato by pitch bend) through the real
engine both ways and prints render speed (x real time, median of runs) and each note's spectral convergence
to the frames the renderer drew (DESIGN.md definition, dB, lower is better; frames wholly in the sustain,
output divided by the voice gain). Run:
    .venv/bin/python benchmarks/bench_render_phase.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.controls import Controls
from vaesynth.synth.engine import Engine, make_renderer
from vaesynth.synth.istft import IstftRenderer
from vaesynth.synth.istft_offline import note_spectral_convergence_db, render_messages_fgla
from vaesynth.synth.offline import TimedMessage, render_messages
from vaesynth.synth.protocol import Timbre
from vaesynth.synth.spectral import magnitude
from vaesynth.synth.voices import STEAL_SLOTS

POLYPHONY = 8


def saw_timbre() -> Timbre:
    cfg = SpectralConfig(44100, 2048, 512)
    t = np.arange(cfg.sample_rate // 4) / cfg.sample_rate
    x = sum(0.3 / k * np.sin(2 * np.pi * k * 220.0 * t) for k in range(1, 31))
    frames = magnitude(x, cfg)
    return Timbre(frames[len(frames) // 2], cfg, 220.0)


def phrase(seconds: float, vibrato_cents: float, poly: bool) -> list[TimedMessage]:
    """poly: 3-note chords of 0.9 s every 0.5 s (up to 6 voices sound); else single notes of 0.6 s every
    second (release 0.2 s: never two at once, so each note's spectral convergence can be measured).
    Vibrato (6 Hz) on the pitch wheel, every 5 ms."""
    notes = [45, 52, 57, 60, 64, 57, 52, 48]
    length, step = (0.9, 0.5) if poly else (0.6, 1.0)
    msgs = []
    t, i = 0.0, 0
    while t + length <= seconds:
        for n in [notes[i % 8] + d for d in ((0, 4, 7) if poly else (0,))]:
            msgs += [
                TimedMessage(t, "/vaesynth/note", (n, 90)),
                TimedMessage(t + length, "/vaesynth/note", (n, 0)),
            ]
        t, i = t + step, i + 1
    for k in range(int(seconds / 0.005)):
        s = k * 0.005
        msgs.append(TimedMessage(s, "/vaesynth/bend", (vibrato_cents / 100 * np.sin(2 * np.pi * 6.0 * s),)))
    return msgs


def make_controls_for(sample_rate: int, timbre: Timbre):
    def make_controls(factory):
        n_slots = POLYPHONY + STEAL_SLOTS
        renderers = {
            "oscbank": make_renderer("oscbank", sample_rate, n_slots, 64),
            "istft": factory(sample_rate, n_slots, 64),
        }
        engine = Engine(sample_rate, polyphony=POLYPHONY, engine="istft", renderers=renderers)
        engine.set_timbre(timbre, at_sample=0)
        return Controls(engine)

    return make_controls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter phrase, fewer runs")
    args = ap.parse_args()
    seconds = 3.0 if args.quick else 10.0
    runs = 1 if args.quick else 3
    timbre = saw_timbre()
    print(
        "render speed (x real time, median of runs) and spectral convergence to the drawn frames (dB, median"
    )
    print(f"over notes, single notes only); {seconds:.0f} s phrases; 2-core machine shared with other jobs")
    print(f"{'sr':>6s} {'phrase':>16s} {'phase':14s} {'x real time':>12s} {'SC dB':>8s}")
    for sample_rate in (48000, 22050):
        make_controls = make_controls_for(sample_rate, timbre)
        make_controls(lambda sr, n, c: IstftRenderer(sr, n, chunk_size=c))  # warm the numba caches
        for poly, cents in ((False, 50.0), (False, 200.0), (True, 50.0)):
            msgs = phrase(seconds, cents, poly)
            t_live, t_fgla = [], []
            for _ in range(runs):
                t0 = time.perf_counter()
                live = render_messages(
                    make_controls(lambda sr, n, c: IstftRenderer(sr, n, chunk_size=c)), msgs, seconds
                )
                t_live.append(time.perf_counter() - t0)
            for _ in range(runs):
                t0 = time.perf_counter()
                audio, capture, recons = render_messages_fgla(
                    make_controls, msgs, seconds, n_iter=32, keep_frames=True
                )
                t_fgla.append(time.perf_counter() - t0)
            dur = len(live) / sample_rate
            sc_live = np.nanmedian(
                [note_spectral_convergence_db(live, n, r) for n, r in zip(capture.notes, recons, strict=True)]
            )
            sc_fgla = np.nanmedian(
                [
                    note_spectral_convergence_db(audio, n, r)
                    for n, r in zip(capture.notes, recons, strict=True)
                ]
            )
            tag = f"{'chords' if poly else 'notes'} {cents:.0f} c"
            if poly:
                sc_live = sc_fgla = float("nan")
            for name, t, sc in (("rtpghi (live)", t_live, sc_live), ("fgla 32 it.", t_fgla, sc_fgla)):
                print(f"{sample_rate:6d} {tag:>8s} {name:14s} {dur / np.median(t):12.1f} {sc:8.1f}")


if __name__ == "__main__":
    main()
