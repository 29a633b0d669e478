"""Serving speed of a student on every backend, and of its teacher: ``textdistill bench``.

For each folder: PyTorch fp32, ONNX fp32 and ONNX int8 (exported first when ``<folder>/onnx`` is
missing), and the run's teacher in PyTorch fp32. Throughput (examples/s) at several batch sizes
over the same dev examples, and latency percentiles at batch 1. Batches are tokenised and padded
before the clock starts (the model's cost, not the tokenizer's); one warm-up batch precedes every
measurement; PyTorch and ONNX Runtime use every core.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from textdistill.artifacts import open_run
from textdistill.data.windows import Reading
from textdistill.deploy import ONNX_FILES, export_folder, onnx_dir, onnx_session
from textdistill.evaluation.run_eval import open_for
from textdistill.evaluation.speed import Runner, measure, torch_runner
from textdistill.runtime import set_threads

BATCH_SIZES = (1, 8, 32, 128)


def _onnx_runner(path: Path) -> Runner:
    session = onnx_session(path)
    names = [i.name for i in session.get_inputs()]

    def run(batch: dict) -> object:
        return session.run(None, {n: batch[n].numpy() for n in names})

    return run


def run_teachers(teachers: list[Path]) -> list[tuple[str, Path]]:
    """``(model label, folder)`` of the teacher(s) a run was distilled from (its manifest's): none,
    one, or each kept member of an ensemble (serving an ensemble costs every member)."""
    from textdistill.teachers.ensemble import is_ensemble, read_ensemble

    rows: list[tuple[str, Path]] = []
    for teacher in teachers:
        if is_ensemble(teacher):
            members, _ = read_ensemble(teacher)
            rows += [(f"teacher, ensemble member {i} of {len(members)}", m) for i, m in enumerate(members, 1)]
        else:
            rows.append(("teacher", Path(teacher)))
    return rows


def bench_folder(
    folder: str | Path,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
    examples: int = 512,
    latency_n: int = 200,
    teacher: bool = True,
    task: str | None = None,
    reading: Reading | None = None,
) -> list[dict]:
    """One row per (model, backend): the student on torch / onnx / onnx-int8, then its teacher (each
    member of an ensemble teacher), each reading long texts as its run did (the student as
    ``reading`` says, when given). ``task`` picks one task of a multi-task run."""
    set_threads()
    folder = Path(folder)
    opened = open_run(folder, task, reading=reading)
    student, task_name = opened.student, opened.spec.name
    loaded = opened.task_data()
    sample = loaded.splits[loaded.eval_splits[0]][:examples]
    onnx = onnx_dir(folder, student, task_name)
    if not all((onnx / f).exists() for f in ONNX_FILES.values()):
        export_folder(folder, int8=True, task=task)
    rows = []
    runners = {"torch fp32": torch_runner(student.model)}
    runners["onnx fp32"] = _onnx_runner(onnx / ONNX_FILES["onnx"])
    runners["onnx int8"] = _onnx_runner(onnx / ONNX_FILES["onnx-int8"])
    for backend, run in runners.items():
        rows.append({"folder": str(folder), "model": student.kind, "backend": backend,
                     "reading": student.reading.record(),
                     **measure(run, student, sample, batch_sizes, latency_n)})  # fmt: skip
    recorded = opened.manifest.get("teacher_reading")  # how the run's teacher read the texts
    for label, teacher_dir in run_teachers(opened.teachers) if teacher else []:
        t = open_for(teacher_dir, opened.spec).student  # from its manifest, or a model from elsewhere
        t.reading = Reading.from_record(recorded) if recorded else t.reading
        rows.append({"folder": str(teacher_dir), "model": label, "backend": "torch fp32",
                     "reading": t.reading.record(),
                     **measure(torch_runner(t.model), t, sample, batch_sizes, latency_n)})  # fmt: skip
    for row in rows:
        row["task"], row["examples"], row["threads"] = task_name, len(sample), torch.get_num_threads()
    return rows


def plot(rows: list[dict], path: Path) -> None:
    """Throughput against batch size, one line per model and backend (log scales)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for row in rows:
        sizes = [int(b) for b in row["throughput"]]
        ax.plot(sizes, list(row["throughput"].values()), marker="o",
                label=f"{Path(row['folder']).name}: {row['model']}, {row['backend']}")  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("examples / s")
    ax.set_title(f"Serving throughput on {os.cpu_count()} CPU cores")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table_markdown(rows: list[dict]) -> str:
    sizes = list(rows[0]["throughput"])
    last = sizes[-1]
    head = "| model | backend | reads | " + " | ".join(f"ex/s bs{b}" for b in sizes)
    head += f" | tokens/s bs{last} | p50 ms | p90 ms | p99 ms |"
    lines = [head, "|" + "---|" * (len(sizes) + 7)]
    for r in rows:
        name = f"{Path(r['folder']).name} ({r['model']})"
        tp = " | ".join(f"{v:,.0f}" for v in r["throughput"].values())
        lat, reads = r["latency_ms"], (r.get("reading") or {}).get("mode", "truncate")
        rate = (r.get("tokens_per_s") or {}).get(last)
        rate_text = "" if rate is None else f"{rate:,.0f}"
        cells = [name, r["backend"], reads, tp, rate_text, lat["p50"], lat["p90"], lat["p99"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def ratio(rows: list[dict], folder: str, backend: str, base: str = "torch fp32", bs: int = 32) -> float:
    by = {(r["folder"], r["backend"]): r for r in rows}
    return by[(folder, backend)]["throughput"][bs] / by[(folder, base)]["throughput"][bs]
