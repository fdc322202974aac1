"""`vaesynth train --capacity-nats / --capacity-steps` (KL capacity, Burgess et al. 2018): the flags reach
TrainConfig, ModelConfig and the checkpoint, are refused when negative or with --free-bits, are fixed on
resume, old configs load with capacity off, and a short run pulls the KL towards C."""

from __future__ import annotations

import pytest

from tests.training.synthetic import tiny_cli_args, tiny_config
from vaesynth.cli import build_parser, main
from vaesynth.commands.train import config_from_args
from vaesynth.errors import UserError
from vaesynth.models.checkpoint import load_checkpoint
from vaesynth.models.config import ModelConfig
from vaesynth.training.config import TrainConfig
from vaesynth.training.trainer import train


def test_cli_capacity_flags_reach_train_config_and_checkpoint(tmp_path, data_npz):
    out = tmp_path / "cap.pt"
    argv = ["train", "--data", str(data_npz), "--out", str(out), "--epochs", "2", *tiny_cli_args()]
    flags = ["--capacity-nats", "25", "--capacity-steps", "10000"]
    cfg = config_from_args(build_parser().parse_args([*argv, *flags]))
    assert (cfg.capacity_nats, cfg.capacity_steps) == (25.0, 10000)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert main([*argv, *flags]) == 0
    ck = load_checkpoint(out)
    mc, tc = ck["model_config"], ck["train_config"]
    assert (mc["capacity_nats"], mc["capacity_steps"]) == (25.0, 10000)
    assert (tc["capacity_nats"], tc["capacity_steps"]) == (25.0, 10000)
    model_cfg = ModelConfig.from_dict(mc)
    assert (model_cfg.capacity_nats, model_cfg.capacity_steps) == (25.0, 10000)
    assert TrainConfig.from_dict(tc) == cfg
    # omitted: off, and absent from the saved dicts (checkpoints without it stay as they were)
    plain = config_from_args(build_parser().parse_args(argv))
    assert (plain.capacity_nats, plain.capacity_steps) == (0.0, 0)
    assert "capacity_nats" not in plain.to_dict() and "capacity_steps" not in plain.to_dict()


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"capacity_nats": -1.0}, "--capacity-nats must be >= 0"),
        ({"capacity_nats": 5.0, "capacity_steps": -1}, "--capacity-steps must be >= 0"),
        ({"capacity_nats": 5.0, "free_bits": 0.5}, "--capacity-nats and --free-bits cannot be combined"),
    ],
)
def test_bad_capacity_settings_are_user_errors(tmp_path, data_npz, kw, match):
    with pytest.raises(UserError, match=match):
        tiny_config(data_npz, tmp_path / "x.pt", **kw)


def test_cli_refuses_capacity_with_free_bits(tmp_path, data_npz):
    argv = ["train", "--data", str(data_npz), "--out", str(tmp_path / "x.pt"), *tiny_cli_args()]
    args = build_parser().parse_args([*argv, "--capacity-nats", "5", "--free-bits", "0.1"])
    with pytest.raises(UserError, match="cannot be combined"):
        config_from_args(args)


def test_resume_refuses_a_changed_capacity(tmp_path, data_npz):
    out = train(tiny_config(data_npz, tmp_path / "m.pt", epochs=1, capacity_nats=5.0, capacity_steps=10))
    with pytest.raises(UserError, match="--capacity-nats 7.0 differs"):
        train(tiny_config(data_npz, out, epochs=2, resume=True, capacity_nats=7.0, capacity_steps=10))
    argv = ["train", "--data", str(data_npz), "--out", str(out), "--resume", "--epochs", "2"]
    with pytest.raises(UserError, match="--capacity-steps 20 differs"):
        config_from_args(build_parser().parse_args([*argv, "--capacity-steps", "20"]))
    with pytest.raises(UserError, match="--capacity-nats 0.0 differs"):  # an explicit 0 on the CLI too
        config_from_args(build_parser().parse_args([*argv, "--capacity-nats", "0"]))
    assert config_from_args(build_parser().parse_args(argv)).capacity_nats == 5.0  # kept when not given


def test_old_configs_take_capacity_off():
    old = {"data": "x.npz", "out": "x.pt", "epochs": 80, "latent_dim": 8, "free_bits": 0.5}  # before capacity
    cfg = TrainConfig.from_dict(old)
    assert (cfg.capacity_nats, cfg.capacity_steps) == (0.0, 0)


def test_capacity_pulls_the_training_kl_towards_c(tmp_path, data_npz):
    # beta 4: the plain model settles at a KL of 6-8 nats on this set; with C ramping to 15 nats over 100 of
    # the 240 steps it ends at 14.6-16.0 (measured over seeds 0-4). ~1 s per run.
    run = dict(epochs=40, beta=4.0, lr_schedule="constant")
    plain = load_checkpoint(train(tiny_config(data_npz, tmp_path / "plain.pt", **run)))["history"]
    cap = tiny_config(data_npz, tmp_path / "cap.pt", capacity_nats=15.0, capacity_steps=100, **run)
    capped = load_checkpoint(train(cap))["history"]
    assert plain["train_kl"][-1] < 10.0
    assert abs(capped["train_kl"][-1] - 15.0) < 3.0
