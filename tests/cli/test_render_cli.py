"""`vaesynth render` end to end: a real (tiny, untrained) checkpoint, a MIDI file and a score -> WAV."""

from __future__ import annotations

import subprocess
import sys

import mido
import numpy as np
import pytest
import soundfile as sf

from vaesynth import cli


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A complete checkpoint with a small MLP at random weights (decoding works; quality irrelevant)."""
    torch = pytest.importorskip("torch")
    from vaesynth.models.checkpoint import save_checkpoint
    from vaesynth.models.config import ModelConfig
    from vaesynth.models.features import FrameCodec
    from vaesynth.models.pca import LatentPCA
    from vaesynth.models.vae import build_model
    from vaesynth.synth.config import SpectralConfig

    cfg = ModelConfig(
        arch="mlp", n_bins=513, latent_dim=4, hidden=(32,), sample_rate=22050, n_fft=1024, f_ref_hz=110.0
    )
    torch.manual_seed(0)
    model = build_model(cfg)
    codec = FrameCodec(ref_db=0.0, db_range=80.0, pitch_mode="normalize", f_ref_hz=110.0, clip_upper=False)
    pca = LatentPCA.fit(np.random.default_rng(0).normal(size=(100, 4)))
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(
        path,
        {
            "model_config": cfg.to_dict(),
            "model_state": model.state_dict(),
            "codec": codec.state_dict(),
            "pca": pca.to_state(),
            "spectral_config": SpectralConfig(22050, 1024, 256).to_dict(),
            "f_ref_hz": 110.0,
            "factor_names": [],
            "dataset": {},
            "train_config": {},
            "history": {},
            "complete": True,
        },
    )
    return path


@pytest.fixture
def midi_file(tmp_path):
    mid = mido.MidiFile(ticks_per_beat=480)  # 120 bpm: 960 ticks per second
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.Message("note_on", note=57, velocity=110, time=0))
    tr.append(mido.Message("control_change", control=71, value=100, time=240))
    tr.append(mido.Message("note_off", note=57, time=240))
    path = tmp_path / "in.mid"
    mid.save(path)
    return path


def test_render_cli_matches_in_process_render(tiny_checkpoint, midi_file, tmp_path, capsys):
    score = tmp_path / "score.txt"
    score.write_text("0.1 /vaesynth/pc 0 2.0  # brighter\n0.2 /vaesynth/gain -3.0\n")
    out = tmp_path / "out.wav"
    rc = cli.main(
        [
            "render",
            "--model",
            str(tiny_checkpoint),
            "--midi",
            str(midi_file),
            "--out",
            str(out),
            "--automation",
            str(score),
            "--sample-rate",
            "22050",
        ]
    )
    assert rc == 0
    assert "rendered" in capsys.readouterr().out
    audio, sr = sf.read(out, dtype="float32")
    assert sr == 22050 and sf.info(out).subtype == "FLOAT"
    # The note ends at 0.5 s; its 200 ms release is rendered, then rendering stops.
    assert len(audio) == pytest.approx(int(0.7 * sr), abs=2 * 64)

    from vaesynth.models.instrument import load_instrument
    from vaesynth.synth.automation import load_score
    from vaesynth.synth.controls import Controls
    from vaesynth.synth.engine import Engine
    from vaesynth.synth.offline import read_midi_messages, render_messages

    messages, length_s = read_midi_messages(midi_file)
    controls = Controls(Engine(22050), load_instrument(tiny_checkpoint))
    controls.send_timbre(at_sample=0)
    ref = render_messages(controls, list(load_score(score)) + messages, end_time_s=length_s)
    np.testing.assert_array_equal(audio, ref)
    assert np.abs(ref).max() > 0


def test_render_cli_writes_24_bit(tiny_checkpoint, midi_file, tmp_path):
    out = tmp_path / "out24.wav"
    assert (
        cli.main(
            [
                "render",
                "--model",
                str(tiny_checkpoint),
                "--midi",
                str(midi_file),
                "--out",
                str(out),
                "--format",
                "pcm24",
            ]
        )
        == 0
    )
    assert sf.info(out).subtype == "PCM_24" and sf.info(out).samplerate == 48000


@pytest.mark.parametrize("case", ["bad_midi", "missing_model", "bad_score", "bad_rate"])
def test_render_cli_user_errors_are_one_line(case, tiny_checkpoint, midi_file, tmp_path, capsys):
    args = [
        "render",
        "--model",
        str(tiny_checkpoint),
        "--midi",
        str(midi_file),
        "--out",
        str(tmp_path / "o.wav"),
    ]
    if case == "bad_midi":
        bad = tmp_path / "bad.mid"
        bad.write_text("not midi")
        args[4] = str(bad)
    elif case == "missing_model":
        args[2] = str(tmp_path / "missing.pt")
    elif case == "bad_score":
        score = tmp_path / "s.txt"
        score.write_text("0 /vaesynth/note 60 100\nlater /vaesynth/panic\n")
        args += ["--automation", str(score)]
    else:
        args += ["--sample-rate", "8000"]
    if case == "bad_midi":  # once through a real process: no traceback reaches the terminal
        r = subprocess.run([sys.executable, "-m", "vaesynth", *args], capture_output=True, text=True)
        code, err = r.returncode, r.stderr
    else:
        code, err = cli.main(args), capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    if case == "bad_score":
        assert "s.txt:2:" in err
