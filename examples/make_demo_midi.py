"""Writes examples/demo.mid: a short phrase with chords, a pitch bend and CC 70/71 sweeps that move the
first two PCA axes (the default knob map), so a render shows the timbre space as well as the notes.

    .venv/bin/python examples/make_demo_midi.py
"""

from pathlib import Path

import mido

TICKS = 480  # per beat; 120 bpm -> 0.5 s per beat


DEFAULT_PATH = Path(__file__).with_name("demo.mid")


def main(path: Path = DEFAULT_PATH) -> Path:
    mid = mido.MidiFile(ticks_per_beat=TICKS)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    events = []  # (tick, message)
    chords = [(0, [48, 55, 64]), (2, [45, 52, 60]), (4, [41, 53, 57]), (6, [43, 55, 62, 67])]
    for beat, notes in chords:
        for n in notes:
            events.append((beat * TICKS, mido.Message("note_on", note=n, velocity=90)))
            events.append(((beat + 2) * TICKS - 30, mido.Message("note_off", note=n, velocity=0)))
    melody = [72, 74, 76, 79, 77, 76, 74, 72]
    for i, n in enumerate(melody):
        events.append((i * TICKS, mido.Message("note_on", note=n, velocity=70 + 5 * (i % 3))))
        events.append(((i + 1) * TICKS - 20, mido.Message("note_off", note=n, velocity=0)))
    # CC 70 (PCA 0) sweeps up over the phrase, CC 71 (PCA 1) down and back: a timbre morph.
    for k in range(0, 8 * TICKS, TICKS // 8):
        x = k / (8 * TICKS)
        events.append((k, mido.Message("control_change", control=70, value=int(127 * x))))
        events.append((k, mido.Message("control_change", control=71, value=int(127 * abs(1 - 2 * x)))))
    # a bend up a whole tone on the last melody note, and back
    for j in range(9):
        events.append((7 * TICKS + j * 40, mido.Message("pitchwheel", pitch=int(8191 * min(j, 8 - j) / 4))))
    events.sort(key=lambda e: e[0])
    now = 0
    for tick, msg in events:
        track.append(msg.copy(time=tick - now))
        now = tick
    mid.save(path)
    return path


if __name__ == "__main__":
    print(main())
