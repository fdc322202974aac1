"""ADSR amplitude envelopes for all voice slots, one numba kernel per chunk.

Segments are linear in amplitude: attack 0 -> 1, decay 1 -> sustain, release level -> 0, and a short
"fade" stage used for voice stealing, duplicate note-ons and panic. Linear segments reach exactly 0 (an
exponential never does), so a released voice frees its slot at a known time and every note starts and ends
at 0: no step at note on/off. Attack, release and fade are clamped to at least MIN_SEGMENT_MS so that even a
"0 ms" setting does not click.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

# Stage codes shared with voices.py.
IDLE, ATTACK, DECAY, SUSTAIN, RELEASE, FADE = 0, 1, 2, 3, 4, 5

# Shortest attack/release/fade: 2 ms is below what a player hears as "soft" yet removes the step click.
MIN_SEGMENT_MS = 2.0


@dataclass(frozen=True)
class EnvelopeSettings:
    """ADSR settings in milliseconds; sustain_level is an amplitude 0..1; steal_fade_ms is the fast fade of a
    stolen (or retriggered, or panicked) voice."""

    attack_ms: float = 5.0
    decay_ms: float = 120.0
    sustain_level: float = 0.7
    release_ms: float = 200.0
    steal_fade_ms: float = 5.0

    def __post_init__(self):
        for name in ("attack_ms", "decay_ms", "release_ms", "steal_fade_ms"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0 or v > 60000:
                raise ValueError(f"{name} must be in 0..60000 ms, got {v}")
        if not (0.0 <= self.sustain_level <= 1.0):
            raise ValueError(f"sustain_level must be in 0..1, got {self.sustain_level}")

    def rates(self, sample_rate: int) -> tuple[float, float, float, float]:
        """Per-sample amplitude steps (attack, decay, release-full-scale, fade-full-scale) at sample_rate."""

        # 1 / n_samples where n_samples = ms * sample_rate / 1000.
        def step(ms, minimum):
            return 1000.0 / (max(ms, minimum) * sample_rate)

        attack = step(self.attack_ms, MIN_SEGMENT_MS)
        decay = (1.0 - self.sustain_level) * step(self.decay_ms, 0.1)
        release = step(self.release_ms, MIN_SEGMENT_MS)
        fade = step(self.steal_fade_ms, MIN_SEGMENT_MS)
        return attack, decay, release, fade


@numba.njit(nogil=True, cache=True)
def render_envelopes(
    stage,
    level,
    step,
    amplitude,
    attack_step,
    decay_step,
    sustain_level,
    gain_out,
    note,
    bend_semitones,
    f0_out,
    active_out,
):
    """Advance every active slot's envelope by one chunk and write its per-sample gain and pitch.

    stage: int32 [n_slots] (IDLE..FADE), updated in place; a slot that reaches 0 in RELEASE/FADE becomes IDLE.
    level: float32 [n_slots] envelope amplitude 0..1, updated in place.
    step: float32 [n_slots] per-sample decrement of the current RELEASE/FADE segment (set when it began).
    amplitude: float32 [n_slots] velocity amplitude multiplied into the gain.
    attack_step, decay_step: per-sample increments; sustain_level: 0..1.
    gain_out: float32 [n_slots, chunk] written for non-idle slots (idle rows are left untouched).
    note: int32 [n_slots] MIDI notes; bend_semitones: added to every note; f0_out: float32 [n_slots] pitch
    in Hz (A4 = 440) written for non-idle slots; active_out: bool [n_slots], slot non-idle at chunk start.
    Real-time safe: yes (no allocation; GIL released).
    """
    n_slots, chunk = gain_out.shape
    for v in range(n_slots):
        st = stage[v]
        active_out[v] = st != IDLE
        if st == IDLE:
            continue
        f0_out[v] = 440.0 * 2.0 ** ((note[v] + bend_semitones - 69.0) / 12.0)
        lv = level[v]
        amp = amplitude[v]
        for n in range(chunk):
            if st == ATTACK:
                lv += attack_step
                if lv >= 1.0:
                    lv = 1.0
                    st = DECAY
            elif st == DECAY:
                lv -= decay_step
                if lv <= sustain_level:
                    lv = sustain_level
                    st = SUSTAIN
            elif st == RELEASE or st == FADE:
                lv -= step[v]
                if lv <= 0.0:
                    lv = 0.0
                    st = IDLE
            gain_out[v, n] = lv * amp
        level[v] = lv
        stage[v] = st
