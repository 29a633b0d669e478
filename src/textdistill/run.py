"""The main job (``textdistill run``, ``make run``): teacher, students, one table.

Fine-tune (or reuse) the teacher, distil it into a fast BiLSTM (on the teacher's tokens and static
vectors) and a 3x transformer, train the BiLSTM on hard labels too, fit the classic baseline
(TF-IDF + logistic regression, what a user would have without distillation), evaluate every model
on this machine, and write ``report.md``, ``report.json`` and ``report.png`` (quality against
throughput) into the run folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from textdistill.artifacts import DataSource, load_source, open_teacher
from textdistill.config import TeachConfig, validate
from textdistill.data.load import TaskData
from textdistill.data.spec import TaskSpec
from textdistill.errors import TextdistillError
from textdistill.evaluation.baseline import NAME as BASELINE
from textdistill.evaluation.baseline import evaluate_baseline
from textdistill.evaluation.run_eval import evaluate_folder, same_examples
from textdistill.recipes.distill import distill
from textdistill.recipes.teach import teach_or_reuse

# The fast student: a BiLSTM on the teacher's own sub-word tokens, its embeddings the teacher's
# static vectors (model2vec, 256 dimensions): 97.3% of the teacher at 14.1x on movie-sentiment where
# GloVe 50d kept 94.2% (results/frontier.md, 3 seeds). The transformer: 2 layers of the teacher's width,
# started from teacher layers 1 and 4 with the feed-forward block cut from 1536 to the 1024 units of
# largest magnitude: 3.3-3.9x faster than minilm-l6 at batch 32 (results/retention.md,
# results/frontier.md) where the uncut 2 layers were 2.8-3.0x (results/distill.md).
STUDENTS = {
    "bilstm": {"kind": "bilstm", "embedding": "teacher", "embed_dim": 256},
    "transformer": {
        "kind": "transformer",
        "layers": 2,
        "hidden": 384,
        "heads": 12,
        "intermediate": 1024,
        "init_from_teacher": [1, 4],
    },
}
EPOCHS = {"bilstm": 10, "transformer": 3}
LR = {"bilstm": 1e-3, "transformer": 1e-4}
# each student distilled (Hinton KD); the fast one also trained on the hard labels alone, the row
# that says whether distillation pays over plain training of the same network
METHODS = {"bilstm": ("hinton", "hard"), "transformer": ("hinton",)}


def main_job(
    task: str | None,
    teacher: str,
    out: Path,
    quick: bool = False,
    seed: int = 42,
    task_data: TaskData | None = None,
    source: DataSource | None = None,
    teacher_folder: Path | None = None,
    long: bool = False,
) -> list[dict]:
    """Run everything; returns the table's rows (teacher first).

    ``long``: long documents are read whole where it pays: the teacher is taught on every window
    and gives its soft targets over windows, the transformer student reads windows
    (:func:`long_reading`).

    The data is the built-in ``task``, or ``task_data`` read from ``source`` (the user's files, a
    GLUE folder). The teacher is ``teacher`` (an encoder) fine-tuned here, or ``teacher_folder``, a
    teacher fine-tuned already (no teaching then). Every model is scored on the same examples."""
    subset = {"max_train_examples": 1000, "max_eval_examples": 300} if quick else {}
    if source is None:
        source = DataSource("task", task=task)
    if task_data is None:
        task_data = load_source(source)
    spec = task_data.spec
    if teacher_folder is None:
        glue = source.data if source.kind == "task" else None
        teach_cfg = TeachConfig(
            task=spec.name, model=teacher, out=str(out / "teacher"), data=glue, seed=seed,
            epochs=1.0 if quick else 3.0, **subset, **({"reading": WINDOWS} if long else {}),
        )  # fmt: skip
        teach_or_reuse(teach_cfg, task_data, source)
        teacher_dir = out / "teacher"
    else:
        ref = open_teacher(teacher_folder, spec)  # a finished teacher of these labels, before any training
        if ref.members:
            raise TextdistillError(
                f"--teacher-folder {teacher_folder} is an ensemble: give one member folder, or distil from "
                "the ensemble with textdistill distill (teacher: FOLDER)"
            )
        teacher_dir = teacher_folder
    runs = {"teacher": teacher_dir}
    for kind, student in STUDENTS.items():
        for method in METHODS[kind]:
            name = f"{kind}-{method}"
            cfg = validate(
                {
                    **data_section(spec, source),
                    "teacher": str(teacher_dir),
                    "out": str(out / name),
                    "student": student,
                    "method": {"name": method},
                    "train": {"epochs": 1 if quick else EPOCHS[kind], "lr": LR[kind], "seed": seed, **subset},
                    **(long_reading(kind) if long else {}),
                }
            )
            distill(cfg)
            runs[name] = out / name
    # every model on the run's own examples (a brought teacher too): retention compares like with like
    speed_examples = 64 if quick else 320
    rows = [
        {"model": name, **evaluate_folder(folder, speed_examples=speed_examples, data=task_data)}
        for name, folder in runs.items()
    ]
    # what the user would have without distillation, on the same labelled data, timed the same way
    labelled = task_data  # the baseline learns from the labelled examples the students learn from
    if quick:
        from dataclasses import replace

        from textdistill.data.load import subsample

        train = subsample(task_data.splits["train"], subset["max_train_examples"])
        labelled = replace(task_data, splits={**task_data.splits, "train": train})
    rows.insert(1, {"model": BASELINE, **evaluate_baseline(labelled, speed_examples, seed)})
    write_report(rows, out, spec.name, quick)
    return rows


WINDOWS = {"mode": "windows"}


def long_reading(kind: str) -> dict:
    """The distill config keys of ``run --long``: soft targets over windows for every student; the
    transformer reads windows, the BiLSTM keeps its cut (``train.max_length``): over 1,024 tokens it
    cost about 60 times as much a step on BBC News (``results/long_documents.md``), and its
    cut reading was its best there; a CNN config with ``student.max_length`` reads whole texts."""
    if kind == "transformer":
        return {"teacher_reading": WINDOWS, "reading": WINDOWS}
    return {"teacher_reading": WINDOWS}


def data_section(spec: TaskSpec, source: DataSource) -> dict:
    """The data keys of a distill config for ``source`` (a built-in task, or the user's files)."""
    if source.kind == "task":
        return {"task": source.task, "data": source.data}
    if source.kind != "files":
        raise TextdistillError("textdistill run takes a built-in task, a GLUE folder or your own files")
    labels = None
    if spec.labels is not None:
        labels = [f"{k}={v}" for k, v in source.label_map.items()] if source.label_map else list(spec.labels)
    files = {
        "train": source.train, "dev": source.dev, "test": source.test, "columns": source.columns,
        "labels": labels, "regression": source.regression, "metric": spec.primary_metric,
        "positive": spec.positive, "bad_rows": source.bad_rows, "multiline": source.multiline,
        "multi_label": source.multi_label, "label_separator": source.label_separator,
    }  # fmt: skip
    return {"task": spec.name, "files": files}


def write_report(rows: list[dict], out: Path, task: str, quick: bool) -> None:
    """``report.json``, ``report.md`` and ``report.png`` (quality against throughput, log scale)."""
    teacher = rows[0]
    key = teacher["primary_metric"]
    split = key.split("/")[0]
    for r in rows:  # retention only where the two were scored on the same examples
        same = same_examples(r, teacher, split) and teacher["quality"][key] > 0
        r["retention"] = r["quality"][key] / teacher["quality"][key] if same else None
        r["speedup_bs32"] = r["throughput_bs32"] / teacher["throughput_bs32"]
    (out / "report.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = [
        f"# textdistill run: {task}{' (quick)' if quick else ''}\n",
        f"| model | params | size MB | {key} | retention | ex/s (batch 32) | latency p50 ms (batch 1) "
        f"| speed-up | {split} tokens read |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['parameters'] / 1e6:.2f}M | {r['size_mb']:.1f} | {r['quality'][key]:.4f} "
            f"| {fmt_retention(r['retention'])} | {r['throughput_bs32']:.0f} | {r['latency_p50_ms']:.1f} "
            f"| {r['speedup_bs32']:.1f}x | {fmt_read((r.get('coverage') or {}).get(split))} |"
        )
    (out / "report.md").write_text("\n".join(lines) + "\n")
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for r in rows:
        ax.scatter(r["throughput_bs32"], r["quality"][key], s=40 + r["parameters"] / 3e5)
        ax.annotate(
            r["model"],
            (r["throughput_bs32"], r["quality"][key]),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize=8,
        )
    ax.set(
        xscale="log",
        xlabel="examples/s at batch 32 (this CPU, log scale)",
        ylabel=key,
        title=f"{task}: quality against speed (marker size: parameters)",
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "report.png", dpi=120)
    plt.close(fig)


def fmt_read(coverage: dict | None) -> str:
    """What a model read of a split: all of it, or the share of the tokens and how many texts it cut."""
    if coverage is None:
        return "all (bag of words)"
    if not coverage["over_limit"] or coverage["tokens_read_share"] >= 1:
        return "all"
    cut = f"{coverage['over_limit']:,} of {coverage['texts']:,} texts cut at {coverage['limit']}"
    return f"{coverage['tokens_read_share']:.0%} ({cut})"


def fmt_retention(value: float | None) -> str:
    return "n/a (other examples)" if value is None else f"{value:.1%}"
