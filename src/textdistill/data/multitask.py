"""Which task each step of multi-task training takes (MT-DNN: one task's mini-batch per step).

An epoch visits every batch of every task at least once. With ``temperature`` T = 1 each task
contributes exactly its own batches, so tasks come in proportion to their size (MT-DNN's merged
and shuffled mini-batches). With T > 1 the shares flatten towards ``n_i^(1/T)``: a task's count is
``ceil(K * n_i^(1/T))`` with ``K`` the smallest factor that still gives every task all its batches,
so smaller tasks repeat batches (in a fresh order each pass) rather than larger ones being cut.
The order is a pure function of ``(seed, epoch)``.
"""

from __future__ import annotations

import math

import torch


class TaskSampler:
    """``(task, batch index)`` pairs for one epoch; ``sizes`` maps each task to its batches per epoch."""

    def __init__(self, sizes: dict[str, int], temperature: float = 1.0, seed: int = 0):
        if temperature < 1:
            raise ValueError(f"the task-sampling temperature must be >= 1; got {temperature}")
        empty = [t for t, n in sizes.items() if n < 1]
        if empty:
            raise ValueError(f"tasks without a batch: {', '.join(empty)}")
        self.sizes, self.temperature, self.seed = dict(sizes), temperature, seed

    def counts(self) -> dict[str, int]:
        """Batches of each task per epoch (at least its own number of batches)."""
        weights = {t: n ** (1 / self.temperature) for t, n in self.sizes.items()}
        k = max(n / weights[t] for t, n in self.sizes.items())
        return {t: max(n, math.ceil(k * weights[t] - 1e-9)) for t, n in self.sizes.items()}

    def epoch(self, epoch: int) -> list[tuple[str, int]]:
        """The epoch's steps in order: each a task and one of its batch indices."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        steps: list[tuple[str, int]] = []
        for task, count in self.counts().items():
            n = self.sizes[task]
            passes = [torch.randperm(n, generator=generator).tolist() for _ in range(math.ceil(count / n))]
            steps += [(task, b) for b in [i for p in passes for i in p][:count]]
        order = torch.randperm(len(steps), generator=generator).tolist()
        return [steps[i] for i in order]

    def __len__(self) -> int:
        return sum(self.counts().values())
