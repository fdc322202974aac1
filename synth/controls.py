"""OSC-style control messages -> engine actions: the one place where addresses are validated and dispatched.

`serve` (OSC and MIDI input), `render --automation` and MIDI files all go through `Controls.dispatch`, so a
message means exactly the same thing live and offline. Per INTERFACE.md: values out of range are clamped;
wrong types, NaN/inf, wrong arity and unknown addresses are dropped and counted (never raised, never passed
on to the audio path). Timbre messages (`/z`, `/pc`) decode here, in the caller's (control) thread, through
the instrument's `timbre_for_latent`; the engine only ever receives a finished `Timbre`.

Latent state: one latent vector z is the truth. `/z` sets coordinates of z; `/pc i v` moves z along PCA
component i only (z += (v - pc_i(z)) * scale_i * component_i), so knobs on PCA axes and direct latent edits
compose without losing the part of z outside the PCA span.

MIDI mapping (also here, so serve and render agree): notes and velocity, pitch wheel -> `/bend` (+-range),
CC 64 -> `/sustain`, CC 70..77 -> `/pc 0..7` with 0..127 mapped to -3..+3 standard deviations,
CC 120/123 (all sound/notes off) -> `/panic`.

Threads: the engine's posting methods are thread-safe, but a Controls object keeps the latent state and the
instrument decodes into a shared buffer: call `dispatch` from one control thread (serve: the OSC and MIDI
handlers feed one queue). `/vaesynth/info` is the server's own business (it needs the sender) and is not
handled here; `/vaesynth/sustain i` (0 up, non-zero down) extends INTERFACE.md's table for CC 64.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Protocol, Sequence

import numpy as np

PREFIX = "/vaesynth/"
ADDRESSES = ("note", "z", "pc", "bend", "gain", "engine", "panic", "sustain")
# Same limits as models/instrument.py (kept here so synth/ does not import torch).
LATENT_LIMIT = 8.0
PCS_LIMIT = 6.0
PC_CC_FIRST, PC_CC_COUNT, PC_CC_RANGE_STD = 70, 8, 3.0
SUSTAIN_CC = 64
ALL_OFF_CCS = frozenset({120, 123})  # all sound off, all notes off -> /panic


class TimbreSource(Protocol):
    """What Controls needs from the model side (models.instrument.Instrument provides it)."""

    latent_dim: int
    n_pcs: int
    pca: Any  # LatentPCA: mean [latent_dim], components [n, latent_dim], scale [n]

    def timbre_for_latent(self, z): ...


class Controls:
    """Validates and applies control messages to an Engine.

    engine: synth.engine.Engine. instrument: a TimbreSource (None: timbre messages are dropped).
    dropped: Counter of reasons for dropped messages; `n_dropped` their total.
    """

    def __init__(self, engine, instrument: TimbreSource | None = None):
        self.engine = engine
        self.instrument = instrument
        self.dropped: Counter = Counter()
        if instrument is not None:
            pca = instrument.pca
            self._mean = np.asarray(pca.mean, np.float64)
            self._components = np.asarray(pca.components, np.float64)
            self._scale = np.asarray(pca.scale, np.float64)
            self.z = self._mean.copy()
        else:
            self.z = np.zeros(0)

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())

    def pcs(self) -> np.ndarray:
        """Current PCA coordinates (standard deviations) [n_pcs]."""
        return ((self.z - self._mean) @ self._components.T) / self._scale

    def send_timbre(self, at_sample: int | None = None) -> None:
        """Decode the current z and hand the timbre to the engine."""
        self.engine.set_timbre(self.instrument.timbre_for_latent(self.z.astype(np.float32)), at_sample)

    def dispatch(self, address: str, args: Sequence = (), at_sample: int | None = None) -> bool:
        """Apply one message. Returns True if applied, False if dropped (and counted by reason)."""
        if not isinstance(address, str) or not address.startswith(PREFIX):
            return self._drop("unknown address")
        name = address[len(PREFIX) :]
        handler = getattr(self, f"_on_{name}", None) if name in ADDRESSES else None
        if handler is None:
            return self._drop("unknown address")
        try:
            handler(list(args), at_sample)
        except _Drop as e:
            return self._drop(str(e))
        return True

    # --- handlers (raise _Drop to reject) ---

    def _on_note(self, args, t):
        _arity(args, 2)
        note = _clamp(_integer(args[0]), 0, 127)
        velocity = _clamp(_integer(args[1]), 0, 127)
        self.engine.note_on(note, velocity, t)

    def _on_bend(self, args, t):
        _arity(args, 1)
        self.engine.set_bend(_number(args[0]), t)  # the engine clamps to +-24 semitones

    def _on_gain(self, args, t):
        _arity(args, 1)
        self.engine.set_gain_db(_number(args[0]), t)  # clamped to the engine's range

    def _on_sustain(self, args, t):
        _arity(args, 1)
        self.engine.set_sustain(_number(args[0]) > 0, t)

    def _on_panic(self, args, t):
        _arity(args, 0)
        self.engine.panic(t)

    def _on_engine(self, args, t):
        _arity(args, 1)
        if not isinstance(args[0], str):
            raise _Drop("wrong type")
        if args[0] not in self.engine.renderers:
            raise _Drop("unknown engine")
        self.engine.set_engine(args[0], t)

    def _on_z(self, args, t):
        src = self._need_instrument()
        if len(args) == 2 and _is_int(args[0]):
            i = _integer(args[0])
            if not (0 <= i < src.latent_dim):
                raise _Drop("index out of range")
            self.z[i] = _clamp(_number(args[1]), -LATENT_LIMIT, LATENT_LIMIT)
        elif len(args) == src.latent_dim:
            values = [_number(a) for a in args]
            self.z[:] = np.clip(values, -LATENT_LIMIT, LATENT_LIMIT)
        else:
            raise _Drop("wrong arity")
        self.send_timbre(t)

    def _on_pc(self, args, t):
        src = self._need_instrument()
        n_pcs = int(src.n_pcs)
        if len(args) == 2 and _is_int(args[0]):
            i = _integer(args[0])
            if not (0 <= i < n_pcs):
                raise _Drop("index out of range")
            targets = {i: _number(args[1])}
        elif 1 <= len(args) <= n_pcs:
            targets = {i: _number(a) for i, a in enumerate(args)}
        else:
            raise _Drop("wrong arity")
        current = self.pcs()
        for i, v in targets.items():
            v = _clamp(v, -PCS_LIMIT, PCS_LIMIT)
            self.z += (v - current[i]) * self._scale[i] * self._components[i]
        np.clip(self.z, -LATENT_LIMIT, LATENT_LIMIT, out=self.z)
        self.send_timbre(t)

    def _need_instrument(self):
        if self.instrument is None:
            raise _Drop("no model loaded")
        return self.instrument

    def _drop(self, reason: str) -> bool:
        self.dropped[reason] += 1
        return False


def midi_to_control(msg, bend_range_semitones: float = 2.0):
    """A mido message -> (address, args) for `Controls.dispatch`, or None for messages the synth ignores.

    Pitch wheel -8192..8191 -> +-bend_range_semitones; CC 70..77 -> PCA 0..7, 0..127 -> -3..+3 std."""
    kind = msg.type
    if kind == "note_on":
        return PREFIX + "note", [msg.note, msg.velocity]
    if kind == "note_off":
        return PREFIX + "note", [msg.note, 0]
    if kind == "pitchwheel":
        return PREFIX + "bend", [msg.pitch / 8192.0 * bend_range_semitones]
    if kind == "control_change":
        if msg.control == SUSTAIN_CC:
            return PREFIX + "sustain", [1 if msg.value >= 64 else 0]
        if PC_CC_FIRST <= msg.control < PC_CC_FIRST + PC_CC_COUNT:
            value_std = (msg.value / 127.0 * 2.0 - 1.0) * PC_CC_RANGE_STD
            return PREFIX + "pc", [msg.control - PC_CC_FIRST, value_std]
        if msg.control in ALL_OFF_CCS:
            return PREFIX + "panic", []
    return None


class _Drop(Exception):
    pass


def _arity(args, n):
    if len(args) != n:
        raise _Drop("wrong arity")


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _number(x) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise _Drop("wrong type")
    f = float(x)
    if not math.isfinite(f):
        raise _Drop("not finite")
    return f


def _integer(x) -> int:
    # Max and many OSC senders send floats for everything: accept 60.0 as 60, round 60.4.
    return int(round(_number(x)))


def _clamp(x, lo, hi):
    return min(hi, max(lo, x))
