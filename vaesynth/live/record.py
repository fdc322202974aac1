"""`serve --record OUT.wav`: exactly what the audio callback played, written off the audio thread.

The callback calls `Recorder.push(block)`: one copy into a preallocated SPSC ring buffer (synth/ringbuffer.py)
and nothing else. A writer thread drains the ring into soundfile every few tens of milliseconds. If the writer
falls behind by more than the ring's capacity (seconds), the samples that do not fit are counted in
`overflows` (never blocking the callback). `close()` drains the rest and finalises the file (valid WAV).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import soundfile as sf

from vaesynth.errors import UserError
from vaesynth.synth.ringbuffer import RingBuffer


class Recorder:
    """path: output file (format from the extension; WAV float32 for .wav). capacity_s: ring length.

    Real-time safe push: yes (one copy into preallocated memory)."""

    def __init__(self, path: str | Path, sample_rate: int, capacity_s: float = 4.0, drain_s: float = 0.05):
        self.path = Path(path)
        self.sample_rate = int(sample_rate)
        try:
            subtype = "FLOAT" if self.path.suffix.lower() in (".wav", ".wave", "") else None
            self._file = sf.SoundFile(self.path, "w", self.sample_rate, 1, subtype=subtype)
        except (sf.LibsndfileError, OSError, TypeError, ValueError) as e:
            raise UserError(f"cannot write the recording {self.path} ({e})") from None
        self.ring = RingBuffer(int(capacity_s * self.sample_rate))
        self._chunk = np.zeros((self.ring.capacity, 1), np.float32)
        self._overflow = np.zeros(1, np.int64)
        self.frames_written = 0
        self._drain_s = drain_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="vaesynth-record", daemon=True)
        self._thread.start()

    @property
    def overflows(self) -> int:
        """Samples lost because the writer fell behind."""
        return int(self._overflow[0])

    def push(self, block: np.ndarray) -> None:
        """Audio thread: append float32 [frames] (mono). Real-time safe: yes."""
        n = block.shape[0]
        free = self.ring.free()
        if n > free:
            self._overflow[0] += n - free
            n = free
        if n:
            self.ring.write(block[:n])

    def _drain(self) -> None:
        n = self.ring.available()
        if n:
            got = self.ring.read_into(self._chunk, n)
            self._file.write(self._chunk[:got, 0])
            self.frames_written += got

    def _loop(self) -> None:
        while not self._stop.wait(self._drain_s):
            self._drain()

    def close(self) -> None:
        """Stop the writer, write what is left, close the file (idempotent)."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=5)
        self._thread = None
        self._drain()
        self._file.close()
