"""`vaesynth dataset sf2:... --programs/--notes/--velocities`: the SoundFont grid from the command line,
equal to `render_soundfont` with the same grid (a training set is one command)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vaesynth import cli
from vaesynth.commands.dataset import _int_list
from vaesynth.datasets.base import Dataset

HAVE_SF2 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2").is_file()


def test_int_list_parses_commas_and_inclusive_ranges():
    assert _int_list("40:84:4") == tuple(range(40, 85, 4))
    assert _int_list("60:62") == (60, 61, 62)
    assert _int_list("50, 80,110") == (50, 80, 110)


@pytest.mark.parametrize("text", ["a,b", "40:84:0", "1:2:3:4", "200", ""])
def test_int_list_rejects_bad_lists(text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        _int_list(text)


@pytest.mark.skipif(not HAVE_SF2, reason="no FluidR3_GM.sf2")
def test_dataset_cli_sf2_grid_matches_render_soundfont(tmp_path):
    from vaesynth.datasets.sf2 import render_soundfont

    out = tmp_path / "g.npz"
    argv = ["dataset", "sf2:default", "--programs", "0,73", "--notes", "60:64:4", "--velocities", "90"]
    assert cli.main([*argv, "--out", str(out), "--no-cache", "--quiet"]) == 0
    ds = Dataset.load_npz(out)
    notes = {tuple(r) for r in np.unique(ds.factors, axis=0).astype(int)}
    assert notes == {(p, n, 90) for p in (0, 73) for n in (60, 64)}
    ref = render_soundfont(
        "default", programs=(0, 73), notes=(60, 64), velocities=(90,), progress=False, cache_dir=False
    )
    np.testing.assert_array_equal(ds.magnitudes, ref.magnitudes)
    np.testing.assert_array_equal(ds.f0_hz, ref.f0_hz)


def test_dataset_cli_grid_options_on_a_non_sf2_spec_are_one_line_error(tmp_path, capsys):
    rc = cli.main(["dataset", "toy:additive4", "--notes", "60", "--out", str(tmp_path / "x.npz")])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and "sf2: specs only" in err and "\n" not in err
