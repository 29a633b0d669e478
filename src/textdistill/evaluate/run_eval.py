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
from textdistill.train.trainer import set_threads


def open_model(folder: str | Path) -> tuple[Student, str, str | None, Path]:
    """``(student-like wrapper, task name, data folder, weights file)`` for a teacher or a run folder."""
    folder = Path(folder)
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
        "(textdistill distill)"
    )


def task_spec(folder: Path, task_name: str, data: str | None) -> TaskSpec:
    """The task a folder's model was trained for, from its teacher's ``task.json`` (no data read),
    else from the task itself."""
    from textdistill.data.tasks import TaskSpec

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


def evaluate_folder(folder: str | Path, speed_examples: int = 320) -> dict:
    """Quality on every labelled split, size, and speed on ``speed_examples`` dev examples."""
    threads = set_threads()
    student, task_name, data, weights = open_model(folder)
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
    (Path(folder) / "evaluation.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
