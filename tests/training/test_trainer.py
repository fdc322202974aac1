"""The training loop: reproducible, resumable after SIGKILL with the same weights, split by group, clear
errors for unusable data, history and PCA in the checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.training.synthetic import make_dataset, tiny_cli_args, tiny_config, write_npz
from vaesynth.errors import UserError
from vaesynth.models.checkpoint import load_checkpoint
from vaesynth.training.split import split_by_group
from vaesynth.training.trainer import lr_at, train


def _weights(path):
    return load_checkpoint(path)["model_state"]


def test_split_by_group_holds_out_whole_groups_reproducibly():
    groups = np.repeat(np.arange(40), 5)
    train_idx, val_groups = split_by_group(groups, 0.1, seed=3)
    assert val_groups.size == 4
    assert not np.isin(groups[train_idx], val_groups).any()  # no held-out sound leaks into training
    assert train_idx.size == 180
    again = split_by_group(groups, 0.1, seed=3)
    np.testing.assert_array_equal(again[1], val_groups)
    assert not np.array_equal(split_by_group(groups, 0.1, seed=4)[1], val_groups)


def test_lr_at_matches_cosine_formula():
    cfg = tiny_config("x.npz", "x.pt", lr=1e-3)
    assert lr_at(cfg, 0, 100) == pytest.approx(1e-3)
    assert lr_at(cfg, 50, 100) == pytest.approx(0.5e-3)
    assert lr_at(cfg, 25, 100) == pytest.approx(1e-3 * 0.5 * (1 + np.cos(np.pi / 4)))
    assert lr_at(cfg, 100, 100) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(replace(cfg, lr_schedule="constant"), 50, 100) == 1e-3


def test_same_seed_gives_identical_weights_and_other_seed_does_not(tmp_path, data_npz):
    a = train(tiny_config(data_npz, tmp_path / "a.pt", epochs=3))
    b = train(tiny_config(data_npz, tmp_path / "b.pt", epochs=3))
    c = train(tiny_config(data_npz, tmp_path / "c.pt", epochs=3, seed=1))
    wa, wb, wc = _weights(a), _weights(b), _weights(c)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    ha, hb = load_checkpoint(a)["history"], load_checkpoint(b)["history"]
    assert ha["val_loss"] == hb["val_loss"]


def test_training_reduces_validation_loss_and_stores_history_and_pca(tmp_path, data_npz):
    out = train(tiny_config(data_npz, tmp_path / "m.pt"))
    ck = load_checkpoint(out)
    h = ck["history"]
    assert h["epoch"] == list(range(1, 13))
    assert h["val_loss"][-1] < 0.2 * h["val_loss"][0]
    assert ck["complete"] and ck["pca"] is not None and "optimizer" in ck["training"]
    ratio = ck["pca"]["explained_variance_ratio"]
    assert ratio.shape == (4,) and abs(ratio.sum() - 1) < 1e-6 and np.all(np.diff(ratio) <= 1e-12)
    # Normalisation statistics come from the training split only: the codec's reference level is the
    # loudest training bin, which the held-out sounds cannot move.
    ds = make_dataset()
    groups = ds.groups
    train_frames = ~np.isin(groups, ck["dataset"]["val_groups"].numpy())
    peak_db = 20 * np.log10(ds.magnitudes[train_frames].max())
    assert abs(ck["codec"]["ref_db"] - peak_db) < 1e-3


def test_slim_checkpoint_drops_optimizer_state_and_refuses_resume(tmp_path, data_npz):
    out = train(tiny_config(data_npz, tmp_path / "m.pt", epochs=2, slim=True))
    assert "training" not in load_checkpoint(out)
    with pytest.raises(UserError, match="cannot resume"):
        train(tiny_config(data_npz, out, epochs=3, resume=True))


def test_resume_refuses_a_changed_model_setting(tmp_path, data_npz):
    out = train(tiny_config(data_npz, tmp_path / "m.pt", epochs=2))
    with pytest.raises(UserError, match="latent-dim 3 differs"):
        train(tiny_config(data_npz, out, epochs=3, resume=True, latent_dim=3))


@pytest.mark.slow  # a subprocess plus two runs: ~15 s on a busy 2-core machine
@pytest.mark.parametrize("percentile", [0.0, 50.0], ids=["fixed-clip", "percentile-clip"])
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path, data_npz, percentile):
    """Kill a CLI training process with SIGKILL after a few checkpoints, resume it, and compare with an
    uninterrupted run. The batch order is a function of (seed, epoch) and the checkpoint holds the optimizer
    state, the step, torch's RNG state and the clip's norm history, so on CPU with the same thread count the
    weights are EQUAL (not merely close): a lost step is recomputed exactly. With --grad-clip-percentile the
    threshold of every step depends on the norms before it, so a resume that lost them would differ."""
    cfg = tiny_config(
        data_npz, tmp_path / "killed.pt", epochs=25, checkpoint_every=5, grad_clip_percentile=percentile
    )
    cmd = [
        sys.executable,
        "-m",
        "vaesynth",
        "train",
        "--data",
        str(data_npz),
        "--out",
        cfg.out,
        "--epochs",
        "25",
        "--checkpoint-every",
        "5",
        *tiny_cli_args(),
    ]
    if percentile:
        cmd += ["--grad-clip-percentile", str(percentile)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        mtimes = set()
        # Wait until the checkpoint has been rewritten at least twice, then kill between two saves.
        while len(mtimes) < 3:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline
            if os.path.exists(cfg.out):
                mtimes.add(os.stat(cfg.out).st_mtime_ns)
            time.sleep(0.005)
        time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    killed = load_checkpoint(cfg.out)  # whatever moment the kill hit, the file is a complete checkpoint
    assert not killed["complete"]
    assert killed["train_config"]["epochs"] == cfg.epochs  # the CLI run is the same run as `cfg`
    steps_done = killed["training"]["step"]
    assert 0 < steps_done < 25 * 6
    assert len(killed["training"]["grad_clip"]["history"]) == (steps_done if percentile else 0)

    resumed = train(replace(cfg, resume=True))
    reference = train(replace(cfg, out=str(tmp_path / "reference.pt")))
    wr, wf = _weights(resumed), _weights(reference)
    assert all(torch.equal(wr[k], wf[k]) for k in wf)
    hr, hf = load_checkpoint(resumed)["history"], load_checkpoint(reference)["history"]
    assert hr["step"] == hf["step"] and hr["val_loss"] == hf["val_loss"]


def test_empty_or_too_small_data_is_one_line_user_error(tmp_path):
    small = write_npz(tmp_path, "small.npz", n_sounds=3, frames_per_sound=4)  # 2 training sounds = 8 frames
    with pytest.raises(UserError) as e:
        train(tiny_config(small, tmp_path / "m.pt"))
    assert "need at least 40" in str(e.value) and "\n" not in str(e.value)
    single = write_npz(tmp_path, "one.npz", n_sounds=1, frames_per_sound=100)
    with pytest.raises(UserError, match="need at least 2"):
        train(tiny_config(single, tmp_path / "m.pt"))
    ds = make_dataset(n_sounds=2)
    ds.subset(np.zeros(0, dtype=np.int64)).save_npz(tmp_path / "empty.npz")
    with pytest.raises(UserError, match="no frames"):
        train(tiny_config(tmp_path / "empty.npz", tmp_path / "m.pt"))
    assert not (tmp_path / "m.pt").exists()


def test_validation_estimates_the_tc_over_batches_of_the_given_size(monkeypatch):
    """With the TC term on, validation splits the frames into batches of `batch_size` (the trainer's
    training batch), so its minibatch TC estimate is the one training minimises, with N = all frames: the
    result equals the frame-weighted mean of the loss over those batches under the same seeded noise, and
    the TC estimator sees batches of 100, 100 and 50 samples with N = 250 (the old code gave it one batch
    of all 250)."""
    import vaesynth.models.vae as vae
    from vaesynth.models.config import ModelConfig
    from vaesynth.models.vae import build_model
    from vaesynth.training.trainer import validation_loss

    estimated = []
    real_decomposition = vae.kl_decomposition

    def spy(z, mu, logvar, dataset_size, estimator):
        estimated.append((z.shape[0], mu.shape[0], dataset_size))
        return real_decomposition(z, mu, logvar, dataset_size, estimator)

    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="mlp", n_bins=33, n_fft=64, latent_dim=3, hidden=(16,), tc_beta=2.0))
    x = torch.rand(250, 33)
    monkeypatch.setattr(vae, "kl_decomposition", spy)
    got = validation_loss(model, x, None, 1.0, seed=5, tc_beta=2.0, dwkl_beta=0.0, batch_size=100)
    assert estimated == [(100, 100, 250), (100, 100, 250), (50, 50, 250)]
    model.eval()
    sums = {"loss": 0.0, "recon": 0.0, "kl": 0.0}
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(5)
        for start in range(0, 250, 100):
            out = model.loss(x[start : start + 100], 1.0, None, tc_beta=2.0, dataset_size=250, dwkl_beta=0.0)
            for k in sums:
                sums[k] += float(out[k]) * min(100, 250 - start)
    for k in sums:
        assert got[k] == pytest.approx(sums[k] / 250, rel=1e-6)


def test_trainer_validates_in_training_sized_batches(tmp_path, data_npz, monkeypatch):
    import vaesynth.training.trainer as trainer

    seen = []
    real = trainer.validation_loss

    def spy(*args, **kwargs):
        seen.append(kwargs.get("batch_size"))
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "validation_loss", spy)
    train(tiny_config(data_npz, tmp_path / "m.pt", epochs=2, batch_size=24))
    assert seen == [24, 24]
