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
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from textdistill.artifacts import recorded_length, recorded_reading
from textdistill.config import MultiTaskConfig
from textdistill.data.encode import EncodedDataset, PaddingCollator, make_loader
from textdistill.data.multitask import TaskSampler
from textdistill.data.sampling import EpochBatchSampler
from textdistill.errors import TextdistillError
from textdistill.evaluation.quality import score_splits
from textdistill.methods import Hard, Hinton
from textdistill.methods.mtdnn_kd import MTDNNKD
from textdistill.models.multitask import MultiTaskModel, TaskView, load_multitask
from textdistill.recipes.common import RunFolder, distributed_run, plan_tasks
from textdistill.runtime import set_seed
from textdistill.teachers.cache import teacher_outputs
from textdistill.train.checkpoint import atomic_folder, recover_folder
from textdistill.train.distributed import Dist, main_first
from textdistill.train.step import DistillStep
from textdistill.train.trainer import Checkpointing, TrainConfig, resolve_precision, train


class MultiTaskBatches:
    """The training batches of every task in :class:`TaskSampler` order, each with its ``task``.

    It stands where the trainer expects a loader: ``len()`` is the micro-batches of an epoch, and
    ``batch_sampler.set_epoch(epoch, start)`` (itself) picks the epoch and the micro-batch to start
    from, so a multi-task run resumes like a single-task one. With ``world`` processes each yields
    its ``rank``'s share of every global batch, in ``accumulation`` micro-batches (as
    :class:`EpochBatchSampler` does for one task): every process is on the same task at each step."""

    def __init__(
        self,
        datasets: dict[str, EncodedDataset],
        collate: PaddingCollator,
        batch_size: int,
        seed: int,
        temperature: float,
        rank: int = 0,
        world: int = 1,
        accumulation: int = 1,
    ):
        self.datasets, self.collate, self.accumulation = datasets, collate, accumulation
        self.samplers = {
            t: EpochBatchSampler(len(d), batch_size, seed, d.lengths, True, rank, world, accumulation)
            for t, d in datasets.items()
        }
        counts = {t: len(s) // accumulation for t, s in self.samplers.items()}  # global batches per task
        self.tasks = TaskSampler(counts, temperature, seed)
        self.batch_sampler, self.epoch, self.start = self, 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        return len(self.tasks) * self.accumulation

    def __iter__(self):
        micro = {t: s.micro_batches(self.epoch) for t, s in self.samplers.items()}
        k = self.accumulation
        order = [(task, b * k + j) for task, b in self.tasks.epoch(self.epoch) for j in range(k)]
        for task, m in order[self.start :]:
            rows = [self.datasets[task][i] for i in micro[task][m]]
            yield {**self.collate(rows), "task": task}


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


def multitask_distill(cfg: MultiTaskConfig, resume: bool = False) -> dict:
    """Run a multi-task distillation and write its folder; returns the metrics. ``resume``:
    continue from ``<out>/checkpoint.pt`` (same config, same data), as a single-task run does."""
    return distributed_run(cfg, "multitask", resume, lambda run, dist: _multitask(cfg, run, dist))


def _multitask(cfg: MultiTaskConfig, run: RunFolder, dist: Dist) -> dict:
    from textdistill.models.teacher import load_tokenizer, resolve_model

    seed = set_seed(cfg.train.seed)
    threads = torch.get_num_threads()
    out = Path(cfg.out)
    accum = cfg.train.grad_accumulation
    if run.resume and dist.main:
        recover_folder(out / "model")
    # every task's data and teacher, recorded (and on resume checked) before any work
    entries = [(e.task, e.data, e.files, e.teacher) for e in cfg.tasks]
    with main_first(dist):  # rank 0 fetches assets (data, hub teachers) first; the others read them
        planned = plan_tasks(entries, cfg.train.max_train_examples, cfg.train.max_eval_examples)
    plans = {p.name: p for p in planned}
    multi = [name for name, p in plans.items() if p.spec.multi_label]
    if multi:
        raise TextdistillError(
            f"multi-task distillation of multi-label tasks ({', '.join(multi)}) is not supported yet: "
            "distil each one alone (a distill config without tasks)"
        )
    tasks = {name: p.task for name, p in plans.items()}
    tokenizer = load_tokenizer(resolve_model(cfg.encoder))
    max_length = cfg.train.max_length
    run.record_tasks(list(plans.values()), max_length, many=True)
    datasets, teachers, methods, evals, info = {}, {}, {}, {}, {}
    started = time.perf_counter()
    for entry in cfg.tasks:
        plan = plans[entry.task]
        examples = plan.train
        datasets[entry.task] = EncodedDataset(examples, tokenizer, max_length)
        if plan.teacher is not None:
            with main_first(dist):  # rank 0 fills the teacher cache; the others read it
                taught = recorded_length(plan.teacher.folder) or max_length  # read as it was taught
                outputs = teacher_outputs(plan.teacher.folder, examples, taught, device=dist.device,
                                          reading=recorded_reading(plan.teacher.folder))  # fmt: skip
            teachers[entry.task] = outputs.reorder(plan.teacher.order)
            methods[entry.task] = Hinton(
                alpha=cfg.alpha if entry.alpha is None else entry.alpha,
                temperature=cfg.temperature if entry.temperature is None else entry.temperature,
            )
        else:
            methods[entry.task] = Hard()
        evals[entry.task] = {}
        for split, chosen in plan.evals.items():
            loader = make_loader(EncodedDataset(chosen, tokenizer, max_length), tokenizer, 64)
            evals[entry.task][split] = (loader, np.array([e.label for e in chosen]))
        info[entry.task] = {"train_examples": len(examples), "teacher": entry.teacher,
                            "method": methods[entry.task].name, **asdict(methods[entry.task])}  # fmt: skip
    teacher_seconds = time.perf_counter() - started
    set_seed(seed)
    specs = [tasks[e.task].spec for e in cfg.tasks]
    model = MultiTaskModel(build_encoder(cfg, specs[0]), specs, dropout=0.1)
    batches = MultiTaskBatches(datasets, PaddingCollator(tokenizer), cfg.train.batch_size, seed,
                               cfg.sampling_temperature, dist.rank, dist.world, accum)  # fmt: skip
    total_steps = cfg.train.max_steps or int(np.ceil(cfg.train.epochs * len(batches) / accum))
    if not run.resume:
        run.progress(0, total_steps)

    # each batch goes to its task's head (a view of the shared model) and its task's Hinton KD or labels
    views = {e.task: TaskView(model, e.task) for e in cfg.tasks}
    step_fn = DistillStep(views, MTDNNKD(methods), total_steps, dist.device, teachers=teachers, dist=None)

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
        if not dist.main:
            return
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
            grad_accumulation=accum,
            precision=resolve_precision(t.precision, dist.device),
            checkpoint_every=t.checkpoint_every,
            report_to=t.report_to,
        ),
        out / "log.jsonl",
        checkpointing=Checkpointing(out / "checkpoint.pt", run.resume),
        dist=dist,
        find_unused_parameters=len(cfg.tasks) > 1,  # a step uses one task's head, not the others'
        progress=run.progress,
    )
    if not dist.main:
        return {}
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
        "processes": dist.world,
        "device": str(dist.device),
        "history": result.history,
    }
    return run.finish(metrics)
