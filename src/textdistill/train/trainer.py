"""The one training loop: AdamW, linear warm-up and decay, clipping, periodic evaluation, the best
checkpoint kept, every loss term logged to JSONL, a progress bar with the running loss; gradient
accumulation, mixed precision on GPU, data-parallel training (DDP), resumable checkpoints, and a
clear stop on a NaN loss or a GPU out of memory.

What is trained and how the loss is made are not the loop's business: it takes a ``step_fn``
that turns ``(model, batch, step)`` into ``(loss, terms)`` and an ``eval_fn`` that turns the
model into metrics. Fine-tuning a teacher and every distillation method use this same loop.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from textdistill.errors import TENSORBOARD_MISSING, TextdistillError
from textdistill.runtime import progress_interval
from textdistill.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from textdistill.train.distributed import Dist, all_finite, barrier, gather, mean_over_ranks

StepFn = Callable[[nn.Module, dict[str, Tensor], int], tuple[Tensor, dict[str, float]]]
EvalFn = Callable[[nn.Module], dict[str, float]]
SaveFn = Callable[[nn.Module], None]


class NonFiniteLoss(TextdistillError):
    """The loss became NaN or infinite; the message names the step, the batch and the terms."""


@dataclass
class TrainConfig:
    epochs: float = 3.0
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    eval_every: int = 0  # optimizer steps between evaluations; 0 = at the end of every epoch
    max_steps: int | None = None  # stop early (smoke tests, quick runs)
    log_every: int = 10
    grad_accumulation: int = 1  # micro-batches per optimizer step
    precision: str = "fp32"  # fp32, or on a GPU bf16 / fp16 (torch.amp; fp16 with a grad scaler)
    checkpoint_every: int = 0  # optimizer steps between resumable checkpoints; 0 = at every evaluation
    report_to: tuple[str, ...] = ()  # beside log.jsonl: "tensorboard" (scalars in <run>/tensorboard)


class RunLog:
    """The run's log: one JSON object a line in ``path`` (``log.jsonl``) and, with ``tensorboard``,
    every number of the ``train`` and ``eval`` rows as a TensorBoard scalar (``train/loss``,
    ``train/kl``, ``eval/dev/accuracy``, ...) at the row's step, in ``<path's folder>/tensorboard``.
    Only the main process writes; the others get a log that drops everything. A resumed run gives
    ``purge_step`` (its checkpoint's step + 1): TensorBoard then drops the events the killed run
    wrote after the checkpoint, as ``log.jsonl`` is cut there."""

    def __init__(
        self, path: Path, main: bool, tensorboard: bool = False, purge_step: int | None = None
    ) -> None:
        self.board = None
        if main and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # the config checks this first; here for a caller that did not
                raise TextdistillError(TENSORBOARD_MISSING) from None
            self.board = SummaryWriter(str(path.parent / "tensorboard"), purge_step=purge_step)
        self.file = path.open("a") if main else open(os.devnull, "w")  # noqa: SIM115

    def write(self, row: dict) -> None:
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()
        if self.board is None or row.get("type") not in ("train", "eval"):
            return
        for key, value in row.items():
            if key not in ("type", "step") and isinstance(value, int | float) and not isinstance(value, bool):
                self.board.add_scalar(f"{row['type']}/{key}", value, row["step"])
        self.board.flush()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()
        if self.board is not None:
            self.board.close()


@dataclass
class TrainResult:
    best_metric: float
    best_step: int
    steps: int
    train_seconds: float
    history: list[dict] = field(default_factory=list)  # one row per evaluation
    resumed_from: int | None = None  # the step a resumed run started from


@dataclass
class Checkpointing:
    """Where resumable checkpoints go, whether to start from the one there, and the extra RNGs
    (by name: a method's negative sampler) whose states they carry."""

    path: Path
    resume: bool = False
    generators: dict[str, torch.Generator] = field(default_factory=dict)


class StepModule(nn.Module):
    """The trained modules and the step function as one module: under DDP the wrapper's forward is
    the whole step (student, projections, loss; both passes of a perturbed step), so every
    gradient the step makes is synchronised, whichever module made it."""

    def __init__(self, model: nn.Module, step_fn: StepFn):
        super().__init__()
        self.model = model
        self.step_fn = step_fn

    def forward(self, batch: dict[str, Tensor], step: int) -> tuple[Tensor, dict[str, float]]:
        return self.step_fn(self.model, batch, step)


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases and normalisation weights."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    try:  # the fused kernel: one pass over each tensor (6x faster than the loop on a 12M-row table, CPU)
        return torch.optim.AdamW(groups, lr=cfg.lr, fused=True)
    except (RuntimeError, ValueError):  # a device or dtype without it
        return torch.optim.AdamW(groups, lr=cfg.lr, foreach=True)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: bf16 on a GPU that supports it, fp32 otherwise (always fp32 on the CPU)."""
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"


def _autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    if precision == "fp32":
        return contextlib.nullcontext()
    if device.type != "cuda":
        raise TextdistillError(f"train.precision {precision} needs a GPU; on the CPU training runs in fp32")
    return torch.autocast("cuda", dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def to_device(batch: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    """The batch's tensors on ``device`` (other values, a multi-task batch's task name, as they are)."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()}


def micro_batches(loader: DataLoader, start: int) -> Iterator[dict[str, Tensor]]:
    """The loader's batches epoch after epoch, from the ``start``-th batch of the run on."""
    epoch, offset = divmod(start, len(loader))
    sampler = loader.batch_sampler
    while True:
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch, offset)
            yield from loader
        else:  # a plain loader: its own order; skip by iterating
            yield from itertools.islice(loader, offset, None)
        epoch, offset = epoch + 1, 0


def _batch_rows(batch: dict[str, Tensor]) -> tuple[int, int]:
    """(rows, longest row) of a batch, for messages."""
    first = next(iter(batch.values()))
    ids = batch.get("input_ids", batch.get("word_ids"))
    return first.shape[0], (ids.shape[1] if ids is not None and ids.dim() == 2 else 0)


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
    checkpointing: Checkpointing | None = None,
    dist: Dist | None = None,
    describe_batch: Callable[[dict[str, Tensor]], str] | None = None,
    find_unused_parameters: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train ``model`` and keep (through ``save_fn``) the checkpoint with the best ``primary`` metric.

    The JSONL log at ``log_path`` gets a ``{"type": "train", "step", "epoch", "lr", "loss", ...terms}``
    row every ``log_every`` steps (terms unweighted, as ``step_fn`` returns them, averaged over the
    micro-batches and ranks of the step) and a ``{"type": "eval", ...metrics}`` row at every
    evaluation. A step is one optimizer update over ``grad_accumulation`` micro-batches.

    With ``dist`` (several processes under ``torchrun``) the model is wrapped in DDP; rank 0 alone
    evaluates, saves, logs and shows progress, and ``best_metric`` / ``history`` are rank 0's.
    With ``checkpointing`` a resumable checkpoint is written every ``checkpoint_every`` steps (or at
    every evaluation) and, with ``resume``, the run continues from it; a resumed run ends with the
    same weights as one never interrupted (same machine, same seed).

    Raises:
        NonFiniteLoss: a loss is NaN or infinite (on any rank); nothing is updated with it.
        TextdistillError: out of GPU memory (the message says what to change), a checkpoint that
            does not fit this run.
    """
    dist = dist or Dist()
    accum = cfg.grad_accumulation
    device = dist.device
    micro_per_epoch = len(loader)
    total = cfg.max_steps or math.ceil(cfg.epochs * micro_per_epoch / accum)
    optimizer = _optimizer(model, cfg)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total), total)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16")
    autocast = _autocast(cfg.precision, device)
    runner: nn.Module = StepModule(model, step_fn)
    if dist.active:
        from torch.nn.parallel import DistributedDataParallel

        # find_unused_parameters: for a method whose schedule leaves a module out of some steps'
        # loss (LRC-BERT's projections in stage 2), so that DDP does not wait for their gradients
        runner = DistributedDataParallel(
            runner,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=find_unused_parameters,
        )
    sign = 1.0 if higher_is_better else -1.0
    best, best_step, history, step, running, resumed_from = -math.inf, 0, [], 0, None, None
    if checkpointing is not None and checkpointing.resume:
        state = load_checkpoint(checkpointing.path)
        expected = {"world": dist.world, "grad_accumulation": accum, "total_steps": total}
        found = {k: state["run"].get(k) for k in expected}
        if found != expected:
            raise TextdistillError(
                f"{checkpointing.path} was written by a run with {found}; this run has {expected}: "
                "resume with the same processes, accumulation and length, or start afresh"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"][dist.rank])
        for name, generator in checkpointing.generators.items():
            generator.set_state(state["generators"][name])
        step, resumed_from = state["step"], state["step"]
        best, best_step, running = state["best"], state["best_step"], state["running"]
        history = json.loads(state["history"])
        if dist.main:  # the log keeps what happened up to the checkpoint, once
            _truncate_log(log_path, step, checkpointing.path)
    if dist.main:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    batches = micro_batches(loader, step * accum)
    bar = tqdm(
        total=total,
        initial=step,
        desc="train",
        unit="step",
        dynamic_ncols=True,
        mininterval=progress_interval(),
        disable=not dist.main,
    )
    purge = None if resumed_from is None else resumed_from + 1  # the checkpoint step stays, as in log.jsonl
    log = RunLog(log_path, dist.main, "tensorboard" in cfg.report_to, purge_step=purge)

    def epoch_of(s: int) -> float:
        return round(s * accum / micro_per_epoch, 3)

    def evaluate() -> None:
        nonlocal best, best_step
        if dist.main:
            began = time.perf_counter()
            metrics = eval_fn(model)
            eval_seconds = time.perf_counter() - began
            improved = sign * metrics[primary] > best
            if improved:
                best, best_step = sign * metrics[primary], step
                save_fn(model)
            row = {
                "type": "eval",
                "step": step,
                "epoch": epoch_of(step),
                **metrics,
                "best": improved,
                "elapsed_s": round(time.perf_counter() - started, 1),
                "eval_s": round(eval_seconds, 2),
            }
            history.append(row)
            log.write(row)
            bar.write(
                f"step {step}: "
                + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
                + (" (best)" if improved else "")
            )
        barrier(dist)
        model.train()

    def checkpoint() -> None:
        rngs = gather(rng_state(), dist)  # every rank's: each continues its own stream
        if not dist.main:
            return
        began = time.perf_counter()
        save_checkpoint(
            checkpointing.path,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": rngs,
                "generators": {k: g.get_state() for k, g in checkpointing.generators.items()},
                "step": step,
                "best": best,
                "best_step": best_step,
                "running": running,
                "history": json.dumps(history),
                "run": {"world": dist.world, "grad_accumulation": accum, "total_steps": total},
            },
        )
        size = checkpointing.path.stat().st_size / 2**20
        row = {"type": "checkpoint", "step": step, "mb": round(size, 2)}
        log.write({**row, "write_s": round(time.perf_counter() - began, 3)})

    def ends_epoch(s: int) -> bool:
        """Whether step ``s`` (1-based, completed) crossed the end of an epoch."""
        return (s * accum) // micro_per_epoch > ((s - 1) * accum) // micro_per_epoch

    with log, bar:
        model.train()
        while step < total:
            losses, term_rows = [], []
            for k in range(accum):
                batch = to_device(next(batches), device)
                sync = runner.no_sync() if dist.active and k < accum - 1 else contextlib.nullcontext()
                try:
                    with sync:
                        with autocast:
                            loss, terms = runner(batch, step)
                        if not all_finite(bool(torch.isfinite(loss).item()), dist):
                            raise _non_finite(
                                loss, terms, batch, step, epoch_of(step), dist, checkpointing, describe_batch
                            )
                        scaler.scale(loss / accum).backward()
                except torch.OutOfMemoryError:
                    rows, longest = _batch_rows(batch)
                    raise TextdistillError(
                        f"out of GPU memory at step {step} with {rows} rows per process and micro-batch "
                        f"(the longest {longest} tokens): set train.grad_accumulation={2 * accum} to halve "
                        f"the micro-batch at the same effective batch size, or lower train.batch_size or "
                        f"train.max_length"
                    ) from None
                losses.append(loss.item())
                term_rows.append(terms)
            if cfg.max_grad_norm:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            value = sum(losses) / accum
            running = value if running is None else 0.95 * running + 0.05 * value
            bar.update(1)
            bar.set_postfix(loss=f"{running:.4f}", refresh=False)
            if step % cfg.log_every == 0 or step == total:
                terms = {
                    k: sum(r[k] for r in term_rows) / accum
                    for k in term_rows[-1]
                    if all(k in r for r in term_rows)
                }
                terms = mean_over_ranks({"loss": value, **terms}, dist)
                row = {
                    "type": "train",
                    "step": step,
                    "epoch": epoch_of(step),
                    "lr": scheduler.get_last_lr()[0],
                    **terms,
                }
                log.write(row)
            evaluated = (step % cfg.eval_every == 0) if cfg.eval_every else ends_epoch(step)
            if evaluated or step == total:
                evaluate()
                if progress is not None and dist.main:
                    progress(step, total)  # (completed step, total steps): the run's manifest
            if checkpointing is not None and step < total:
                every = cfg.checkpoint_every
                if (every and step % every == 0) or (not every and (evaluated or step == total)):
                    checkpoint()
    return TrainResult(sign * best, best_step, step, time.perf_counter() - started, history, resumed_from)


def _non_finite(
    loss: Tensor,
    terms: dict[str, float],
    batch: dict[str, Tensor],
    step: int,
    epoch: float,
    dist: Dist,
    checkpointing: Checkpointing | None,
    describe_batch: Callable[[dict[str, Tensor]], str] | None,
) -> NonFiniteLoss:
    """The error for a NaN / infinite loss: where, which batch, which terms, what is kept."""
    value = loss.item()
    where = f"loss is {value} at step {step} (epoch {epoch:g})"
    if math.isfinite(value):
        where = (
            f"the loss is not finite on another process at step {step} (epoch {epoch:g}); here it is {value}"
        )
    rows = (
        describe_batch(batch)
        if describe_batch
        else f"rows {batch['index'].tolist()}"
        if "index" in batch
        else ""
    )
    kept = "no checkpoint was written yet"
    if checkpointing is not None and checkpointing.path.exists():
        kept = f"the last good checkpoint is {checkpointing.path}, untouched"
    return NonFiniteLoss(f"{where}; batch: {rows}; loss terms: {terms}; {kept}")


def _truncate_log(log_path: Path, step: int, checkpoint_path: Path) -> None:
    """Make ``log_path`` say what happened up to the checkpoint at ``step``, once: drop the rows the
    killed run wrote after it (and a line cut off mid-write by the kill), and add the checkpoint's
    own row when the kill came between the checkpoint reaching the disk and its row."""
    if not log_path.exists():
        return
    keep, rows = [], []
    for line in log_path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # the last line, cut by the kill
            continue
        if row.get("step", 0) <= step:
            keep.append(line)
            rows.append(row)
    if not any(r.get("type") == "checkpoint" and r.get("step") == step for r in rows):
        size = checkpoint_path.stat().st_size / 2**20
        keep.append(json.dumps({"type": "checkpoint", "step": step, "mb": round(size, 2)}))
    log_path.write_text("".join(line + "\n" for line in keep))
