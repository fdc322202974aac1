"""Single-producer single-consumer float32 ring buffer between the render thread and the audio callback.

No locks: the producer only advances `write` and the consumer only advances `read`, each a monotonically
increasing sample count stored in a preallocated int64 array (one element store each, atomic under the GIL),
and each side reads the other's counter once per call. Capacity bounds the lead; the engine keeps the fill at
about one device block.
"""

from __future__ import annotations

import numpy as np

READ, WRITE = 0, 1


class RingBuffer:
    """capacity: samples. Mono float32."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self._buf = np.zeros((self.capacity, 1), np.float32)
        self._pos = np.zeros(2, np.int64)

    def available(self) -> int:
        """Samples written and not yet read."""
        return int(self._pos[WRITE] - self._pos[READ])

    def free(self) -> int:
        return self.capacity - self.available()

    def write(self, x: np.ndarray) -> None:
        """Producer: append x (float32 [n], n <= free()). Real-time safe: yes (no allocation beyond views)."""
        n = x.shape[0]
        w = int(self._pos[WRITE])
        if n > self.capacity - (w - int(self._pos[READ])):
            raise OverflowError("ring buffer full")
        i = w % self.capacity
        first = min(n, self.capacity - i)
        self._buf[i : i + first, 0] = x[:first]
        if first < n:
            self._buf[: n - first, 0] = x[first:]
        self._pos[WRITE] = w + n

    def read_into(self, out: np.ndarray, frames: int) -> int:
        """Consumer: copy up to `frames` samples into out[:frames] (float32 [frames, channels], the mono
        signal on every channel), zero-fill what is missing. Returns samples copied (< frames = underrun).
        Real-time safe: yes (no allocation that outlives the call, no locks)."""
        r = int(self._pos[READ])
        n = min(frames, int(self._pos[WRITE]) - r)
        i = r % self.capacity
        first = min(n, self.capacity - i)
        out[:first] = self._buf[i : i + first]
        if first < n:
            out[first:n] = self._buf[: n - first]
        if n < frames:
            out[n:frames] = 0.0
        self._pos[READ] = r + n
        return n
