"""`vaesynth train`, `encode` and `eval` end to end, in-process, on a tiny synthetic set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.training.synthetic import make_dataset, tiny_cli_args, write_npz
from vaesynth import cli
from vaesynth.models.checkpoint import load_checkpoint

TINY = tiny_cli_args()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(data .npz, trained checkpoint, untrained checkpoint): the untrained one goes through the same
    pipeline with a learning rate of 1e-12, so its weights stay at their initial values."""
    folder = tmp_path_factory.mktemp("cli")
    data = write_npz(folder)
    model = folder / "model.pt"
    assert cli.main(["train", "--data", str(data), "--out", str(model), "--epochs", "25", *TINY]) == 0
    untrained = folder / "untrained.pt"
    args = ["train", "--data", str(data), "--out", str(untrained), "--epochs", "1", *TINY]
    args[args.index("--lr") + 1] = "1e-12"
    assert cli.main(args) == 0
    return data, model, untrained


def _eval(model, data, capsys) -> dict:
    capsys.readouterr()
    assert cli.main(["eval", "--model", str(model), "--data", str(data), "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1  # one JSON object on one line
    return json.loads(out[0])


def test_train_cli_writes_a_complete_checkpoint_with_summary(trained, capsys, tmp_path):
    data, model, _ = trained
    ck = load_checkpoint(model)
    assert ck["complete"] and ck["history"]["epoch"][-1] == 25
    assert ck["train_config"]["latent_dim"] == 4 and ck["model_config"]["arch"] == "mlp"
    assert ck["factor_names"] == ["slope_db", "n_harmonics"]
    # The summary line names the checkpoint written.
    capsys.readouterr()
    out = tmp_path / "again.pt"
    assert cli.main(["train", "--data", str(data), "--out", str(out), "--epochs", "1", *TINY]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("trained 1 epochs") and str(out) in line


def test_eval_json_keys_and_trained_model_beats_untrained_on_lsd(trained, capsys):
    data, model, untrained = trained
    r = _eval(model, data, capsys)
    for key in (
        "lsd_db",
        "spectral_convergence",
        "active_units",
        "pca_explained_variance",
        "mig",
        "mig_per_factor",
        "kl_per_dim",
        "n_components_for",
    ):
        assert key in r, key
    assert r["split"] == "held-out"
    ck = load_checkpoint(model)
    n_val_groups = len(ck["dataset"]["val_groups"])
    assert r["n_frames"] == 8 * n_val_groups  # 8 frames per held-out sound, nothing else
    assert set(r["mig_per_factor"]) == {"slope_db", "n_harmonics"}
    assert len(r["pca_explained_variance"]) == 4 and abs(sum(r["pca_explained_variance"]) - 1) < 1e-6
    r0 = _eval(untrained, data, capsys)
    assert r["lsd_db"] < r0["lsd_db"] - 3.0, (r["lsd_db"], r0["lsd_db"])
    assert r["spectral_convergence"] < r0["spectral_convergence"]


def test_eval_on_other_data_uses_every_frame(trained, capsys, tmp_path):
    _, model, _ = trained
    other = tmp_path / "other.npz"
    make_dataset(n_sounds=5, seed=9).save_npz(other)
    r = _eval(model, other, capsys)
    assert r["split"] == "all" and r["n_frames"] == 40


def test_encode_npz_keys_shapes_and_unit_std_pcs_on_training_frames(trained, tmp_path):
    data, model, _ = trained
    out = tmp_path / "latent.npz"
    assert cli.main(["encode", "--model", str(model), "--data", str(data), "--out", str(out), "--quiet"]) == 0
    ds = make_dataset()
    with np.load(out, allow_pickle=False) as z:
        assert z["mu"].shape == (ds.n_frames, 4) and z["logvar"].shape == (ds.n_frames, 4)
        assert z["pcs"].shape == (ds.n_frames, 4)
        np.testing.assert_array_equal(z["factors"], ds.factors)
        assert list(z["factor_names"]) == ds.factor_names
        np.testing.assert_array_equal(z["f0_hz"], ds.f0_hz)
        # The PCA was fitted on the posterior means of the training split: there, each PC has unit
        # standard deviation (ddof=1, as fitted) up to float32 rounding.
        val_groups = load_checkpoint(model)["dataset"]["val_groups"].numpy()
        train_frames = ~np.isin(z["groups"], val_groups)
        pcs = z["pcs"][train_frames].astype(np.float64)
        np.testing.assert_allclose(pcs.std(axis=0, ddof=1), 1.0, atol=2e-3)
        np.testing.assert_allclose(pcs.mean(axis=0), 0.0, atol=2e-3)


def test_commands_refuse_a_foreign_model_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_text("not a model")
    data = write_npz(tmp_path, n_sounds=4)
    for argv in (
        ["eval", "--model", str(bad), "--data", str(data)],
        ["encode", "--model", str(bad), "--data", str(data), "--out", str(tmp_path / "x.npz")],
    ):
        capsys.readouterr()
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "not a vaesynth checkpoint" in err


def test_train_refuses_too_little_data_in_one_line(tmp_path, capsys):
    data = write_npz(tmp_path, n_sounds=3, frames_per_sound=2)
    assert cli.main(["train", "--data", str(data), "--out", str(tmp_path / "m.pt"), *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--latent-dim 4" in err
