"""The training order: seeded per epoch, optionally grouped by length, sharded across processes,
and resumable from any batch.

One epoch's batches are a pure function of ``(seed, epoch)``: a random permutation of the rows
(from a generator seeded with ``seed + epoch``, never the global RNG), cut into global batches of
``batch_size`` rows. With ``group_by_length`` the permutation is cut into mega-batches of 50
batches whose rows are sorted by length before cutting, so a batch holds rows of similar length
(less padding, less CPU time on short texts; the idea of ``transformers``' ``LengthGroupedSampler``),
and the batches are then shuffled.

With ``world`` processes each global batch is split into ``world`` equal contiguous slices and
process ``rank`` reads slice ``rank``: the ranks together see exactly the batches a single process
would see, so data-parallel training with a global batch of ``B`` is the same optimisation as one
process with batch ``B``. A last batch too short to split evenly is topped up with rows from the
start of the epoch. With gradient accumulation (``accumulation`` = K) each process's slice is cut
again into K equal micro-batches, yielded in turn: an optimizer step still sees exactly one global
batch. ``set_epoch(epoch, start)`` picks the epoch and the first micro-batch to yield, which is
all a resumed run needs to continue where it stopped.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

MEGA_BATCHES = 50


class EpochBatchSampler(Sampler[list[int]]):
    """Yields one process's share of every global batch of an epoch (in ``accumulation``
    micro-batches), from micro-batch ``start`` on.

    Args:
        size: rows in the dataset.
        batch_size: rows per global batch (all processes and micro-batches together); a multiple
            of ``world * accumulation``.
        seed: the order of epoch ``e`` is drawn from ``seed + e``.
        lengths: row lengths, for ``group_by_length``.
        rank, world: this process and the number of processes.
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        seed: int = 0,
        lengths: Sequence[int] | None = None,
        group_by_length: bool = False,
        rank: int = 0,
        world: int = 1,
        accumulation: int = 1,
    ):
        if batch_size % (world * accumulation):
            raise ValueError(
                f"the batch size {batch_size} must be a multiple of the {world} processes x "
                f"{accumulation} accumulated micro-batches"
            )
        if group_by_length and lengths is None:
            raise ValueError("group_by_length needs the row lengths")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.lengths, self.group_by_length = lengths, group_by_length
        self.rank, self.world, self.accumulation = rank, world, accumulation
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Iterate epoch ``epoch`` from its micro-batch ``start`` (0 = from the beginning)."""
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        """Micro-batches per epoch (the whole epoch, whatever ``start`` is)."""
        return math.ceil(self.size / self.batch_size) * self.accumulation

    def global_batches(self, epoch: int) -> list[list[int]]:
        """Every global batch of ``epoch``, each a list of row indices."""
        generator = torch.Generator().manual_seed(self.seed + epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        if self.group_by_length:
            span = MEGA_BATCHES * self.batch_size
            order = [
                i
                for m in range(0, self.size, span)
                for i in sorted(order[m : m + span], key=lambda j: -self.lengths[j])
            ]
        batches = [order[b : b + self.batch_size] for b in range(0, self.size, self.batch_size)]
        parts = self.world * self.accumulation
        short = len(batches[-1]) % parts if batches else 0
        if short:
            batches[-1] = batches[-1] + order[: parts - short]
        if self.group_by_length:  # else the long batches of each mega-batch would always come first
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return batches

    def micro_batches(self, epoch: int) -> list[list[int]]:
        """This process's micro-batches of ``epoch``, in order."""
        out = []
        for batch in self.global_batches(epoch):
            share = len(batch) // self.world
            mine = batch[self.rank * share : (self.rank + 1) * share]
            micro = share // self.accumulation
            out += [mine[k * micro : (k + 1) * micro] for k in range(self.accumulation)]
        return out

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.micro_batches(self.epoch)[self.start :]
