"""Gradient-norm clipping for the trainer: a fixed threshold, or one relative to the run's own gradient norms.

The fixed clip (`--grad-clip N`) caps the global norm at N. Its right scale depends on the data and the loss:
on toy:additive4 the gradient's median norm is 2,400-13,000, so the default of 5 acts on every step (the run
is Adam on gradients of norm 5) while its job is to stop a rare spike. The relative rule
(`--grad-clip-percentile P`, AutoClip, Seetharaman et al. 2020) clips each step at the P-th percentile of the
global norms of the previous `window` steps (before clipping), so it needs no scale: with P = 50 half of the
steps pass untouched and a spike is cut to the typical norm. The first step has no history and is not clipped.

`--grad-clip-steps N` clips only the first N steps (either rule) and leaves the rest unclipped: on
toy:additive4 the unclipped loop loses the decoder's fundamental within its first 50 steps on some seeds,
while a clip on every step costs the beta-TCVAE's MIG (benchmarks/README.md).

The history is part of the training state (`state_dict`/`load_state_dict`) so that a resumed run clips
exactly as the uninterrupted one. Under DDP every rank holds the same all-reduced gradients, hence the same
norms and the same history, with no extra communication.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

import numpy as np
import torch

DEFAULT_WINDOW = 1000


class GradClipper:
    """Clips the global gradient norm of `parameters` in place; call after backward(), before step().

    max_norm: the fixed threshold (0 = none); used when percentile is 0.
    percentile: in (0, 100]: clip at that percentile of the last `window` norms instead; 0 = off.
    steps: clip only the optimiser steps before this one (0 = every step): `--grad-clip-steps`.
    """

    def __init__(
        self, max_norm: float = 0.0, percentile: float = 0.0, window: int = DEFAULT_WINDOW, steps: int = 0
    ):
        if max_norm < 0:
            raise ValueError(f"max_norm must be >= 0, got {max_norm}")
        if not 0 <= percentile <= 100:
            raise ValueError(f"percentile must be in [0, 100], got {percentile}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        self.steps = int(steps)
        self.max_norm = float(max_norm)
        self.percentile = float(percentile)
        self.history: deque[float] = deque(maxlen=window)
        self.last_threshold = math.inf  # the threshold applied at the last step (inf = not clipped)

    @property
    def active(self) -> bool:
        return self.percentile > 0 or self.max_norm > 0

    def active_at(self, step: int) -> bool:
        """Whether optimiser step `step` (0-based) is clipped."""
        return self.active and (self.steps == 0 or step < self.steps)

    def threshold(self) -> float:
        """The norm the next step is clipped at (inf = not clipped)."""
        if self.percentile > 0:
            if not self.history:
                return math.inf
            return float(np.percentile(np.fromiter(self.history, float, len(self.history)), self.percentile))
        return self.max_norm if self.max_norm > 0 else math.inf

    def __call__(self, parameters: Iterable[torch.nn.Parameter], step: int = 0) -> float:
        """Clip the gradients of `parameters` at optimiser step `step` in place; returns their global norm
        before clipping (NaN where this step is not clipped: nothing is computed then).

        A non-finite norm is returned as is, left out of the history and clips nothing (the caller decides).
        """
        if not self.active_at(step):
            self.last_threshold = math.inf
            return math.nan
        params = [p for p in parameters if p.grad is not None]
        total = torch.nn.utils.get_total_norm([p.grad for p in params])
        norm = float(total)
        if not math.isfinite(norm):
            self.last_threshold = math.inf
            return norm
        limit = self.threshold()
        self.last_threshold = limit
        if norm > limit:
            torch.nn.utils.clip_grads_with_norm_(params, limit, total)
        if self.percentile > 0:
            self.history.append(norm)
        return norm

    def state_dict(self) -> dict:
        return {"history": [float(v) for v in self.history]}

    def load_state_dict(self, state: dict) -> None:
        self.history.clear()
        self.history.extend(float(v) for v in state.get("history", []))
