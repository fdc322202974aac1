"""`vaesynth render --engine istft --phase fgla` end to end (tiny untrained checkpoint); its user errors."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from tests.cli.test_render_cli import midi_file, tiny_checkpoint  # noqa: F401  (pytest fixtures)
from vaesynth import cli


def _render(checkpoint, midi, out, *extra) -> int:
    args = ["render", "--model", str(checkpoint), "--midi", str(midi), "--out", str(out)]
    return cli.main(args + ["--sample-rate", "22050", "--engine", "istft", *extra])


def test_render_cli_fgla_matches_rtpghi_length_and_level(tiny_checkpoint, midi_file, tmp_path, capsys):  # noqa: F811
    out_rt, out_fg = tmp_path / "rt.wav", tmp_path / "fg.wav"
    assert _render(tiny_checkpoint, midi_file, out_rt) == 0
    assert _render(tiny_checkpoint, midi_file, out_fg, "--phase", "fgla", "--fgla-iterations", "8") == 0
    assert "8 FGLA iterations" in capsys.readouterr().out
    rt, sr = sf.read(out_rt, dtype="float32")
    fg, _ = sf.read(out_fg, dtype="float32")
    assert sr == 22050 and len(fg) == len(rt)
    assert np.all(np.isfinite(fg)) and np.abs(fg).max() <= 1.0
    # The held part of the note (0.05..0.45 s of a 0.5 s note): same level as the live engine within 1 dB.
    held = slice(int(0.05 * sr), int(0.45 * sr))
    rms = lambda x: float(np.sqrt(np.mean(np.square(x[held], dtype=np.float64))))  # noqa: E731
    assert rms(rt) > 1e-6  # the untrained model is quiet (about -80 dBFS) but not silent
    assert 20 * np.log10(rms(fg) / rms(rt)) == pytest.approx(0.0, abs=1.0)


@pytest.mark.parametrize(
    "extra", [["--engine", "oscbank", "--phase", "fgla"], ["--phase", "fgla", "--fgla-iterations", "0"]]
)
def test_render_cli_fgla_user_errors_are_one_line(extra, tiny_checkpoint, midi_file, tmp_path, capsys):  # noqa: F811
    args = [
        "render",
        "--model",
        str(tiny_checkpoint),
        "--midi",
        str(midi_file),
        "--out",
        str(tmp_path / "o.wav"),
    ]
    args += ["--engine", "istft"] + extra  # the last --engine given wins
    code, err = cli.main(args), capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "--phase fgla needs --engine istft" in err or "--fgla-iterations must be in 1..1000" in err
    assert not (tmp_path / "o.wav").exists()
