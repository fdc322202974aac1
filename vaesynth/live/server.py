"""The live server: OSC + MIDI -> Controls -> Engine -> sounddevice (+ recording).

Threads:
  - the OSC receiver (live/osc.py) handles a message at once when nothing is queued (a note reaches the
    engine without a thread hop) and decodes the timbre of a burst of knob moves once its socket is empty;
    otherwise it queues the message behind the others, so they keep their order;
  - rtmidi's callback thread (live/midi.py) only stamps and enqueues (it is JACK's process thread: it must
    not wait for a lock);
  - the control thread (here) handles what is queued: it parses MIDI, maps CCs (live/knobmap.py), runs
    `Controls.dispatch`, answers `/info`, handles `/feedback` and `/learn`, decodes timbres and sends
    feedback. Timbre changes are coalesced: a burst of knob messages decodes once, after the burst;
  - the engine's render thread and the audio callback (synth/engine.py, live/audio.py).
Control state belongs to whichever of the first three holds `Server._lock`. The queue is bounded: a flood
drops (and counts) messages instead of growing memory.
"""

from __future__ import annotations

import ipaddress
import json
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from vaesynth.live.feedback import Feedback, SpectrumBands
from vaesynth.live.gcwatch import GcWatch
from vaesynth.live.knobmap import KnobMap, parse_target
from vaesynth.live.midi import parse_midi
from vaesynth.live.osc import encode_message
from vaesynth.synth.controls import ALL_OFF_CCS, PREFIX, SUSTAIN_CC, Controls, midi_to_control
from vaesynth.synth.engine import Engine
from vaesynth.synth.gesture import GestureOnset

QUEUE_SIZE = 16384
BURST = 512  # messages handled before a coalesced timbre decode is forced
TICK_S = 0.005
STOP_FADE_S = 0.06  # panic's fast fade plus a block or two, before the stream closes
# Messages whose events are timed (synth/engine.py TIMED_EVENTS): the audio callback waits for these while
# they are on their way (OscReceiver(wait_for=...), the control queue). Continuous controls (knobs, bend,
# gain) it waits for at a gesture's first move, and within a stream only while those waits pay off
# (synth/gesture.py, `Server.watch_waits`).
WAIT_FOR_OSC = frozenset({PREFIX + "note", PREFIX + "sustain", PREFIX + "panic"})
WAIT_ON_ONSET_OSC = frozenset({PREFIX + "pc", PREFIX + "z", PREFIX + "bend", PREFIX + "gain"})
WAIT_FOR_CC = ALL_OFF_CCS | {SUSTAIN_CC}


def midi_is_timed(data) -> bool:
    """A raw MIDI message that plays or ends notes (note on/off, sustain, all off)."""
    try:
        kind = data[0] & 0xF0
        return kind in (0x80, 0x90) or (kind == 0xB0 and data[1] in WAIT_FOR_CC)
    except (IndexError, TypeError):
        return False


def midi_is_continuous(data) -> bool:
    """A raw MIDI message that moves a continuous control: a CC other than sustain / all off (a knob, mapped
    or not yet), or pitch bend."""
    try:
        kind = data[0] & 0xF0
        return kind == 0xE0 or (kind == 0xB0 and data[1] not in WAIT_FOR_CC)
    except (IndexError, TypeError):
        return False


@dataclass
class ServeOptions:
    """What `vaesynth serve` was asked for (see commands/serve.py for meanings)."""

    engine: str = "oscbank"
    voices: int = 16
    blocksize: int = 128
    midi_channel: int | None = None  # 1..16
    bend_range_semitones: float = 2.0
    render_margin_ms: float | None = None


class LiveControls(Controls):
    """Controls whose timbre decode is deferred: `send_timbre` only marks the timbre dirty and the control
    thread calls `flush` after a burst of messages (each decode is tens of microseconds, but a controller
    can send hundreds of CC messages in a second)."""

    def __init__(self, engine, instrument):
        super().__init__(engine, instrument)
        self.timbre_dirty = False
        self.last_mags: np.ndarray | None = None

    def send_timbre(self, at_sample=None) -> None:
        self.timbre_dirty = True

    def flush(self) -> bool:
        if not self.timbre_dirty:
            return False
        self.timbre_dirty = False
        timbre = self.instrument.timbre_for_latent(self.z.astype(np.float32))
        self.last_mags = timbre.magnitudes
        self.engine.set_timbre(timbre)
        return True


class Server:
    """Everything between the inputs and the engine. Start order: `Server(...)`, attach `osc`/`midi`
    (their sinks are `osc_sink`/`midi_sink`), `start()`; `stop()` is idempotent.

    instrument: models.instrument.Instrument. engine: synth.engine.Engine. knobs: KnobMap.
    log: print-like function for user-facing lines (learn bindings)."""

    def __init__(
        self, instrument, engine: Engine, options: ServeOptions, knobs: KnobMap | None = None, log=print
    ):
        self.instrument = instrument
        self.engine = engine
        self.options = options
        self.knobs = knobs or KnobMap()
        self.log = log
        self.controls = LiveControls(engine, instrument)
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self.osc = None  # live.osc.OscReceiver
        self.midi = None  # live.midi.MidiInput
        self.audio = None  # live.audio.AudioOut
        self.recorder = None
        self.gc = GcWatch()  # serve starts it once everything runs
        # benchmarks: (t_recv, address, args) of note, gain and pc messages
        self.probe_receive: list | None = None
        self.counts: Counter = Counter()  # control thread: received / applied / dropped per source
        self.midi_dropped: Counter = Counter()  # control thread: by reason
        self.osc_dropped: Counter = Counter()  # control thread: by reason (Controls reasons + server's own)
        self.queue_full = np.zeros(2, np.int64)  # osc, midi: dropped because the control queue was full
        self.started_s = time.monotonic()
        self._bands = SpectrumBands(instrument.config)
        self.feedback = Feedback(self._send, self._state)
        self._running = False
        self._thread: threading.Thread | None = None
        # Control state (controls, knob map, feedback, counters) belongs to whichever thread holds this: the
        # control thread for queued messages, or the OSC thread for a message it handles at once.
        self._lock = threading.Lock()
        self._handled_here = False
        # Messages waiting in the queue are on their way to the engine: the audio callback may wait for them
        # (Engine.incoming_queued; None without rewind).
        self._queued = engine.incoming_queued
        self._midi_onset = GestureOnset()  # MIDI thread: a knob's or the bend's first move after a pause
        self.controls.send_timbre()
        self.controls.flush()

    def watch_waits(self) -> None:
        """Once `audio` runs: let every receiving path's gesture detector (engine, OSC, MIDI) see the audio
        callback's wait counters, so that moves within a stream are waited for while those waits pay off
        (synth/gesture.py)."""
        audio = self.audio

        def waits() -> tuple[int, int]:
            return audio.event_waits

        for gesture in (self.engine._onset, self._midi_onset, getattr(self.osc, "gesture", None)):
            if gesture is not None:  # None: no OSC receiver (a detector set to never stays so: `onset`)
                gesture.watch(waits)

    # ------------------------------------------------------------------ input side (any thread)

    def osc_sink(self, address, args, sender, t_recv) -> None:
        """OSC thread. With nothing queued ahead of it, the message is handled here at once: a note does not
        wait for the control thread to wake (a thread hop of ~0.1 ms, and the GIL that thread keeps after
        posting is time the render thread waits before its rewind). Otherwise it is queued behind the rest,
        so messages keep their order."""
        with self._lock:
            if self.queue.unfinished_tasks == 0:
                self._handle_safely(("osc", address, args, sender, t_recv))
                self._handled_here = True
                return
            self._enqueue(("osc", address, args, sender, t_recv), 0, address in WAIT_FOR_OSC)

    def osc_idle(self) -> None:
        """OSC thread, once its socket is empty: decode the timbre of the knob moves handled since, once."""
        with self._lock:
            if self._handled_here:
                self._handled_here = False
                self._flush_safely()

    def midi_sink(self, data, t_recv) -> None:
        """MIDI input thread: queue the message; a note, or a knob's first move after a pause, is marked as
        on its way for the audio callback."""
        timed = midi_is_timed(data) or (midi_is_continuous(data) and self._midi_onset.onset(t_recv))
        self._enqueue(("midi", data, None, None, t_recv), 1, timed)

    def _enqueue(self, item, source: int, timed: bool) -> None:
        queued = self._queued if timed else None
        if queued is not None:
            queued[0] += 1  # before the put: the control thread settles it after taking the item
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            self.queue_full[source] += 1
            if queued is not None:
                queued[1] = queued[0]

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="vaesynth-control", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def wait_idle(self, timeout_s: float = 2.0) -> bool:
        """Block until the control queue is empty and handled (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.queue.unfinished_tasks == 0:
                return True
            time.sleep(0.002)
        return False

    # ------------------------------------------------------------------ control thread

    def _loop(self) -> None:
        q = self.queue
        while self._running:
            try:
                item = q.get(timeout=TICK_S)
            except queue.Empty:
                item = None
            n = 0
            while item is not None:
                with self._lock:
                    self._handle_safely(item)
                    q.task_done()  # under the lock: osc_sink's "nothing queued" test sees it handled
                n += 1
                if n >= BURST:
                    break
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    item = None
            with self._lock:
                self._flush_safely(tick=True)
            if self._queued is not None and item is None:  # the queue is worked through
                self._queued[1] = self._queued[0]

    def _flush_safely(self, tick: bool = False) -> None:
        """Decode a pending timbre change (and send feedback when due). Holds: self._lock."""
        try:
            if self.controls.flush():
                self.feedback.changed()
            if tick:
                self.feedback.tick(time.monotonic())
        except Exception as e:  # never let a thread die (a decode can fail on a broken model)
            self.counts["control errors"] += 1
            self.log(f"vaesynth: control error: {type(e).__name__}: {e}")

    def _handle_safely(self, item) -> None:
        try:
            if item[0] == "osc":
                self._handle_osc(item[1], item[2], item[3], item[4])
            else:
                self._handle_midi(item[1], item[4])
        except Exception:  # a bug must cost one message, not the server
            self.counts["control errors"] += 1

    def _handle_osc(self, address, args, sender, t_recv) -> None:
        self.counts["osc messages"] += 1
        if address == PREFIX + "info":
            self._send(encode_message(PREFIX + "info", [json.dumps(self.info())]), sender)
            return
        if address == PREFIX + "feedback":
            self._on_feedback(args, sender)
            return
        if address == PREFIX + "learn":
            self._on_learn(args)
            return
        if self.probe_receive is not None and address in (PREFIX + "note", PREFIX + "gain", PREFIX + "pc"):
            self.probe_receive.append((t_recv, address, list(args)))
        before = Counter(self.controls.dropped)
        if self.controls.dispatch(address, args):
            self.counts["osc applied"] += 1
        else:
            self.osc_dropped.update(self.controls.dropped - before)

    def _on_feedback(self, args, sender) -> None:
        if len(args) == 1 and _is_int(args[0]) and 0 <= args[0] <= 65535:
            self.feedback.register(sender[0], int(args[0]))
        elif (
            len(args) == 2
            and isinstance(args[0], str)
            and _ip_address(args[0]) is not None
            and _is_int(args[1])
            and 0 <= args[1] <= 65535
        ):
            self.feedback.register(_ip_address(args[0]), int(args[1]))
        else:
            self.osc_dropped["bad /feedback"] += 1
            return
        self.counts["osc applied"] += 1

    def _on_learn(self, args) -> None:
        try:
            if len(args) == 2 and isinstance(args[0], str) and _is_int(args[1]):
                target = parse_target(f"{args[0]} {int(args[1])}")
            elif len(args) == 1 and isinstance(args[0], str):
                target = parse_target(args[0])
            else:
                raise ValueError("wrong arguments")
        except ValueError:
            self.osc_dropped["bad /learn"] += 1
            return
        bound = {"pc": self.instrument.n_pcs, "z": self.instrument.latent_dim}.get(target.kind)
        if bound is not None and not (0 <= target.index < bound):
            self.osc_dropped["bad /learn"] += 1
            return
        self.knobs.arm_learn(target)
        self.counts["osc applied"] += 1
        self.log(f"vaesynth: MIDI learn armed for {target.label()}: move a knob")

    def _handle_midi(self, data, t_recv) -> None:
        self.counts["midi messages"] += 1
        try:
            msg = parse_midi(data)
        except (ValueError, TypeError, IndexError):
            self.midi_dropped["malformed"] += 1
            return
        ch = self.options.midi_channel
        if ch is not None and hasattr(msg, "channel") and msg.channel != ch - 1:
            self.midi_dropped["other channel"] += 1
            return
        if msg.type == "control_change":
            learned = self.knobs.try_learn(msg.control)
            if learned is not None:
                self.log(f"vaesynth: learned CC {msg.control} -> {learned.label()}")
                self.feedback.learned(msg.control, learned.label())
            target = self.knobs.lookup(msg.control)
            if target is not None:
                mapped = target.message(msg.value)
            elif msg.control in (64, 120, 123):
                mapped = midi_to_control(msg, self.options.bend_range_semitones)
            else:
                self.midi_dropped["unmapped CC"] += 1
                return
        else:
            mapped = midi_to_control(msg, self.options.bend_range_semitones)
            if mapped is None:
                self.midi_dropped[f"ignored {msg.type}"] += 1
                return
        before = Counter(self.controls.dropped)
        if self.controls.dispatch(*mapped):
            self.counts["midi applied"] += 1
        else:
            self.midi_dropped.update(self.controls.dropped - before)

    # ------------------------------------------------------------------ replies

    def _send(self, data: bytes, addr) -> bool:
        return self.osc.send(data, addr) if self.osc is not None else False

    def _state(self):
        mags = self.controls.last_mags
        if mags is None:
            mags = self.instrument.decode_latent(self.controls.z.astype(np.float32))
        return self.controls.pcs(), self.controls.z, self._bands(mags)

    def info(self) -> dict:
        """The /vaesynth/info reply (also printed at exit)."""
        inst, eng = self.instrument, self.engine
        osc_packets = dict(self.osc.stats) if self.osc is not None else {}
        dropped = {
            "osc_packets": {k: v for k, v in osc_packets.items() if k not in ("packets", "messages")},
            "osc": dict(self.osc_dropped),
            "midi": dict(self.midi_dropped),
            "queue_full": {"osc": int(self.queue_full[0]), "midi": int(self.queue_full[1])},
        }
        total = sum(sum(d.values()) for d in dropped.values())
        return {
            "model": str(getattr(inst, "path", "") or ""),
            "name": str(getattr(inst, "name", "") or ""),
            "latent_dim": int(inst.latent_dim),
            "n_pcs": int(inst.n_pcs),
            "engine": eng.engine,
            "engines": list(eng.renderers),
            "sample_rate": eng.sample_rate,
            "blocksize": self.options.blocksize,
            "latency_samples": eng.latency_samples,
            "osc_host": getattr(self.osc, "host", None),
            "osc_port": getattr(self.osc, "port", None),
            "midi_in": getattr(self.midi, "name", None),
            "midi_api": getattr(self.midi, "api", None),
            "midi_channel": self.options.midi_channel,
            "voices_sounding": eng.n_sounding,
            "gain_db": float(eng.gain_db),
            "xruns": eng.xruns,
            "device_xruns": eng.device_xruns,
            "rewinds": eng.rewinds,
            "rewind_misses": eng.rewind_misses,
            "event_waits": dict(zip(("waited", "ran_out"), self.audio.event_waits, strict=True))
            if self.audio is not None
            else {"waited": 0, "ran_out": 0},
            "gc": self.gc.info(),
            "audio_callback": getattr(self.audio, "callback_kind", None),
            "callbacks": eng.callbacks,
            "frames_played": self.audio.frames_played if self.audio is not None else 0,
            "record_overflows": self.recorder.overflows if self.recorder is not None else 0,
            "osc_packets": osc_packets.get("packets", 0),
            "received": dict(self.counts),
            "dropped": dropped,
            "dropped_total": int(total),
            "pcs": [round(float(v), 6) for v in self.controls.pcs()],
            "knobs": self.knobs.describe(),
            "learning": self.knobs.learning.label() if self.knobs.learning else None,
            "feedback_clients": [f"{h}:{p}" for h, p in self.feedback.clients],
            "uptime_s": round(time.monotonic() - self.started_s, 3),
        }


def _ip_address(host: str) -> str | None:
    """An IP address (or localhost -> 127.0.0.1) as text, else None. Host names are refused on purpose: a DNS
    lookup could stall the control thread for seconds."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)
