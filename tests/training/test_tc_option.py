"""`vaesynth train --tc-beta` (beta-TCVAE): the option reaches TrainConfig, ModelConfig and the checkpoint,
lowers the total correlation of what the encoder learns, is fixed on resume, and old configs load with it
off."""

from __future__ import annotations

import pytest
import torch

from tests.training.synthetic import tiny_cli_args, tiny_config
from vaesynth.cli import build_parser, main
from vaesynth.commands.train import config_from_args
from vaesynth.errors import UserError
from vaesynth.models.checkpoint import load_checkpoint
from vaesynth.models.config import ModelConfig
from vaesynth.models.total_correlation import total_correlation
from vaesynth.models.vae import build_model
from vaesynth.training.config import TrainConfig
from vaesynth.training.trainer import prepare, train


def test_cli_tc_options_reach_train_config_and_checkpoint(tmp_path, data_npz):
    out = tmp_path / "tc.pt"
    argv = ["train", "--data", str(data_npz), "--out", str(out), "--epochs", "2", *tiny_cli_args()]
    args = build_parser().parse_args([*argv, "--tc-beta", "4.5", "--tc-estimator", "mws", "--dwkl-beta", "2"])
    cfg = config_from_args(args)
    assert (cfg.tc_beta, cfg.tc_estimator, cfg.dwkl_beta) == (4.5, "mws", 2.0)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert main([*argv, "--tc-beta", "4.5", "--tc-estimator", "mws", "--dwkl-beta", "2"]) == 0
    ck = load_checkpoint(out)
    mc, tc = ck["model_config"], ck["train_config"]
    assert (mc["tc_beta"], mc["tc_estimator"], mc["dwkl_beta"]) == (4.5, "mws", 2.0)
    assert (tc["tc_beta"], tc["tc_estimator"], tc["dwkl_beta"]) == (4.5, "mws", 2.0)
    assert ModelConfig.from_dict(ck["model_config"]).tc_beta == 4.5
    assert all(torch.isfinite(torch.tensor(ck["history"]["val_loss"])))
    # omitted: off
    plain = config_from_args(build_parser().parse_args(argv))
    assert (plain.tc_beta, plain.tc_estimator, plain.dwkl_beta) == (0.0, "mss", 0.0)


def test_negative_tc_beta_is_a_user_error(tmp_path, data_npz):
    with pytest.raises(UserError, match="--tc-beta must be >= 0"):
        tiny_config(data_npz, tmp_path / "x.pt", tc_beta=-1.0)


def test_dwkl_beta_below_minus_beta_is_a_user_error(tmp_path, data_npz):
    tiny_config(data_npz, tmp_path / "ok.pt", beta=1.0, dwkl_beta=-1.0)  # net weight 0: allowed
    with pytest.raises(UserError, match="--dwkl-beta must be >= -beta"):
        tiny_config(data_npz, tmp_path / "x.pt", beta=1.0, dwkl_beta=-1.5)


def test_resume_refuses_a_changed_tc_beta(tmp_path, data_npz):
    out = train(tiny_config(data_npz, tmp_path / "m.pt", epochs=1, tc_beta=2.0))
    with pytest.raises(UserError, match="--tc-beta 0.0 differs"):
        train(tiny_config(data_npz, out, epochs=2, resume=True, tc_beta=0.0))


def test_old_configs_take_tc_off():
    old = {"data": "x.npz", "out": "x.pt", "epochs": 80, "latent_dim": 8}  # saved before tc_beta
    cfg = TrainConfig.from_dict(old)
    assert (cfg.tc_beta, cfg.tc_estimator, cfg.dwkl_beta) == (0.0, "mss", 0.0)


def _training_tc(path, data_npz) -> float:
    """TC of the trained encoder's aggregate posterior over all training frames (the batch is the set)."""
    ck = load_checkpoint(path)
    cfg = TrainConfig.from_dict(ck["train_config"])
    from vaesynth.datasets import load_dataset

    prepared = prepare(cfg, load_dataset(str(data_npz), seed=cfg.seed), torch.device("cpu"), saved=ck)
    model = build_model(ModelConfig.from_dict(ck["model_config"]))
    model.load_state_dict(ck["model_state"])
    model.eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        mu, logvar = model.encode(prepared.x_train, prepared.c_train)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen)
        n = mu.shape[0]
        return float(total_correlation(z.double(), mu.double(), logvar.double(), n, "mss"))


def test_tc_penalty_lowers_the_total_correlation_the_encoder_learns(tmp_path, data_npz):
    # beta 0.1 so the plain model uses its latents (KL ~13 nats); 30 epochs (~150 steps) at a constant lr
    run = dict(epochs=30, beta=0.1, lr_schedule="constant")
    plain = train(tiny_config(data_npz, tmp_path / "plain.pt", **run))
    tc = train(tiny_config(data_npz, tmp_path / "tc.pt", tc_beta=10.0, **run))
    plain_tc, penalised_tc = _training_tc(plain, data_npz), _training_tc(tc, data_npz)
    # measured: 5.4 nats without the penalty, 0.07 with it
    assert plain_tc > 1.0
    assert penalised_tc < 0.2 * plain_tc
