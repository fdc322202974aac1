"""Audible PCA axes: a held note while `/vaesynth/pc i` sweeps -3..+3, rendered offline by the same engine
and control code as `serve` and `render` (synth/offline.py), so the sweep is what a knob would play."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SWEEP_RANGE_STD = 3.0


@dataclass(frozen=True)
class SweepSettings:
    """hold_s: time at each end of the sweep (s); sweep_s: the sweep itself (s); step_s: time between two
    `/pc` messages (s; the knob's update rate); note: MIDI note played (None: the note nearest the model's
    f_ref_hz, clamped to 36..96); velocity: 1..127; sample_rate: Hz; engine: oscbank | istft."""

    hold_s: float = 0.5
    sweep_s: float = 3.0
    step_s: float = 0.02
    note: int | None = None
    velocity: int = 100
    sample_rate: int = 48000
    engine: str = "oscbank"

    @property
    def duration_s(self) -> float:
        return 2 * self.hold_s + self.sweep_s


def note_for(f_ref_hz: float) -> int:
    """The MIDI note nearest f_ref_hz (the pitch the model's frames are drawn at), clamped to 36..96."""
    return int(min(96, max(36, round(69 + 12 * math.log2(max(f_ref_hz, 1.0) / 440.0)))))


def sweep_messages(axis: int, settings: SweepSettings, note: int) -> list:
    """Timed messages: axis at -3 std, note on at 0 s, held, `/pc axis v` every step_s from -3 to +3 over
    sweep_s, held at +3, note off at duration_s. Returns [TimedMessage] in time order."""
    from vaesynth.synth.offline import TimedMessage

    msgs = [TimedMessage(0.0, "/vaesynth/pc", (axis, -SWEEP_RANGE_STD))]
    msgs.append(TimedMessage(0.0, "/vaesynth/note", (note, settings.velocity)))
    n_steps = max(1, int(round(settings.sweep_s / settings.step_s)))
    for k in range(1, n_steps + 1):
        t = settings.hold_s + settings.sweep_s * k / n_steps
        v = -SWEEP_RANGE_STD + 2 * SWEEP_RANGE_STD * k / n_steps
        msgs.append(TimedMessage(t, "/vaesynth/pc", (axis, float(v))))
    msgs.append(TimedMessage(settings.duration_s, "/vaesynth/note", (note, 0)))
    return msgs


def render_sweep(instrument, axis: int, settings: SweepSettings | None = None) -> np.ndarray:
    """Render one PCA-axis sweep through a fresh Engine. Returns float32 [n_samples] at
    settings.sample_rate (the note's release tail included); settings None = SweepSettings().
    Real-time safe: no (offline)."""
    from vaesynth.synth.controls import Controls
    from vaesynth.synth.engine import Engine
    from vaesynth.synth.offline import render_messages

    settings = settings or SweepSettings()
    if not 0 <= axis < instrument.n_pcs:
        raise ValueError(f"axis must be in 0..{instrument.n_pcs - 1}, got {axis}")
    engine = Engine(settings.sample_rate, polyphony=1, engine=settings.engine)
    controls = Controls(engine, instrument)
    controls.send_timbre(at_sample=0)
    note = settings.note if settings.note is not None else note_for(instrument.f_ref_hz)
    return render_messages(controls, sweep_messages(axis, settings, note), settings.duration_s)


def write_wavs(clips: dict[str, np.ndarray], folder: Path, sample_rate: int, peak_dbfs: float = -1.0):
    """Write clips (name -> float audio) as 16-bit WAVs (what every browser plays), scaled together so the
    loudest peak is peak_dbfs: level differences between axes are kept. Returns {name: path}."""
    import soundfile as sf

    peak = max((float(np.abs(x).max(initial=0.0)) for x in clips.values()), default=0.0)
    gain = 10 ** (peak_dbfs / 20) / peak if peak > 0 else 1.0
    paths = {}
    for name, x in clips.items():
        path = Path(folder) / f"{name}.wav"
        sf.write(str(path), np.clip(x * gain, -1, 1), sample_rate, subtype="PCM_16")
        paths[name] = path
    return paths
