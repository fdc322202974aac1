"""Voice allocation: note on/off, sustain pedal, stealing, pitch bend -> per-slot pitch and envelope gain.

There are `polyphony + STEAL_SLOTS` slots. A voice being stolen keeps its slot for its short fade while the
new note starts on a spare slot, so stealing never cuts a waveform (no click) and never delays the new note.
Rules that keep notes from sticking:
  - a note-off releases every held voice of that note (or marks it sustained while the pedal is down);
  - a stolen or retriggered voice is no longer "held": a later note-off for its note cannot touch the voice
    that replaced it, and it needs no note-off of its own;
  - a duplicate note-on fades the note's previous voice out and starts a fresh one;
  - pedal up releases all sustained voices; panic fades every voice and resets bend and pedal.
All methods run in the thread that renders chunks (they are called at chunk boundaries), mutate preallocated
arrays, and are cheap Python.
"""

from __future__ import annotations

import numpy as np

from vaesynth.synth.envelope import (
    ATTACK,
    DECAY,
    FADE,
    IDLE,
    RELEASE,
    SUSTAIN,
    EnvelopeSettings,
    render_envelopes,
)

# Extra slots beyond the polyphony so stolen voices can fade while new ones start.
STEAL_SLOTS = 4


def velocity_to_amplitude(velocity: int) -> float:
    """MIDI velocity 1..127 -> amplitude: (v/127)^2, a ~42 dB range that feels natural on keyboards."""
    return (float(velocity) / 127.0) ** 2


class VoiceAllocator:
    """State of all voice slots.

    sample_rate: Hz. polyphony: notes sounding at once (not counting stolen voices fading out).
    chunk_size: samples per chunk (rows of `gain`). settings: EnvelopeSettings.
    Public arrays (length n_slots): note (int32), stage (int32), level/amplitude (float32), active (bool);
    gain: float32 [n_slots, chunk_size] written by `advance`; f0_hz: float32 [n_slots] written by `advance`.
    """

    def __init__(
        self,
        sample_rate: int,
        polyphony: int = 16,
        chunk_size: int = 64,
        settings: EnvelopeSettings | None = None,
        bend_range_semitones: float = 2.0,
    ):
        if not (1 <= polyphony <= 256):
            raise ValueError(f"polyphony must be in 1..256, got {polyphony}")
        self.sample_rate = int(sample_rate)
        self.polyphony = int(polyphony)
        self.n_slots = self.polyphony + STEAL_SLOTS
        self.chunk_size = int(chunk_size)
        self.bend_range_semitones = float(bend_range_semitones)
        self.settings = settings or EnvelopeSettings()
        self._attack_step, self._decay_step, self._release_step, self._fade_step = self.settings.rates(
            sample_rate
        )
        n = self.n_slots
        self.note = np.zeros(n, np.int32)
        self.stage = np.zeros(n, np.int32)
        self.level = np.zeros(n, np.float32)
        self.step = np.zeros(n, np.float32)
        self.amplitude = np.zeros(n, np.float32)
        self.held = np.zeros(n, bool)  # key is down
        self.sustained = np.zeros(n, bool)  # key is up but the pedal holds the note
        self.order = np.zeros(n, np.int64)  # start order, for "oldest"
        self.active = np.zeros(n, bool)  # stage != IDLE at the start of the chunk
        self.gain = np.zeros((n, self.chunk_size), np.float32)
        self.f0_hz = np.zeros(n, np.float32)
        self._sustain_level = float(self.settings.sustain_level)
        self._counter = 0
        self.bend_semitones = 0.0
        self.pedal = False
        self.steals = 0

    # What events and `advance` change (synth/rewind.py).
    rewind_state = (
        "note",
        "stage",
        "level",
        "step",
        "amplitude",
        "held",
        "sustained",
        "order",
        "active",
        "gain",
        "f0_hz",
        "_counter",
        "bend_semitones",
        "pedal",
        "steals",
    )

    # --- events (chunk boundaries) ---

    def f0_of(self, slot: int) -> float:
        """Pitch of a slot in Hz with the current bend."""
        return 440.0 * 2.0 ** ((float(self.note[slot]) + self.bend_semitones - 69.0) / 12.0)

    def note_on(self, note: int, velocity: int) -> int:
        """Start `note` (0..127) at `velocity` (1..127). Returns the slot; the caller resets renderer state
        on it (`start_voice`)."""
        for v in np.flatnonzero((self.note == note) & (self.held | self.sustained) & (self.stage != IDLE)):
            self._fade(v)
        sounding = (self.stage != IDLE) & (self.stage != FADE)
        if np.count_nonzero(sounding) >= self.polyphony:
            self._fade(self._victim(sounding))
            self.steals += 1
        free = np.flatnonzero(self.stage == IDLE)
        if len(free):
            v = int(free[0])
        else:  # every slot fading (a burst of note-ons): restart the quietest fading one
            v = int(np.argmin(np.where(self.stage == FADE, self.level, np.inf)))
        self._counter += 1
        self.note[v] = note
        self.stage[v] = ATTACK
        self.level[v] = 0.0
        self.step[v] = 0.0
        self.amplitude[v] = velocity_to_amplitude(velocity)
        self.held[v] = True
        self.sustained[v] = False
        self.order[v] = self._counter
        return v

    def note_off(self, note: int) -> None:
        """Release every held voice of `note` (or hand it to the sustain pedal)."""
        for v in np.flatnonzero((self.note == note) & self.held):
            self.held[v] = False
            if self.pedal:
                self.sustained[v] = True
            else:
                self._release(v)

    def set_sustain(self, down: bool) -> None:
        """Sustain pedal (CC 64): up releases every voice it was holding."""
        self.pedal = bool(down)
        if not self.pedal:
            for v in np.flatnonzero(self.sustained):
                self.sustained[v] = False
                self._release(v)

    def set_bend(self, semitones: float) -> None:
        """Pitch bend for all voices in semitones (already clamped by the caller)."""
        self.bend_semitones = float(semitones)

    def all_notes_off(self) -> None:
        """Release every voice normally (end of a MIDI file)."""
        self.pedal = False
        for v in np.flatnonzero(self.stage != IDLE):
            self.held[v] = self.sustained[v] = False
            if self.stage[v] != FADE:
                self._release(v)

    def panic(self) -> None:
        """Fade every voice out fast, pedal up, bend 0."""
        self.pedal = False
        self.bend_semitones = 0.0
        for v in np.flatnonzero(self.stage != IDLE):
            self._fade(v)

    # --- per chunk ---

    def advance(self) -> None:
        """Compute this chunk's `active`, `f0_hz` and `gain` and advance the envelopes.

        `active` is the set of slots sounding at the start of the chunk (a voice that ends inside the chunk
        still renders its last samples, with gain reaching 0). Real-time safe: yes (no allocation)."""
        render_envelopes(
            self.stage,
            self.level,
            self.step,
            self.amplitude,
            self._attack_step,
            self._decay_step,
            self._sustain_level,
            self.gain,
            self.note,
            self.bend_semitones,
            self.f0_hz,
            self.active,
        )

    @property
    def n_sounding(self) -> int:
        """Voices not idle (fading ones included)."""
        return int(np.count_nonzero(self.stage != IDLE))

    # --- internals ---

    def _victim(self, sounding: np.ndarray) -> int:
        """Which voice to steal: the quietest released voice if any, else the oldest."""
        released = sounding & (self.stage == RELEASE)
        if released.any():
            return int(np.argmin(np.where(released, self.level * self.amplitude, np.inf)))
        return int(np.argmin(np.where(sounding, self.order, np.iinfo(np.int64).max)))

    def _release(self, v: int) -> None:
        if self.stage[v] in (ATTACK, DECAY, SUSTAIN):
            self.stage[v] = RELEASE
            # Linear ramp from the current level to 0 over release_ms.
            self.step[v] = max(self.level[v], 1e-6) * self._release_step

    def _fade(self, v: int) -> None:
        self.held[v] = self.sustained[v] = False
        if self.stage[v] == IDLE:
            return
        self.stage[v] = FADE
        self.step[v] = max(float(self.step[v]), max(self.level[v], 1e-6) * self._fade_step)
