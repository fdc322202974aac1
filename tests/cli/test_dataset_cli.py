"""`vaesynth dataset SPEC --out FILE.npz` as a user meets it: INTERFACE.md keys, summary, cache, errors."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vaesynth import cli
from vaesynth.datasets.base import Dataset

# INTERFACE.md: "at least magnitudes, sample_rate, n_fft, hop_length, and where known f0_hz, factors with
# factor_names".
REQUIRED_KEYS = {"magnitudes", "sample_rate", "n_fft", "hop_length"}


def tone_folder(root: Path) -> Path:
    root.mkdir()
    t = np.arange(int(0.4 * 22050)) / 22050
    sf.write(root / "a.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 22050)
    sf.write(root / "b.flac", 0.3 * np.sin(2 * np.pi * 660 * t), 22050)
    (root / "broken.wav").write_bytes(b"definitely not RIFF")
    return root


@pytest.mark.skipif(importlib.util.find_spec("vaesynth.datasets.toy") is None, reason="toy.py not landed")
def test_dataset_cli_toy_richness_writes_every_interface_key(tmp_path, capsys):
    out = tmp_path / "x.npz"
    assert cli.main(["dataset", "toy:richness", "--size", "200", "--out", str(out), "--quiet"]) == 0
    with np.load(out, allow_pickle=False) as z:
        keys = set(z.files)
        assert REQUIRED_KEYS | {"f0_hz", "factors", "factor_names"} <= keys
        mags = z["magnitudes"]
        assert mags.dtype == np.float32 and mags.shape == (200, int(z["n_fft"]) // 2 + 1)
        assert np.all(mags >= 0)  # linear magnitude
        assert [str(s) for s in z["factor_names"]] == ["richness"]
        assert z["factors"].shape == (200, 1) and z["f0_hz"].shape == (200,)
    summary = capsys.readouterr().out.strip().splitlines()
    assert len(summary) == 1 and "200 frames" in summary[0] and "richness" in summary[0]


def test_dataset_cli_folder_matches_load_folder_and_second_run_hits_cache(tmp_path, capsys):
    folder = tone_folder(tmp_path / "sounds")
    cache_dir = tmp_path / "cache"
    out = tmp_path / "f.npz"
    argv = [
        "dataset",
        str(folder),
        "--out",
        str(out),
        "--sample-rate",
        "22050",
        "--n-fft",
        "1024",
        "--hop-length",
        "256",
        "--cache-dir",
        str(cache_dir),
        "--quiet",
    ]
    assert cli.main(argv) == 0
    first = capsys.readouterr()
    assert "cache miss" in first.out and "1 file(s) skipped" in first.out
    assert "warning: skipped broken.wav" in first.err
    ds = Dataset.load_npz(out)
    assert (ds.config.sample_rate, ds.config.n_fft, ds.config.hop_length) == (22050, 1024, 256)
    # 0.4 s per file at hop 256: 35 frames of content each, plus at most the trimming margin.
    for g in (0, 1):
        assert 35 <= np.sum(ds.groups == g) <= 35 + 4
    # The peak bin of each file is its tone.
    for g, f_hz in ((0, 440.0), (1, 660.0)):
        peak_hz = np.argmax(ds.magnitudes[ds.groups == g].mean(axis=0)) * ds.config.bin_hz
        assert abs(peak_hz - f_hz) <= ds.config.bin_hz
    assert cli.main(argv) == 0
    second = capsys.readouterr()
    assert "cache hit" in second.out
    np.testing.assert_array_equal(Dataset.load_npz(out).magnitudes, ds.magnitudes)


@pytest.mark.skipif(not Path("/usr/share/sounds/sf2/FluidR3_GM.sf2").is_file(), reason="no FluidR3_GM.sf2")
def test_dataset_cli_sf2_default_has_program_note_velocity_factors(tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert (
        cli.main(
            [
                "dataset",
                "sf2:default",
                "--size",
                "3",
                "--seed",
                "7",
                "--out",
                str(out),
                "--no-cache",
                "--quiet",
            ]
        )
        == 0
    )
    ds = Dataset.load_npz(out)
    assert ds.factor_names == ["program", "note", "velocity"]
    assert len(np.unique(ds.groups)) == 3
    assert "cache off" in capsys.readouterr().out
    # Each note's frames carry one (program, note, velocity) from the default grid.
    from vaesynth.datasets import sf2

    for g in np.unique(ds.groups):
        rows = np.unique(ds.factors[ds.groups == g], axis=0)
        assert rows.shape[0] == 1
        p, n, v = rows[0].astype(int)
        assert p in sf2.DEFAULT_PROGRAMS and n in sf2.DEFAULT_NOTES and v in sf2.DEFAULT_VELOCITIES


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "vaesynth", "dataset", *args], capture_output=True, text=True
    )


def test_dataset_cli_empty_folder_is_one_line_error_without_traceback(tmp_path):
    (tmp_path / "empty").mkdir()
    r = run_cli(str(tmp_path / "empty"), "--out", str(tmp_path / "x.npz"))
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no audio files" in lines[0]
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["{missing}"], "not found"),
        (["{folder}", "--n-fft", "1000", "--hop-length", "2000"], "hop_length"),
        (["{folder}", "--sample-rate", "12"], "sample_rate"),
        (["sf2:{missing}"], "not found"),
        (["toy:nope"], "unknown toy"),
        (["{folder}", "--size", "0"], "--size"),
    ],
)
def test_dataset_cli_user_errors_are_one_line(argv, message, tmp_path, capsys):
    folder = tone_folder(tmp_path / "sounds")
    argv = [a.format(missing=tmp_path / "missing", folder=folder) for a in argv]
    code = cli.main(["dataset", *argv, "--out", str(tmp_path / "x.npz"), "--no-cache", "--quiet"])
    assert code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vaesynth dataset: error:") and message in err[0], err


@pytest.mark.parametrize(
    "content, message",
    [
        (
            b"RIFF"
            + (992).to_bytes(4, "little")
            + b"sfbk"
            + b"LIST"
            + (5000).to_bytes(4, "little")
            + bytes(980),
            "could not load",
        ),
        (b"RIFF" + (10**6).to_bytes(4, "little") + b"sfbk" + bytes(100), "truncated"),
    ],
)
def test_dataset_cli_corrupt_soundfont_is_one_line_even_from_native_code(content, message, tmp_path):
    # libfluidsynth logs to stderr, its DLS fallback prints glib criticals: none of it may reach the user.
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(content)
    r = run_cli(f"sf2:{bad}", "--out", str(tmp_path / "x.npz"), "--no-cache")
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr


def test_dataset_cli_refuses_to_relabel_a_prepared_npz(tmp_path, capsys):
    folder = tone_folder(tmp_path / "sounds")
    first = tmp_path / "a.npz"
    assert cli.main(["dataset", str(folder), "--out", str(first), "--no-cache", "--quiet"]) == 0
    copy = tmp_path / "b.npz"
    assert cli.main(["dataset", str(first), "--out", str(copy), "--quiet"]) == 0
    np.testing.assert_array_equal(Dataset.load_npz(copy).magnitudes, Dataset.load_npz(first).magnitudes)
    capsys.readouterr()
    assert cli.main(["dataset", str(first), "--out", str(copy), "--n-fft", "1024", "--quiet"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "n_fft 2048, not 1024" in err[0]
