"""Gradient clipping (training/clip.py, `vaesynth train --grad-clip-percentile`): the fixed clip is torch's
clip_grad_norm_ exactly (old runs stay bit-identical); the percentile rule clips each step at numpy's
percentile of the previous norms; the option reaches the checkpoint, is checked, and is fixed on resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.training.synthetic import tiny_cli_args, tiny_config
from vaesynth.cli import build_parser, main
from vaesynth.commands.train import config_from_args
from vaesynth.errors import UserError
from vaesynth.models.checkpoint import load_checkpoint
from vaesynth.training.clip import GradClipper
from vaesynth.training.config import TrainConfig
from vaesynth.training.trainer import train


def _params_with_grads(scale: float, seed: int) -> list[torch.nn.Parameter]:
    gen = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.zeros(shape)) for shape in ((7, 5), (5,), (3, 2, 2))]
    for p in params:
        p.grad = scale * torch.randn(p.shape, generator=gen)
    return params


def _norm(params) -> float:
    return math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in params))


def test_fixed_clip_is_torch_clip_grad_norm_bit_for_bit():
    for scale in (0.01, 1.0, 100.0):
        ours, ref = _params_with_grads(scale, 3), _params_with_grads(scale, 3)
        norm = GradClipper(max_norm=1.0)(ours)
        ref_norm = torch.nn.utils.clip_grad_norm_(ref, 1.0)
        assert norm == float(ref_norm)
        assert all(torch.equal(a.grad, b.grad) for a, b in zip(ours, ref, strict=True))


def test_percentile_clip_follows_numpy_percentile_of_the_previous_norms():
    clipper = GradClipper(max_norm=5.0, percentile=50.0, window=4)
    scales = [1.0, 3.0, 0.5, 2.0, 40.0, 1.5, 2.5]  # a spike at step 4 (0-based)
    seen, after = [], []
    for i, scale in enumerate(scales):
        params = _params_with_grads(scale, i)
        before = _norm(params)
        norm = clipper(params)
        assert norm == pytest.approx(before, rel=1e-6)
        previous = seen[-4:]
        limit = float(np.percentile(previous, 50)) if previous else math.inf  # the first step: no history
        assert clipper.last_threshold == pytest.approx(limit, rel=1e-6)
        assert _norm(params) == pytest.approx(min(before, limit), rel=1e-5)
        seen.append(norm)
        after.append(_norm(params))
    assert list(clipper.history) == pytest.approx(seen[-4:])
    assert clipper.max_norm == 5.0 and clipper.threshold() == pytest.approx(np.percentile(seen[-4:], 50))
    # the spike was cut to the median of the four norms before it, not to the fixed 5
    spike_limit = float(np.percentile(seen[:4], 50))
    assert seen[4] > 10 * spike_limit and abs(spike_limit - 5.0) > 1.0
    assert after[4] == pytest.approx(spike_limit, rel=1e-5)


def test_non_finite_norm_is_returned_and_kept_out_of_the_history():
    clipper = GradClipper(percentile=50.0)
    clipper(_params_with_grads(1.0, 0))
    params = _params_with_grads(1.0, 1)
    params[0].grad[0, 0] = float("nan")
    assert math.isnan(clipper(params))
    assert len(clipper.history) == 1
    assert torch.isnan(params[0].grad[0, 0]) and torch.isfinite(params[1].grad).all()  # left to the caller


def test_state_dict_round_trip_gives_the_same_threshold():
    a = GradClipper(percentile=90.0)
    for i in range(30):
        a(_params_with_grads(1.0 + i % 7, i))
    b = GradClipper(percentile=90.0)
    b.load_state_dict(a.state_dict())
    assert b.threshold() == a.threshold() and list(b.history) == list(a.history)


def test_off_clips_nothing():
    params = _params_with_grads(100.0, 0)
    before = [p.grad.clone() for p in params]
    assert math.isnan(GradClipper(max_norm=0.0)(params))
    assert all(torch.equal(a, p.grad) for a, p in zip(before, params, strict=True))


def test_cli_flag_reaches_config_and_checkpoint_with_the_norm_history(tmp_path, data_npz):
    out = tmp_path / "pct.pt"
    argv = ["train", "--data", str(data_npz), "--out", str(out), "--epochs", "2", *tiny_cli_args()]
    cfg = config_from_args(build_parser().parse_args([*argv, "--grad-clip-percentile", "50"]))
    assert cfg.grad_clip_percentile == 50.0
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert main([*argv, "--grad-clip-percentile", "50"]) == 0
    ck = load_checkpoint(out)
    assert ck["train_config"]["grad_clip_percentile"] == 50.0
    history = ck["training"]["grad_clip"]["history"]
    assert len(history) == ck["training"]["step"] and all(math.isfinite(v) and v > 0 for v in history)
    # omitted: off, and absent from the saved config (checkpoints without it stay as they were)
    plain = config_from_args(build_parser().parse_args(argv))
    assert plain.grad_clip_percentile == 0.0 and "grad_clip_percentile" not in plain.to_dict()


@pytest.mark.parametrize("value", [-1.0, 100.5])
def test_bad_percentile_is_a_user_error(tmp_path, data_npz, value):
    with pytest.raises(UserError, match=r"--grad-clip-percentile must be in \[0, 100\]"):
        tiny_config(data_npz, tmp_path / "x.pt", grad_clip_percentile=value)


def test_resume_refuses_a_changed_percentile(tmp_path, data_npz):
    out = train(tiny_config(data_npz, tmp_path / "m.pt", epochs=1, grad_clip_percentile=50.0))
    argv = ["train", "--data", str(data_npz), "--out", str(out), "--resume", "--epochs", "2"]
    with pytest.raises(UserError, match="--grad-clip-percentile 90.0 differs"):
        config_from_args(build_parser().parse_args([*argv, "--grad-clip-percentile", "90"]))
    assert config_from_args(build_parser().parse_args(argv)).grad_clip_percentile == 50.0


@pytest.mark.parametrize("percentile", [0.0, 50.0])
def test_clip_steps_clips_only_the_first_steps(percentile):
    clipper = GradClipper(max_norm=1.0, percentile=percentile, steps=3)
    norms_after = []
    for step, scale in enumerate([5.0, 5.0, 50.0, 50.0, 50.0]):
        params = _params_with_grads(scale, step)
        before = _norm(params)
        clipper(params, step)
        norms_after.append(_norm(params) / before)
    if percentile:
        assert norms_after[0] == pytest.approx(1.0)  # no history yet
    else:
        assert norms_after[0] < 0.5  # clipped to 1
    assert norms_after[2] < 0.5  # step 2: the spike clipped (to 1, or to the median of the two before)
    assert norms_after[3:] == [1.0, 1.0]  # steps 3 and 4 untouched
    assert [clipper.active_at(s) for s in range(5)] == [True, True, True, False, False]
    assert len(clipper.history) == (3 if percentile else 0)


def test_cli_clip_steps_reaches_config_and_bad_values_are_user_errors(tmp_path, data_npz):
    argv = ["train", "--data", str(data_npz), "--out", str(tmp_path / "s.pt"), *tiny_cli_args()]
    cfg = config_from_args(build_parser().parse_args([*argv, "--grad-clip-steps", "1000"]))
    assert cfg.grad_clip_steps == 1000 and TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert "grad_clip_steps" not in config_from_args(build_parser().parse_args(argv)).to_dict()
    with pytest.raises(UserError, match="--grad-clip-steps must be >= 0"):
        tiny_config(data_npz, tmp_path / "x.pt", grad_clip_steps=-1)


def test_clip_steps_changes_the_run_only_after_the_clipped_steps(tmp_path, data_npz):
    """With --grad-clip-steps larger than the run, the run is the every-step clip's, bit for bit; with a
    tiny fixed clip that stops after 5 steps, the weights differ from both the clipped and the unclipped
    run."""
    kw = dict(epochs=2, grad_clip=0.01)
    every = load_checkpoint(train(tiny_config(data_npz, tmp_path / "a.pt", **kw)))["model_state"]
    long = load_checkpoint(train(tiny_config(data_npz, tmp_path / "b.pt", grad_clip_steps=10_000, **kw)))
    assert all(torch.equal(every[k], long["model_state"][k]) for k in every)
    short = load_checkpoint(train(tiny_config(data_npz, tmp_path / "c.pt", grad_clip_steps=5, **kw)))
    free = load_checkpoint(train(tiny_config(data_npz, tmp_path / "d.pt", epochs=2, grad_clip=0.0)))
    for other in (every, free["model_state"]):
        assert not all(torch.equal(other[k], short["model_state"][k]) for k in other)
