"""Snapshots of the render-side state, so the engine can render a stretch again from an earlier point.

Why: with `Engine(rewind=True)` the render thread keeps a safety lead of queued blocks, and a control event
that arrives while they wait is not held back behind them: the engine restores the state it had before the
first unplayed block, renders the queued stretch again with the event applied, and swaps it in atomically
(synth/ringbuffer.py, `RewindRing.rewind`). That needs the state at every chunk boundary still queued.

A part of the state is an object and the names of its attributes that rendering changes (`rewind_state`:
VoiceAllocator, OscBankRenderer, the engine's own). Arrays are copied into buffers allocated once; the array
object each attribute pointed to is remembered too, since renderers swap buffers by reference. Lists (the
event heap) are copied; anything else is stored by reference and must be immutable (numbers, Timbre, None,
renderer objects). Restoring makes every attribute equal, bit for bit, to what it was at `save`.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np


class StateSnapshot:
    """parts: (object, attribute names) pairs. Preallocates; `save` and `restore` cost one copy of each
    array. Real-time safe: mostly (lists are copied, i.e. allocated; the engine's heap is short)."""

    def __init__(self, parts: Iterable[tuple[object, Iterable[str]]]):
        self._arrays: list[tuple[object, str, np.ndarray]] = []
        self._values: list[tuple[object, str]] = []
        for obj, names in parts:
            for name in names:
                value = getattr(obj, name)
                if isinstance(value, np.ndarray):
                    self._arrays.append((obj, name, np.empty_like(value)))
                else:
                    self._values.append((obj, name))
        self._refs: list = [None] * len(self._arrays)
        self._saved: list = [None] * len(self._values)

    def save(self) -> None:
        refs = self._refs
        for i, (obj, name, buf) in enumerate(self._arrays):
            a = getattr(obj, name)
            refs[i] = a
            np.copyto(buf, a)
        saved = self._saved
        for i, (obj, name) in enumerate(self._values):
            v = getattr(obj, name)
            saved[i] = v.copy() if isinstance(v, list) else v

    def restore(self) -> None:
        refs = self._refs
        for i, (obj, name, buf) in enumerate(self._arrays):
            a = refs[i]
            np.copyto(a, buf)
            setattr(obj, name, a)
        saved = self._saved
        for i, (obj, name) in enumerate(self._values):
            v = saved[i]
            setattr(obj, name, v.copy() if isinstance(v, list) else v)
