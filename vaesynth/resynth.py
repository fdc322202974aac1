"""Resynthesis: a recording encoded frame by frame (with its f0) and played back through the engine.

This is glue between the model side and the synth side (neither imports the other): the recording's frames
are analysed as the training data were (`datasets.audio.frames_of`), encoded to posterior means by the
Instrument, and turned into the same timed control messages `serve` and `render` take (`/vaesynth/z` for
the timbre, `/vaesynth/note` and `/vaesynth/bend` for the pitch), which `synth.offline.render_messages`
plays. Reconstruction when the model knows the sound; timbre transfer when it does not.
"""

from __future__ import annotations

import numpy as np

from vaesynth.datasets.audio import frames_of, resample
from vaesynth.datasets.pitch import hz_to_midi
from vaesynth.synth.offline import TimedMessage

# Frames quieter than this below the recording's loudest frame are silence (the note is released).
SILENCE_BELOW_PEAK_DB = 50.0
# A pitch move larger than this from the sounding note retriggers a new note instead of bending.
MAX_BEND_SEMITONES = 12.0


def plan_resynthesis(instrument, audio: np.ndarray, sample_rate: int) -> tuple[list[TimedMessage], float]:
    """Control messages that replay `audio` through the engine with the instrument's timbres.

    instrument: a loaded Instrument (config, f_ref_hz, latent_dim, encode_frames). audio: mono float
    [n_samples] at sample_rate Hz. Returns (messages in time order, duration of the recording in seconds).
    Frame t (centred at t * hop) sets the latent to its posterior mean at that time; the pitch follows the
    tracked f0 (held through unvoiced frames; the model's f_ref where nothing is voiced) as one voice whose
    note is bent; silent stretches release the note. Real-time safe: no.
    """
    config = instrument.config
    x = resample(np.asarray(audio, dtype=np.float32), int(sample_rate), config.sample_rate)
    mags, f0_hz, loud_db = frames_of(x, config)
    mu, _ = instrument.encode_frames(mags, f0_hz)
    pitch = _held_pitch(f0_hz, instrument.f_ref_hz)
    sounding = loud_db > max(float(loud_db.max(initial=-120.0)) - SILENCE_BELOW_PEAK_DB, -100.0)

    hop_s = config.hop_length / config.sample_rate
    messages: list[TimedMessage] = []
    note = None
    for t in range(len(mu)):
        time_s = t * hop_s
        if not sounding[t]:
            if note is not None:
                messages.append(TimedMessage(time_s, "/vaesynth/note", (note, 0)))
                note = None
            continue
        messages.append(TimedMessage(time_s, "/vaesynth/z", tuple(float(v) for v in mu[t])))
        midi = float(hz_to_midi(pitch[t]))
        if note is not None and abs(midi - note) > MAX_BEND_SEMITONES:
            messages.append(TimedMessage(time_s, "/vaesynth/note", (note, 0)))
            note = None
        if note is None:
            note = int(np.clip(round(midi), 0, 127))
            messages.append(TimedMessage(time_s, "/vaesynth/bend", (midi - note,)))
            messages.append(TimedMessage(time_s, "/vaesynth/note", (note, 127)))
        else:
            messages.append(TimedMessage(time_s, "/vaesynth/bend", (midi - note,)))
    return messages, len(x) / config.sample_rate


def _held_pitch(f0_hz: np.ndarray, fallback_hz: float) -> np.ndarray:
    """f0 per frame with unvoiced (NaN) frames holding the previous voiced value (the next one before the
    first voiced frame; fallback_hz if none is voiced)."""
    f0 = np.asarray(f0_hz, dtype=np.float64)
    voiced = np.isfinite(f0) & (f0 > 0)
    if not voiced.any():
        return np.full(len(f0), float(fallback_hz))
    idx = np.where(voiced, np.arange(len(f0)), -1)
    np.maximum.accumulate(idx, out=idx)
    first = int(np.flatnonzero(voiced)[0])
    idx[idx < 0] = first
    return f0[idx]
