"""LRC-BERT and its ablations on a 4-layer, 312-wide student, with and without task-agnostic
distillation, over seeds.

    python benchmarks/lrc_bert.py --tasks trec6 movie-sentiment vitaminc --seeds 1 2 3

Per task and seed: LRC-BERT full (COS-NCE + two-stage schedule + gradient perturbation), without
COS-NCE, without the two-stage schedule, without gradient perturbation, hidden-state MSE in place
of COS-NCE, Hinton KD only and hard labels only; each from a random student and from the general
student that ``textdistill general-distill`` makes once (``--general-texts`` texts of the offline
datasets' training splits, dev and test texts removed). Sized for a 2-core CPU: every task's
students train on a fixed random subset of its training set (``LIMITS``) and are scored on fixed
dev/test subsets, on which the teacher is scored too (retention compares like with like). Runs
land in ``--runs``; a finished run is reused. Speed-up and size are measured once per task (every
student has the same architecture) with ``textdistill evaluate``'s measurement.
Writes ``results/lrc_bert.{md,json,png}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from common import header_markdown, mean_sd, pm, run_distill, run_record

VARIANTS = {
    "LRC-BERT": {"name": "lrc_bert"},
    "w/o COS-NCE": {"name": "lrc_bert", "intermediate": "none"},
    "w/o two-stage": {"name": "lrc_bert", "two_stage": False},
    "w/o perturbation": {"name": "lrc_bert", "perturbation": 0.0},
    "hidden MSE for COS-NCE": {"name": "lrc_bert", "intermediate": "hidden_mse"},
    "Hinton KD only": {"name": "hinton"},
    "hard labels only": {"name": "hard"},
}
LIMITS = {
    "movie-sentiment": {"max_train_examples": 1000, "max_eval_examples": 500},
    "trec6": {"max_train_examples": 1000, "max_eval_examples": 500},
    "vitaminc": {"max_train_examples": 600, "max_eval_examples": 300, "max_length": 96},
}
STUDENT = {"kind": "transformer", "layers": 4, "hidden": 312, "heads": 12, "intermediate": 1200}


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def general_student(args: argparse.Namespace) -> tuple[Path, dict]:
    """The task-agnostic student, made once (reused when its folder is complete)."""
    from textdistill.config import GeneralConfig
    from textdistill.data.tasks import GENERAL_CORPUS
    from textdistill.recipes.general import general_distill

    out = Path(args.runs) / f"general-4l312-{args.general_texts}"
    if not (out / "general.json").exists():
        general_distill(
            GeneralConfig(
                teacher="minilm-l6",
                out=str(out),
                tasks=list(GENERAL_CORPUS),
                max_texts=args.general_texts,
                epochs=args.general_epochs,
                seed=0,
            )
        )
    return out / "student", json.loads((out / "general.json").read_text())


def teacher_quality(task: str, teacher: Path, limits: dict) -> dict[str, float]:
    """The teacher's scores on the same dev/test subsets as the students."""
    from transformers import AutoTokenizer

    from textdistill.data.load import load_task, subsample
    from textdistill.evaluation.quality import score_splits
    from textdistill.models.bundle import Student
    from textdistill.models.teacher import HFClassifier

    data = load_task(task)
    student = Student(
        HFClassifier.from_pretrained(str(teacher)),
        "teacher",
        tokenizer=AutoTokenizer.from_pretrained(teacher),
        max_length=limits.get("max_length", 128),
    )
    evals = {}
    for split in data.labelled_splits:
        rows = subsample(data.splits[split], limits["max_eval_examples"])
        evals[split] = (student.loader(rows, 64), np.array([e.label for e in rows]))
    return score_splits(student.model, data.spec, evals, data.labelled_splits)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="+", default=["trec6", "movie-sentiment", "vitaminc"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--general-texts", type=int, default=20000)
    ap.add_argument("--general-epochs", type=float, default=1.0)
    ap.add_argument("--teachers", default="runs/teachers")
    ap.add_argument("--runs", default="runs/lrc-bench")
    ap.add_argument("--results", default="results/lrc_bert")
    ap.add_argument("--render", action="store_true", help="only rewrite the .md/.png from the .json")
    args = ap.parse_args()
    if args.render:
        saved = json.loads(Path(args.results).with_suffix(".json").read_text())
        args.seeds = saved["seeds"]
        write_results(saved["rows"], saved["run"], saved["general_student"], args)
        return
    record = run_record()
    general, general_record = general_student(args)
    rows: list[dict] = []
    for task in args.tasks:
        teacher = Path(args.teachers) / f"minilm-l6-{task}"
        limits = LIMITS[task]
        t_scores = teacher_quality(task, teacher, limits)
        key = next(iter(t_scores))  # dev/<primary metric>
        rows.append({"task": task, "init": "-", "variant": "teacher minilm-l6", "key": key,
                     "dev": [t_scores[key]], "test": [t_scores[key.replace("dev", "test")]]})  # fmt: skip
        speed_run = None
        for init in ("random", "general"):
            student = STUDENT if init == "random" else {**STUDENT, "init_from": str(general)}
            for variant, method in VARIANTS.items():
                results = []
                for seed in args.seeds:
                    config = {
                        "task": task,
                        "teacher": str(teacher),
                        "student": student,
                        "method": method,
                        "train": {"epochs": args.epochs, "lr": args.lr, "seed": seed, **limits},
                    }
                    name = f"{task}-{init}-{slug(variant)}-e{args.epochs:g}-lr{args.lr:g}-s{seed}"
                    out = Path(args.runs) / name
                    results.append(run_distill(out, config))
                    speed_run = speed_run or out
                rows.append(
                    {
                        "task": task,
                        "init": init,
                        "variant": variant,
                        "key": key,
                        "dev": [r["best"][key] for r in results],
                        "test": [r["best"][key.replace("dev", "test")] for r in results],
                        "train_seconds": [r["train_seconds"] for r in results],
                        "parameters": results[0]["parameters"],
                    }
                )
        rows[-1]["speed_run"] = str(speed_run)
        measure_speed(rows, task, args)
        write_results(rows, record, general_record, args)


def measure_speed(rows: list[dict], task: str, args: argparse.Namespace) -> None:
    """Throughput at batch 32 of the teacher and of one student of ``task`` (all students share
    the architecture), as ``textdistill evaluate`` measures it."""
    from textdistill.evaluation.run_eval import evaluate_folder

    run = next(r["speed_run"] for r in rows if r["task"] == task and "speed_run" in r)
    teacher = evaluate_folder(Path(args.teachers) / f"minilm-l6-{task}")
    student = evaluate_folder(run)
    for r in rows:
        if r["task"] == task:
            r["speed"] = {
                "teacher_bs32": teacher["throughput_bs32"],
                "student_bs32": student["throughput_bs32"],
                "speed_up": student["throughput_bs32"] / teacher["throughput_bs32"],
                "teacher_mb": teacher["size_mb"],
                "student_mb": student["size_mb"],
                "teacher_params": teacher["parameters"],
                "student_params": student["parameters"],
            }


def write_results(rows: list[dict], record: dict, general: dict, args: argparse.Namespace) -> None:
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"run": record, "seeds": args.seeds, "epochs": args.epochs, "lr": args.lr, "limits": LIMITS}
    payload["general_student"] = {k: v for k, v in general.items() if k != "history"}
    out.with_suffix(".json").write_text(json.dumps({**payload, "rows": rows}, indent=2) + "\n")
    texts = general["texts"]
    lines = [
        f"# LRC-BERT ablation, 4-layer 312-wide student ({len(args.seeds)} seeds)\n",
        header_markdown(record),
        f"- seeds {args.seeds}; {args.epochs:g} epochs, lr {args.lr:g}, batch 32; mean ± sample sd over "
        "seeds; best checkpoint by the dev metric; retention = student dev / teacher dev on the same "
        "examples",
        "- students train on a fixed random subset of each training set and are scored on fixed dev/test "
        "subsets (the teacher too): "
        + "; ".join(
            f"{t}: {lim['max_train_examples']:,} train, {lim['max_eval_examples']:,} dev/test"
            + (f", max {lim['max_length']} tokens" if "max_length" in lim else "")
            for t, lim in LIMITS.items()
        ),
        f"- init `general`: task-agnostic distillation from the pre-trained minilm-l6 encoder "
        f"(`textdistill general-distill`, COS-NCE only) on {texts['train']:,} training texts of the offline "
        f"datasets ({texts['removed_as_dev_or_test']:,} texts removed because they occur in a dev or test "
        f"split), {general['steps']} steps, {general['teacher_seconds'] + general['train_seconds']:.0f} s; "
        "`random`: BERT's random initialisation",
        "- LRC-BERT settings (paper's where it gives them): COS-NCE on mean-pooled layer outputs, layer "
        "map [1, 3, 4, 6], K = 32 negatives (batch + memory bank), T = 1.1, weights 1:0:0 for the first "
        "80% of steps then 1:1:3, gradient perturbation of size 1.0 (per example, L2); Hinton KD: "
        "alpha 0.5, T 2\n",
        "| task | init | method | dev | test | retention | speed-up bs32 | size MB | params | train s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        teacher = next(r for r in rows if r["task"] == row["task"] and r["init"] == "-")
        speed = row.get("speed")
        is_teacher = row["init"] == "-"
        speedup = "-" if not speed else "1.0x" if is_teacher else f"{speed['speed_up']:.1f}x"
        size = "-" if not speed else f"{speed['teacher_mb' if is_teacher else 'student_mb']:.1f}"
        who = "teacher" if is_teacher else "student"
        params = "-" if not speed else f"{speed[who + '_params'] / 1e6:.2f}M"
        seconds = f"{statistics.fmean(row['train_seconds']):.0f}" if "train_seconds" in row else "-"
        lines.append(
            f"| {row['task']} | {row['init']} | {row['variant']} | {pm(row['dev'])} | {pm(row['test'])} "
            f"| {mean_sd(row['dev'])[0] / teacher['dev'][0]:.1%} | {speedup} | {size} | {params} "
            f"| {seconds} |"
        )
    lines += ["", "## Does LRC-BERT (full) beat Hinton KD only and hard labels only? (mean dev)", ""]
    for task in dict.fromkeys(r["task"] for r in rows):
        for init in ("random", "general"):
            got = {
                r["variant"]: mean_sd(r["dev"])[0] for r in rows if r["task"] == task and r["init"] == init
            }
            if {"LRC-BERT", "Hinton KD only", "hard labels only"} <= set(got):
                wins = got["LRC-BERT"] > max(got["Hinton KD only"], got["hard labels only"])
                best = max(got, key=got.get)
                lines.append(
                    f"- {task}, {init} init: {'yes' if wins else 'no'} (LRC-BERT {got['LRC-BERT']:.4f}, "
                    f"Hinton {got['Hinton KD only']:.4f}, hard {got['hard labels only']:.4f}; best: {best})"
                )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    plot(rows, out.with_suffix(".png"))


def plot(rows: list[dict], path: Path) -> None:
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.6), squeeze=False)
    names = list(VARIANTS)
    for ax, task in zip(axes[0], tasks, strict=True):
        teacher = next(r for r in rows if r["task"] == task and r["init"] == "-")
        for k, (init, color) in enumerate((("random", "#1f77b4"), ("general", "#ff7f0e"))):
            sel = {r["variant"]: r for r in rows if r["task"] == task and r["init"] == init}
            xs = [i + (k - 0.5) * 0.38 for i, n in enumerate(names) if n in sel]
            got = [sel[n] for n in names if n in sel]
            if not got:
                continue
            means = [mean_sd(r["dev"])[0] for r in got]
            sds = [mean_sd(r["dev"])[1] for r in got]
            ax.bar(xs, means, width=0.38, yerr=sds, color=color, capsize=3, label=f"{init} init")
            for x, r in zip(xs, got, strict=True):
                ax.scatter([x] * len(r["dev"]), r["dev"], color="black", s=6, zorder=3)
        ax.axhline(teacher["dev"][0], ls="--", color="red", label="teacher")
        ax.set_xticks(range(len(names)), [n.replace(" ", "\n", 1) for n in names], fontsize=7)
        ax.set(title=task, ylabel=teacher["key"])
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
