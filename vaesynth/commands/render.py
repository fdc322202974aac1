"""`vaesynth render`: offline rendering of a MIDI file (+ automation score) through the live engine."""

from __future__ import annotations

import time
from pathlib import Path

from vaesynth.errors import UserError

FORMATS = {"float": "FLOAT", "pcm24": "PCM_24", "pcm16": "PCM_16"}


def register(sub):
    p = sub.add_parser(
        "render",
        help="render a MIDI file offline through the synth engine",
        description="Render IN.mid to OUT.wav through the same engine as `serve`, faster than "
        "real time. MIDI: notes, velocity, pitch bend, sustain (CC 64), CC 70-77 -> "
        "PCA 0-7 (0..127 = -3..+3 std). The tails of the last notes are rendered.",
    )
    p.add_argument("--model", metavar="CKPT", help="checkpoint (.pt); default: the bundled model")
    p.add_argument("--midi", required=True, metavar="IN.mid", help="standard MIDI file to play")
    p.add_argument("--out", required=True, metavar="OUT.wav", help="WAV file to write")
    p.add_argument(
        "--automation",
        metavar="SCORE",
        help="timed OSC messages, one per line: TIME_SECONDS /vaesynth/ADDRESS ARGS...",
    )
    p.add_argument("--engine", choices=["oscbank", "istft"], default="oscbank", help="rendering engine")
    p.add_argument(
        "--phase",
        choices=["rtpghi", "fgla"],
        default="rtpghi",
        help="istft phase: rtpghi = exactly the live engine (default); fgla = offline, higher quality: "
        "fast Griffin-Lim started from RTPGHI on the frames the live engine draws (slower)",
    )
    p.add_argument(
        "--fgla-iterations",
        type=int,
        default=32,
        metavar="N",
        help="FGLA iterations per note with --phase fgla, 1..1000 (default 32)",
    )
    p.add_argument(
        "--sample-rate",
        type=int,
        default=48000,
        metavar="HZ",
        help="output rate, 22050..96000 (default 48000)",
    )
    p.add_argument("--voices", type=int, default=16, metavar="N", help="polyphony (default 16)")
    p.add_argument(
        "--bend-range",
        type=float,
        default=2.0,
        metavar="SEMITONES",
        help="what a full pitch-wheel throw means (default 2)",
    )
    p.add_argument(
        "--format", choices=sorted(FORMATS), default="float", help="WAV sample format (default float)"
    )
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    import numpy as np
    import soundfile as sf

    from vaesynth.synth.automation import load_score
    from vaesynth.synth.engine import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, Engine
    from vaesynth.synth.offline import TimedMessage, read_midi_messages, render_messages

    if not (MIN_SAMPLE_RATE <= args.sample_rate <= MAX_SAMPLE_RATE):
        raise UserError(
            f"--sample-rate must be in {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz, got {args.sample_rate}"
        )
    if not (1 <= args.voices <= 256):
        raise UserError(f"--voices must be in 1..256, got {args.voices}")
    phase = getattr(args, "phase", "rtpghi")
    n_iter = getattr(args, "fgla_iterations", 32)
    if phase == "fgla" and args.engine != "istft":
        raise UserError(f"--phase fgla needs --engine istft (the {args.engine} engine has no STFT phase)")
    if not (1 <= n_iter <= 1000):
        raise UserError(f"--fgla-iterations must be in 1..1000, got {n_iter}")
    out_path = Path(args.out)
    if not out_path.parent.exists():
        raise UserError(f"output folder does not exist: {out_path.parent}")
    messages, midi_length_s = read_midi_messages(args.midi, args.bend_range)
    score = load_score(args.automation) if args.automation else []

    from vaesynth.models.instrument import load_instrument

    instrument = load_instrument(args.model, torch_free=True)

    def new_engine(renderers=None):
        try:
            return Engine(
                args.sample_rate,
                polyphony=args.voices,
                engine=args.engine,
                bend_range_semitones=args.bend_range,
                renderers=renderers,
            )
        except ValueError as e:
            raise UserError(str(e)) from None

    engine = new_engine()
    engine.warm_up()
    controls = _controls(engine, instrument)

    from tqdm import tqdm

    t0 = time.perf_counter()
    timed = [TimedMessage(m.time_s, m.address, m.args) for m in score] + messages
    total_s = max([midi_length_s] + [m.time_s for m in score])
    # The bar counts audio seconds; the release tails may run a little past the total.
    with tqdm(total=round(total_s, 2), unit="s", desc="render", disable=None, leave=False) as bar:
        sr = args.sample_rate
        advance = lambda n: bar.update(round(n / sr, 2))  # noqa: E731
        if phase == "fgla":
            audio, controls = _render_fgla(
                new_engine, engine, instrument, timed, midi_length_s, n_iter, advance
            )
        else:
            audio = render_messages(controls, timed, midi_length_s, progress=advance)
    elapsed = time.perf_counter() - t0
    try:
        sf.write(str(out_path), audio[:, None], args.sample_rate, subtype=FORMATS[args.format])
    except (OSError, RuntimeError) as e:
        raise UserError(f"cannot write {out_path}: {e}") from None
    seconds = len(audio) / args.sample_rate
    peak_db = 20 * np.log10(max(float(np.abs(audio).max(initial=0.0)), 1e-10))
    dropped = (
        f"; {controls.n_dropped} messages dropped ({dict(controls.dropped)})" if controls.n_dropped else ""
    )
    how = f"{args.engine} ({n_iter} FGLA iterations)" if phase == "fgla" else args.engine
    print(
        f"rendered {seconds:.2f} s with {how} at {args.sample_rate} Hz in {elapsed:.2f} s "
        f"({seconds / max(elapsed, 1e-9):.0f}x real time), peak {peak_db:.1f} dBFS -> {out_path}{dropped}"
    )
    return 0


def _controls(engine, instrument):
    from vaesynth.synth.controls import Controls

    controls = Controls(engine, instrument)
    controls.send_timbre(at_sample=0)
    return controls


def _render_fgla(new_engine, engine, instrument, timed, midi_length_s, n_iter, progress):
    """The istft engine with offline FGLA phase (synth/istft_offline.py): two fresh engines, same messages.
    Returns (audio, the playback pass's Controls)."""
    from vaesynth.synth.engine import make_renderer
    from vaesynth.synth.istft_offline import render_messages_fgla

    built = []

    def make_controls(factory):
        sr, slots, chunk = engine.sample_rate, engine.voices.n_slots, engine.chunk_size
        renderers = {"oscbank": make_renderer("oscbank", sr, slots, chunk)}
        renderers["istft"] = factory(sr, slots, chunk)
        built.append(_controls(new_engine(renderers), instrument))
        return built[-1]

    audio, _, _ = render_messages_fgla(make_controls, timed, midi_length_s, n_iter=n_iter, progress=progress)
    return audio, built[-1]
