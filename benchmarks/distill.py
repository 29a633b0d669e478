"""Distilled students against the same students trained on hard labels, over several seeds.

    python benchmarks/distill.py --tasks movie-sentiment trec6 --seeds 1 2 3

Needs a teacher per task (``--teachers DIR`` holding ``minilm-l6-<task>/``, as
``benchmarks/teachers.py`` writes them). Every run lands in ``--runs``; a run whose
``metrics.json`` exists is reused, so an interrupted benchmark continues where it stopped.
Writes ``results/distill.md``, ``results/distill.json`` and ``results/distill.png``. The students
and their training settings are the main job's (``textdistill.run``).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from common import STUDENTS, header_markdown, mean_sd, pm, run_distill, run_record, seed_bars
from textdistill.evaluation.run_eval import evaluate_folder
from textdistill.run import EPOCHS, LR

METHODS = {"hard": {"name": "hard"}, "hinton": {"name": "hinton"}, "tang": {"name": "tang"}}


def run_one(task: str, teacher: Path, student: str, method: str, seed: int, runs: Path) -> dict:
    train = {"epochs": EPOCHS[student], "lr": LR[student], "seed": seed}
    config = {
        "task": task,
        "teacher": str(teacher),
        "student": STUDENTS[student],
        "method": METHODS[method],
        "train": train,
    }
    return run_distill(runs / f"{task}-{student}-{method}-s{seed}", config)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="+", default=["movie-sentiment", "trec6"])
    ap.add_argument("--students", nargs="+", default=list(STUDENTS))
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--teachers", default="runs/teachers")
    ap.add_argument("--runs", default="runs/distill-bench")
    ap.add_argument("--results", default="results/distill")
    args = ap.parse_args()
    record = run_record()
    runs = Path(args.runs)
    table: list[dict] = []
    metric: dict[str, str] = {}
    for task in args.tasks:
        teacher = Path(args.teachers) / f"minilm-l6-{task}"
        teacher_eval = evaluate_folder(teacher)
        key = metric[task] = teacher_eval["primary_metric"]
        table.append(
            {
                "task": task,
                "model": "teacher minilm-l6",
                "method": "-",
                "dev": [teacher_eval["quality"][key]],
                "test": [teacher_eval["quality"][key.replace("dev", "test")]],
                "params": teacher_eval["parameters"],
                "size_mb": teacher_eval["size_mb"],
                "throughput": teacher_eval["throughput_bs32"],
                "latency": teacher_eval["latency_p50_ms"],
                "train_seconds": [],
            }
        )
        for student in args.students:
            speed = None
            for method in args.methods:
                results = [run_one(task, teacher, student, method, s, runs) for s in args.seeds]
                if speed is None:  # one speed measurement per student architecture
                    speed = evaluate_folder(runs / f"{task}-{student}-{method}-s{args.seeds[0]}")
                table.append(
                    {
                        "task": task,
                        "model": student,
                        "method": method,
                        "dev": [r["best"][key] for r in results],
                        "test": [r["best"][key.replace("dev", "test")] for r in results],
                        "params": results[0]["parameters"],
                        "size_mb": speed["size_mb"],
                        "throughput": speed["throughput_bs32"],
                        "latency": speed["latency_p50_ms"],
                        "train_seconds": [r["train_seconds"] for r in results],
                    }
                )
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(
        json.dumps({"run": record, "seeds": args.seeds, "rows": table}, indent=2)
    )
    lines = [
        f"# Distillation: students against hard-label training ({len(args.seeds)} seeds)\n",
        header_markdown(record),
        f"- seeds {args.seeds}; teacher: minilm-l6 fine-tuned per task (`benchmarks/teachers.py`); "
        "mean ± sample standard deviation over seeds; best checkpoint by the dev metric\n",
        "| task | model | method | dev | test | retention (dev) | params | size MB | ex/s bs32 "
        "| speed-up | p50 ms bs1 | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table:
        teacher = next(r for r in table if r["task"] == row["task"] and r["method"] == "-")
        dev = mean_sd(row["dev"])[0]
        train_s = f"{statistics.fmean(row['train_seconds']):.0f}" if row["train_seconds"] else "-"
        lines.append(
            f"| {row['task']} | {row['model']} | {row['method']} | {pm(row['dev'])} "
            f"| {pm(row['test'])} | {dev / teacher['dev'][0]:.1%} | {row['params'] / 1e6:.2f}M "
            f"| {row['size_mb']:.1f} | {row['throughput']:.0f} "
            f"| {row['throughput'] / teacher['throughput']:.1f}x | {row['latency']:.1f} | {train_s} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")

    fig, axes = plt.subplots(1, len(args.tasks), figsize=(5.5 * len(args.tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], args.tasks, strict=True):
        rows = [r for r in table if r["task"] == task and r["method"] != "-"]
        labels = [f"{r['model']}\n{r['method']}" for r in rows]
        colors = ["#999999" if r["method"] == "hard" else "#1f77b4" for r in rows]
        teacher = next(r for r in table if r["task"] == task and r["method"] == "-")
        seed_bars(ax, rows, labels, colors, teacher["dev"][0], metric[task])
        ax.set_title(task)
    fig.suptitle("grey: hard labels only; blue: distilled; dots: seeds; bars: ±1 sd")
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
