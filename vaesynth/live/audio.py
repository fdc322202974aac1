"""Audio output: device choice, the sounddevice stream, and its callback.

The callback copies one block out of the engine's ring buffer, then, when recording, copies the same block
into the recorder's preallocated ring, and, when a `LatencyProbe` is attached, stores the callback time and
frame position in preallocated arrays. No allocation, no locks, no I/O.

Two implementations of that callback, the same arrays and the same samples:
  - "native" (default where available, Linux): live/native_callback.py, a numba cfunc PortAudio calls
    directly. It never takes the GIL, so no Python thread can delay the realtime audio thread; it wakes the
    render thread through a pipe after each block.
  - "python": `AudioOut._callback` around `Engine.audio_callback` (sounddevice's usual callback; needs the
    GIL every block). Used where the native one is unavailable, and by benchmarks to compare.

On JACK, PortAudio's client is renamed (`jack_name`, default "vaesynth") so its ports read
`vaesynth:out_0`, `vaesynth:out_1` and can be found by other programs (jack_connect, jack_capture).
"""

from __future__ import annotations

import ctypes
import os
import time

import numpy as np

from vaesynth.errors import UserError


def _sd():
    try:
        import sounddevice as sd
    except OSError as e:  # PortAudio library missing
        raise UserError(f"PortAudio is not installed ({e}); install libportaudio2") from None
    return sd


def set_jack_client_name(name: str) -> bool:
    """Name PortAudio's JACK client (must happen before PortAudio opens JACK: re-initialises PortAudio).
    Returns False where PortAudio has no JACK support."""
    sd = _sd()
    try:
        lib = ctypes.CDLL(sd._libname)
        fn = lib.PaJack_SetClientName
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_char_p]
    fn.restype = ctypes.c_int
    # PortAudio keeps the pointer: the buffer must outlive the stream, so it is kept on the function.
    set_jack_client_name._buf = ctypes.create_string_buffer(name.encode()[:60])
    sd._terminate()
    ok = fn(set_jack_client_name._buf) == 0
    sd._initialize()
    return ok


def _output_devices(sd) -> list[dict]:
    hostapis = sd.query_hostapis()
    return [
        {**d, "hostapi_name": hostapis[d["hostapi"]]["name"]}
        for d in sd.query_devices()
        if d["max_output_channels"] > 0
    ]


def _listing(devices) -> str:
    if not devices:
        return "no audio outputs"
    return "; ".join(f"{d['index']}: {d['name']} [{d['hostapi_name']}]" for d in devices)


def resolve_device(spec: str | int | None) -> dict:
    """--audio-device (index, exact name, or substring; None = the default output) -> device dict.
    UserError (one line, with the device list and the fix) when there is none or nothing matches."""
    sd = _sd()
    outputs = _output_devices(sd)
    if not outputs:
        raise UserError(
            "no audio output device (found: none); start an audio server, e.g. "
            "`jackd -R -d dummy -r 48000 -p 128 &` or `jackd -R -d alsa &`, then retry"
        )
    if spec is None:
        try:
            default = sd.default.device[1]
            if default is None or default < 0:
                default = sd.query_devices(kind="output")["index"]
        except Exception:
            default = outputs[0]["index"]
        for d in outputs:
            if d["index"] == default:
                return d
        return outputs[0]
    text = str(spec).strip()
    if text.lstrip("-").isdigit():
        for d in outputs:
            if d["index"] == int(text):
                return d
        raise UserError(
            f"no audio output with index {text} ({_listing(outputs)}); pick one with --audio-device"
        )
    exact = [d for d in outputs if d["name"] == text]
    sub = [d for d in outputs if text.lower() in d["name"].lower()]
    if exact or sub:
        return (exact or sub)[0]
    raise UserError(f"no audio output matches {text!r} ({_listing(outputs)}); pick one with --audio-device")


class LatencyProbe:
    """Per-callback log for benchmarks: perf_counter time at callback entry, seconds it waited for a late
    event before handing the block over (native callback), first frame index of the block, and the device's
    reported output latency of that block (outputBufferDacTime - currentTime, seconds, from entry).
    Preallocated for `capacity` callbacks; later callbacks are not logged."""

    def __init__(self, capacity: int = 200_000):
        self.t_callback = np.zeros(capacity, np.float64)
        self.waited_s = np.zeros(capacity, np.float64)
        self.first_frame = np.zeros(capacity, np.int64)
        self.dac_delay_s = np.zeros(capacity, np.float64)
        self.n = np.zeros(1, np.int64)

    def log(self, t: float, first_frame: int, dac_delay_s: float) -> None:
        i = self.n[0]
        if i < self.t_callback.shape[0]:
            self.t_callback[i] = t
            self.waited_s[i] = 0.0
            self.first_frame[i] = first_frame
            self.dac_delay_s[i] = dac_delay_s
            self.n[0] = i + 1


class AudioOut:
    """A sounddevice OutputStream playing `engine` on `device` (a dict from resolve_device).

    channels: the mono signal is copied to min(2, device channels) channels. recorder: a live.record.Recorder
    or None. probe: a LatencyProbe or None. callback: "native", "python" or "auto" (native where available;
    env VAESYNTH_CALLBACK overrides "auto"). event_wait_s: how long the native callback may wait for a
    control event the render thread is bringing into the queued blocks (live/native_callback.py; default
    `EVENT_WAIT_BLOCKS` of a block; 0 = never wait; the Python callback never waits: it would hold the GIL
    the render thread needs). Attributes after start(): latency_s (reported output latency), frames_played
    (samples handed to the device), callback_kind ("native" or "python"), event_waits ((callbacks that
    waited, of which ran out of time))."""

    def __init__(
        self,
        engine,
        device: dict,
        blocksize: int,
        recorder=None,
        probe: LatencyProbe | None = None,
        callback: str = "auto",
        event_wait_s: float | None = None,
    ):
        if callback not in CALLBACK_KINDS:
            raise ValueError(f"callback must be one of {', '.join(CALLBACK_KINDS)}, got {callback!r}")
        self.engine = engine
        self.device = device
        self.blocksize = int(blocksize)
        self.channels = max(1, min(2, int(device["max_output_channels"])))
        self.recorder = recorder
        self.probe = probe
        self._frames = np.zeros(1, np.int64)
        self.stream = None
        self.latency_s = float("nan")
        self.callback_kind = _choose_callback(callback)
        self._native = None
        if event_wait_s is None:
            event_wait_s = EVENT_WAIT_BLOCKS * self.blocksize / engine.sample_rate
        self.event_wait_s = float(event_wait_s)
        self._waits = np.zeros(2, np.int64)

    @property
    def event_waits(self) -> tuple[int, int]:
        return int(self._waits[0]), int(self._waits[1])

    @property
    def frames_played(self) -> int:
        return int(self._frames[0])

    def _callback(self, outdata, frames, time_info, status) -> None:
        """Real-time safe: yes (copies only; see module docstring)."""
        t = time.perf_counter()
        self.engine.audio_callback(outdata, frames, time_info, status)
        if self.recorder is not None:
            self.recorder.push(outdata[:, 0])
        if self.probe is not None:
            self.probe.log(t, self._frames[0], time_info.outputBufferDacTime - time_info.currentTime)
        self._frames[0] += frames

    def _open(self, sd):
        common = dict(
            samplerate=self.engine.sample_rate,
            blocksize=self.blocksize,
            device=self.device["index"],
            channels=self.channels,
            dtype="float32",
            latency="low",
        )
        if self.callback_kind == "python":
            return sd.OutputStream(callback=self._callback, **common)
        from vaesynth.live.native_callback import NativeCallback

        self._native = NativeCallback(
            self.engine,
            self.channels,
            self._frames,
            recorder=self.recorder,
            probe=self.probe,
            wake_fd=self.engine.wake_fd(),
            event_wait_s=self.event_wait_s,
            sample_rate=self.engine.sample_rate,
        )
        self._waits = self._native.waits
        return sd._StreamBase(
            kind="output",
            callback=sd._ffi.cast("PaStreamCallback *", self._native.pointer),
            userdata=sd._ffi.cast("void *", self._native.userdata),
            wrap_callback=None,
            **common,
        )

    def start(self) -> None:
        sd = _sd()
        try:
            self.stream = self._open(sd)
            self.stream.start()
        except sd.PortAudioError as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UserError(
                f"cannot open audio output {self.device['name']!r} at {self.engine.sample_rate} Hz, "
                f"block {self.blocksize} ({msg}); try --sample-rate {int(self.device['default_samplerate'])} "
                "or another --audio-device"
            ) from None
        self.latency_s = float(self.stream.latency)

    def stop(self) -> None:
        if self.stream is not None:
            try:
                self.stream.stop()
                self.stream.close()
            finally:
                self.stream = None
                self._native = None  # only now: the stream no longer calls into its arrays


CALLBACK_KINDS = ("auto", "native", "python")
# The native callback waits at most this part of a block for a late control event (a bounded share of the
# period: the block still reaches the device in time; the rest of the period is left to the other clients).
EVENT_WAIT_BLOCKS = 0.5


def _choose_callback(kind: str) -> str:
    from vaesynth.live import native_callback

    if kind == "auto":
        kind = os.environ.get("VAESYNTH_CALLBACK", "auto")
        if kind not in CALLBACK_KINDS:
            raise UserError(f"VAESYNTH_CALLBACK must be native or python, got {kind!r}")
    if kind == "auto":
        return "native" if native_callback.available() else "python"
    if kind == "native" and not native_callback.available():
        raise UserError(
            "the native audio callback needs Linux (clock_gettime, write); use --audio-callback python"
        )
    return kind


def promote_thread(thread, priority: int = 60) -> bool:
    """Give a running thread SCHED_FIFO at `priority` (Linux; needs RT rights, e.g. the audio group or
    root). The render thread then wins the CPU against ordinary processes the way JACK's own threads do:
    on a loaded machine this is the difference between a steady stream and xruns. Returns success."""
    import os

    tid = getattr(thread, "native_id", None)
    if tid is None or not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(int(priority)))
        return True
    except (OSError, PermissionError):
        return False


def promote_threads(render_thread, priority: int = 60) -> bool:
    """The render thread at SCHED_FIFO `priority`, every other running Python thread of this process at
    `priority` - 20 (at least 1). Why all of them: the render thread needs the GIL for every block; if the
    thread holding it were an ordinary one, any busy process on the machine could preempt it while the
    render thread waits (priority inversion: measured as underruns on a loaded 2-core machine). Returns
    whether the render thread was promoted (needs RT rights)."""
    import threading

    if not promote_thread(render_thread, priority):
        return False
    for t in threading.enumerate():
        if t is not render_thread:
            promote_thread(t, max(1, priority - 20))
    return True
