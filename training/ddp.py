"""Data-parallel training: `vaesynth train --ddp N` spawns N processes, or torchrun starts them
(`torchrun --nproc_per_node=2 -m vaesynth train ...`). gloo on CPU, NCCL on CUDA.

Every rank runs trainer.run_training on the same data: the same seed gives every rank the same split, codec
and initial weights; DistributedSampler gives each rank its share of every epoch's permutation; each rank
takes batch_size / N frames per step and DistributedDataParallel averages the gradients, so one step sees the
same global batch as a single process would. Only rank 0 shows progress and writes checkpoints.
"""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import replace
from pathlib import Path

import torch.distributed as dist

from vaesynth.errors import UserError
from vaesynth.training.config import TrainConfig


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _backend(cfg: TrainConfig) -> str:
    from vaesynth.training.trainer import resolve_device

    return "nccl" if resolve_device(cfg.device).type == "cuda" and dist.is_nccl_available() else "gloo"


def _worker(rank: int, cfg: TrainConfig, world_size: int, port: int, data_npz: str) -> None:
    """One spawned rank: join the group, train on the prepared .npz, leave the group."""
    from vaesynth.datasets.base import Dataset
    from vaesynth.training.trainer import run_training

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group(_backend(cfg), rank=rank, world_size=world_size)
    try:
        run_training(cfg, dataset=Dataset.load_npz(data_npz), rank=rank, world_size=world_size)
    finally:
        dist.destroy_process_group()


def train_distributed(cfg: TrainConfig) -> Path:
    """Run `cfg` on cfg.ddp spawned processes, or as one rank under torchrun. Returns cfg.out."""
    from vaesynth.training.trainer import load_dataset_for, run_training

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # started by torchrun: this process is one rank
        if not dist.is_initialized():
            dist.init_process_group(_backend(cfg))
        rank, world = dist.get_rank(), dist.get_world_size()
        try:
            return run_training(cfg, rank=rank, world_size=world)
        finally:
            dist.destroy_process_group()

    import torch.multiprocessing as mp

    # The data is prepared once, here, so that user errors surface as one line before any process starts
    # and the ranks read the frames from a fast .npz instead of each rendering them again.
    dataset = load_dataset_for(cfg, progress=not cfg.quiet)
    threads = cfg.threads or max(1, (os.cpu_count() or 1) // cfg.ddp)
    worker_cfg = replace(cfg, threads=threads)
    with tempfile.TemporaryDirectory(prefix="vaesynth-ddp-") as tmp:
        data_npz = os.path.join(tmp, "data.npz")
        dataset.save_npz(data_npz)
        try:
            mp.spawn(_worker, args=(worker_cfg, cfg.ddp, _free_port(), data_npz), nprocs=cfg.ddp, join=True)
        except mp.ProcessRaisedException as e:
            text = str(e).strip().splitlines()
            last = text[-1] if text else "a training process failed"
            if "UserError" in last:
                raise UserError(last.split("UserError:", 1)[1].strip()) from None
            raise RuntimeError(f"a DDP training process failed: {last}") from None
    return Path(cfg.out)
