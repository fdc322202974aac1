"""Keep Python's cyclic garbage collector out of the audio path.

A full (generation 2) collection walks every container object of the process while holding the GIL. In
`vaesynth serve` that is ~120,000 objects after start-up (numba, llvmlite, mido, numpy, the model); on the
loaded 2-core machine its collections took 15-50 ms (measured with gc.callbacks), longer than the 10.7 ms
the engine keeps queued, and the render thread and a Python audio callback need the GIL for every block.
Python starts one whenever the objects that survived into the oldest generation
since the last one reach a quarter of it, so it comes at an unpredictable moment of a session.

`GcWatch.start` freezes the start-up heap (`gc.freeze`: those objects move to a permanent generation that
collections skip), so a later collection only walks what the session itself created, and records every
collection (count per generation, longest pause) for /vaesynth/info.
"""

from __future__ import annotations

import gc
import time


class GcWatch:
    """Freeze the heap at start and count collections (and their longest pause) until stop.

    The callback runs inside collections, in whichever thread triggered them, and costs a few microseconds
    (two clock reads, counters updated in place)."""

    def __init__(self):
        self.frozen = 0
        self.collections = [0, 0, 0]
        self.longest_ms = [0.0]
        self._t_start = [0.0]
        self._running = False

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t_start[0] = time.perf_counter()
            return
        g = info["generation"]
        self.collections[g] += 1
        ms = (time.perf_counter() - self._t_start[0]) * 1e3
        if ms > self.longest_ms[0]:
            self.longest_ms[0] = ms

    def start(self) -> None:
        """Freeze every object alive now and start counting (call when start-up is done, before the audio
        stream starts: counting the frozen objects walks them all, ~5-10 ms with the GIL held)."""
        if self._running:
            return
        gc.freeze()
        self.frozen = gc.get_freeze_count()
        gc.callbacks.append(self._callback)
        self._running = True

    def stop(self) -> None:
        """Stop counting and hand the frozen objects back to the collector (idempotent)."""
        if not self._running:
            return
        self._running = False
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)
        gc.unfreeze()

    def info(self) -> dict:
        return {
            "frozen": int(self.frozen),
            "collections": [int(c) for c in self.collections],
            "longest_ms": round(float(self.longest_ms[0]), 3),
        }
