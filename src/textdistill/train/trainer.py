"""The one training loop: AdamW, linear warm-up and decay, clipping, periodic evaluation, the best
checkpoint kept, every loss term logged to JSONL, a progress bar with the running loss.

What is trained and how the loss is made are not the loop's business: it takes a ``step_fn``
that turns ``(model, batch, step)`` into ``(loss, terms)`` and an ``eval_fn`` that turns the
model into metrics. Fine-tuning a teacher and every distillation method use this same loop.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

StepFn = Callable[[nn.Module, dict[str, Tensor], int], tuple[Tensor, dict[str, float]]]
EvalFn = Callable[[nn.Module], dict[str, float]]
SaveFn = Callable[[nn.Module], None]


def progress_interval() -> float:
    """Seconds between progress-bar refreshes: live on a terminal, every 30 s in a log file."""
    return 0.1 if sys.stderr.isatty() else 30.0


def set_seed(seed: int) -> int:
    """Seed Python, NumPy and torch; returns the seed (for the run record)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return seed


def set_threads(threads: int | None = None) -> int:
    """Use every core for intra-op work (torch defaults to fewer on some machines)."""
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    return threads


@dataclass
class TrainConfig:
    epochs: float = 3.0
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    eval_every: int = 0  # steps between evaluations; 0 = at the end of every epoch
    max_steps: int | None = None  # stop early (smoke tests, quick runs)
    log_every: int = 10


@dataclass
class TrainResult:
    best_metric: float
    best_step: int
    steps: int
    train_seconds: float
    history: list[dict] = field(default_factory=list)  # one row per evaluation


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases and normalisation weights."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr)


def train(
    model: nn.Module,
    loader: DataLoader,
    step_fn: StepFn,
    eval_fn: EvalFn,
    save_fn: SaveFn,
    primary: str,
    cfg: TrainConfig,
    log_path: Path,
    higher_is_better: bool = True,
) -> TrainResult:
    """Train ``model`` and keep (through ``save_fn``) the checkpoint with the best ``primary`` metric.

    The JSONL log at ``log_path`` gets a ``{"type": "train", "step", "epoch", "lr", "loss", ...terms}``
    row every ``log_every`` steps (terms unweighted, as ``step_fn`` returns them) and a
    ``{"type": "eval", ...metrics}`` row at every evaluation.
    """
    steps_per_epoch = len(loader)
    total = cfg.max_steps or math.ceil(cfg.epochs * steps_per_epoch)
    optimizer = _optimizer(model, cfg)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total), total)
    eval_every = cfg.eval_every or steps_per_epoch
    sign = 1.0 if higher_is_better else -1.0
    best, best_step, history = -math.inf, 0, []
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    step, running = 0, None
    bar = tqdm(total=total, desc="train", unit="step", dynamic_ncols=True, mininterval=progress_interval())
    with log_path.open("a") as log, bar:

        def evaluate() -> None:
            nonlocal best, best_step
            metrics = eval_fn(model)
            improved = sign * metrics[primary] > best
            if improved:
                best, best_step = sign * metrics[primary], step
                save_fn(model)
            row = {
                "type": "eval",
                "step": step,
                "epoch": round(step / steps_per_epoch, 3),
                **metrics,
                "best": improved,
                "elapsed_s": round(time.perf_counter() - started, 1),
            }
            history.append(row)
            log.write(json.dumps(row) + "\n")
            log.flush()
            bar.write(
                f"step {step}: "
                + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
                + (" (best)" if improved else "")
            )
            model.train()

        model.train()
        while step < total:
            for batch in loader:
                loss, terms = step_fn(model, batch, step)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss is {loss.item()} at step {step}; terms: {terms}")
                loss.backward()
                if cfg.max_grad_norm:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                value = loss.item()
                running = value if running is None else 0.95 * running + 0.05 * value
                bar.update(1)
                bar.set_postfix(loss=f"{running:.4f}", refresh=False)
                if step % cfg.log_every == 0 or step == total:
                    row = {
                        "type": "train",
                        "step": step,
                        "epoch": round(step / steps_per_epoch, 3),
                        "lr": scheduler.get_last_lr()[0],
                        "loss": value,
                        **terms,
                    }
                    log.write(json.dumps(row) + "\n")
                if step % eval_every == 0 or step == total:
                    evaluate()
                if step >= total:
                    break
    return TrainResult(sign * best, best_step, step, time.perf_counter() - started, history)
