"""The native (numba cfunc) audio callback: called through its C function pointer exactly as PortAudio calls
it, it must hand out the very samples the Python callback does (streaming == offline), count underruns and
device status flags, record the same samples, log the latency probe, and wake the render thread."""

from __future__ import annotations

import ctypes
import os
import select
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from tests.synth.test_engine import schedule_scene, two_oscbank_engine
from tests.synth.timbres import harmonic_timbre, sawtooth_amplitudes
from vaesynth.live import native_callback
from vaesynth.live.audio import LatencyProbe
from vaesynth.live.record import Recorder
from vaesynth.synth.engine import Engine
from vaesynth.synth.gesture import GestureOnset

pytestmark = pytest.mark.skipif(not native_callback.available(), reason="the native callback needs Linux")

PA_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_ulong,
    ctypes.c_void_p,
    ctypes.c_ulong,
    ctypes.c_void_p,
)


class TimeInfo(ctypes.Structure):  # PaStreamCallbackTimeInfo
    _fields_ = [
        ("inputBufferAdcTime", ctypes.c_double),
        ("currentTime", ctypes.c_double),
        ("outputBufferDacTime", ctypes.c_double),
    ]


class Driver:
    """Calls the cfunc the way PortAudio does: (in, out, frames, timeInfo*, statusFlags, userData)."""

    def __init__(self, engine, channels=2, recorder=None, probe=None, wake_fd=-1, event_wait_s=0.0):
        self.frames = np.zeros(1, np.int64)
        self.cb = native_callback.NativeCallback(
            engine,
            channels,
            self.frames,
            recorder=recorder,
            probe=probe,
            wake_fd=wake_fd,
            event_wait_s=event_wait_s,
        )
        self.fn = PA_CALLBACK(self.cb.pointer)
        self.channels = channels

    def __call__(self, out: np.ndarray, status: int = 0, time_info: TimeInfo | None = None) -> int:
        assert out.flags.c_contiguous and out.dtype == np.float32 and out.shape[1] == self.channels
        ti = ctypes.byref(time_info) if time_info is not None else None
        return self.fn(None, out.ctypes.data, out.shape[0], ti, status, self.cb.userdata)


@pytest.mark.parametrize("blocksize, margin_ms", [(128, None), (65, None), (128, 1.0)])
def test_native_callback_stream_matches_offline_process(blocksize, margin_ms):
    """Render thread woken through the wake pipe + native callback == Engine.process, exactly, on both
    channels: the same contract the Python callback meets (tests/synth/test_engine.py)."""
    n_total = 24000
    offline = two_oscbank_engine(blocksize)
    schedule_scene(offline)
    ref = offline.process(n_total)

    live = two_oscbank_engine(blocksize, render_margin_ms=margin_ms)
    schedule_scene(live)
    drive = Driver(live, channels=2, wake_fd=live.wake_fd())
    got = np.zeros((n_total + blocksize, 2), np.float32)
    block = np.zeros((blocksize, 2), np.float32)
    live.start()
    try:
        pos = 0
        while pos < n_total:
            assert live.wait_for_lead(blocksize, timeout_s=20)
            assert drive(block) == 0  # paContinue
            got[pos : pos + blocksize] = block
            pos += blocksize
    finally:
        live.stop()
    assert (
        live.xruns == 0
        and live.device_xruns == 0
        and live.callbacks == n_total // blocksize + (n_total % blocksize > 0)
    )
    np.testing.assert_array_equal(got[:n_total, 0], ref)
    np.testing.assert_array_equal(got[:n_total, 1], ref)
    assert drive.frames[0] == live.callbacks * blocksize


def test_native_callback_zero_fills_underruns_and_counts_status_flags():
    e = Engine(48000, timbre=harmonic_timbre(sawtooth_amplitudes(20)), blocksize=128)
    e.note_on(69, 127)
    drive = Driver(e, channels=1)
    out = np.full((128, 1), 7.0, np.float32)
    drive(out)  # nothing rendered yet
    assert e.xruns == 1 and e.device_xruns == 0 and np.all(out == 0.0)
    e.pump()
    drive(out, status=2)  # paOutputUnderflow reported by the device
    assert e.xruns == 1 and e.device_xruns == 1 and e.callbacks == 2 and np.abs(out).max() > 0
    # a partial block: the samples there are, then zeros
    e.pump()
    big = np.full((300, 1), 7.0, np.float32)
    drive(big)
    assert e.xruns == 2 and np.abs(big[:128]).max() > 0 and np.all(big[128:] == 0.0)


def test_native_callback_records_the_played_samples_and_logs_the_probe(tmp_path):
    e = Engine(48000, timbre=harmonic_timbre(sawtooth_amplitudes(20)), blocksize=128)
    e.note_on(60, 100)
    rec = Recorder(tmp_path / "rec.wav", 48000)
    probe = LatencyProbe(capacity=8)
    drive = Driver(e, channels=2, recorder=rec, probe=probe)
    played = []
    ti = TimeInfo(0.0, 100.0, 100.0042)
    for _ in range(10):
        e.pump()
        out = np.zeros((128, 2), np.float32)
        t0 = time.perf_counter()
        drive(out, time_info=ti)
        t1 = time.perf_counter()
        played.append(out[:, 0].copy())
        # the callback's clock is perf_counter's (CLOCK_MONOTONIC): the render thread's schedule reads it
        assert t0 <= e._callback_time[0] <= t1
    rec.close()
    x, sr = sf.read(tmp_path / "rec.wav", dtype="float32")
    np.testing.assert_array_equal(x, np.concatenate(played))
    assert sr == 48000 and rec.overflows == 0
    assert probe.n[0] == 8  # capacity: later callbacks are not logged
    np.testing.assert_array_equal(probe.first_frame, np.arange(8) * 128)
    assert np.all(np.diff(probe.t_callback) > 0)
    np.testing.assert_allclose(probe.dac_delay_s, 0.0042, atol=1e-9)


def test_native_callback_counts_recorder_overflow_instead_of_blocking(tmp_path):
    e = Engine(48000, blocksize=128)
    rec = Recorder(tmp_path / "rec.wav", 48000, capacity_s=200 / 48000, drain_s=60.0)  # writer asleep
    drive = Driver(e, channels=1, recorder=rec)
    e.pump()
    drive(np.zeros((128, 1), np.float32))
    e.pump()
    drive(np.zeros((128, 1), np.float32))
    assert rec.overflows == 2 * 128 - 200
    rec.close()


def test_native_callback_wakes_the_render_thread_through_the_pipe():
    e = Engine(48000, blocksize=128)
    w = e.wake_fd()
    r = e._wake_r
    drive = Driver(e, channels=1, wake_fd=w)
    assert select.select([r], [], [], 0)[0] == []
    e.pump()
    drive(np.zeros((128, 1), np.float32))
    assert select.select([r], [], [], 0)[0] == [r] and os.read(r, 16) == b"\x01"
    # a full pipe never blocks the callback: it just drops the byte
    for _ in range(70_000):
        drive(np.zeros((1, 1), np.float32))


def test_native_callback_plays_rewound_blocks_from_the_next_block():
    """With two blocks queued, events posted between native callbacks are swapped into the queue by
    `respeculate` and heard from the next block: the stream equals an offline render with each event at the
    first sample of the block after it was posted."""
    live = two_oscbank_engine(128, rewind=True, lead_samples=256)
    drive = Driver(live, channels=2)
    plan = {3: ("note_on", 60, 100), 9: ("note_on", 64, 80), 15: ("set_bend", 0.5), 22: ("note_off", 60)}
    block = np.zeros((128, 2), np.float32)
    got = []
    live.pump()
    for b in range(30):
        if b in plan:
            name, *args = plan[b]
            getattr(live, name)(*args)
            assert live.respeculate()
        assert drive(block) == 0
        got.append(block[:, 1].copy())
        live.pump()
    assert live.xruns == 0 and live.rewinds == len(plan)
    offline = two_oscbank_engine(128)
    for b, (name, *args) in plan.items():
        getattr(offline, name)(*args, at_sample=b * 128)
    np.testing.assert_array_equal(np.concatenate(got), offline.process(30 * 128))


def _wait_until(condition, timeout_s=10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(1e-4)


def test_native_callback_waits_for_a_message_on_its_way_and_plays_it_in_this_block():
    """A message has arrived (the engine's `incoming` counters) when the callback comes: the callback waits
    (in its own thread, as on JACK's) while the message is handled and its note rewound into the queue, then
    hands out the new block: the note sounds from this block, exactly as offline with the note at its first
    sample, and a block of lead stays queued for the next callback (two were rendered, for the waiter)."""
    live = two_oscbank_engine(128, rewind=True, lead_samples=512)
    probe = LatencyProbe(capacity=8)
    drive = Driver(live, channels=1, probe=probe, event_wait_s=0.5)
    block = np.zeros((128, 1), np.float32)
    live.pump()
    drive(block)  # block 0 (silence): nothing on its way, no wait
    live.pump()
    assert tuple(drive.cb.waits) == (0, 0) and probe.waited_s[0] == 0.0
    incoming = live.incoming
    incoming[0] += 1  # a datagram arrived
    caller = threading.Thread(target=drive, args=(block,))  # the ctypes call releases the GIL
    caller.start()
    _wait_until(lambda: live._event_seq[4] == 1)  # the callback is waiting
    live.note_on(60, 100)  # what the message says
    assert live.respeculate()  # the render thread brings it into block 1
    incoming[1] = incoming[0]  # handled
    caller.join(timeout=5)
    assert not caller.is_alive()
    assert tuple(drive.cb.waits) == (1, 0) and live._event_seq[4] == 0
    assert probe.n[0] == 2 and probe.waited_s[1] > 0.0
    assert live.ring.available() == 128  # two blocks were queued: one left for the next callback
    offline = two_oscbank_engine(128)
    offline.note_on(60, 100, at_sample=128)
    ref = offline.process(256)[128:]
    assert np.abs(ref).max() > 0.01
    np.testing.assert_array_equal(block[:, 0], ref)


def test_native_callback_wait_is_bounded_and_then_plays_what_is_queued():
    """A message that is never handled: the callback gives up after event_wait_s, counts it, and plays the
    queued block as it was."""
    live = two_oscbank_engine(128, rewind=True, lead_samples=256)
    live.note_on(64, 90)
    live.pump()
    expected = two_oscbank_engine(128)
    expected.note_on(64, 90)
    ref = expected.process(128)
    drive = Driver(live, channels=1, event_wait_s=0.005)
    live.incoming[0] += 1
    block = np.zeros((128, 1), np.float32)
    t0 = time.perf_counter()
    drive(block)
    assert time.perf_counter() - t0 >= 0.005
    assert tuple(drive.cb.waits) == (1, 1) and live._event_seq[4] == 0
    np.testing.assert_array_equal(block[:, 0], ref)
    # event_wait_s 0: never waits
    never = Driver(live, channels=1)
    never(block)
    assert tuple(never.cb.waits) == (0, 0)


def test_streaming_engine_counts_posted_events_until_the_render_thread_takes_them_up():
    """While the render thread runs, each posted event is counted on its way until `pump` has taken it up
    (what the native callback waits on); stop() leaves nothing on its way."""
    e = two_oscbank_engine(128, rewind=True, lead_samples=512)
    e.start()
    try:
        for k in range(1, 4):
            e.note_on(60 + k, 100)
            assert e._event_seq[0] == k
            _wait_until(lambda k=k: e._event_seq[1] == k)
        # continuous controls are waited for only at a gesture's first move (synth/gesture.py): the bend
        # after a pause counts, the gain and timbre moves that follow it within the gap do not
        e._onset = GestureOnset(gap_s=10.0)  # a host stall between the posts must not start a gesture
        e.set_bend(1.0)
        assert e._event_seq[0] == 4
        e.set_gain_db(-6.0)
        e.set_timbre(harmonic_timbre(sawtooth_amplitudes(10)))
        assert e._event_seq[0] == 4
        e.set_sustain(True)
        assert e._event_seq[0] == 5
        _wait_until(lambda: e._event_seq[1] == 5)
    finally:
        e.stop()
    e._event_seq[0] += 1  # a post racing stop(): settled by the next stop
    e.stop()
    assert e._event_seq[0] == e._event_seq[1] and e.rewinds + e.rewind_misses >= 1
    assert two_oscbank_engine(128).incoming is None  # without rewind nothing is waited for


def test_period_lateness_follows_the_device_grid_without_drift():
    """The callback's estimate of its period starts: anchored on the earliest callbacks, late ones measured
    against it, exact over millions of periods (48 kHz / 128: 2,666,666.67 ns, not an integer)."""
    lateness = native_callback._period_lateness.py_func
    grid = np.zeros(2, np.int64)
    t0 = 10**12
    assert lateness(grid, t0, 128, 48000) == 0  # the first callback anchors
    start = lambda k: t0 + k * 128 * 10**9 // 48000  # noqa: E731
    assert lateness(grid, start(1) + 30_000, 128, 48000) == 30_000  # 30 us late
    assert lateness(grid, start(2) + 1_000_000, 128, 48000) == 1_000_000  # 1 ms late: a late wake-up
    assert lateness(grid, start(3) - 5_000, 128, 48000) == 0  # early: the grid moves back to it
    assert grid[0] == start(3) - 5_000
    # later than a whole period: the device restarted its clock (JACK's timed driver after an xrun)
    t1 = start(3) - 5_000 + 2 * 2_666_667 + 100
    assert lateness(grid, t1, 128, 48000) == 0 and grid[0] == t1
    # three million on-time periods later (across the anchor's rebase) the grid is still exact to 1 ns
    k = 3_000_000
    grid[1] = k - 1
    exact = t1 + k * 128 * 10**9 // 48000
    assert abs(lateness(grid, exact + 2_000, 128, 48000) - 2_000) <= 1


def test_native_callback_waits_only_in_the_first_part_of_its_period():
    """With the device's rate known, the wait's deadline counts from the start of the period, not from the
    callback: one that entered late in its period waits less, and one later than the whole wait not at all
    (the next period would come while it waited: JACK counts that client as not finished)."""
    rate, frames = 48000, 4800  # a 100 ms period keeps the timings far from this machine's jitter
    period = frames * 10**9 // rate
    live = two_oscbank_engine(frames, rewind=True, lead_samples=2 * frames)
    live.pump()
    drive = Driver(live, channels=1, event_wait_s=0.06)
    drive.cb.ctl[native_callback.RATE] = rate
    probe_block = np.zeros((frames, 1), np.float32)
    live.incoming[0] += 1  # a message on its way that is never handled: every wait runs to its deadline

    def late_call(late_ns):
        drive.cb.grid[:] = (time.clock_gettime_ns(time.CLOCK_MONOTONIC) - period - late_ns, 0)
        t = time.perf_counter()
        drive(probe_block)
        return time.perf_counter() - t

    took = late_call(50_000_000)  # 50 ms into its period: 10 ms left of the 60 ms wait
    assert tuple(drive.cb.waits) == (1, 1) and 0.005 <= took < 0.04
    took = late_call(70_000_000)  # later than the whole wait: no wait
    assert tuple(drive.cb.waits) == (1, 1) and took < 0.03  # the count is the check; 0.03: host stalls
    took = late_call(0)  # on time: the whole wait
    assert tuple(drive.cb.waits) == (2, 2) and took >= 0.06
