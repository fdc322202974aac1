"""Gesture onsets: the first move of a continuous control (a knob, bend, gain) after a pause.

The native audio callback waits for a control message on its way only when its timing is heard: notes, and
the first move of a gesture. Within a stream of moves (a knob turning sends 30-200 a second) nothing waits,
so the realtime thread does not spend its period on every move (benchmarks/README.md).
"""

from __future__ import annotations

import math
import time

# A continuous control that follows this long a pause starts a gesture. A knob turned steadily sends 30-200
# moves a second (5-33 ms apart): within such a stream nothing waits after its first move. Slower moves are
# heard as steps and each is waited for (at most 20 a second on each receiving path).
ONSET_GAP_S = 0.05


class GestureOnset:
    """Tells the first move of a gesture from the rest of its stream: `onset(t)` is True when at least
    `gap_s` seconds passed since the previous call (each receiving path keeps its own; a race between two
    threads costs at most one wait more or less). t: seconds on any clock the caller keeps to, by default
    time.perf_counter(). gap_s = inf: never (no control is waited for; benchmarks compare with it)."""

    def __init__(self, gap_s: float = ONSET_GAP_S):
        if not gap_s > 0:
            raise ValueError(f"gap_s must be > 0, got {gap_s}")
        self.gap_s = float(gap_s)
        self._last = -math.inf

    def onset(self, t: float | None = None) -> bool:
        t = time.perf_counter() if t is None else t
        first = t - self._last >= self.gap_s and self.gap_s != math.inf
        self._last = t
        return first
