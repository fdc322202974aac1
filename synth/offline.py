"""Offline rendering: timed control messages (MIDI file + automation score) -> audio via `Engine.process`.

Messages are dispatched in time order by `Controls` (the same code serve runs on receipt) with their sample
time, and the engine applies each at the start of the chunk that contains it: the result is what a live
engine would play given the same messages at the same times. After the last message every note is
released (as if all keys and the pedal were let go) and rendering continues until the release tails end.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from vaesynth.errors import UserError
from vaesynth.synth.controls import Controls, midi_to_control

# Rendering stops at most this long after the last message, even if something still sounds.
MAX_TAIL_S = 30.0
_TAIL_STEP_S = 0.05


@dataclass(frozen=True)
class TimedMessage:
    """time_s: seconds from the start; address, args: as for Controls.dispatch."""

    time_s: float
    address: str
    args: tuple


def read_midi_messages(
    path: str | Path, bend_range_semitones: float = 2.0
) -> tuple[list[TimedMessage], float]:
    """Read a standard MIDI file (all tracks merged, tempo map applied) as control messages.

    Returns (messages sorted by time, length of the file in seconds). UserError (one line) if the file is
    missing or not a valid MIDI file."""
    import mido

    path = Path(path)
    if not path.is_file():
        raise UserError(f"MIDI file not found: {path}")
    try:
        mid = mido.MidiFile(str(path))
        now = 0.0
        out = []
        for msg in mid:  # iterating a MidiFile yields messages with delta times in seconds
            now += msg.time
            if msg.is_meta:
                continue
            mapped = midi_to_control(msg, bend_range_semitones)
            if mapped is not None:
                out.append(TimedMessage(now, mapped[0], tuple(mapped[1])))
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as e:
        raise UserError(f"{path} is not a readable MIDI file ({type(e).__name__}: {str(e)[:120]})") from None
    return out, now


def render_messages(
    controls: Controls,
    messages: Iterable,
    end_time_s: float = 0.0,
    max_tail_s: float = MAX_TAIL_S,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Render timed messages through controls.engine, a fresh Engine (nothing rendered yet).

    messages: objects with time_s, address, args (TimedMessage, automation.ScoreMessage), any order (sorted
    stably here). end_time_s: render at least until then. progress(n_samples) is called as audio is made.
    Returns float32 [n_samples]: until every voice's release has ended (at most max_tail_s after the last
    message), plus the renderer's look-ahead.
    """
    engine = controls.engine
    if engine.samples_rendered:
        raise ValueError("render_messages needs a fresh engine (message times count from its first sample)")
    sr = engine.sample_rate
    chunk = engine.chunk_size
    pieces: list[np.ndarray] = []
    done = 0

    def render_to(n_total: int):
        nonlocal done
        if n_total > done:
            pieces.append(engine.process(n_total - done))
            if progress is not None:
                progress(n_total - done)
            done = n_total

    ordered = sorted(messages, key=lambda m: m.time_s)
    last_s = end_time_s
    for m in ordered:
        at = int(round(m.time_s * sr))
        # Render everything before the chunk containing `at`; the message lands in that chunk, as it would
        # if it had been scheduled up front.
        render_to(max(done, (at // chunk) * chunk))
        controls.dispatch(m.address, m.args, at_sample=at)
        last_s = max(last_s, m.time_s)
    end = max(int(round(last_s * sr)), done)
    engine.all_notes_off(at_sample=end)
    render_to(end + chunk)
    step = max(chunk, int(_TAIL_STEP_S * sr))
    limit = end + int(max_tail_s * sr)
    while not engine.is_idle() and done < limit:
        render_to(min(limit, done + step))
    render_to(done + engine.renderer_latency_samples)  # the renderer's look-ahead
    return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
