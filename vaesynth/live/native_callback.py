"""The audio callback as native code: a numba `cfunc` that PortAudio calls directly, never touching Python.

Why: a Python callback needs the GIL on PortAudio's (JACK's realtime) thread every block. Whenever another
Python thread holds the GIL — the OSC/MIDI control thread, the render thread, the recorder's writer — the
realtime thread waits for it; on a loaded 2-core machine that wait sometimes outlasts the block and JACK
counts an xrun (measured: 40 in 45,024 callbacks over a 2-minute soak). Compiled with numba in nopython mode
the callback holds no GIL, so nothing Python does can delay it.

What it does per block, on preallocated memory only (no allocation, no locks, no Python):
  1. counts the block and any PortAudio status flags (an underflow reported by the device = a device xrun);
  2. stamps the engine's `_callback_time` with CLOCK_MONOTONIC (the clock behind time.perf_counter on
     Linux, so the render thread's just-in-time schedule reads it directly);
  3. if a note message has arrived and is still being handled, or its event has been posted and the
     render thread is still bringing it into the queued blocks (the engine's `_event_seq`), waits for it,
     sleeping 20 µs at a time, until `event_wait_s` (AudioOut's default: half a block) after the start of
     this period (`_period_lateness`; a callback entering later than that does not wait): a note that
     arrives just before the callback then makes this block instead of the next. The device plays the block
     at the same time whenever within its period the callback hands it over, so the wait costs no latency,
     only a bounded part of the period; a wait that runs out is counted and the block goes out as it is
     (the event follows in the next one);
  4. copies one block from the engine's ring buffer (synth/ringbuffer.py) to every output channel,
     zero-filling and counting an underrun when the render thread is behind;
  5. when recording, copies the same mono block into the recorder's ring (counting overflows);
  6. when a LatencyProbe is attached, logs callback time, time waited, first frame and the reported DAC delay;
  7. writes one byte to the engine's wake pipe (non-blocking), so the render thread sleeps in the kernel
     until a block has been consumed instead of polling.

Every address it needs sits in one int64 array (`_CTL`, slots below) that the owning `NativeCallback`
keeps alive together with the arrays the addresses point into. Counters written here are single int64
stores read by Python with ordinary loads (atomic on the 64-bit platforms we run on).

Available where numba and libc's `write`, `nanosleep` and `clock_gettime(CLOCK_MONOTONIC)` are, and
perf_counter is that clock (Linux); elsewhere `available()` is False and AudioOut uses its Python callback.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import time

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from vaesynth.synth.atomics import as_voidptr as _as_voidptr
from vaesynth.synth.atomics import fence as _fence
from vaesynth.synth.atomics import load as _load
from vaesynth.synth.ringbuffer import ring_read

# Slots of the control array (int64 each): addresses are raw pointers, 0 = absent.
RING_BUF, RING_CAP, RING_POS, COUNTERS, CB_TIME, CHANNELS, FRAMES = range(7)
REC_BUF, REC_CAP, REC_POS, REC_OVERFLOW = range(7, 11)
PROBE_T, PROBE_FIRST, PROBE_DAC, PROBE_N, PROBE_CAP = range(11, 16)
WAKE_FD, WAKE_BYTE, TIMESPEC, FN_WRITE, FN_CLOCK = range(16, 21)
EVENT_SEQ, WAIT_NS, WAITS, FN_SLEEP, SLEEP_TS, PROBE_WAIT = range(21, 27)
GRID, RATE = range(27, 29)
N_SLOTS = 29
SLEEP_NS = 20_000  # the wait for a late event polls at this step
REBASE = 1 << 20  # periods after which the period grid's anchor moves up (keeps k * frames * 1e9 in int64)

CLOCK_MONOTONIC = 1  # Linux <time.h>
PA_CONTINUE = 0


def _libc_functions():
    if not sys.platform.startswith("linux"):
        return None
    if time.get_clock_info("perf_counter").implementation != "clock_gettime(CLOCK_MONOTONIC)":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=False)
        write = libc.write
        clock_gettime = libc.clock_gettime
        nanosleep = libc.nanosleep
    except (OSError, AttributeError):
        return None
    if ctypes.sizeof(ctypes.c_size_t) != 8:
        return None
    # Addresses, not ctypes objects: numba cannot cache a function that closes over ctypes pointers, so the
    # cfunc calls these through the control array (`_call_write`, `_call_clock_gettime`, `_call_nanosleep`).
    return tuple(ctypes.cast(f, ctypes.c_void_p).value for f in (write, clock_gettime, nanosleep))


_LIBC = _libc_functions()
_I8P = ir.IntType(8).as_pointer()
_I32, _I64 = ir.IntType(32), ir.IntType(64)


@intrinsic
def _as_int(typingctx, pointer):
    """void* -> int64 address (to test for NULL)."""
    if not isinstance(pointer, types.RawPointer):
        return None

    def codegen(context, builder, signature, args):
        return builder.ptrtoint(args[0], _I64)

    return types.int64(pointer), codegen


@intrinsic
def _call_write(typingctx, fn, fd, buf, n):
    """ssize_t write(int fd, const void *buf, size_t n) through the function address `fn`."""

    def codegen(context, builder, signature, args):
        fn_, fd_, buf_, n_ = args
        fnty = ir.FunctionType(_I64, [_I32, _I8P, _I64])
        f = builder.inttoptr(fn_, fnty.as_pointer())
        return builder.call(f, [builder.trunc(fd_, _I32), builder.inttoptr(buf_, _I8P), n_])

    return types.int64(types.int64, types.int64, types.int64, types.int64), codegen


@intrinsic
def _call_clock_gettime(typingctx, fn, clock, ts):
    """int clock_gettime(clockid_t clock, struct timespec *ts) through the function address `fn`."""

    def codegen(context, builder, signature, args):
        fn_, clock_, ts_ = args
        fnty = ir.FunctionType(_I32, [_I32, _I8P])
        f = builder.inttoptr(fn_, fnty.as_pointer())
        rc = builder.call(f, [builder.trunc(clock_, _I32), builder.inttoptr(ts_, _I8P)])
        return builder.sext(rc, _I64)

    return types.int64(types.int64, types.int64, types.int64), codegen


@intrinsic
def _call_nanosleep(typingctx, fn, req):
    """int nanosleep(const struct timespec *req, NULL) through the function address `fn`."""

    def codegen(context, builder, signature, args):
        fn_, req_ = args
        fnty = ir.FunctionType(_I32, [_I8P, _I8P])
        f = builder.inttoptr(fn_, fnty.as_pointer())
        rc = builder.call(f, [builder.inttoptr(req_, _I8P), ir.Constant(_I8P, None)])
        return builder.sext(rc, _I64)

    return types.int64(types.int64, types.int64), codegen


@numba.njit(inline="always")
def _on_its_way(seq):
    """The engine's `_event_seq` at address seq: an event posted and not yet taken up by the render thread,
    or a message received (or queued) and not yet handled."""
    return (
        _load(seq) != _load(seq + 8)
        or _load(seq + 16) != _load(seq + 24)
        or _load(seq + 40) != _load(seq + 48)
    )


@numba.njit(inline="always")
def _period_lateness(grid, now_ns, frames, rate):
    """Nanoseconds this callback entered after the start of its period, on an estimated grid of period
    starts, grid = [anchor_ns, k]: period k starts at anchor + k * frames * 1e9 / rate (exact, no drift).

    The grid is anchored on the earliest callbacks: one that comes before its expected start re-anchors it
    there; one later than a whole period re-anchors it too (the device restarted its clock: JACK's timed
    driver does after an xrun, and runs the late cycle at once). Anything in between is lateness: a device
    thread or this one woken late. The next period still starts on the grid, so a callback that entered late
    has that much less of its period left; waiting a fixed time from its own entry would run past it."""
    if grid[0] == 0:
        grid[0] = now_ns
        grid[1] = 0
        return np.int64(0)
    k = grid[1] + 1
    if k >= REBASE:
        grid[0] += (k - 1) * frames * 1_000_000_000 // rate
        k = 1
    expected = grid[0] + k * frames * 1_000_000_000 // rate
    period = frames * 1_000_000_000 // rate
    if now_ns < expected or now_ns - expected > period:
        grid[0] = now_ns
        grid[1] = 0
        return np.int64(0)
    grid[1] = k
    return now_ns - expected


# PortAudio: int cb(const void *in, void *out, unsigned long frames, const PaStreamCallbackTimeInfo *t,
#                   PaStreamCallbackFlags status, void *user)
_ULONG = types.uint64 if ctypes.sizeof(ctypes.c_ulong) == 8 else types.uint32
SIGNATURE = types.int32(types.voidptr, types.voidptr, _ULONG, types.voidptr, _ULONG, types.voidptr)


def _build():
    if _LIBC is None:
        return None

    @numba.cfunc(SIGNATURE, nopython=True, cache=True)
    def callback(inp, out, frame_count, time_info, status, user):  # pragma: no cover - runs in PortAudio
        ctl = numba.carray(user, (N_SLOTS,), np.int64)
        frames = np.int64(frame_count)
        counters = numba.carray(_as_voidptr(ctl[COUNTERS]), (3,), np.int64)
        if status != 0:
            counters[2] += 1
        ts = numba.carray(_as_voidptr(ctl[TIMESPEC]), (2,), np.int64)
        _call_clock_gettime(ctl[FN_CLOCK], np.int64(CLOCK_MONOTONIC), ctl[TIMESPEC])
        now = np.float64(ts[0]) + np.float64(ts[1]) * 1e-9
        numba.carray(_as_voidptr(ctl[CB_TIME]), (1,), np.float64)[0] = now
        now_ns = ts[0] * 1_000_000_000 + ts[1]

        # the device's period grid: how late in its period this callback came (see _period_lateness)
        late_ns = np.int64(0)
        if ctl[RATE] > 0:
            late_ns = _period_lateness(
                numba.carray(_as_voidptr(ctl[GRID]), (2,), np.int64), now_ns, frames, ctl[RATE]
            )

        # 3. an event on its way into the queued blocks: wait for it (bounded, and only in the first part
        # of the period: the deadline is counted from the period's start, not from this callback's)
        waited = 0.0
        seq = ctl[EVENT_SEQ]
        if seq != 0 and ctl[WAIT_NS] > late_ns and _on_its_way(seq):
            waits = numba.carray(_as_voidptr(ctl[WAITS]), (2,), np.int64)
            waits[0] += 1
            flags = numba.carray(_as_voidptr(seq), (7,), np.int64)
            flags[4] = 1  # the render thread queues two blocks for us (Engine._callback_overdue)
            deadline = now_ns - late_ns + ctl[WAIT_NS]
            while True:
                _call_nanosleep(ctl[FN_SLEEP], ctl[SLEEP_TS])
                if not _on_its_way(seq):
                    break
                _call_clock_gettime(ctl[FN_CLOCK], np.int64(CLOCK_MONOTONIC), ctl[TIMESPEC])
                if ts[0] * 1_000_000_000 + ts[1] >= deadline:
                    waits[1] += 1
                    break
            flags[4] = 0
            _call_clock_gettime(ctl[FN_CLOCK], np.int64(CLOCK_MONOTONIC), ctl[TIMESPEC])
            waited = np.float64(ts[0]) + np.float64(ts[1]) * 1e-9 - now

        # 4. ring -> every channel (the engine's lock-free protocol, shared with the Python callback)
        channels = ctl[CHANNELS]
        o = numba.carray(out, (frames * channels,), np.float32)
        buf = numba.carray(_as_voidptr(ctl[RING_BUF]), (ctl[RING_CAP],), np.float32)
        state = numba.carray(_as_voidptr(ctl[RING_POS]), (1,), np.int64)
        n = ring_read(buf, state, o.reshape((frames, channels)), frames)
        if n < frames:
            counters[0] += 1
        counters[1] += 1

        played = numba.carray(_as_voidptr(ctl[FRAMES]), (1,), np.int64)
        first_frame = played[0]

        # 5. recording: the same mono samples
        if ctl[REC_BUF] != 0:
            rcap = ctl[REC_CAP]
            rbuf = numba.carray(_as_voidptr(ctl[REC_BUF]), (rcap,), np.float32)
            rpos = numba.carray(_as_voidptr(ctl[REC_POS]), (2,), np.int64)
            rw = rpos[1]
            free = rcap - (rw - rpos[0])
            m = min(frames, free)
            for k in range(m):
                rbuf[(rw + k) % rcap] = o[k * channels]
            if m < frames:
                numba.carray(_as_voidptr(ctl[REC_OVERFLOW]), (1,), np.int64)[0] += frames - m
            _fence()
            rpos[1] = rw + m

        # 6. latency probe
        if ctl[PROBE_N] != 0:
            pn = numba.carray(_as_voidptr(ctl[PROBE_N]), (1,), np.int64)
            i = pn[0]
            if i < ctl[PROBE_CAP]:
                numba.carray(_as_voidptr(ctl[PROBE_T]), (ctl[PROBE_CAP],), np.float64)[i] = now
                numba.carray(_as_voidptr(ctl[PROBE_WAIT]), (ctl[PROBE_CAP],), np.float64)[i] = waited
                numba.carray(_as_voidptr(ctl[PROBE_FIRST]), (ctl[PROBE_CAP],), np.int64)[i] = first_frame
                dac = 0.0
                if _as_int(time_info) != 0:
                    t3 = numba.carray(time_info, (3,), np.float64)
                    dac = t3[2] - t3[1]
                numba.carray(_as_voidptr(ctl[PROBE_DAC]), (ctl[PROBE_CAP],), np.float64)[i] = dac
                pn[0] = i + 1
        played[0] = first_frame + frames

        # 7. wake the render thread (non-blocking pipe: a full pipe just drops the byte)
        if ctl[WAKE_FD] >= 0:
            _call_write(ctl[FN_WRITE], ctl[WAKE_FD], ctl[WAKE_BYTE], np.int64(1))
        return PA_CONTINUE

    return callback


_CALLBACK = None


def available() -> bool:
    """True where the native callback can run (Linux, numba, libc)."""
    return _LIBC is not None


def compiled():
    """The numba cfunc (compiled, or loaded from numba's cache, on first use). None where unavailable."""
    global _CALLBACK
    if _CALLBACK is None and available():
        _CALLBACK = _build()
    return _CALLBACK


def _address(a: np.ndarray) -> int:
    if not a.flags.c_contiguous:
        raise ValueError("native callback arrays must be C-contiguous")
    return int(a.ctypes.data)


class NativeCallback:
    """Binds the cfunc to one engine (its ring, counters and callback clock), the stream's channel count,
    a frame counter, and optionally a recorder (live.record.Recorder), a LatencyProbe and a wake fd.

    `pointer` and `userdata` are what sounddevice's `_StreamBase(callback=..., userdata=...)` takes. Keep this
    object alive as long as the stream: it owns the control array and references every array it points to.
    Not real-time itself (builds once, before the stream starts)."""

    def __init__(
        self,
        engine,
        channels: int,
        frames: np.ndarray,
        recorder=None,
        probe=None,
        wake_fd: int = -1,
        event_wait_s: float = 0.0,
        sample_rate: int = 0,
    ):
        cb = compiled()
        if cb is None:
            raise RuntimeError("the native audio callback is not available on this platform")
        ring = engine.ring
        self._keep = [ring._buf, ring._state, engine._counters, engine._callback_time, frames]
        ctl = np.zeros(N_SLOTS, np.int64)
        ctl[RING_BUF] = _address(ring._buf)
        ctl[RING_CAP] = ring.capacity
        ctl[RING_POS] = _address(ring._state)
        ctl[COUNTERS] = _address(engine._counters)
        ctl[CB_TIME] = _address(engine._callback_time)
        ctl[CHANNELS] = int(channels)
        ctl[FRAMES] = _address(frames)
        if recorder is not None:
            r = recorder.ring
            self._keep += [r._buf, r._pos, recorder._overflow]
            ctl[REC_BUF] = _address(r._buf)
            ctl[REC_CAP] = r.capacity
            ctl[REC_POS] = _address(r._pos)
            ctl[REC_OVERFLOW] = _address(recorder._overflow)
        if probe is not None:
            self._keep += [probe.t_callback, probe.waited_s, probe.first_frame, probe.dac_delay_s, probe.n]
            ctl[PROBE_T] = _address(probe.t_callback)
            ctl[PROBE_WAIT] = _address(probe.waited_s)
            ctl[PROBE_FIRST] = _address(probe.first_frame)
            ctl[PROBE_DAC] = _address(probe.dac_delay_s)
            ctl[PROBE_N] = _address(probe.n)
            ctl[PROBE_CAP] = probe.t_callback.shape[0]
        self._wake_byte = np.ones(1, np.uint8)
        self._timespec = np.zeros(2, np.int64)
        ctl[WAKE_FD] = int(wake_fd)
        ctl[WAKE_BYTE] = _address(self._wake_byte)
        ctl[TIMESPEC] = _address(self._timespec)
        ctl[FN_WRITE], ctl[FN_CLOCK], ctl[FN_SLEEP] = _LIBC
        # Late events (step 3): the engine's counters, the longest wait, and what happened.
        if not (0.0 <= event_wait_s <= 1.0):
            raise ValueError(f"event_wait_s must be in 0..1 s, got {event_wait_s}")
        self.waits = np.zeros(2, np.int64)  # callbacks that waited for an event, of which timed out
        self._sleep = np.array([0, SLEEP_NS], np.int64)  # struct timespec
        self._keep += [engine._event_seq, self.waits, self._sleep]
        ctl[EVENT_SEQ] = _address(engine._event_seq)
        ctl[WAIT_NS] = int(round(event_wait_s * 1e9))
        ctl[WAITS] = _address(self.waits)
        ctl[SLEEP_TS] = _address(self._sleep)
        # The device's period grid (anchor ns, periods since): without a sample rate the wait counts from
        # the callback's own entry.
        self.grid = np.zeros(2, np.int64)
        self._keep.append(self.grid)
        ctl[GRID] = _address(self.grid)
        ctl[RATE] = int(sample_rate)
        self.ctl = ctl
        self.pointer = cb.address
        self.cfunc = cb

    @property
    def userdata(self) -> int:
        return _address(self.ctl)
