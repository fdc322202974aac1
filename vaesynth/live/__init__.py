"""The live server (`vaesynth serve`): OSC, MIDI and a sounddevice stream around the engine."""
