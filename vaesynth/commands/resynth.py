"""`vaesynth resynth`: encode a recording frame by frame, decode it, render it through the engine."""

from __future__ import annotations

import time
from pathlib import Path

from vaesynth.errors import UserError


def register(sub):
    p = sub.add_parser(
        "resynth",
        help="encode a recording frame by frame and play it back through the synth",
        description="Reconstruction and timbre transfer: each frame of IN.wav is encoded (with its tracked "
        "f0) to the model's latent space, and the latent trajectory and pitch are played back through the "
        "same engine as `serve`.",
    )
    p.add_argument("--model", metavar="CKPT", help="checkpoint (.pt); default: the bundled model")
    p.add_argument("input", metavar="IN.wav", help="recording to resynthesise (wav/flac/aiff/ogg, any rate)")
    p.add_argument("output", metavar="OUT.wav", help="WAV file to write")
    p.add_argument("--engine", choices=["oscbank", "istft"], default="istft", help="rendering engine")
    p.add_argument(
        "--sample-rate",
        type=int,
        default=None,
        metavar="HZ",
        help="output rate, 22050..96000 (default: the recording's rate, or 48000 outside that range)",
    )
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    import numpy as np
    import soundfile as sf

    from vaesynth.datasets.audio import read_audio
    from vaesynth.models.instrument import load_instrument
    from vaesynth.resynth import plan_resynthesis
    from vaesynth.synth.controls import Controls
    from vaesynth.synth.engine import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, Engine
    from vaesynth.synth.envelope import EnvelopeSettings
    from vaesynth.synth.offline import render_messages

    in_path, out_path = Path(args.input), Path(args.output)
    if not in_path.is_file():
        raise UserError(f"recording not found: {in_path}")
    if not out_path.parent.exists():
        raise UserError(f"output folder does not exist: {out_path.parent}")
    try:
        info = sf.info(str(in_path))
    except Exception as e:  # libsndfile's own message is the useful part
        raise UserError(f"{in_path} is not a readable audio file ({str(e).splitlines()[0][:120]})") from None
    rate = args.sample_rate or (
        info.samplerate if MIN_SAMPLE_RATE <= info.samplerate <= MAX_SAMPLE_RATE else 48000
    )
    if not (MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE):
        raise UserError(f"--sample-rate must be in {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz, got {rate}")

    instrument = load_instrument(args.model)
    try:
        audio = read_audio(in_path, info.samplerate)
    except ValueError as e:
        raise UserError(f"{in_path}: {e}") from None

    t0 = time.perf_counter()
    messages, duration_s = plan_resynthesis(instrument, audio, info.samplerate)
    # The recording's frames carry its level: full velocity, no decay, short attack and release, so the
    # envelope only gates the note.
    envelope = EnvelopeSettings(attack_ms=5.0, decay_ms=0.0, sustain_level=1.0, release_ms=40.0)
    engine = Engine(rate, polyphony=2, engine=args.engine, envelope=envelope)
    engine.warm_up()
    controls = Controls(engine, instrument)
    controls.send_timbre(at_sample=0)
    out = render_messages(controls, messages, duration_s)
    elapsed = time.perf_counter() - t0
    try:
        sf.write(str(out_path), out[:, None], rate, subtype="FLOAT")
    except (OSError, RuntimeError) as e:
        raise UserError(f"cannot write {out_path}: {e}") from None
    peak_db = 20 * np.log10(max(float(np.abs(out).max(initial=0.0)), 1e-10))
    print(
        f"resynthesised {duration_s:.2f} s with {args.engine} at {rate} Hz in {elapsed:.2f} s, "
        f"peak {peak_db:.1f} dBFS -> {out_path}"
    )
    return 0
