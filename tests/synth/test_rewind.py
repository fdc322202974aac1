"""Rewind: state snapshots restore bit for bit, the ring's atomic swap never plays a half-replaced block (two
real threads), and an event posted while blocks are queued is heard from the very next block, exactly as an
offline render with the event at that block's first sample; when the callback wins the race, the old blocks
play whole and the event lands right after them."""

from __future__ import annotations

import threading
import time

import numba
import numpy as np
import pytest

from tests.synth.test_engine import SAW, SQUARE, SR, two_oscbank_engine
from vaesynth.synth.engine import Engine
from vaesynth.synth.rewind import StateSnapshot
from vaesynth.synth.ringbuffer import BUSY, POS_MASK, RewindRing, ring_read

BLOCK = 128


def scene_events(rng: np.random.Generator, n: int) -> list[tuple]:
    """n random control events (engine method name, args) of every rewindable kind."""
    events = []
    for _ in range(n):
        r = rng.random()
        if r < 0.35:
            events.append(("note_on", int(rng.integers(40, 90)), int(rng.integers(1, 128))))
        elif r < 0.55:
            events.append(("note_off", int(rng.integers(40, 90))))
        elif r < 0.65:
            events.append(("set_bend", float(rng.uniform(-2, 2))))
        elif r < 0.75:
            events.append(("set_gain_db", float(rng.uniform(-12, 6))))
        elif r < 0.87:
            events.append(("set_timbre", SAW if rng.random() < 0.5 else SQUARE))
        elif r < 0.95:
            events.append(("set_sustain", bool(rng.integers(0, 2))))
        else:
            events.append(("all_notes_off",))
    return events


def post(engine: Engine, event: tuple, at_sample: int | None = None) -> None:
    getattr(engine, event[0])(*event[1:], at_sample=at_sample)


def rewind_engine(**kw) -> Engine:
    return two_oscbank_engine(BLOCK, polyphony=6, rewind=True, lead_samples=2 * BLOCK, **kw)


def test_snapshot_restore_continues_bit_identically():
    """Save mid-scene, render on through new events, restore, render the same events again: identical."""
    rng = np.random.default_rng(7)
    e = two_oscbank_engine(BLOCK, polyphony=6)
    for ev in scene_events(rng, 20):
        post(e, ev)
        e.process(257)
    parts = [(e, e.rewind_state), (e.voices, e.voices.rewind_state)]
    parts += [(r, r.rewind_state) for r in e.renderers.values()]
    snap = StateSnapshot(parts)
    snap.save()
    later = scene_events(rng, 12)

    def run() -> np.ndarray:
        for i, ev in enumerate(later):
            post(e, ev, at_sample=e.samples_rendered + 100 * i)
        return e.process(3000)

    a = run()
    moved_on = e.process(64)  # move on, then come back
    snap.restore()
    b = run()
    assert np.abs(a).max() > 0.01 and not np.array_equal(moved_on, a[:64])
    np.testing.assert_array_equal(a, b)


def test_rewound_stream_equals_offline_render_with_each_event_at_the_next_block():
    """Events posted between callbacks with two blocks queued: each is heard from the next block played."""
    rng = np.random.default_rng(11)
    n_blocks = 120
    live = rewind_engine()
    blocks = rng.choice(np.arange(2, n_blocks - 2), 40, replace=False)
    plan = {int(b): ev for b, ev in zip(blocks, scene_events(rng, 40), strict=True)}
    out = np.zeros((BLOCK, 2), np.float32)
    got = []
    live.pump()
    for b in range(n_blocks):
        if b in plan:
            post(live, plan[b])
            assert live.respeculate()
        live.audio_callback(out, BLOCK, None, None)
        got.append(out[:, 0].copy())
        live.pump()
    assert live.xruns == 0 and live.rewinds == len(plan) and live.rewind_misses == 0

    offline = two_oscbank_engine(BLOCK, polyphony=6)
    for b, ev in plan.items():
        post(offline, ev, at_sample=b * BLOCK)
    ref = offline.process(n_blocks * BLOCK)
    np.testing.assert_array_equal(np.concatenate(got), ref)


def test_an_overdue_callback_gets_two_blocks_rewound_for_its_catch_up():
    """A device that wakes late follows the late callback with a catch-up one at once (JACK: 8 ms, then
    0.1 ms), before the render thread can top up: when the last callback began more than a block ago, a
    rewind queues two blocks, so both back-to-back callbacks play the event, without an underrun, exactly as
    offline. On time, one block is queued (the sooner swap)."""
    live = two_oscbank_engine(BLOCK, polyphony=6, rewind=True, lead_samples=4 * BLOCK)
    out = np.zeros((BLOCK, 1), np.float32)
    got = []
    post(live, ("note_on", 60, 100))
    live.pump()
    for _ in range(3):
        live.audio_callback(out, BLOCK, None, None)
        got.append(out[:, 0].copy())
        live.pump()
    at = 3 * BLOCK  # the first block not yet played
    post(live, ("note_on", 64, 90))
    assert live.respeculate()  # the callback began just now: on time
    assert live.ring.available() == BLOCK
    live.pump()
    live.audio_callback(out, BLOCK, None, None)
    got.append(out[:, 0].copy())
    live.pump()
    live._callback_time[0] -= 2.5 * BLOCK / SR  # the device is late
    post(live, ("set_timbre", SQUARE))
    assert live.respeculate()
    assert live.ring.available() == 2 * BLOCK
    for _ in range(2):  # the late callback and its catch-up, no pump between them
        live.audio_callback(out, BLOCK, None, None)
        got.append(out[:, 0].copy())
    assert live.xruns == 0
    for _ in range(4):
        live.pump()
        live.audio_callback(out, BLOCK, None, None)
        got.append(out[:, 0].copy())

    offline = two_oscbank_engine(BLOCK, polyphony=6)
    offline.note_on(60, 100, at_sample=0)
    offline.note_on(64, 90, at_sample=at)
    offline.set_timbre(SQUARE, at_sample=at + BLOCK)
    np.testing.assert_array_equal(np.concatenate(got), offline.process(len(got) * BLOCK))


def test_an_event_the_callback_beats_lands_whole_after_the_queued_blocks():
    """The reader is mid-block (BUSY) when the render thread tries: no swap, the state goes back to the end of
    the queue, and the event is applied at the first chunk rendered after it; nothing is lost or doubled."""
    live = rewind_engine()
    out = np.zeros((BLOCK, 1), np.float32)
    got = []
    post(live, ("note_on", 60, 100))
    live.pump()
    for _ in range(5):
        live.audio_callback(out, BLOCK, None, None)
        got.append(out[:, 0].copy())
        live.pump()
    queued_end = live.samples_rendered
    live.ring._state[0] |= BUSY  # the callback has started its block and will stop at r + BLOCK
    post(live, ("set_timbre", SQUARE))
    post(live, ("note_on", 67, 90))
    assert not live.respeculate()  # the second try (from r + BLOCK) fails too: the reader has not moved
    live.ring._state[0] &= ~BUSY
    assert live.samples_rendered == queued_end and live.rewind_misses == 1
    for _ in range(10):
        live.audio_callback(out, BLOCK, None, None)
        got.append(out[:, 0].copy())
        live.pump()

    offline = two_oscbank_engine(BLOCK, polyphony=6)
    offline.note_on(60, 100, at_sample=0)
    offline.set_timbre(SQUARE, at_sample=queued_end)
    offline.note_on(67, 90, at_sample=queued_end)
    np.testing.assert_array_equal(np.concatenate(got), offline.process(15 * BLOCK))


def test_events_during_a_crossfade_are_not_rewound_and_keep_their_order():
    """Engine switches are not rewindable: the switch and the events after it wait for the next chunk."""
    live = rewind_engine()
    out = np.zeros((BLOCK, 1), np.float32)
    got = []
    live.pump()
    post(live, ("note_on", 60, 100))
    assert live.respeculate()
    live.audio_callback(out, BLOCK, None, None)
    got.append(out[:, 0].copy())
    live.pump()
    t_switch = live.samples_rendered
    live.set_engine("b")
    post(live, ("note_on", 64, 100))
    assert not live.respeculate()
    for _ in range(30):
        live.audio_callback(out, BLOCK, None, None)
        got.append(out[:, 0].copy())
        live.pump()
        if len(got) == 3:  # mid-crossfade: not rewindable either
            post(live, ("note_on", 67, 100))
            t_mid = live.samples_rendered
            assert not live.respeculate()

    offline = two_oscbank_engine(BLOCK, polyphony=6)
    offline.note_on(60, 100, at_sample=0)
    offline.set_engine("b", at_sample=t_switch)
    offline.note_on(64, 100, at_sample=t_switch)
    offline.note_on(67, 100, at_sample=t_mid)
    np.testing.assert_array_equal(np.concatenate(got), offline.process(31 * BLOCK))


@numba.njit(nogil=True)
def _reader_loop(buf, state, log, counts, spin):
    """Read BLOCK frames whenever that much is queued, `spin` busy iterations apart; log what came."""
    out = np.zeros((BLOCK, 1), np.float32)
    k = 0
    acc = 0.0
    while k < counts.shape[0]:
        s = state[0]
        if ((s & POS_MASK) - ((s >> 31) & POS_MASK)) & POS_MASK < BLOCK:
            continue
        n = ring_read(buf, state, out, BLOCK)
        counts[k] = n
        for i in range(BLOCK):
            log[k * BLOCK + i] = out[i, 0]
        k += 1
        for i in range(spin):
            acc += i * 1e-9
    return acc


@pytest.mark.parametrize("spin", [20_000, 200_000])
def test_concurrent_rewinds_never_split_a_block_or_lose_continuity(spin):
    """A reader on another thread (numba, no GIL) reads blocks while this thread queues two blocks ahead and
    keeps trying to replace them. Each sample carries its stream position, replacements negated: the
    reader must see positions 0, 1, 2, ... without gap or repeat, and every block all old or all new."""
    n_blocks = 1500
    ring = RewindRing(4 * BLOCK)
    log = np.zeros(n_blocks * BLOCK, np.float32)
    counts = np.zeros(n_blocks, np.int64)
    _reader_loop(ring._buf, ring._state, log[:0], counts[:0], spin)  # compile before the race starts
    t = threading.Thread(target=_reader_loop, args=(ring._buf, ring._state, log, counts, spin))
    t.start()
    next_t = 0  # stream position of the next sample to write
    swaps = 0
    try:
        while t.is_alive() and next_t < (n_blocks + 4) * BLOCK:
            if ring.available() < 2 * BLOCK and ring.free() >= 4 * BLOCK - ring.available():
                ring.write(np.arange(next_t, next_t + BLOCK, dtype=np.float32))
                next_t += BLOCK
            else:
                r, w, busy = ring.positions()
                p = r if not busy else (r + BLOCK) & POS_MASK
                n = (w - p) & POS_MASK
                if 0 < n <= 2 * BLOCK:
                    start = next_t - n
                    ring.put(-np.arange(start, next_t, dtype=np.float32))
                    swaps += ring.rewind(p, n)
    finally:
        t.join(timeout=60)
    assert not t.is_alive()
    assert np.all(counts == BLOCK)
    np.testing.assert_array_equal(np.abs(log), np.arange(n_blocks * BLOCK, dtype=np.float32))
    blocks = log.reshape(n_blocks, BLOCK)[1:]  # block 0 starts at position 0 = -0
    signs = np.sign(blocks)
    assert np.all(signs == signs[:, :1]), "a block mixed old and replaced samples"
    played = np.count_nonzero(signs[:, 0] < 0)
    assert swaps > 100 and played > 100, (swaps, played)  # the race was really run


def test_render_thread_rewinds_events_posted_between_callbacks():
    """The real render thread (woken through the engine's pipe): an event posted between two callbacks, with
    two blocks queued, is heard from the next block, and the stream equals the offline render."""
    live = rewind_engine()
    out = np.zeros((BLOCK, 1), np.float32)
    got = []
    plan = {4: ("note_on", 60, 100), 10: ("set_timbre", SQUARE), 16: ("note_off", 60)}
    live.start()
    try:
        for b in range(24):
            assert live.wait_for_lead(2 * BLOCK, timeout_s=20)
            if b in plan:
                rewinds = live.rewinds
                post(live, plan[b])
                for _ in range(2000):  # the render thread swaps the queue within microseconds; allow 2 s
                    if live.rewinds > rewinds:
                        break
                    time.sleep(1e-3)
            live.audio_callback(out, BLOCK, None, None)
            got.append(out[:, 0].copy())
    finally:
        live.stop()
    assert live.rewinds == len(plan) and live.rewind_misses == 0 and live.xruns == 0
    offline = two_oscbank_engine(BLOCK, polyphony=6)
    for b, ev in plan.items():
        post(offline, ev, at_sample=b * BLOCK)
    np.testing.assert_array_equal(np.concatenate(got), offline.process(24 * BLOCK))


def test_queue_shrinks_to_one_block_while_events_cannot_be_rewound():
    """On istft (not rewindable) the lead is one block, so its events wait no longer than without rewind;
    back on oscbank, once the crossfade is over, the full lead is queued again."""
    e = Engine(SR, engine="istft", blocksize=BLOCK, rewind=True, lead_samples=4 * BLOCK, timbre=SAW)
    out = np.zeros((BLOCK, 1), np.float32)
    e.note_on(60, 100)
    e.pump()
    assert e.ring.available() == BLOCK
    e.set_engine("oscbank")
    for _ in range(10):  # 10 ms crossfade = 4 blocks at 48 kHz
        e.audio_callback(out, BLOCK, None, None)
        e.pump()
    assert e.engine == "oscbank" and e._fade_from is None
    assert e.ring.available() == 4 * BLOCK and e.xruns == 0


def test_ring_positions_wrap_at_two_to_the_31():
    """12 h of samples later the 31-bit positions wrap: reads, writes and a rewind across the wrap still
    deliver every sample in order."""
    ring = RewindRing(4 * BLOCK)
    start = (1 << 31) - 100
    ring._state[0] = (start << 31) | start  # r = w = 100 samples before the wrap
    out = np.zeros((BLOCK, 1), np.float32)
    ring.write(np.arange(0, BLOCK, dtype=np.float32))
    ring.write(np.arange(BLOCK, 2 * BLOCK, dtype=np.float32))
    assert ring.available() == 2 * BLOCK and ring.positions()[1] == 2 * BLOCK - 100
    assert ring.read_into(out, BLOCK) == BLOCK
    np.testing.assert_array_equal(out[:, 0], np.arange(BLOCK))
    r = ring.positions()[0]
    ring.put(-np.arange(BLOCK, 2 * BLOCK, dtype=np.float32))
    assert ring.rewind(r, BLOCK)
    assert ring.read_into(out, BLOCK) == BLOCK
    np.testing.assert_array_equal(out[:, 0], -np.arange(BLOCK, 2 * BLOCK))
    assert ring.available() == 0 and ring.positions()[0] == (start + 3 * BLOCK) % (1 << 31)
