"""Evaluate a saved model folder: quality, parameters, size on disk, throughput and latency.

A folder is either a teacher (``textdistill teach``: a Hugging Face folder with ``task.json``)
or a distillation run (``textdistill distill``: ``student/`` + ``config.yaml``). The result is
written to ``<folder>/evaluation.json``.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import yaml

from textdistill.data.load import load_task
from textdistill.data.tasks import TaskSpec
from textdistill.errors import TextdistillError
from textdistill.evaluate.quality import score_splits
from textdistill.evaluate.speed import measure
from textdistill.train.distill import Student, load_student
from textdistill.train.multitask import is_multitask_run, open_task_view
from textdistill.train.trainer import set_threads


def open_model(folder: str | Path, task: str | None = None) -> tuple[Student, str, str | None, Path]:
    """``(student-like wrapper, task name, data folder, weights file)`` for a teacher, a run folder,
    or one ``task`` of a multi-task run (which a single-task folder must match when given)."""
    folder = Path(folder)
    if is_multitask_run(folder):
        view, tokenizer, cfg, task = open_task_view(folder, task)
        max_length = min(cfg["train"]["max_length"], view.model.encoder.config.max_position_embeddings)
        data = next(e.get("data") for e in cfg["tasks"] if e["task"] == task)
        student = Student(view, "multitask", tokenizer=tokenizer, max_length=max_length)
        return student, task, data, folder / "model" / "model.safetensors"
    student, name, data, weights = _open_single(folder)
    if task is not None and task != name:
        raise TextdistillError(f"{folder} is a model of {name}, not of {task}: leave out --task or change it")
    return student, name, data, weights


def _open_single(folder: Path) -> tuple[Student, str, str | None, Path]:
    if (folder / "student").is_dir() and (folder / "config.yaml").exists():
        cfg = yaml.safe_load((folder / "config.yaml").read_text())
        student = load_student(folder / "student", cfg["train"]["max_length"])
        return student, cfg["task"], cfg.get("data"), folder / "student" / "model.safetensors"
    described = [folder / "teach_config.json", folder / "task.json"]
    if (folder / "config.json").exists() and any(p.exists() for p in described):
        from transformers import AutoTokenizer

        from textdistill.models.teacher import HFClassifier

        if described[0].exists():
            cfg = json.loads(described[0].read_text())
        else:  # a teacher made elsewhere: its task.json names the task
            cfg = {"task": json.loads(described[1].read_text())["name"], "max_length": 128}
        model = HFClassifier.from_pretrained(str(folder))
        tokenizer = AutoTokenizer.from_pretrained(folder)
        max_length = min(cfg["max_length"], model.model.config.max_position_embeddings)
        student = Student(model, "teacher", tokenizer=tokenizer, max_length=max_length)
        return student, cfg["task"], cfg.get("data"), folder / "model.safetensors"
    raise TextdistillError(
        f"{folder} is neither a teacher folder (textdistill teach) nor a distillation run "
        "(textdistill distill, single- or multi-task)"
    )


def task_spec(folder: Path, task_name: str, data: str | None) -> TaskSpec:
    """The task a folder's model was trained for, from its teacher's ``task.json`` (no data read),
    else from the task itself."""
    from textdistill.data.tasks import TaskSpec

    if is_multitask_run(folder):
        specs = json.loads((folder / "model" / "tasks.json").read_text())
        return TaskSpec.from_dict(next(d for d in specs if d["name"] == task_name))
    candidates = [folder / "task.json"]
    if (folder / "config.yaml").exists():
        teacher = yaml.safe_load((folder / "config.yaml").read_text()).get("teacher")
        if teacher:
            candidates.append(Path(teacher) / "task.json")
    for path in candidates:
        described = json.loads(path.read_text()) if path.exists() else {}
        if {"name", "labels", "metrics"} <= set(described):
            return TaskSpec.from_dict(described)
    return load_task(task_name, data).spec


def evaluate_folder(folder: str | Path, speed_examples: int = 320, task: str | None = None) -> dict:
    """Quality on every labelled split, size, and speed on ``speed_examples`` dev examples (of
    ``task`` in a multi-task run: the shared encoder with that task's head)."""
    threads = set_threads()
    student, task_name, data, weights = open_model(folder, task)
    task = load_task(task_name, data)
    evals = {
        split: (student.loader(task.splits[split], 64), np.array([e.label for e in task.splits[split]]))
        for split in task.labelled_splits
    }
    quality = score_splits(student.model, task.spec, evals, task.labelled_splits)
    sample = task.splits[task.eval_splits[0]][:speed_examples]
    speed = measure(student.model, lambda bs: student.loader(sample, bs))
    result = {
        "folder": str(folder),
        "kind": student.kind,
        "task": task.spec.name,
        "primary_metric": f"{task.eval_splits[0]}/{task.spec.primary_metric}",
        "quality": quality,
        "parameters": sum(p.numel() for p in student.model.parameters()),
        "size_mb": round(weights.stat().st_size / 1e6, 2),
        **{k: round(v, 2) for k, v in speed.items()},
        "speed_examples": len(sample),
        "machine": {"processor": platform.processor() or platform.machine(), "torch_threads": threads},
    }
    name = "evaluation.json" if student.kind != "multitask" else f"evaluation-{task_name}.json"
    (Path(folder) / name).write_text(json.dumps(result, indent=2) + "\n")
    return result
