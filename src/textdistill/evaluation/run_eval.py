"""Evaluate a saved model folder: quality, parameters, size on disk, throughput and latency.

Any folder with a manifest (:func:`textdistill.artifacts.open_run`: a teacher, a student, one task
of a multi-task run) is scored on the data it was made with, read back through its recorded
source and task spec, or on ``data`` (another run's examples: how ``textdistill run`` scores a
teacher on the user's data). The result is written to ``<folder>/evaluation.json`` (per task,
``evaluation-<task>.json``, in a multi-task run), with a fingerprint of the examples scored, so
two results compare (retention) only when they were scored on the same examples.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from textdistill.artifacts import (
    OpenRun,
    examples_fingerprint,
    has_manifest,
    label_order,
    open_external,
    open_run,
)
from textdistill.data.spec import TaskSpec
from textdistill.data.windows import Reading
from textdistill.errors import TextdistillError
from textdistill.evaluation.quality import score_splits
from textdistill.evaluation.speed import measure, torch_runner
from textdistill.runtime import set_threads

if TYPE_CHECKING:
    from textdistill.data.load import TaskData


def evaluate_folder(
    folder: str | Path,
    speed_examples: int = 320,
    task: str | None = None,
    data: TaskData | None = None,
    reading: Reading | None = None,
) -> dict:
    """Quality on every labelled split, size, and speed on ``speed_examples`` dev examples (of
    ``task`` in a multi-task run: the shared encoder with that task's head), with what the model
    read of each split (``coverage``). ``reading`` overrides how the model reads long texts (the
    result then goes to ``evaluation-<mode>.json``, beside the run's own)."""
    threads = set_threads()
    opened = open_for(folder, data.spec) if data is not None else open_run(folder, task, reading=reading)
    student = opened.student
    if reading is not None:  # a model from elsewhere (open_for) reads as told too
        student.reading = reading
    task_data = data or opened.task_data()
    if data is None:
        warn_changed(folder, opened.manifest.get("data") or {}, task_data)
    spec = task_data.spec  # with data given, its metric and positive class score every model
    splits = task_data.labelled_splits
    evals = {
        split: (
            student.loader(task_data.splits[split], 64),
            np.array([e.label for e in task_data.splits[split]]),
        )
        for split in splits
    }
    threshold = opened.manifest.get("threshold")  # a multi-label model's, chosen on dev when it trained
    quality = score_splits(student.model, spec, evals, splits, threshold)
    coverage = {s: evals[s][0].dataset.coverage().record() for s in splits}
    if spec.multi_label:
        from textdistill.evaluation.metrics import per_label_f1
        from textdistill.models.teacher import predict_logits

        logits = {s: predict_logits(student.model, evals[s][0], True).numpy() for s in splits}
        quality_per_label = {
            s: per_label_f1(spec, logits[s], evals[s][1], quality["threshold"]) for s in splits
        }
    sample = task_data.splits[task_data.eval_splits[0]][:speed_examples]
    measured = measure(torch_runner(student.model), student, sample)  # batch 32 as served, shortest first
    speed = {
        "throughput_bs32": measured["throughput"][32],
        "tokens_per_s_bs32": measured["tokens_per_s"][32],
        "latency_p50_ms": measured["latency_ms"]["p50"],
        "latency_p90_ms": measured["latency_ms"]["p90"],
    }
    result = {
        "folder": str(folder),
        "kind": student.kind,
        **scored(task_data, quality),
        **({"per_label_f1": quality_per_label} if spec.multi_label else {}),
        "state": opened.manifest.get("state"),
        "max_length": student.max_length,
        "reading": student.reading.record(),
        "coverage": coverage,
        "parameters": sum(p.numel() for p in student.model.parameters()),
        "size_mb": round(opened.weights.stat().st_size / 1e6, 2),
        **{k: round(v, 2) for k, v in speed.items()},
        "speed_examples": len(sample),
        "machine": {"processor": platform.processor() or platform.machine(), "torch_threads": threads},
    }
    name = "evaluation.json" if student.kind != "multitask" else f"evaluation-{spec.name}.json"
    if reading is not None:
        name = name.replace(".json", f"-{reading.slug()}.json")
    (Path(folder) / name).write_text(json.dumps(result, indent=2) + "\n")
    return result


def scored(task_data: TaskData, quality: dict[str, float]) -> dict:
    """What every evaluation result says about what was scored: the task, its labels and metric,
    the ``quality`` on each labelled split, and which examples (so that results compare only when
    scored on the same ones)."""
    spec = task_data.spec
    return {
        "task": spec.name,
        "labels": list(spec.labels) if spec.labels else None,
        "positive_label": spec.positive_label,
        "primary_metric": f"{task_data.eval_splits[0]}/{spec.primary_metric}",
        "quality": quality,
        "scored_on": {
            s: {"examples": len(task_data.splits[s]), "sha256": examples_fingerprint(task_data.splits[s])}
            for s in task_data.labelled_splits
        },
    }


def warn_changed(folder: str | Path, recorded: dict, task_data: TaskData) -> None:
    """A warning for each split whose examples differ from the ones the run recorded (files edited
    since): the scores are then on the data as it is now, not as the run saw it."""
    import warnings

    for split, was in (recorded.get("splits") or {}).items():
        now = task_data.splits.get(split)
        if now is not None and was.get("sha256") not in (None, examples_fingerprint(now)):
            warnings.warn(
                f"{folder}: the {split} data changed since the run was made ({len(now)} examples now, "
                f"{was.get('examples')} recorded): it is scored as it is now",
                stacklevel=2,
            )


def open_for(folder: str | Path, spec: TaskSpec) -> OpenRun:
    """A folder's model as a model of ``spec`` (another run's data: how ``textdistill run`` scores
    a brought teacher): a teacher's outputs are put in the task's label order when its labels are
    the same names in another order; a model of other labels is refused."""
    from textdistill.models.teacher import Reordered

    if not has_manifest(folder):
        return open_external(folder, spec)
    opened = open_run(folder)
    if opened.spec.labels == spec.labels:
        return opened
    order = label_order(Path(folder), opened.spec.labels, spec)  # refuses other names
    if opened.kind != "teacher" or order is None:
        raise TextdistillError(
            f"{folder} predicts {list(opened.spec.labels or [])}, the data has {list(spec.labels or [])}"
        )
    opened.student = dataclasses.replace(opened.student, model=Reordered(opened.student.model, order))
    return opened


def same_examples(a: dict, b: dict, split: str) -> bool:
    """Whether two evaluation results scored ``split`` on the same examples."""
    return (
        (a.get("scored_on") or {}).get(split, {}).get("sha256")
        == (b.get("scored_on") or {}).get(split, {}).get("sha256")
        is not None
    )
