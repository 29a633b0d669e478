"""Fine-tune a Hugging Face encoder on a task: the teacher.

The output folder is a Hugging Face model folder (``config.json``, ``model.safetensors``, the
tokenizer) holding the best checkpoint by the primary dev metric, plus ``metrics.json`` (dev and
test quality of that checkpoint, every evaluation, times), ``teach_config.json`` (the resolved
configuration), ``task.json`` (the task spec) and ``log.jsonl`` (every logged step).
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from textdistill.data.encode import EncodedDataset, make_loader
from textdistill.data.load import TaskData, load_task, subsample
from textdistill.errors import TextdistillError
from textdistill.evaluate.quality import score_splits
from textdistill.losses import hard_loss
from textdistill.models.teacher import HFClassifier, load_tokenizer
from textdistill.train.distributed import Dist, pick_device
from textdistill.train.trainer import TrainConfig, resolve_precision, set_seed, set_threads, train


@dataclass
class TeachConfig:
    task: str
    model: str = "minilm-l6"
    out: str = "runs/teacher"
    data: str | None = None
    epochs: float = 3.0
    batch_size: int = 32
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_length: int = 128
    dropout: float | None = None
    seed: int = 42
    eval_every: int = 0
    max_steps: int | None = None
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    eval_batch_size: int = 64
    group_by_length: bool = True
    device: str = "auto"  # auto: the GPU when there is one
    precision: str = "auto"  # auto: bf16 on a GPU that has it, else fp32


def teach(cfg: TeachConfig, task: TaskData | None = None) -> dict:
    """Fine-tune ``cfg.model`` on ``cfg.task`` and write the teacher folder; returns the metrics."""
    set_seed(cfg.seed)
    threads = set_threads()
    task = task or load_task(cfg.task, cfg.data)
    spec = task.spec
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "log.jsonl").unlink(missing_ok=True)

    tokenizer = load_tokenizer(cfg.model)
    if cfg.precision not in ("auto", "fp32", "bf16", "fp16") or cfg.device not in ("auto", "cpu", "cuda"):
        raise TextdistillError(
            f"--precision must be auto, fp32, bf16 or fp16 (got {cfg.precision!r}) and --device auto, cpu "
            f"or cuda (got {cfg.device!r})"
        )
    device = pick_device(cfg.device)
    model = HFClassifier.from_pretrained(cfg.model, spec, cfg.dropout).to(device)
    tokenizer.save_pretrained(out)
    (out / "task.json").write_text(json.dumps(spec.to_dict(), indent=2) + "\n")
    (out / "teach_config.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")

    # never longer than the model's position table (a tiny model may have fewer than 128)
    max_length = min(cfg.max_length, tokenizer.model_max_length, model.model.config.max_position_embeddings)
    train_examples = subsample(task.splits["train"], cfg.max_train_examples)
    train_loader = make_loader(
        EncodedDataset(train_examples, tokenizer, max_length),
        tokenizer,
        cfg.batch_size,
        shuffle=True,
        seed=cfg.seed,
        group_by_length=cfg.group_by_length,
    )
    labelled = task.labelled_splits
    eval_data = {}
    for split in labelled:
        examples = subsample(task.splits[split], cfg.max_eval_examples)
        dataset = EncodedDataset(examples, tokenizer, max_length)
        eval_data[split] = (
            make_loader(dataset, tokenizer, cfg.eval_batch_size),
            np.array([e.label for e in examples]),
        )

    def step_fn(m: nn.Module, batch: dict[str, Tensor], step: int) -> tuple[Tensor, dict[str, float]]:
        loss = hard_loss(m(**{k: batch[k] for k in m.input_names if k in batch}).logits, batch["labels"])
        return loss, {"hard": loss.item()}

    def evaluate(m: nn.Module, splits: list[str]) -> dict[str, float]:
        return score_splits(m, spec, eval_data, splits)

    primary = f"{task.eval_splits[0]}/{spec.primary_metric}"
    result = train(
        model,
        train_loader,
        step_fn,
        lambda m: evaluate(m, task.eval_splits),
        lambda m: m.save(out),
        primary,
        TrainConfig(
            cfg.epochs,
            cfg.lr,
            cfg.weight_decay,
            cfg.warmup_ratio,
            eval_every=cfg.eval_every,
            max_steps=cfg.max_steps,
            precision=resolve_precision(cfg.precision, device),
        ),
        out / "log.jsonl",
        dist=Dist(device=device),
    )

    best_model = HFClassifier.from_pretrained(str(out)).to(device)
    started = time.perf_counter()
    final = evaluate(best_model, labelled)
    eval_seconds = time.perf_counter() - started
    n_eval = sum(len(eval_data[s][1]) for s in labelled)
    metrics = {
        "task": spec.name,
        "model": cfg.model,
        "primary_metric": primary,
        "best": final,
        "best_step": result.best_step,
        "steps": result.steps,
        "train_examples": len(train_examples),
        "train_seconds": round(result.train_seconds, 1),
        "train_examples_per_second": round(result.steps * cfg.batch_size / result.train_seconds, 1),
        "eval_examples_per_second": round(n_eval / eval_seconds, 1),
        "parameters": best_model.num_parameters,
        "history": result.history,
        "seed": cfg.seed,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "torch_threads": threads,
            "torch": torch.__version__,
        },
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def teach_or_reuse(cfg: TeachConfig, task: TaskData | None = None) -> dict:
    """Reuse the teacher in ``cfg.out`` when it was trained with this configuration (the folder it was
    first written to aside, so a copied teacher folder is reused too)."""
    out = Path(cfg.out)
    try:
        saved = json.loads((out / "teach_config.json").read_text())
        wanted = json.loads(json.dumps(asdict(cfg)))
        same = {k: v for k, v in saved.items() if k != "out"} == {
            k: v for k, v in wanted.items() if k != "out"
        }
        if same and (out / "model.safetensors").exists():
            return json.loads((out / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError):
        pass
    return teach(cfg, task)
