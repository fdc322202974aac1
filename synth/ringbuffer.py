"""Single-producer single-consumer float32 ring buffers between a real-time thread and an ordinary one.

`RingBuffer` (the recorder's: audio callback -> WAV writer thread): no locks, the producer only advances
`write` and the consumer only advances `read`, each a monotonically increasing sample count stored in a
preallocated int64 array (one element store each), and each side reads the other's counter once per call.

`RewindRing` (the engine's: render thread -> audio callback): the same, with both positions in one atomic
word so that queued samples can be replaced (below).
"""

from __future__ import annotations

import numba
import numpy as np

from vaesynth.synth import atomics

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


# ---------------------------------------------------------------------------------------------------------
# The engine's ring: the same single-producer single-consumer ring, plus an atomic "rewind" that lets the
# render thread replace samples it has queued but the callback has not started to play (Engine(rewind=True):
# a control event that arrives while blocks are queued is heard in the very next block, not after them).
#
# Both positions live in ONE int64 word, so that a rewind can move both at once with a compare-and-swap:
# bits 31..61 hold the read position, bits 0..30 the write position, bit 62 is BUSY (the reader is copying).
# Positions are sample counts modulo 2**31 (12 h at 48 kHz, then they wrap; differences are taken modulo
# 2**31). The capacity is a power of two, so `pos & (capacity - 1)` indexes the buffer across the wrap.
# Reader: fetch_or(BUSY), copy [r, r + n), then a CAS loop storing r + n with BUSY clear (the writer may
# have moved w meanwhile, never r). Writer: `put` samples beyond w (invisible to the reader), then `publish`
# them (CAS loop moving w), or `rewind`: one CAS from (r = p, w, not busy) to (r = w, w + n): the reader,
# idle at p, skips the old samples [p, w) and plays the n new ones written at [w, w + n) instead. If the
# reader is busy or already past p, the CAS fails and the old samples stay, whole: a block is never half
# old and half new.
POS_BITS = 31
POS_MASK = (1 << POS_BITS) - 1
BUSY = 1 << 62


@numba.njit(nogil=True, cache=True)
def ring_read(buf, state, out, frames):
    """Consumer: copy up to `frames` samples to every column of out [>= frames, channels], zero-fill the rest.
    buf: float32 [capacity] (power of two); state: int64 [1]. Returns samples copied. Real-time safe: yes."""
    addr = state.ctypes.data
    s = atomics.fetch_or(addr, BUSY)
    r = (s >> POS_BITS) & POS_MASK
    w = s & POS_MASK
    n = min(frames, (w - r) & POS_MASK)
    mask = buf.shape[0] - 1
    channels = out.shape[1]
    for k in range(n):
        x = buf[(r + k) & mask]
        for c in range(channels):
            out[k, c] = x
    for k in range(n, frames):
        for c in range(channels):
            out[k, c] = 0.0
    while True:
        s = atomics.load(addr)
        new = (((r + n) & POS_MASK) << POS_BITS) | (s & POS_MASK)
        if atomics.compare_exchange(addr, s, new) == s:
            return n


@numba.njit(nogil=True, cache=True)
def _ring_put(buf, state, x, offset):
    """Write x at [w + offset, w + offset + len(x)) without publishing it. Returns False if it does not fit
    (the space is still held by unread samples)."""
    s = atomics.load(state.ctypes.data)
    r = (s >> POS_BITS) & POS_MASK
    w = s & POS_MASK
    n = x.shape[0]
    cap = buf.shape[0]
    if ((w - r) & POS_MASK) + offset + n > cap:
        return False
    mask = cap - 1
    start = w + offset
    for k in range(n):
        buf[(start + k) & mask] = x[k]
    return True


@numba.njit(nogil=True, cache=True)
def _ring_publish(state, n):
    addr = state.ctypes.data
    while True:
        s = atomics.load(addr)
        new = (s & ~POS_MASK) | (((s & POS_MASK) + n) & POS_MASK)
        if atomics.compare_exchange(addr, s, new) == s:
            return


@numba.njit(nogil=True, cache=True)
def _ring_rewind(state, p, w, n):
    expected = ((p & POS_MASK) << POS_BITS) | (w & POS_MASK)
    new = ((w & POS_MASK) << POS_BITS) | ((w + n) & POS_MASK)
    return atomics.compare_exchange(state.ctypes.data, expected, new) == expected


class RewindRing:
    """The engine's ring buffer: single producer (render thread), single consumer (audio callback, Python or
    native), lock-free, with an atomic `rewind`. capacity: samples, rounded up to a power of two (at least
    twice what is ever queued, so a replacement fits beside the samples it replaces). Mono float32."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = 1 << max(0, int(capacity - 1).bit_length())
        if self.capacity > 1 << (POS_BITS - 1):
            raise ValueError(f"capacity must be <= {1 << (POS_BITS - 1)} samples, got {capacity}")
        self._buf = np.zeros(self.capacity, np.float32)
        self._state = np.zeros(1, np.int64)

    def positions(self) -> tuple[int, int, bool]:
        """(read, write, reader busy) now; positions modulo 2**31."""
        s = int(self._state[0])
        return (s >> POS_BITS) & POS_MASK, s & POS_MASK, bool(s & BUSY)

    def available(self) -> int:
        """Samples written and not yet read."""
        r, w, _ = self.positions()
        return (w - r) & POS_MASK

    def free(self) -> int:
        return self.capacity - self.available()

    def put(self, x: np.ndarray, offset: int = 0) -> None:
        """Producer: write float32 x [n] `offset` samples past the write position, not yet visible to the
        reader. Real-time safe: yes."""
        if not _ring_put(self._buf, self._state, x, int(offset)):
            raise OverflowError("ring buffer full")

    def publish(self, n_samples: int) -> None:
        """Producer: make the next n_samples written by `put` readable. Real-time safe: yes."""
        _ring_publish(self._state, int(n_samples))

    def write(self, x: np.ndarray) -> None:
        """Producer: append x (float32 [n], n <= free()). Real-time safe: yes."""
        self.put(x)
        self.publish(x.shape[0])

    def rewind(self, read_pos: int, n_samples: int) -> bool:
        """Producer: replace the unread samples [read_pos, write) by the n_samples already `put` at offset 0,
        atomically, if the reader is idle at read_pos (else nothing changes). Returns True if replaced.
        Real-time safe: yes."""
        w = self.positions()[1]
        return bool(_ring_rewind(self._state, int(read_pos), w, int(n_samples)))

    def read_into(self, out: np.ndarray, frames: int) -> int:
        """Consumer: copy up to `frames` samples into out[:frames] (float32 [frames, channels], the mono
        signal on every channel), zero-fill what is missing. Returns samples copied (< frames = underrun).
        Real-time safe: yes."""
        return int(ring_read(self._buf, self._state, out, int(frames)))
