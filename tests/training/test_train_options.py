"""Trainer options for the harmonic decoder and regularisation (--n-partials, --n-noise-bands, --detune-cents,
--weight-decay): they reach the model and optimiser, and checkpoints written before them still load."""

from __future__ import annotations

from tests.training.synthetic import tiny_config, write_npz
from vaesynth.models.checkpoint import load_checkpoint
from vaesynth.training.config import TrainConfig
from vaesynth.training.trainer import train


def _norm(path) -> float:
    state = load_checkpoint(path)["model_state"]
    return float(sum((v.double() ** 2).sum() for k, v in state.items() if k.endswith("weight")) ** 0.5)


def test_weight_decay_shrinks_weights_against_the_same_run_without(tmp_path):
    data = write_npz(tmp_path)
    run = dict(epochs=6, lr_schedule="constant")
    plain = train(tiny_config(data, tmp_path / "a.pt", **run))
    decayed = train(tiny_config(data, tmp_path / "b.pt", weight_decay=20.0, **run))
    # AdamW multiplies every weight by (1 - lr * wd) = 0.96 per step (~36 steps: 0.23 alone), far more than
    # Adam's own steps of ~lr can restore.
    assert _norm(decayed) < 0.5 * _norm(plain)
    assert load_checkpoint(decayed)["train_config"]["weight_decay"] == 20.0


def test_harmonic_options_reach_the_model_config(tmp_path):
    data = write_npz(tmp_path)
    cfg = tiny_config(
        data,
        tmp_path / "h.pt",
        epochs=1,
        arch="harmonic",
        hidden=(32,),
        n_partials=12,
        n_noise_bands=8,
        detune_cents=20.0,
    )
    mc = load_checkpoint(train(cfg))["model_config"]
    assert (mc["n_partials"], mc["n_noise_bands"], mc["detune_cents"]) == (12, 8, 20.0)


def test_train_config_from_an_older_checkpoint_takes_the_defaults():
    old = {"data": "x.npz", "out": "x.pt", "epochs": 80, "latent_dim": 8}  # saved before these fields
    cfg = TrainConfig.from_dict(old)
    assert (cfg.n_partials, cfg.n_noise_bands, cfg.detune_cents, cfg.weight_decay) == (0, 32, 0.0, 0.0)
