"""The real-time engine core: event inbox -> voices -> renderer(s) -> output stage -> ring buffer -> device.

Real-time contract (python-sounddevice's rules). `Engine.audio_callback` never allocates (beyond transient
views), locks, does I/O, logs, or calls torch: it copies one block from a preallocated ring buffer into
`outdata[:]`, zero-fills on underrun and counts the xrun. Everything else happens in the render thread (or,
for offline work, in the caller of `process`), one chunk of `chunk_size` samples at a time:
  1. events posted by control threads (a lock-free deque) whose time has come are applied at the chunk
     boundary: note on/off, bend, sustain, gain, timbre, engine switch, panic;
  2. the voice allocator advances envelopes (one numba kernel) and pitches;
  3. the current renderer (any `VoiceRenderer`) adds the voices into the chunk; during an engine switch both
     renderers run and are crossfaded with equal-power gains over `crossfade_ms`;
  4. output gain (ramped across the chunk) and the soft clipper (synth/limiter.py).
The render thread keeps the ring buffer filled to `lead_samples` (one device block rounded up to a chunk):
every extra block of lead would be latency. Its kernels release the GIL.

Rewind (`rewind=True`): the lead is a safety margin that costs no control latency. The engine keeps a
snapshot of its state at every queued chunk boundary (synth/rewind.py); when events arrive, the render
thread is woken, restores the state from before the first block the callback has not started, renders that
block again with the events applied and swaps it in for the whole queue with one compare-and-swap on the
ring (synth/ringbuffer.py); the rest of the lead is rendered again behind it. If the callback got there
first, the old blocks play whole and the events land right after them. Only renderers that declare their
`rewind_state` (oscbank) take part; during an istft stretch or an engine crossfade events wait for the next
chunk rendered, and the queue shrinks to one device block meanwhile so that they wait no longer than
without rewind.

Events carry an optional sample time; one with a time is applied at the start of the chunk containing it
(chunk-accurate), one without at the next chunk boundary. Because streaming and `process` run the very same
chunk sequence, they produce identical samples for identical event times, whatever the device block size.
Inputs are validated in the posting methods (control thread), so nothing invalid reaches the audio path.
"""

from __future__ import annotations

import heapq
import math
import os
import select
import sys
import threading
import time
import weakref
from collections import deque
from typing import Mapping

import numba
import numpy as np

from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.envelope import EnvelopeSettings
from vaesynth.synth.gesture import GestureOnset
from vaesynth.synth.limiter import apply_output_stage, db_to_amplitude
from vaesynth.synth.oscbank import OscBankRenderer
from vaesynth.synth.protocol import Timbre, VoiceRenderer
from vaesynth.synth.rewind import StateSnapshot
from vaesynth.synth.ringbuffer import POS_MASK, RewindRing
from vaesynth.synth.voices import VoiceAllocator

MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 22050, 96000
MAX_BLOCKSIZE = 16384
GAIN_DB_RANGE = (-96.0, 40.0)
BEND_LIMIT_SEMITONES = 24.0
ENGINE_NAMES = ("oscbank", "istft")


def make_renderer(name: str, sample_rate: int, max_voices: int, chunk_size: int) -> VoiceRenderer:
    """Build the named renderer: "oscbank", or "istft" (synth/istft.py, when installed).
    Raises ValueError for an unknown or unavailable engine."""
    if name == "oscbank":
        return OscBankRenderer(sample_rate, max_voices, chunk_size=chunk_size)
    if name == "istft":
        try:
            from vaesynth.synth.istft import IstftRenderer
        except ImportError as e:
            raise ValueError(f"the istft engine is not available ({e})") from e
        return IstftRenderer(sample_rate=sample_rate, max_voices=max_voices, chunk_size=chunk_size)
    raise ValueError(f"unknown engine {name!r} (choose from {', '.join(ENGINE_NAMES)})")


@numba.njit(nogil=True, cache=True)
def _crossfade(old, new, out, pos, delay, length):
    """out[n] = equal-power mix of old -> new; the fade starts `delay` samples after `pos`.
    Uncorrelated engines (different phases) keep constant power; returns nothing. Real-time safe: yes."""
    for n in range(out.shape[0]):
        t = (pos + n - delay) / length
        if t < 0.0:
            t = 0.0
        elif t > 1.0:
            t = 1.0
        th = 0.5 * math.pi * t
        out[n] += old[n] * math.cos(th) + new[n] * math.sin(th)


# Events whose timing is heard (onsets, releases): the native audio callback waits for these while the
# render thread brings them into the queued blocks. Continuous controls (timbre, bend, gain) are waited for
# at a gesture's first move, and within a stream only while such waits pay off (`GestureOnset`, once
# watching the callback's wait counters): a knob sends up to hundreds of moves a second, and waiting on
# every move of four knobs at once spends the realtime thread's period (5-minute soak: 1 callback in 7
# waited, 45% of those ran out).
TIMED_EVENTS = frozenset({"note_on", "note_off", "sustain", "panic", "all_off"})
CONTINUOUS_EVENTS = frozenset({"timbre", "bend", "gain"})


class Engine:
    """Polyphonic synth engine driving any VoiceRenderer.

    sample_rate: output Hz, 22050..96000. polyphony: voices (default 16). chunk_size: render granularity in
    samples (event timing resolution; 64 = 1.3 ms at 48 kHz). blocksize: the device block (1..16384), sets
    the ring-buffer lead. engine: the renderer to start with. renderers: name -> VoiceRenderer, each built
    for `voice_slots(polyphony)` voices and `chunk_size`; default: oscbank (+ istft when available).
    envelope: EnvelopeSettings. bend_range_semitones: what a full MIDI pitch wheel means (used by callers).
    gain_db: output gain. crossfade_ms: engine-switch crossfade. timbre: initial timbre (None: silent until
    `set_timbre`). lead_samples: ring-buffer fill the render thread keeps (default: one device block rounded
    up to whole chunks). render_margin_ms: None renders eagerly (the ring is topped up as soon as a callback
    drains it); a number renders just in time, that long before the next callback is due, so events that
    arrive meanwhile still make the next block (lower latency, less safety margin against preemption).
    rewind: re-render queued blocks when events arrive (see the module docstring); excludes
    render_margin_ms. Counters: `rewinds` (events brought forward), `rewind_misses` (too late, or not
    rewindable at that moment).
    """

    # What rendering and events change in the engine itself (synth/rewind.py).
    rewind_state = (
        "samples_rendered",
        "_gain",
        "_gain_target",
        "gain_db",
        "_timbre",
        "_fade_from",
        "_fade_pos",
        "_fade_delay",
        "_pending_engine",
        "engine",
        "_current",
        "_heap",
        "_carry",
        "_carry_n",
    )

    def __init__(
        self,
        sample_rate: int = 48000,
        *,
        polyphony: int = 16,
        chunk_size: int = 64,
        blocksize: int = 128,
        engine: str = "oscbank",
        renderers: Mapping[str, VoiceRenderer] | None = None,
        envelope: EnvelopeSettings | None = None,
        bend_range_semitones: float = 2.0,
        gain_db: float = 0.0,
        crossfade_ms: float = 10.0,
        timbre: Timbre | None = None,
        lead_samples: int | None = None,
        render_margin_ms: float | None = None,
        rewind: bool = False,
    ):
        if not (MIN_SAMPLE_RATE <= int(sample_rate) <= MAX_SAMPLE_RATE):
            raise ValueError(
                f"sample_rate must be in {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz, got {sample_rate}"
            )
        if not (1 <= int(blocksize) <= MAX_BLOCKSIZE):
            raise ValueError(f"blocksize must be in 1..{MAX_BLOCKSIZE}, got {blocksize}")
        if not (1 <= int(chunk_size) <= 8192):
            raise ValueError(f"chunk_size must be in 1..8192, got {chunk_size}")
        self.sample_rate = int(sample_rate)
        self.chunk_size = int(chunk_size)
        self.blocksize = int(blocksize)
        self.voices = VoiceAllocator(self.sample_rate, polyphony, self.chunk_size, envelope)
        self.bend_range_semitones = float(bend_range_semitones)
        n_slots = self.voices.n_slots
        if renderers is None:
            renderers = {"oscbank": make_renderer("oscbank", self.sample_rate, n_slots, self.chunk_size)}
            try:
                renderers["istft"] = make_renderer("istft", self.sample_rate, n_slots, self.chunk_size)
            except ValueError:
                pass
        self.renderers = dict(renderers)
        for name, r in self.renderers.items():
            if r.chunk_size != self.chunk_size or r.max_voices < n_slots or r.sample_rate != self.sample_rate:
                raise ValueError(
                    f"renderer {name!r} must have chunk_size {self.chunk_size}, sample_rate "
                    f"{self.sample_rate} and max_voices >= {n_slots}"
                )
        if engine not in self.renderers:
            raise ValueError(f"engine {engine!r} is not available (have {', '.join(self.renderers)})")
        self.engine = engine
        self._current = self.renderers[engine]
        self._fade_from: VoiceRenderer | None = None
        self._fade_pos = 0
        self._fade_delay = 0
        self._fade_len = max(1, int(round(crossfade_ms * 1e-3 * self.sample_rate)))
        self._pending_engine: str | None = None
        self._timbre: Timbre | None = None  # the latest timbre applied (render thread)

        g = db_to_amplitude(self._check_gain_db(gain_db))
        self._gain = g
        self._gain_target = g
        self.gain_db = float(gain_db)

        chunk = self.chunk_size
        self._chunk = np.zeros(chunk, np.float32)
        self._scratch_old = np.zeros(chunk, np.float32)
        self._scratch_new = np.zeros(chunk, np.float32)
        self._carry = np.zeros(chunk, np.float32)
        self._carry_n = 0
        # Lead: one device block, rounded up to whole chunks (the render thread writes whole chunks).
        min_lead = int(math.ceil(self.blocksize / chunk)) * chunk
        self.lead_samples = max(min_lead, int(math.ceil((lead_samples or 0) / chunk)) * chunk)
        self._first_block = min_lead  # what a rewind re-renders before swapping: one device block
        # Room for the queued samples plus, beside them, a re-rendered copy (rewind).
        self.ring = RewindRing(2 * (self.lead_samples + chunk))
        if render_margin_ms is not None and not (0 < render_margin_ms < 1000):
            raise ValueError(f"render_margin_ms must be in (0, 1000), got {render_margin_ms}")
        if rewind and render_margin_ms is not None:
            raise ValueError("rewind and render_margin_ms exclude each other (rewind needs no margin)")
        self.render_margin_s = None if render_margin_ms is None else render_margin_ms * 1e-3
        self._callback_time = np.zeros(1, np.float64)  # perf_counter() of the last callback
        # Counter pairs (a, b): while a != b, an event is on its way into the queued blocks and the native
        # audio callback may wait for it (live/native_callback.py: a late event makes this block instead of
        # the next). [0, 1]: timed events (TIMED_EVENTS) posted while the render thread rewinds, of those it
        # has taken up (`pump`);
        # [2, 3]: messages a receiving thread has received, of those handled (`incoming`); [5, 6]: the same
        # for messages waiting in a control queue (`incoming_queued`). [4]: 1 while the native callback waits
        # (it reads the queue the moment the rewind lands).
        self._event_seq = np.zeros(7, np.int64)
        self._onset = GestureOnset()  # continuous controls: waited for at a gesture's first move only
        # benchmarks: id(Timbre) -> [perf_counter() when posted, first sample it sounds from, the Timbre]
        self.probe_timbre: dict | None = None
        self._inbox: deque = deque()
        self._heap: list = []
        self._seq = 0
        self.samples_rendered = 0
        self._counters = np.zeros(3, np.int64)  # xruns, callbacks, status flags seen
        self._thread: threading.Thread | None = None
        self._running = False
        self._old_switch_interval: float | None = None
        self._wake_r: int | None = None  # read end of the wake pipe, else polling
        self._wake_w: int | None = None
        self._callback_wakes = False  # the audio callback writes to the wake pipe after each block
        self.rewind = bool(rewind)
        self.rewinds = 0
        self.rewind_misses = 0
        if self.rewind:
            parts = [(self, self.rewind_state), (self.voices, self.voices.rewind_state)]
            parts += [(r, r.rewind_state) for r in self.renderers.values() if hasattr(r, "rewind_state")]
            # One snapshot per chunk boundary that can be queued (twice: old and re-rendered), + the live one.
            n_snaps = 2 * (self.lead_samples // chunk + 1) + 2
            self._snaps = [StateSnapshot(parts) for _ in range(n_snaps)]
            self._snap_pos = np.full(n_snaps, -1, np.int64)  # ring position each snapshot was taken at
            self._snap_ok = np.zeros(n_snaps, bool)  # taken while only rewindable renderers sounded
            self._live = StateSnapshot(parts)
        if timbre is not None:
            self.set_timbre(timbre)

    # ------------------------------------------------------------------ control side (any thread)

    def note_on(self, note: int, velocity: int, at_sample: int | None = None) -> None:
        """Note on; velocity 0 means note off. note 0..127 (else ValueError), velocity clamped to 0..127."""
        note = self._check_note(note)
        velocity = int(min(127, max(0, _as_int(velocity, "velocity"))))
        if velocity == 0:
            self._post(("note_off", note), at_sample)
        else:
            self._post(("note_on", note, velocity), at_sample)

    def note_off(self, note: int, at_sample: int | None = None) -> None:
        self._post(("note_off", self._check_note(note)), at_sample)

    def set_bend(self, semitones: float, at_sample: int | None = None) -> None:
        """Pitch bend in semitones for all voices, clamped to +-24."""
        s = _as_finite(semitones, "bend")
        self._post(("bend", min(BEND_LIMIT_SEMITONES, max(-BEND_LIMIT_SEMITONES, s))), at_sample)

    def set_sustain(self, down: bool, at_sample: int | None = None) -> None:
        self._post(("sustain", bool(down)), at_sample)

    def set_gain_db(self, gain_db: float, at_sample: int | None = None) -> None:
        """Output gain in dB, clamped to GAIN_DB_RANGE; ramped over one chunk."""
        self._post(("gain", self._check_gain_db(gain_db)), at_sample)

    def set_timbre(self, timbre: Timbre, at_sample: int | None = None) -> None:
        """New timbre for every renderer (validated by Timbre itself)."""
        if not isinstance(timbre, Timbre):
            raise TypeError(f"expected a Timbre, got {type(timbre).__name__}")
        if self.probe_timbre is not None:
            self.probe_timbre[id(timbre)] = [time.perf_counter(), -1, timbre]
        self._post(("timbre", timbre), at_sample)

    def set_engine(self, name: str, at_sample: int | None = None) -> None:
        """Switch renderer with a crossfade (ValueError if not available)."""
        if name not in self.renderers:
            raise ValueError(f"engine {name!r} is not available (have {', '.join(self.renderers)})")
        self._post(("engine", name), at_sample)

    def panic(self, at_sample: int | None = None) -> None:
        """All notes off (fast fade), pedal up, bend 0."""
        self._post(("panic",), at_sample)

    def all_notes_off(self, at_sample: int | None = None) -> None:
        """Release every note normally (as if all keys and the pedal were let go)."""
        self._post(("all_off",), at_sample)

    # ------------------------------------------------------------------ state

    @property
    def xruns(self) -> int:
        """Callbacks that found fewer samples than requested (zero-filled)."""
        return int(self._counters[0])

    @property
    def device_xruns(self) -> int:
        """Callbacks that arrived with a PortAudio status flag (an output underflow the device or audio
        server reported, e.g. a JACK xrun)."""
        return int(self._counters[2])

    @property
    def callbacks(self) -> int:
        return int(self._counters[1])

    @property
    def n_sounding(self) -> int:
        """Voices sounding now (render side)."""
        return self.voices.n_sounding

    @property
    def latency_samples(self) -> int:
        """Ring-buffer lead plus the renderer's own look-ahead: worst-case event-to-output delay, chunk
        quantisation aside."""
        return self.lead_samples + int(self._current.latency_samples)

    @property
    def renderer_latency_samples(self) -> int:
        """The current renderer's look-ahead (0 for oscbank)."""
        return int(self._current.latency_samples)

    def is_idle(self) -> bool:
        """No voice sounding, no crossfade, no pending event (render side)."""
        return self.voices.n_sounding == 0 and self._fade_from is None and not self._heap and not self._inbox

    # ------------------------------------------------------------------ rendering

    def process(self, n_samples: int) -> np.ndarray:
        """Render the next n_samples synchronously (no thread): float32 [n_samples]. Same chunks as the
        render thread, so the same samples. Real-time safe: no (allocates the result)."""
        out = np.empty(int(n_samples), np.float32)
        self.process_into(out)
        return out

    def process_into(self, out: np.ndarray) -> None:
        """Render len(out) samples into float32 `out` [n]. Real-time safe: yes (allocation-free apart from
        event handling). Not to be mixed with a running render thread (RuntimeError)."""
        if self._thread is not None:
            raise RuntimeError("process() while the render thread runs: stop() it first")
        n = out.shape[0]
        i = min(n, self._carry_n)
        if i:
            out[:i] = self._carry[:i]
            self._carry[: self._carry_n - i] = self._carry[i : self._carry_n]
            self._carry_n -= i
        chunk = self.chunk_size
        while i < n:
            self._render_chunk(self._chunk)
            take = min(chunk, n - i)
            out[i : i + take] = self._chunk[:take]
            if take < chunk:
                self._carry[: chunk - take] = self._chunk[take:]
                self._carry_n = chunk - take
            i += take

    def pump(self) -> int:
        """Render chunks into the ring buffer until it holds `lead_samples`. Returns chunks rendered.
        (The render thread's loop body; tests and benchmarks call it directly.)"""
        k = 0
        rewind = self.rewind
        # Read before the inbox is taken: every event counted here was appended before (`_post`), so it is
        # taken up below (brought forward, or queued after the blocks already out of reach).
        posted = int(self._event_seq[0])
        if rewind and self._inbox:
            self.respeculate()
        if self._event_seq[1] != posted:
            self._event_seq[1] = posted
        lead = self.lead_samples
        if rewind and not self._rewindable_now():
            # Events cannot be rewound now (istft, a crossfade): queue one block only, so they wait no longer
            # than without rewind; the lead fills up again once only rewindable renderers sound.
            lead = self._first_block
        while self.ring.available() < lead:
            if rewind:
                self._save_snapshot(self.ring.positions()[1])
            # With rewind, events that arrive meanwhile stay in the inbox for `respeculate`: taken here, they
            # would land after the whole lead.
            self._render_chunk(self._chunk, drain=not rewind)
            self.ring.write(self._chunk)
            k += 1
        return k

    def respeculate(self) -> bool:
        """Bring events that arrived since the last render forward into the queued blocks: restore the state
        from before the first block the callback has not started, render that block again with the events,
        swap it in for everything queued, atomically (render thread; tests call it directly; the next `pump`
        tops the lead up again). Returns True if the events will be heard from the next block; otherwise
        they are queued for the next chunk rendered (after the blocks already queued, `rewind_misses` + 1,
        unless nothing was queued). Real-time safe: yes (render thread; allocation-free apart from event
        handling)."""
        if not self.rewind or not self._inbox:
            return False
        late = self._take_inbox()
        if any(event[0] == "engine" for _, event in late):
            self._push(late)  # a renderer switch is not rewindable: it waits for the next chunk
            self.rewind_misses += 1
            return False
        ring = self.ring
        chunk = self.chunk_size
        for _attempt in range(2):  # a second try when the callback took the first queued block meanwhile
            r, w, busy = ring.positions()
            p = (r + self.blocksize) & POS_MASK if busy else r  # where the callback's read will end
            n = (w - p) & POS_MASK
            if n == 0:  # nothing queued: the next chunk rendered is the next block played
                self._push(late)
                return False
            if n % chunk or n > self.lead_samples + chunk or not self._rewindable_now():
                break
            if not all(self._snapshot_at((p + i * chunk) & POS_MASK) >= 0 for i in range(n // chunk)):
                break
            self._live.save()
            self._snaps[self._snapshot_at(p)].restore()
            self._push(late)
            # Only the block the callback takes next is re-rendered before the swap (sooner = fewer late
            # events); the rest of the lead is topped up by the next pump, from the new state (~0.05 ms).
            # Events that arrive meanwhile wait in the inbox for the next call. Except when the callback is
            # overdue: a device that wakes late catches up with a second callback right after the late one
            # (JACK: an 8 ms gap, then 0.1 ms), before any top-up; two blocks are re-rendered then.
            n_new = min(n, self._first_block * (2 if self._callback_overdue() else 1))
            for i in range(n_new // chunk):
                self._save_snapshot((w + i * chunk) & POS_MASK)
                self._render_chunk(self._chunk, drain=False)
                ring.put(self._chunk, i * chunk)
            if ring.rewind(p, n_new):
                self.rewinds += 1
                return True
            self._live.restore()  # the callback was first: back to the state after the old blocks
            for i in range(n_new // chunk):
                self._snap_pos[self._slot((w + i * chunk) & POS_MASK)] = -1
        self._push(late)
        self.rewind_misses += 1
        return False

    def _callback_overdue(self) -> bool:
        """Whether more than one device block has passed since the last callback began (streaming only), or a
        callback is waiting for the rewind (it takes the first block at once; the second keeps a block of
        lead for the next callback, which then comes less than a period later)."""
        if self._event_seq[4]:
            return True
        if self._counters[1] == 0:
            return False
        return time.perf_counter() - self._callback_time[0] > self.blocksize / self.sample_rate

    def audio_callback(self, outdata, frames, time_info, status) -> None:
        """sounddevice OutputStream callback: copy one block from the ring buffer, zero-fill on underrun.
        outdata: float32 [frames, channels] (mono signal on every channel).
        Real-time safe: yes — no allocation, no locks, no I/O, no logging, no torch."""
        if status:
            self._counters[2] += 1
        self._callback_time[0] = time.perf_counter()
        if self.ring.read_into(outdata, frames) < frames:
            self._counters[0] += 1
        self._counters[1] += 1

    def warm_up(self) -> float:
        """Compile / load every numba kernel the engine will call, on throwaway copies of the renderers, so
        the first note does not stall the render thread (loading a cached kernel takes ~0.1 s). The engine's
        own state is untouched. Returns the seconds it took. Real-time safe: no (call before streaming)."""
        t0 = time.perf_counter()
        config = SpectralConfig(sample_rate=44100, n_fft=256, hop_length=64)
        mags = np.zeros(config.n_bins, np.float32)
        mags[2::2] = 1.0  # a harmonic comb at f_ref = 2 bins
        timbre = Timbre(mags, config, 2 * config.bin_hz)
        chunk = self.chunk_size
        for name in self.renderers:
            if name not in ENGINE_NAMES:
                continue  # a custom renderer: we cannot build a scratch copy of it
            r = make_renderer(name, self.sample_rate, 1, chunk)
            r.set_timbre(timbre)
            r.start_voice(0, 440.0)
            for _ in range(3):
                r.render(
                    np.full(1, 440.0, np.float32),
                    np.ones((1, chunk), np.float32),
                    np.ones(1, bool),
                    np.zeros(chunk, np.float32),
                )
        v = VoiceAllocator(self.sample_rate, 1, chunk)
        v.note_on(60, 100)
        v.advance()
        scratch = np.zeros(chunk, np.float32)
        apply_output_stage(scratch, 1.0, 1.0)
        _crossfade(scratch, scratch, scratch.copy(), 0, 0, 1)
        ring = RewindRing(4 * chunk)  # the ring's kernels, the rewind's included (first used mid-note)
        ring.write(scratch)
        ring.put(scratch)
        ring.rewind(0, chunk)
        ring.read_into(np.zeros((chunk, 2), np.float32), chunk)
        return time.perf_counter() - t0

    def start(self, switch_interval_s: float | None = 5e-4) -> None:
        """Start the render thread (after `warm_up`). switch_interval_s: sys.setswitchinterval while running
        (DESIGN: the default 5 ms lets a busy Python thread starve the audio side), restored by stop();
        None keeps it."""
        if self._thread is not None:
            return
        self.warm_up()
        if self.rewind:
            self._pipe()  # control threads wake the render thread through it
        if switch_interval_s is not None:
            self._old_switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(switch_interval_s)
        self._running = True
        self._thread = threading.Thread(target=self._render_loop, name="vaesynth-render", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the render thread (idempotent)."""
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        seq = self._event_seq  # nothing is on its way any more: no callback waits
        seq[1], seq[3], seq[6] = seq[0], seq[2], seq[5]
        if self._old_switch_interval is not None:
            sys.setswitchinterval(self._old_switch_interval)
            self._old_switch_interval = None

    @property
    def incoming(self) -> np.ndarray | None:
        """int64 [2] counters for a thread that receives control messages (OscReceiver's `pending`): [0] +1
        on arrival, [1] = [0] once handled. While they differ the native callback may wait for what the
        message posts, as for a posted event. None unless the engine rewinds (nothing would be waited for)."""
        return self._event_seq[2:4] if self.rewind else None

    @property
    def incoming_queued(self) -> np.ndarray | None:
        """As `incoming`, for messages that wait in a queue for another thread (the server's control queue:
        MIDI): [0] +1 before queueing, [1] = [0] once the queue has been worked through."""
        return self._event_seq[5:7] if self.rewind else None

    def wake_fd(self) -> int:
        """The write end of a pipe the audio callback writes one byte to after each block (created on first
        call, kept for the engine's life: a native callback may still hold it). From then on the render
        thread sleeps in the kernel until a block is consumed instead of polling every quarter chunk: fewer
        GIL hand-overs, and it wakes at once. POSIX only. Not real-time (call before streaming)."""
        self._callback_wakes = True
        return self._pipe()

    def _pipe(self) -> int:
        if self._wake_w is None:
            r, w = os.pipe()
            os.set_blocking(r, False)
            os.set_blocking(w, False)  # the callback must never wait on a full pipe
            self._wake_r, self._wake_w = r, w
            weakref.finalize(self, _close_fds, r, w)
        return self._wake_w

    def wait_for_lead(self, n_samples: int, timeout_s: float = 10.0) -> bool:
        """Block until the ring buffer holds n_samples (tests: drive the callback faster than real time
        without underruns). Returns False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.ring.available() < n_samples:
            if time.monotonic() > deadline:
                return False
            time.sleep(1e-4)
        return True

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------------ internals

    def _render_loop(self) -> None:
        # Without a wake pipe, poll at a quarter chunk: a callback drains a block, the loop tops the lead up
        # within ~0.3 ms. With one (native callback), sleep in select() until the callback has taken a block.
        nap_s = max(1e-4, 0.25 * self.chunk_size / self.sample_rate)
        block_s = self.blocksize / self.sample_rate
        margin_s = self.render_margin_s
        while self._running:
            wake = self._wake_r
            # 20 ms when the callback wakes us (notice stop() and a stream that has not started yet)
            timeout_s = 0.02 if self._callback_wakes else nap_s
            if margin_s is not None and self._counters[1] > 0 and self.ring.available() < self.lead_samples:
                # Just in time: wait until `margin` before the next callback is due, then top up.
                wait_s = self._callback_time[0] + block_s - margin_s - time.perf_counter()
                if wait_s > 0:
                    time.sleep(wait_s if wake is not None else min(wait_s, nap_s))
                    continue
            if self.pump() == 0:
                if wake is None:
                    time.sleep(nap_s)
                else:
                    if select.select([wake], [], [], timeout_s)[0]:
                        try:
                            os.read(wake, 4096)
                        except BlockingIOError:
                            pass

    def _post(self, event: tuple, at_sample: int | None) -> None:
        if at_sample is None:
            t = -1
        else:
            t = int(at_sample)
            if t < 0:
                raise ValueError(f"at_sample must be >= 0, got {at_sample}")
        kind = event[0]
        timed = kind in TIMED_EVENTS or (kind in CONTINUOUS_EVENTS and self._onset.onset())
        self._inbox.append((t, event))
        if self.rewind and self._wake_w is not None and self._thread is not None:
            if timed:
                self._event_seq[0] += 1  # after the append (see `pump`)
            try:
                os.write(self._wake_w, b"e")  # the render thread brings it into the queued blocks now
            except (BlockingIOError, OSError):
                pass  # a full pipe: it is awake anyway

    def _take_inbox(self) -> list:
        """Everything posted so far, in order (control threads may append meanwhile: deque is thread-safe)."""
        inbox = self._inbox
        return [inbox.popleft() for _ in range(len(inbox))]

    def _push(self, events: list) -> None:
        """Queue (time, event) pairs on the heap, in order."""
        for t, event in events:
            self._seq += 1
            heapq.heappush(self._heap, (t, self._seq, event))

    def _slot(self, pos: int) -> int:
        return (pos // self.chunk_size) % len(self._snaps)

    def _snapshot_at(self, pos: int) -> int:
        """Index of a rewindable snapshot taken at ring position pos, or -1."""
        i = self._slot(pos)
        return i if self._snap_pos[i] == pos and self._snap_ok[i] else -1

    def _save_snapshot(self, pos: int) -> None:
        i = self._slot(pos)
        ok = self._rewindable_now()
        if ok:
            self._snaps[i].save()
        self._snap_pos[i] = pos
        self._snap_ok[i] = ok

    def _rewindable_now(self) -> bool:
        """Only renderers whose state a snapshot holds can be sounding (no istft, no crossfade)."""
        return (
            self._fade_from is None
            and self._pending_engine is None
            and hasattr(self._current, "rewind_state")
        )

    def _render_chunk(self, out: np.ndarray, drain: bool = True) -> None:
        if drain and self._inbox:
            self._push(self._take_inbox())
        end = self.samples_rendered + self.chunk_size
        heap = self._heap
        while heap and heap[0][0] < end:
            self._apply(heapq.heappop(heap)[2])
        if self._fade_from is None and self._pending_engine is not None:
            self._begin_switch(self._pending_engine)
            self._pending_engine = None

        v = self.voices
        v.advance()
        out[:] = 0.0
        if self._fade_from is None:
            self._current.render(v.f0_hz, v.gain, v.active, out)
        else:
            self._scratch_old[:] = 0.0
            self._scratch_new[:] = 0.0
            self._fade_from.render(v.f0_hz, v.gain, v.active, self._scratch_old)
            self._current.render(v.f0_hz, v.gain, v.active, self._scratch_new)
            _crossfade(
                self._scratch_old, self._scratch_new, out, self._fade_pos, self._fade_delay, self._fade_len
            )
            self._fade_pos += self.chunk_size
            if self._fade_pos >= self._fade_delay + self._fade_len:
                self._fade_from = None
        apply_output_stage(out, self._gain, self._gain_target)
        self._gain = self._gain_target
        self.samples_rendered = end

    def _apply(self, event: tuple) -> None:
        kind = event[0]
        v = self.voices
        if kind == "note_on":
            slot = v.note_on(event[1], event[2])
            f0 = v.f0_of(slot)
            self._current.start_voice(slot, f0)
            if self._fade_from is not None:
                self._fade_from.start_voice(slot, f0)
        elif kind == "note_off":
            v.note_off(event[1])
        elif kind == "bend":
            v.set_bend(event[1])
        elif kind == "sustain":
            v.set_sustain(event[1])
        elif kind == "gain":
            self.gain_db = event[1]
            self._gain_target = db_to_amplitude(event[1])
        elif kind == "timbre":
            # Only the renderers that sound get it now (istft's set_timbre costs ~0.1-0.2 ms of this thread);
            # an idle one gets the latest timbre when it is switched in (_begin_switch).
            self._timbre = event[1]
            if self.probe_timbre is not None and id(event[1]) in self.probe_timbre:
                self.probe_timbre[id(event[1])][1] = self.samples_rendered  # (again, if rewound again)
            self._current.set_timbre(event[1])
            if self._fade_from is not None:
                self._fade_from.set_timbre(event[1])
        elif kind == "engine":
            if self._fade_from is None:
                self._begin_switch(event[1])
            else:  # one crossfade at a time; the latest request waits for the current one to end
                self._pending_engine = event[1]
        elif kind == "panic":
            v.panic()
        elif kind == "all_off":
            v.all_notes_off()

    def _begin_switch(self, name: str) -> None:
        new = self.renderers[name]
        if new is self._current:
            return
        if self._timbre is not None and getattr(new, "timbre", None) is not self._timbre:
            new.set_timbre(self._timbre)
        v = self.voices
        for slot in np.flatnonzero(v.stage != 0):
            new.start_voice(int(slot), v.f0_of(int(slot)))
        self._fade_from = self._current
        self._current = new
        self.engine = name
        self._fade_pos = 0
        # A renderer with look-ahead is silent for its latency after its voices start: hold the old one at
        # full level until the new one is actually sounding.
        self._fade_delay = max(0, int(new.latency_samples) - int(self._fade_from.latency_samples))

    @staticmethod
    def _check_note(note) -> int:
        n = _as_int(note, "note")
        if not (0 <= n <= 127):
            raise ValueError(f"note must be in 0..127, got {n}")
        return n

    @staticmethod
    def _check_gain_db(gain_db) -> float:
        g = _as_finite(gain_db, "gain_db")
        return min(GAIN_DB_RANGE[1], max(GAIN_DB_RANGE[0], g))


def _close_fds(*fds: int) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _as_int(x, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer, float, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(x).__name__}")
    if not math.isfinite(float(x)) or float(x) != int(x):
        raise ValueError(f"{name} must be an integer, got {x}")
    return int(x)


def _as_finite(x, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer, float, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(x).__name__}")
    f = float(x)
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite, got {x}")
    return f
