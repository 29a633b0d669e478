"""Multi-task distillation (MT-DNN-KD, Liu et al. 2019): the recipe behind ``textdistill distill``
for a config with ``tasks``.

Every task is tokenised with the shared encoder's tokenizer; each step takes one task's batch
(:class:`textdistill.data.multitask.TaskSampler`: by size, with a temperature, every batch each
epoch); a task with a teacher (one folder or an ensemble) learns from Hinton KD against its cached
outputs, a task without one from its labels (the methods of :mod:`textdistill.methods`). After
every epoch each task is scored on its dev split; the best checkpoint is the one with the best
mean of the tasks' primary dev metrics. The one loop of :mod:`textdistill.train.trainer` runs it.

Run folder: ``model/`` (the encoder in Hugging Face layout, its tokenizer, ``heads.safetensors``,
``tasks.json``), ``metrics.json`` (per task: best dev/test metrics, teacher), ``log.jsonl``.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import yaml
from safetensors.torch import save_file
from torch import Tensor, nn

from textdistill.config import MultiTaskConfig
from textdistill.data.encode import EncodedDataset, PaddingCollator, make_loader
from textdistill.data.load import TaskData, load_task, subsample
from textdistill.data.multitask import TaskSampler
from textdistill.data.sampling import EpochBatchSampler
from textdistill.errors import TextdistillError
from textdistill.evaluate.quality import score_splits
from textdistill.methods import Hard, Hinton
from textdistill.models.multitask import MultiTaskModel
from textdistill.teacher_cache import TeacherOutputs, teacher_outputs
from textdistill.train.checkpoint import atomic_folder, recover_folder
from textdistill.train.distill import check_resumable, check_teacher
from textdistill.train.trainer import Checkpointing, TrainConfig, set_seed, set_threads, train


class MultiTaskBatches:
    """The training batches of every task in :class:`TaskSampler` order, each with its ``task``.

    It stands where the trainer expects a loader: ``len()`` is the steps of an epoch, and
    ``batch_sampler.set_epoch(epoch, start)`` (itself) picks the epoch and the step to start from,
    so a multi-task run resumes like a single-task one."""

    def __init__(
        self,
        datasets: dict[str, EncodedDataset],
        collate: PaddingCollator,
        batch_size: int,
        seed: int,
        temperature: float,
    ):
        self.datasets, self.collate = datasets, collate
        self.samplers = {
            t: EpochBatchSampler(len(d), batch_size, seed, d.lengths, group_by_length=True)
            for t, d in datasets.items()
        }
        self.tasks = TaskSampler({t: len(s) for t, s in self.samplers.items()}, temperature, seed)
        self.batch_sampler, self.epoch, self.start = self, 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self):
        batches = {t: s.global_batches(self.epoch) for t, s in self.samplers.items()}
        for task, b in self.tasks.epoch(self.epoch)[self.start :]:
            rows = [self.datasets[task][i] for i in batches[task][b]]
            yield {**self.collate(rows), "task": task}


class TaskView(nn.Module):
    """One task's face of the multi-task model, for the single-task evaluation code."""

    input_names = MultiTaskModel.input_names

    def __init__(self, model: MultiTaskModel, task: str):
        super().__init__()
        self.model, self.task = model, task

    def forward(self, **inputs: Tensor):
        return self.model(self.task, **inputs)


def build_encoder(cfg: MultiTaskConfig, spec) -> nn.Module:
    """The shared encoder: ``cfg.encoder`` itself, or a fresh ``cfg.student`` on its vocabulary."""
    from textdistill.models.teacher import load_encoder, resolve_model
    from textdistill.models.transformer import build_transformer_student

    if cfg.student is None:
        encoder, missing = load_encoder(resolve_model(cfg.encoder))
        if missing:  # a bare checkpoint may lack its pooler; anything else is worth knowing
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            warnings.warn(f"{cfg.encoder} lacks {len(missing)} weights (random): {shown}", stacklevel=2)
        return encoder
    s = cfg.student
    if s.init_from is not None:
        raise TextdistillError("a multi-task student starts from random weights or init_from_teacher")
    student = build_transformer_student(
        cfg.encoder, spec, s.layers, s.hidden, s.heads, s.intermediate, s.init_from_teacher, s.dropout
    )
    return student.model.base_model


def multitask_distill(
    cfg: MultiTaskConfig, tasks: dict[str, TaskData] | None = None, resume: bool = False
) -> dict:
    """Run a multi-task distillation and write its folder; returns the metrics. ``resume``:
    continue from ``<out>/checkpoint.pt`` (same config), as a single-task run does."""
    from textdistill.models.teacher import load_tokenizer, resolve_model

    seed = set_seed(cfg.train.seed)
    threads = set_threads()
    out = Path(cfg.out)
    if resume:
        check_resumable(cfg, out)
        recover_folder(out / "model")
    else:
        out.mkdir(parents=True, exist_ok=True)
        for stale in ("log.jsonl", "checkpoint.pt", "metrics.json"):
            (out / stale).unlink(missing_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(), sort_keys=False))
    tasks = tasks or {e.task: load_task(e.task, e.data) for e in cfg.tasks}
    tokenizer = load_tokenizer(resolve_model(cfg.encoder))
    max_length = cfg.train.max_length
    datasets, teachers, methods, evals, info = {}, {}, {}, {}, {}
    started = time.perf_counter()
    for entry in cfg.tasks:
        task = tasks[entry.task]
        examples = subsample(task.splits["train"], cfg.train.max_train_examples)
        datasets[entry.task] = EncodedDataset(examples, tokenizer, max_length)
        if entry.teacher is not None:
            check_teacher(Path(entry.teacher), task.spec)
            teachers[entry.task] = teacher_outputs(entry.teacher, examples, max_length)
            methods[entry.task] = Hinton(
                alpha=cfg.alpha if entry.alpha is None else entry.alpha,
                temperature=cfg.temperature if entry.temperature is None else entry.temperature,
            )
        else:
            methods[entry.task] = Hard()
        evals[entry.task] = {}
        for split in task.labelled_splits:
            chosen = subsample(task.splits[split], cfg.train.max_eval_examples)
            loader = make_loader(EncodedDataset(chosen, tokenizer, max_length), tokenizer, 64)
            evals[entry.task][split] = (loader, np.array([e.label for e in chosen]))
        info[entry.task] = {"train_examples": len(examples), "teacher": entry.teacher,
                            "method": methods[entry.task].name, **asdict(methods[entry.task])}  # fmt: skip
    teacher_seconds = time.perf_counter() - started
    set_seed(seed)
    specs = [tasks[e.task].spec for e in cfg.tasks]
    model = MultiTaskModel(build_encoder(cfg, specs[0]), specs, dropout=0.1)
    batches = MultiTaskBatches(datasets, PaddingCollator(tokenizer), cfg.train.batch_size, seed,
                               cfg.sampling_temperature)  # fmt: skip
    total_steps = cfg.train.max_steps or int(np.ceil(cfg.train.epochs * len(batches)))

    def step_fn(_m: nn.Module, batch: dict, step: int) -> tuple[Tensor, dict[str, float]]:
        task = batch["task"]
        inputs = {k: batch[k] for k in model.input_names if k in batch}
        teacher: TeacherOutputs | None = teachers.get(task)
        target = teacher.lookup(batch["index"]) if teacher is not None else None
        loss, terms = methods[task].loss(batch, model(task, **inputs), target, step, total_steps)
        return loss, {f"{task}/{k}": v for k, v in terms.items()}

    def evaluate(splits: str = "eval") -> dict[str, float]:
        scores: dict[str, float] = {}
        primaries = []
        for entry in cfg.tasks:
            task = tasks[entry.task]
            names = task.eval_splits if splits == "eval" else task.labelled_splits
            got = score_splits(TaskView(model, entry.task), task.spec, evals[entry.task], names)
            scores.update({f"{entry.task}/{k}": v for k, v in got.items()})
            primaries.append(got[f"{task.eval_splits[0]}/{task.spec.primary_metric}"])
        scores["mean/primary"] = float(np.mean(primaries))
        return scores

    def save(_m: nn.Module) -> None:
        with atomic_folder(out / "model") as folder:
            model.encoder.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            heads = {k: v.contiguous() for k, v in model.heads.state_dict().items()}
            save_file(heads, folder / "heads.safetensors")
            (folder / "tasks.json").write_text(json.dumps([s.to_dict() for s in specs], indent=2) + "\n")

    t = cfg.train
    result = train(
        model,
        batches,
        step_fn,
        lambda _m: evaluate(),
        save,
        "mean/primary",
        TrainConfig(
            t.epochs,
            t.lr or 1e-4,
            t.weight_decay,
            t.warmup_ratio,
            t.max_grad_norm,
            t.eval_every,
            t.max_steps,
            checkpoint_every=t.checkpoint_every,
        ),
        out / "log.jsonl",
        checkpointing=Checkpointing(out / "checkpoint.pt", resume),
    )
    load_multitask(out / "model", model)
    final = evaluate("all")
    metrics = {
        "tasks": info,
        "best": final,
        "best_step": result.best_step,
        "steps": result.steps,
        "resumed_from": result.resumed_from,
        "train_seconds": round(result.train_seconds, 1),
        "teacher_seconds": round(teacher_seconds, 1),
        "steps_per_epoch": {t: c for t, c in batches.tasks.counts().items()},
        "parameters": sum(p.numel() for p in model.parameters()),
        "seed": seed,
        "threads": threads,
        "history": result.history,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "checkpoint.pt").unlink(missing_ok=True)  # finished: the best model is in model/
    return metrics


def is_multitask_run(folder: str | Path) -> bool:
    """Whether ``folder`` is a multi-task run (``model/tasks.json`` beside ``config.yaml``)."""
    return (Path(folder) / "model" / "tasks.json").exists() and (Path(folder) / "config.yaml").exists()


def open_task_view(folder: str | Path, task: str | None) -> tuple[TaskView, object, dict, str]:
    """One task's face of a saved multi-task run: ``(TaskView, tokenizer, run config, task)``.

    ``task`` may be left out when the run has one task; otherwise it must name one of its tasks."""
    from transformers import AutoModel, AutoTokenizer

    from textdistill.data.tasks import TaskSpec

    folder = Path(folder)
    specs = [TaskSpec.from_dict(d) for d in json.loads((folder / "model" / "tasks.json").read_text())]
    names = [s.name for s in specs]
    if task is None and len(names) > 1:
        choices = ", ".join(names)
        raise TextdistillError(f"{folder} is a multi-task run: choose its task with --task ({choices})")
    task = task or names[0]
    if task not in names:
        raise TextdistillError(f"{folder} has no task {task!r}; its tasks are {', '.join(names)}")
    model = MultiTaskModel(AutoModel.from_pretrained(folder / "model"), specs)
    load_heads(folder / "model", model)
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    return TaskView(model, task).eval(), AutoTokenizer.from_pretrained(folder / "model"), cfg, task


def load_multitask(folder: Path, model: MultiTaskModel) -> None:
    """Load a saved multi-task model's weights into ``model`` (same tasks and sizes)."""
    from transformers import AutoModel

    model.encoder.load_state_dict(AutoModel.from_pretrained(folder).state_dict())
    load_heads(folder, model)


def load_heads(folder: Path, model: MultiTaskModel) -> None:
    """The task heads of a saved multi-task model (``heads.safetensors``) into ``model``."""
    from safetensors.torch import load_file

    model.heads.load_state_dict(load_file(folder / "heads.safetensors"))
