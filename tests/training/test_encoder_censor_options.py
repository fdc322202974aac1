"""TrainConfig.encoder_hidden / `--encoder-hidden` and censored_floor / `--censored-floor`: they reach the
model and the checkpoint; left at their defaults, the checkpoint's configs hold no such keys (default runs
write what they wrote before the options existed), and a resumed run may not change them."""

from __future__ import annotations

import pytest

from tests.training.synthetic import tiny_config, write_npz
from vaesynth.cli import build_parser
from vaesynth.commands.train import config_from_args
from vaesynth.errors import UserError
from vaesynth.models.checkpoint import load_checkpoint
from vaesynth.training.config import TrainConfig
from vaesynth.training.trainer import train


def test_encoder_hidden_reaches_the_checkpoint_and_default_leaves_no_key(tmp_path):
    data = write_npz(tmp_path)
    wide = load_checkpoint(train(tiny_config(data, tmp_path / "a.pt", epochs=1, encoder_hidden=(48, 24))))
    assert wide["model_config"]["encoder_hidden"] == [48, 24]
    assert wide["train_config"]["encoder_hidden"] == [48, 24]
    assert tuple(wide["model_state"]["encoder.body.0.weight"].shape)[0] == 48
    assert tuple(wide["model_state"]["encoder.head.weight"].shape) == (
        2 * wide["model_config"]["latent_dim"],
        24,
    )
    plain = load_checkpoint(train(tiny_config(data, tmp_path / "b.pt", epochs=1)))
    assert "encoder_hidden" not in plain["model_config"]
    assert "encoder_hidden" not in plain["train_config"]
    # the decoder is the same network either way
    for key, value in plain["model_state"].items():
        if key.startswith("decoder."):
            assert wide["model_state"][key].shape == value.shape, key


def test_resume_refuses_another_encoder_hidden():
    saved = TrainConfig(data="x.npz", out="x.pt", encoder_hidden=(48, 24))
    with pytest.raises(UserError, match="encoder-hidden"):
        saved.resumed_with({"encoder_hidden": (64, 24)})
    assert TrainConfig.from_dict(saved.to_dict()) == saved


def test_censored_floor_reaches_the_checkpoint_and_lowers_the_floor_bins_cost(tmp_path):
    data = write_npz(tmp_path)
    run = dict(epochs=2, frame_floor_db=30.0)
    censored = load_checkpoint(train(tiny_config(data, tmp_path / "a.pt", censored_floor=True, **run)))
    plain = load_checkpoint(train(tiny_config(data, tmp_path / "b.pt", **run)))
    assert censored["model_config"]["censored_floor"] is True
    assert censored["train_config"]["censored_floor"] is True
    assert "censored_floor" not in plain["model_config"] and "censored_floor" not in plain["train_config"]
    # one-sided costs on the floored bins: the training NLL can only be lower than the two-sided one
    assert censored["history"]["train_recon"][0] < plain["history"]["train_recon"][0]


def test_cli_flags_reach_the_train_config(tmp_path):
    args = build_parser().parse_args(
        ["train", "--data", "x.npz", "--out", str(tmp_path / "m.pt"), "--encoder-hidden", "64,32"]
        + ["--censored-floor"]
    )
    cfg = config_from_args(args)
    assert cfg.encoder_hidden == (64, 32) and cfg.censored_floor is True
    args = build_parser().parse_args(["train", "--data", "x.npz", "--out", str(tmp_path / "m.pt")])
    cfg = config_from_args(args)
    assert cfg.encoder_hidden == () and cfg.censored_floor is False
    with pytest.raises(UserError, match="censored-floor"):
        TrainConfig(data="x.npz", out="x.pt").resumed_with({"censored_floor": True})
