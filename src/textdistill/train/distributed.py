"""Data-parallel training on PyTorch's own engine: processes started by ``torchrun``, the student
wrapped in ``DistributedDataParallel``, gloo on CPU and NCCL on GPU.

``textdistill distill CONFIG --nproc N`` re-launches itself under ``torchrun`` (:func:`launch`);
each process then calls :func:`setup`, which reads ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK``
from the environment ``torchrun`` sets. Outside ``torchrun`` everything here is a no-op for one
process, so the same code path trains on one CPU, one GPU or many.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from textdistill.errors import TextdistillError


@dataclass(frozen=True)
class Dist:
    """Where this process stands: its rank among ``world`` processes and its device."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        """Rank 0: the one process that logs, evaluates, shows progress and writes files."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def pick_device(device: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto``: this process's GPU when there is one, else the CPU; ``cpu``; ``cuda``."""
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise TextdistillError("train.device is cuda but torch sees no GPU here; use cpu or auto")
    return torch.device("cuda", local_rank)


def setup(device: str = "auto") -> Dist:
    """Join the process group ``torchrun`` describes (gloo on CPU, NCCL on GPU), or stay alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    where = pick_device(device, local_rank)
    if where.type == "cuda":
        torch.cuda.set_device(where)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if where.type == "cuda" else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    return Dist(rank, world, local_rank, local_world, where)


def teardown(d: Dist) -> None:
    """Leave the process group once every rank is done: rank 0 may still be scoring and writing
    after the others' last step, and a rank that leaves early can abort the group's threads."""
    if d.active and dist.is_initialized():
        dist.barrier()  # under torchrun a rank that failed takes the others down, so this cannot hang
        dist.destroy_process_group()


def barrier(d: Dist) -> None:
    if d.active:
        dist.barrier()


@contextmanager
def main_first(d: Dist) -> Iterator[None]:
    """Rank 0 runs the block first (filling caches: teacher outputs, transfer sets); the other
    ranks wait, then run it and read what rank 0 stored."""
    if not d.main:
        barrier(d)
    yield
    if d.main:
        barrier(d)


def all_finite(finite: bool, d: Dist) -> bool:
    """True when the loss is finite on every rank (so that all ranks stop together)."""
    if not d.active:
        return finite
    flag = torch.tensor([1.0 if finite else 0.0], device=d.device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def mean_over_ranks(values: dict[str, float], d: Dist) -> dict[str, float]:
    """Each value averaged over the ranks (every rank must call it with the same keys)."""
    if not d.active or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=d.device)
    dist.all_reduce(t)
    return {k: v / d.world for k, v in zip(keys, t.tolist(), strict=True)}


def gather(obj: Any, d: Dist) -> list[Any]:
    """Every rank's ``obj``, in rank order (picklable objects; used for RNG states)."""
    if not d.active:
        return [obj]
    out: list[Any] = [None] * d.world
    dist.all_gather_object(out, obj)
    return out


def launch(nproc: int, argv: list[str], env: dict[str, str] | None = None) -> int:
    """Run ``textdistill <argv>`` in ``nproc`` processes under ``torchrun`` on this machine, with
    ``env`` over this process's environment; returns its exit code."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "textdistill",
        *argv,
    ]
    return subprocess.run(command, check=False, env={**os.environ, **(env or {})}).returncode


def global_rows(index: Tensor, d: Dist) -> dict[str, Tensor]:
    """The dataset rows of every process's share of the batch: ``global_index`` ``(G,)`` (rank 0's
    rows first) and ``global_position`` ``(B,)``, where this process's rows sit in it. Shares have
    equal sizes (:class:`textdistill.data.sampling.EpochBatchSampler`)."""
    local = index.to(d.device)
    parts = [torch.empty_like(local) for _ in range(d.world)]
    dist.all_gather(parts, local)
    n = local.shape[0]
    return {
        "global_index": torch.cat(parts).cpu(),
        "global_position": torch.arange(d.rank * n, (d.rank + 1) * n),
    }
