"""Voice allocation and envelopes: ADSR timing, velocity, sustain pedal, stealing, no stuck notes."""

from __future__ import annotations

import numpy as np
import pytest

from vaesynth.synth.envelope import ATTACK, FADE, IDLE, RELEASE, SUSTAIN, EnvelopeSettings
from vaesynth.synth.voices import STEAL_SLOTS, VoiceAllocator, velocity_to_amplitude

SR, CHUNK = 48000, 64


def run(v: VoiceAllocator, n_chunks: int) -> np.ndarray:
    """Advance n_chunks; returns the gain of every slot [n_slots, n_chunks * CHUNK] (0 where idle)."""
    out = np.zeros((v.n_slots, n_chunks * CHUNK), np.float32)
    for i in range(n_chunks):
        v.advance()
        out[:, i * CHUNK : (i + 1) * CHUNK] = np.where(v.active[:, None], v.gain, 0.0)
    return out


def test_adsr_segments_match_settings():
    s = EnvelopeSettings(attack_ms=10, decay_ms=50, sustain_level=0.5, release_ms=100)
    v = VoiceAllocator(SR, 4, CHUNK, s)
    slot = v.note_on(60, 127)
    g = run(v, 150)[slot]  # 200 ms
    attack_n, decay_n = int(0.010 * SR), int(0.050 * SR)
    # Starts at 0 (one attack step), reaches 1 after attack_ms, sustain after decay_ms (+-1 sample).
    assert g[0] == pytest.approx(1 / attack_n, rel=1e-3)
    assert np.argmax(g >= 1.0) == pytest.approx(attack_n - 1, abs=1)
    assert attack_n + np.argmax(g[attack_n:] <= 0.5 + 1e-6) == pytest.approx(attack_n + decay_n - 1, abs=2)
    assert v.stage[slot] == SUSTAIN and g[-1] == pytest.approx(0.5)
    v.note_off(60)
    r = run(v, 100)[slot]
    release_n = int(0.100 * SR)
    # Linear release from the sustain level reaches exactly 0 after release_ms, and the slot is freed.
    assert np.argmax(r <= 0.0) == pytest.approx(release_n - 1, abs=2)
    assert v.stage[slot] == IDLE and r[-1] == 0.0


def test_zero_attack_and_release_are_clamped_to_min_segment():
    v = VoiceAllocator(SR, 4, CHUNK, EnvelopeSettings(attack_ms=0, release_ms=0))
    slot = v.note_on(60, 127)
    g = run(v, 4)[slot]
    # 2 ms minimum: the largest step is 1/96 of full scale, not a jump to 1.
    assert np.max(np.abs(np.diff(np.concatenate([[0.0], g])))) <= 1 / (0.002 * SR) + 1e-6


def test_velocity_scales_gain_quadratically():
    v = VoiceAllocator(SR, 4, CHUNK, EnvelopeSettings(attack_ms=1, decay_ms=1, sustain_level=1.0))
    a = v.note_on(60, 127)
    b = v.note_on(64, 64)
    g = run(v, 10)
    assert g[b, -1] / g[a, -1] == pytest.approx((64 / 127) ** 2, rel=1e-5)
    assert velocity_to_amplitude(127) == 1.0


def test_sustain_pedal_holds_released_notes_until_pedal_up():
    v = VoiceAllocator(SR, 4, CHUNK)
    slot = v.note_on(60, 100)
    run(v, 10)
    v.set_sustain(True)
    v.note_off(60)
    run(v, 200)
    assert v.stage[slot] not in (RELEASE, IDLE)
    v.set_sustain(False)
    assert v.stage[slot] == RELEASE


def test_voice_stealing_at_polyphony_limit_takes_oldest_and_fades_it():
    v = VoiceAllocator(SR, 4, CHUNK)
    slots = [v.note_on(60 + i, 100) for i in range(4)]
    run(v, 20)
    new = v.note_on(72, 100)
    assert v.stage[slots[0]] == FADE and new not in slots
    assert v.steals == 1
    sounding = (v.stage != IDLE) & (v.stage != FADE)
    assert np.count_nonzero(sounding) == 4
    g = run(v, 10)
    # The stolen voice fades out in steal_fade_ms (5 ms), linearly: no step.
    fade = g[slots[0]]
    assert fade[int(0.006 * SR)] == 0.0 and np.max(np.abs(np.diff(fade))) < 0.7 / (0.005 * SR) + 1e-6
    # Its note-off later does not touch the new note on its slot or anything else.
    v.note_off(60)
    assert v.stage[new] != RELEASE and np.count_nonzero(v.stage == RELEASE) == 0


def test_stealing_prefers_the_quietest_released_voice():
    v = VoiceAllocator(SR, 3, CHUNK)
    a, b, c = (v.note_on(n, 100) for n in (60, 62, 64))
    run(v, 10)
    v.note_off(64)  # c released: it is the one to steal although a is older
    run(v, 5)
    v.note_on(65, 100)
    assert v.stage[c] == FADE and v.stage[a] != FADE


def test_duplicate_note_on_needs_one_note_off():
    v = VoiceAllocator(SR, 4, CHUNK)
    first = v.note_on(60, 100)
    run(v, 2)
    second = v.note_on(60, 100)
    assert v.stage[first] == FADE and v.stage[second] == ATTACK
    v.note_off(60)
    run(v, 200)
    assert v.n_sounding == 0


def test_random_note_sequences_leave_no_stuck_notes():
    rng = np.random.default_rng(7)
    v = VoiceAllocator(SR, 6, CHUNK)
    held = set()
    for _ in range(2000):
        r = rng.random()
        note = int(rng.integers(40, 52))  # few notes: many duplicates and steals
        if r < 0.45:
            v.note_on(note, int(rng.integers(1, 128)))
            held.add(note)
        elif r < 0.85:
            v.note_off(note)
            held.discard(note)
        elif r < 0.95:
            v.set_sustain(bool(rng.integers(0, 2)))
        else:
            run(v, 1)
        assert v.n_sounding <= v.n_slots
        sounding = (v.stage != IDLE) & (v.stage != FADE)
        assert np.count_nonzero(sounding) <= v.polyphony
    for note in held:
        v.note_off(note)
    v.set_sustain(False)
    run(v, int(0.25 * SR / CHUNK))  # longer than the default release
    assert v.n_sounding == 0


def test_more_note_ons_than_slots_in_one_chunk_reuses_fading_slots():
    v = VoiceAllocator(SR, 2, CHUNK)
    for n in range(2 + STEAL_SLOTS + 3):
        v.note_on(40 + n, 100)
    assert v.n_sounding == v.n_slots
    v.panic()
    run(v, 10)
    assert v.n_sounding == 0 and v.bend_semitones == 0.0
