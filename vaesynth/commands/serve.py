"""`vaesynth serve`: the live synth (OSC + MIDI in, sounddevice out). The parts live in vaesynth/live/."""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys
import threading
import time
import warnings

from vaesynth.errors import UserError

# With rewind the lead costs no control latency (events are re-rendered into the next block), only CPU when
# an event arrives; four blocks (10.7 ms at 48 kHz / 128) ride out a render thread held up that long.
REWIND_LEAD_BLOCKS = 4


def register(sub):
    p = sub.add_parser(
        "serve",
        help="the live synth: OSC and MIDI in, audio out",
        description="Play a model live. Without --model it plays the bundled default model. "
        "Ctrl-C (or SIGTERM) stops it cleanly.",
    )
    p.add_argument("--model", metavar="CKPT", help="checkpoint (.pt); default: the bundled model")
    p.add_argument("--osc-port", type=int, default=9000, help="UDP port for OSC (default 9000; 0 = any free)")
    p.add_argument(
        "--osc-host",
        default="127.0.0.1",
        help="address to bind for OSC (default 127.0.0.1; 0.0.0.0 exposes it to the network)",
    )
    p.add_argument(
        "--midi-in",
        default=None,
        metavar="NAME|virtual|none",
        help="MIDI input port name (exact or substring), 'virtual' for a virtual port, 'none' to "
        "disable (default: the first available port)",
    )
    p.add_argument(
        "--midi-api",
        choices=["jack", "alsa", "coremidi", "winmm"],
        default=None,
        help="MIDI system (default: jack when a JACK server runs on Linux, else alsa; coremidi on "
        "macOS; winmm on Windows)",
    )
    p.add_argument("--midi-channel", type=int, default=None, help="listen to one channel 1-16 (default: all)")
    p.add_argument("--map", metavar="TOML", help="knob map: CC number -> target and range")
    p.add_argument(
        "--bend-range",
        type=float,
        default=2.0,
        metavar="SEMITONES",
        help="what a full pitch wheel means (default 2)",
    )
    p.add_argument("--audio-device", metavar="NAME|INDEX", help="output device (default: the system default)")
    p.add_argument(
        "--sample-rate", type=int, default=None, metavar="HZ", help="sample rate (default: the device's)"
    )
    p.add_argument("--blocksize", type=int, default=128, help="audio block size in samples (default 128)")
    p.add_argument(
        "--render-margin-ms",
        type=float,
        default=None,
        metavar="MS",
        help="render each block just in time, MS before the device needs it (lower control "
        "latency, less safety); default: render as soon as the device takes a block",
    )
    p.add_argument(
        "--rt-priority",
        type=int,
        default=60,
        metavar="P",
        help="SCHED_FIFO priority of the render thread where allowed (default 60, below JACK's "
        "usual 70; the server's other Python threads get P-20, so none holding the GIL is preempted "
        "by ordinary processes; 0 = ordinary scheduling)",
    )
    p.add_argument(
        "--audio-callback",
        choices=["auto", "native", "python"],
        default="auto",
        help="audio callback: native (compiled, never takes the GIL; Linux) or python (sounddevice's); "
        "default auto = native where available",
    )
    p.add_argument(
        "--lead",
        type=int,
        default=None,
        metavar="SAMPLES",
        help=f"samples rendered ahead of the device (default: {REWIND_LEAD_BLOCKS} blocks with rewind, else "
        "one); more = fewer xruns on a loaded machine (and, without rewind, more latency)",
    )
    p.add_argument(
        "--no-rewind",
        action="store_true",
        help="do not re-render queued blocks when a control event arrives (by default an event is heard "
        "from the next block the device takes, however many blocks are queued; oscbank only)",
    )
    p.add_argument("--engine", choices=["oscbank", "istft"], default="oscbank", help="rendering engine")
    p.add_argument("--voices", type=int, default=16, help="polyphony (default 16)")
    p.add_argument("--record", metavar="OUT.wav", help="also write exactly what is played to a WAV file")
    p.add_argument(
        "--jack-name",
        default="vaesynth",
        help="JACK client name of the audio output (ports NAME:out_0, NAME:out_1; default vaesynth)",
    )
    p.add_argument("--info-on-exit", metavar="FILE", help="write the final /info JSON to FILE at exit")
    p.set_defaults(func=run)
    return p


def _process_age_s() -> float | None:
    """Seconds since this process was started (Linux /proc), or None."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime_s = float(f.read().split()[0])
        return uptime_s - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _check(args) -> None:
    if not (0 <= args.osc_port <= 65535):
        raise UserError(f"--osc-port must be 0..65535, got {args.osc_port}")
    if args.midi_channel is not None and not (1 <= args.midi_channel <= 16):
        raise UserError(f"--midi-channel must be 1..16, got {args.midi_channel}")
    if not (1 <= args.blocksize <= 16384):
        raise UserError(f"--blocksize must be 1..16384, got {args.blocksize}")
    if not (1 <= args.voices <= 128):
        raise UserError(f"--voices must be 1..128, got {args.voices}")
    if args.render_margin_ms is not None and not (0 < args.render_margin_ms < 100):
        raise UserError(f"--render-margin-ms must be in (0, 100), got {args.render_margin_ms}")
    if args.render_margin_ms is not None and not args.no_rewind:
        args.no_rewind = True  # just in time renders the last moment already: nothing to rewind
    if args.lead is not None and not (0 <= args.lead <= 96000):
        raise UserError(f"--lead must be 0..96000 samples, got {args.lead}")
    if not (0 < args.bend_range <= 24):
        raise UserError(f"--bend-range must be in (0, 24], got {args.bend_range}")


def run(args) -> int:
    t0 = time.perf_counter()
    _check(args)
    stop = threading.Event()

    def on_signal(signum, _frame):
        stop.set()

    old_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 PID` prints every thread's stack (diagnosing a hang)
        try:
            faulthandler.register(signal.SIGUSR1, all_threads=True)
        except (ValueError, OSError, AttributeError):  # stderr without a file descriptor (captured)
            pass
    try:
        return _serve(args, stop, t0)
    finally:
        for s, h in old_handlers.items():
            signal.signal(s, h)


def _load_model(args, result: dict) -> None:
    """Thread: load the instrument (+ knob map) while the main thread sets up the engine. Torch-free (numpy
    reader and decoder, ~0.03 s for the bundled model); a model only torch can play imports it here."""
    try:
        from vaesynth.live.knobmap import KnobMap
        from vaesynth.models.instrument import load_instrument

        t = time.perf_counter()
        inst = load_instrument(args.model, torch_free=True)
        result["knobs"] = KnobMap.from_toml(args.map, inst.n_pcs, inst.latent_dim) if args.map else KnobMap()
        result["instrument"] = inst
        result["model_s"] = time.perf_counter() - t
    except BaseException as e:  # re-raised in the main thread
        result["error"] = e


def _serve(args, stop: threading.Event, t0: float) -> int:
    loaded: dict = {}
    loader = threading.Thread(target=_load_model, args=(args, loaded), name="vaesynth-load", daemon=True)
    loader.start()

    from vaesynth.live.audio import (
        AudioOut,
        promote_thread,
        promote_threads,
        resolve_device,
        set_jack_client_name,
    )
    from vaesynth.live.midi import open_midi_input
    from vaesynth.live.osc import OscReceiver
    from vaesynth.live.record import Recorder
    from vaesynth.live.server import WAIT_FOR_OSC, WAIT_ON_ONSET_OSC, ServeOptions, Server
    from vaesynth.synth.engine import Engine

    say = lambda *a: print(*a, flush=True)  # noqa: E731
    set_jack_client_name(args.jack_name)
    try:
        device = resolve_device(args.audio_device)
    except UserError:
        # A model that cannot load is the first thing to fix: report it rather than the device.
        loader.join()
        if "error" in loaded:
            raise loaded["error"] from None
        raise
    rate = int(args.sample_rate or device["default_samplerate"])
    options = ServeOptions(
        engine=args.engine,
        voices=args.voices,
        blocksize=args.blocksize,
        midi_channel=args.midi_channel,
        bend_range_semitones=args.bend_range,
        render_margin_ms=args.render_margin_ms,
    )
    try:
        engine = Engine(
            rate,
            polyphony=args.voices,
            blocksize=args.blocksize,
            engine=args.engine,
            bend_range_semitones=args.bend_range,
            render_margin_ms=args.render_margin_ms,
            lead_samples=args.lead
            if args.lead is not None or args.no_rewind
            else REWIND_LEAD_BLOCKS * args.blocksize,
            rewind=not args.no_rewind,
        )
    except ValueError as e:
        raise UserError(f"cannot start the engine: {e}") from None
    warm_s = engine.warm_up()  # numba kernels, while the model loads
    t_engine = time.perf_counter()
    loader.join()
    if "error" in loaded:
        raise loaded["error"]
    instrument, knobs = loaded["instrument"], loaded["knobs"]
    t_model = time.perf_counter()
    server = Server(instrument, engine, options, knobs, log=say)
    opened = []
    try:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                server.osc = OscReceiver(
                    args.osc_host,
                    args.osc_port,
                    server.osc_sink,
                    server.osc_idle,
                    engine.incoming,
                    wait_for=WAIT_FOR_OSC,
                    wait_on_onset=WAIT_ON_ONSET_OSC,
                )
            for w in caught:
                say(f"vaesynth: warning: {w.message}")
        except OSError as e:
            raise UserError(
                f"cannot listen for OSC on {args.osc_host}:{args.osc_port} ({e.strerror or e}); "
                "pick another --osc-port"
            ) from None
        opened.append(server.osc.stop)
        server.midi = open_midi_input(args.midi_in, args.midi_api, server.midi_sink, f"{args.jack_name}-midi")
        opened.append(server.midi.close)
        if args.record:
            server.recorder = Recorder(args.record, rate)
            opened.append(server.recorder.close)
        engine.start()  # warm_up again: cached kernels, milliseconds
        opened.append(engine.stop)
        rt = args.rt_priority > 0 and promote_thread(engine._thread, args.rt_priority)
        server.start()
        opened.append(server.stop)
        server.osc.start()
        # The start-up heap out of the collector's reach (live/gcwatch.py). Before the stream starts: counting
        # the frozen objects walks them all with the GIL held (~5-10 ms, 3 underruns with a 2-block lead).
        server.gc.start()
        opened.insert(0, server.gc.stop)  # undone last, after the stream has closed
        server.audio = AudioOut(
            engine, device, args.blocksize, recorder=server.recorder, callback=args.audio_callback
        )
        server.audio.start()
        opened.append(server.audio.stop)
        server.watch_waits()
        if rt:  # now that every thread of ours runs: the control/OSC/recorder threads a step below
            promote_threads(engine._thread, args.rt_priority)
        t_ready = time.perf_counter()

        age = _process_age_s()
        say(
            f"vaesynth serve: model {instrument.name} ({instrument.path}), "
            f"latent_dim {instrument.latent_dim}, {instrument.n_pcs} PCs, engine {engine.engine}, "
            f"{args.voices} voices"
        )
        if instrument.fallback_reason:
            say(f"model: decoded with torch ({instrument.fallback_reason}; slower start-up)")
        say(
            f"audio: {device['name']} [{device['hostapi_name']}], {rate} Hz, block {args.blocksize}, "
            f"{server.audio.channels} ch, reported latency {server.audio.latency_s * 1e3:.1f} ms, "
            f"engine lead {engine.latency_samples} samples ({engine.latency_samples / rate * 1e3:.1f} ms"
            f"{', rewound on events' if engine.rewind else ''}), "
            f"{server.audio.callback_kind} callback, "
            f"render thread {'SCHED_FIFO ' + str(args.rt_priority) if rt else 'not realtime (no RT rights)'}"
        )
        say(f"osc: {server.osc.host}:{server.osc.port}")
        if server.midi.name is None:
            say(f"midi: no input ({server.midi.api}; --midi-in virtual opens a port others can connect to)")
        else:
            say(
                f"midi: {server.midi.name} [{server.midi.api}]"
                + (f", channel {args.midi_channel}" if args.midi_channel else ", all channels")
            )
        if args.record:
            say(f"recording to {args.record}")
        since = f"{age:.2f} s after process start, " if age is not None else ""
        say(
            f"ready in {since}{t_ready - t0:.2f} s in serve (model load {loaded['model_s']:.2f} s "
            f"in parallel with engine set-up {t_engine - t0:.2f} s incl. warm-up {warm_s:.2f} s; "
            f"waited for the model {t_model - t_engine:.2f} s; stream {t_ready - t_model:.2f} s); "
            "Ctrl-C stops"
        )

        while not stop.wait(0.25):
            pass

        # Clean stop: fast fade of every note, let it play out, then close the stream and the file.
        engine.panic()
        time.sleep(0.06 + (engine.lead_samples + args.blocksize) / rate)  # what is queued, then the fade
    finally:
        for close in reversed(opened):
            try:
                close()
            except Exception as e:  # keep closing the rest (the recording above all)
                print(f"vaesynth: while stopping: {type(e).__name__}: {e}", file=sys.stderr)
    info = server.info()
    if args.info_on_exit:
        with open(args.info_on_exit, "w") as f:
            json.dump(info, f)
    waits = info["event_waits"]
    say(
        f"stopped: {info['xruns']} xruns (+ {info['device_xruns']} reported by the device) in "
        f"{info['callbacks']} callbacks, {info['frames_played'] / rate:.1f} s played, "
        f"{info['rewinds']} events rewound into the next block ({info['rewind_misses']} too late; "
        f"the callback waited for {waits['waited']}, {waits['ran_out']} in vain), "
        f"{info['dropped_total']} messages dropped, longest GC pause {info['gc']['longest_ms']:.1f} ms"
        + (f", recording {args.record} finalised" if args.record else "")
    )
    return 0
