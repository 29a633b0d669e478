"""A tiny data-parallel training run for the tests: ``torchrun --nproc-per-node N ddp_train.py OUT``.

Every rank trains the same small MLP on the same 48 random rows through :func:`train` (DDP when
N > 1, global batch 8) and writes its final weights to ``OUT/rank<r>.safetensors``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from textdistill.data.encode import seeded_loader
from textdistill.data.sampling import EpochBatchSampler
from textdistill.runtime import set_seed
from textdistill.train.distributed import setup, teardown
from textdistill.train.trainer import TrainConfig, train


def main(out: Path) -> None:
    d = setup("cpu")
    torch.set_num_threads(1)
    set_seed(0)
    x, y = torch.randn(48, 6), torch.randint(0, 3, (48,))
    rows = [{"x": x[i], "y": y[i], "index": i} for i in range(48)]
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))

    def collate(batch: list[dict]) -> dict[str, torch.Tensor]:
        return {k: torch.stack([torch.as_tensor(r[k]) for r in batch]) for k in ("x", "y", "index")}

    loader = seeded_loader(rows, EpochBatchSampler(48, 8, seed=1, rank=d.rank, world=d.world), collate)

    def step_fn(m: nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        loss = nn.functional.cross_entropy(m(batch["x"]), batch["y"])
        return loss, {"ce": loss.item()}

    def eval_fn(m: nn.Module) -> dict[str, float]:
        with torch.no_grad():
            return {"train/ce": nn.functional.cross_entropy(m(x), y).item()}

    train(
        model, loader, step_fn, eval_fn, lambda m: None, "train/ce",
        TrainConfig(epochs=2, lr=1e-2, log_every=1), out / "log.jsonl", higher_is_better=False, dist=d,
    )  # fmt: skip
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out / f"rank{d.rank}.safetensors")
    teardown(d)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
