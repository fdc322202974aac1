"""Gesture onsets: the first move of a continuous control (a knob, bend, gain) after a pause.

The native audio callback waits for a control message on its way only when its timing is heard: notes, and
the first move of a gesture. Within a stream of moves (a knob turning sends 30-200 a second) it waits only
while such waits pay off (`watch`): a lone move is waited for as long as few of the callback's waits run out
(they cost a bounded part of its period for nothing); moves sent together (several knobs at once) are one
burst, of which only the first counts. A stream of bursts whose waits run out is soon left alone, and tried
again a second or so later (benchmarks/README.md).
"""

from __future__ import annotations

import math
import time

# A continuous control that follows this long a pause starts a gesture. A knob turned steadily sends 30-200
# moves a second (5-33 ms apart): within such a stream nothing waits after its first move. Slower moves are
# heard as steps and each is waited for (at most 20 a second on each receiving path).
ONSET_GAP_S = 0.05
# Within a stream: moves closer than this are one burst (several knobs sent at once; only its first move is
# waited for); stream moves are waited for while the share of the callback's waits that ran out (an
# exponential average over waits, weight RUNOUT_WEIGHT each) stays under RUNOUT_LIMIT; the share decays with
# time constant RUNOUT_DECAY_S, so a stream left alone is tried again about a second later.
BURST_GAP_S = 0.002
RUNOUT_WEIGHT = 0.1
RUNOUT_LIMIT = 0.2
RUNOUT_DECAY_S = 1.0


class GestureOnset:
    """Tells the first move of a gesture from the rest of its stream: `onset(t)` is True when at least
    `gap_s` seconds passed since the previous call (each receiving path keeps its own; a race between two
    threads costs at most one wait more or less), and, once `watch` gave it the audio callback's wait
    counters, for a lone move within a stream while those waits pay off (module docstring). t: seconds on
    any clock the caller keeps to, by default time.perf_counter(). gap_s = inf: never (no control is waited
    for; benchmarks compare with it)."""

    def __init__(self, gap_s: float = ONSET_GAP_S):
        if not gap_s > 0:
            raise ValueError(f"gap_s must be > 0, got {gap_s}")
        self.gap_s = float(gap_s)
        self._last = -math.inf
        self._waits = None
        self._seen = (0, 0)
        self._runout = 0.0
        self._t_runout = -math.inf

    def watch(self, waits) -> None:
        """waits: a callable returning the audio callback's (callbacks that waited, of which ran out), e.g.
        AudioOut.event_waits; None = stream moves are never waited for (the default)."""
        self._waits = waits
        self._seen = tuple(waits()) if waits is not None else (0, 0)
        self._runout = 0.0

    def onset(self, t: float | None = None) -> bool:
        t = time.perf_counter() if t is None else t
        gap = t - self._last
        self._last = t
        if self.gap_s == math.inf:
            return False
        if gap >= self.gap_s:
            return True
        return self._waits is not None and gap >= BURST_GAP_S and self._stream_waits_pay(t)

    def _stream_waits_pay(self, t: float) -> bool:
        waited, ran_out = self._waits()
        new, lost = waited - self._seen[0], ran_out - self._seen[1]
        self._seen = (waited, ran_out)
        share = self._runout * math.exp(-(t - self._t_runout) / RUNOUT_DECAY_S)
        if new > 0:
            keep = (1.0 - RUNOUT_WEIGHT) ** new
            share = keep * share + (1.0 - keep) * min(1.0, lost / new)
        self._runout, self._t_runout = share, t
        return share < RUNOUT_LIMIT
