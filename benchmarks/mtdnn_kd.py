"""MT-DNN-KD on the offline tasks: teachers, ensembles, single-task and multi-task students.

    python benchmarks/mtdnn_kd.py [--seeds 1 2 3] [--train-examples 2000] [--epochs 3]

Tasks: movie-sentiment and trec6 get an ensemble of three minilm-l6 teachers (seeds 42-44,
dropout 0.1 / 0.2 / 0.3, probabilities averaged); movie-score (regression) and vitaminc (pairs)
get none. Students (2 layers, width 384, from minilm-l6 layers 1 and 4) on ``--train-examples``
training examples per task, for each seed: a single-task student per task (Hinton KD against the
ensemble where there is one, hard labels elsewhere), the multi-task student without KD (every task
on its labels) and with KD (the two ensembles as teachers) at each of ``--kd-temperatures`` (1 is
the paper's: soft cross-entropy against the averaged probabilities). Students are scored on
``--eval-examples`` dev/test examples per task; teachers and ensembles on the whole splits.

The student runs of one seed share their initialisation and batch order, so KD is judged by the
paired difference (with KD minus without, seed by seed), on dev (where checkpoints are chosen,
so it flatters every student alike) and on test (never looked at during training).
Writes ``results/mtdnn_kd.{md,json,png}``; finished runs are reused; ``--render`` redraws the
tables and the plot from the JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from common import header_markdown, mean_sd, pm, run_record
from textdistill.config import validate
from textdistill.data.tasks import OFFLINE_TASKS
from textdistill.recipes.multitask import multitask_distill
from textdistill.recipes.teach import TeachConfig, teach_ensemble

WITH_TEACHER = ("movie-sentiment", "trec6")
WITHOUT = ("movie-score", "vitaminc")
STUDENT = {"kind": "transformer", "layers": 2, "hidden": 384, "heads": 12, "intermediate": 1536,
           "init_from_teacher": [1, 4]}  # fmt: skip


def kd_key(temperature: float) -> str:
    """The results key of the multi-task student with KD at ``temperature`` (the paper's T = 1: ``mt_kd``)."""
    return "mt_kd" if temperature == 1 else f"mt_kd_t{temperature:g}"


def names(temperatures: list[float]) -> dict[str, str]:
    """Row names of the students, in table order."""
    rows = {"single": "single-task student", "mt": "multi-task, no KD"}
    for t in temperatures:
        rows[kd_key(t)] = "multi-task + KD" + ("" if t == 1 else f" (T = {t:g})")
    return rows


def of(best: dict, task: str) -> dict:
    """A multi-task run's metrics of one task, without the task prefix."""
    return {k.split("/", 1)[1]: v for k, v in best.items() if k.startswith(task + "/")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--train-examples", type=int, default=2000)
    ap.add_argument("--eval-examples", type=int, default=500)
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--kd-temperatures", nargs="+", type=float, default=[1.0, 2.0])
    ap.add_argument("--teacher-examples", type=int, default=None, help="teachers' training examples (all)")
    ap.add_argument("--teachers", default="runs/teachers")
    ap.add_argument("--runs", default="runs/mtdnn-bench")
    ap.add_argument("--results", default="results/mtdnn_kd")
    ap.add_argument("--render", action="store_true", help="only redraw the tables and plot from the JSON")
    args = ap.parse_args()
    if args.render:
        render(json.loads(Path(args.results + ".json").read_text()), args.results)
        return
    record = run_record()
    runs = Path(args.runs)
    limits = {"max_train_examples": args.train_examples, "max_eval_examples": args.eval_examples,
              "epochs": args.epochs}  # fmt: skip
    ensembles = {}
    for task in WITH_TEACHER:
        out = Path(args.teachers) / f"minilm-l6-{task}-ensemble3"
        cfg = TeachConfig(
            task=task, model="minilm-l6", out=str(out), epochs=3, max_train_examples=args.teacher_examples
        )
        ensembles[task] = (out, teach_ensemble(cfg, None, 3, 3, (0.1, 0.2, 0.3)))
    keys = list(names(args.kd_temperatures))
    results: dict = {task: {k: [] for k in keys} for task in (*WITH_TEACHER, *WITHOUT)}
    seconds: dict[str, list[float]] = {k: [] for k in keys}

    def run(name: str, tasks: list[str], temperature: float | None, train: dict) -> dict:
        """One (multi-)task run through the same code: a single-task student is a run of one task;
        ``temperature`` None trains every task on its labels."""
        out = runs / name
        if not (out / "metrics.json").exists():
            kd = temperature is not None
            entries = [{"task": t, **({"teacher": str(ensembles[t][0])} if kd and t in ensembles else {})}
                       for t in tasks]  # fmt: skip
            multitask_distill(validate({"tasks": entries, "encoder": "minilm-l6", "student": STUDENT,
                                        "temperature": temperature or 1.0, "out": str(out),
                                        "train": train}))  # fmt: skip
        return json.loads((out / "metrics.json").read_text())

    for seed in args.seeds:
        train = {**limits, "seed": seed, "lr": 1e-4}
        single = 0.0
        for task in results:  # KD (T = 1) from the ensemble where there is one, labels elsewhere
            m = run(f"single-{task}-s{seed}", [task], 1.0, train)
            results[task]["single"].append(of(m["best"], task))
            single += m["train_seconds"]
        seconds["single"].append(single)
        for temperature in (None, *args.kd_temperatures):
            key = "mt" if temperature is None else kd_key(temperature)
            m = run(f"{key}-s{seed}", list(results), temperature, train)
            seconds[key].append(m["train_seconds"])
            for task in results:
                results[task][key].append(of(m["best"], task))
    out = {
        **record,
        "args": vars(args),
        "ensembles": {t: m for t, (_, m) in ensembles.items()},
        "students": results,
        "train_seconds": seconds,
    }
    Path(args.results + ".json").write_text(json.dumps(out, indent=2, default=str) + "\n")
    render(out, args.results)


def paired(rows: dict, key: str, split: str) -> list[float]:
    """Seed-by-seed ``key`` minus the multi-task student without KD on ``split`` (points)."""
    return [100 * (a[split] - b[split]) for a, b in zip(rows[key], rows["mt"], strict=True)]


def render(out: dict, results: str) -> None:
    """``results.md`` (one table per task, the paired KD gains, the verdicts) and ``results.png``."""
    a = out["args"]
    rows_named = names(a.get("kd_temperatures", [1.0]))
    lines = ["# MT-DNN-KD: ensembles, single-task and multi-task students\n", header_markdown(out)]
    lines.append(
        "- students: 2 layers, width 384, from minilm-l6 layers 1 and 4; "
        f"{a['train_examples']} training examples per task, {a['epochs']:g} epochs, lr 1e-4, "
        f"seeds {a['seeds']}; "
        f"scored on {a['eval_examples']} dev/test examples per task (teachers and ensembles: whole splits); "
        "mean ± sample sd over seeds; every student's checkpoint is its best by the dev metric (the mean "
        "over tasks for multi-task students), so test is the unbiased comparison\n"
        "- teachers: minilm-l6 fine-tuned on the whole training split for 3 epochs, seeds 42-44, dropout "
        "0.1 / 0.2 / 0.3; the ensemble averages the three members' class probabilities\n"
        "- single-task students of movie-sentiment and trec6 learn from their ensemble (KD, T = 1); "
        "those of movie-score and vitaminc from labels\n"
    )
    if "train_seconds" in out:
        lines.append(
            "- training time per seed: "
            + ", ".join(
                f"{rows_named[k]} {statistics.fmean(v):.0f} s" for k, v in out["train_seconds"].items()
            )
            + " (the single-task students of all four tasks together)\n"
        )
    verdicts = []
    for task, rows in out["students"].items():
        metric = OFFLINE_TASKS[task].primary_metric
        dev, test = f"dev/{metric}", f"test/{metric}"
        lines += [f"## {task} ({metric})\n", "| model | dev | test |", "|---|---|---|"]
        if task in out["ensembles"]:
            ens = out["ensembles"][task]
            for m in ens["members"]:
                lines.append(f"| teacher {m['member']} (dropout {m['dropout']}) | {m['best'][dev]:.4f} | "
                             f"{m['best'][test]:.4f} |")  # fmt: skip
            lines.append(f"| ensemble of 3 | {ens['best'][dev]:.4f} | {ens['best'][test]:.4f} |")
            for split in (dev, test):
                best = max(m["best"][split] for m in ens["members"])
                mean = statistics.fmean(m["best"][split] for m in ens["members"])
                got = ens["best"][split]
                verdicts.append(
                    f"- {task}, {split}: ensemble {got:.4f} vs best teacher {best:.4f} "
                    f"({'beats it' if got > best else 'does not beat it'}) and the teachers' mean {mean:.4f}"
                )
        for key, name in rows_named.items():
            lines.append(
                f"| {name} | {pm([r[dev] for r in rows[key]])} | {pm([r[test] for r in rows[key]])} |"
            )
        lines += ["", "Paired gain over the multi-task student without KD (points, per seed; mean ± sd):", ""]
        lines += ["| model | dev | test |", "|---|---|---|"]
        for key in [k for k in rows_named if k != "mt"]:
            cells = []
            for split in (dev, test):
                diffs = paired(rows, key, split)
                mean, sd = mean_sd(diffs)
                cells.append(f"{mean:+.2f} ± {sd:.2f} ({', '.join(f'{d:+.1f}' for d in diffs)})")
            lines.append(f"| {rows_named[key]} | {cells[0]} | {cells[1]} |")
            if task in out["ensembles"] and key.startswith("mt_kd"):
                wins = [sum(d > 0 for d in paired(rows, key, s)) for s in (dev, test)]
                verdicts.append(
                    f"- {task}: {rows_named[key]} minus no KD: "
                    f"{mean_sd(paired(rows, key, dev))[0]:+.2f} dev points (better in {wins[0]} of "
                    f"{len(rows['mt'])} seeds), {mean_sd(paired(rows, key, test))[0]:+.2f} test points "
                    f"(better in {wins[1]} of {len(rows['mt'])})"
                )
        lines.append("")
    lines += ["## Verdict", "", *verdicts]
    Path(results + ".md").write_text("\n".join(lines) + "\n")
    plot(out, rows_named, results + ".png")
    print("\n".join(lines))


def plot(out: dict, rows_named: dict[str, str], path: str) -> None:
    """Per task: each student's dev and test (mean, ±1 sd, seeds as dots); the ensemble and the best
    teacher as lines."""
    tasks = list(out["students"])
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.6 * len(tasks), 4.4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        metric = OFFLINE_TASKS[task].primary_metric
        rows = out["students"][task]
        keys = list(rows_named)
        for j, (split, color) in enumerate((("dev", "#1f77b4"), ("test", "#ff7f0e"))):
            values = [[r[f"{split}/{metric}"] for r in rows[k]] for k in keys]
            x = [i + (j - 0.5) * 0.38 for i in range(len(keys))]
            stats = [mean_sd(v) for v in values]
            ax.bar(x, [s[0] for s in stats], 0.38, yerr=[s[1] for s in stats], color=color, capsize=3,
                   label=split)  # fmt: skip
            for xi, v in zip(x, values, strict=True):
                ax.scatter([xi] * len(v), v, color="black", s=6, zorder=3)
            if task in out["ensembles"]:
                ens = out["ensembles"][task]
                best = max(m["best"][f"{split}/{metric}"] for m in ens["members"])
                ax.axhline(ens["best"][f"{split}/{metric}"], color=color, ls="--", lw=1,
                           label=f"ensemble ({split})")  # fmt: skip
                ax.axhline(best, color=color, ls=":", lw=1, label=f"best teacher ({split})")
        everything = [r[f"{s}/{metric}"] for k in keys for r in rows[k] for s in ("dev", "test")]
        top = max(everything)
        if task in out["ensembles"]:
            top = max(
                top,
                out["ensembles"][task]["best"][f"dev/{metric}"],
                *(m["best"][f"dev/{metric}"] for m in out["ensembles"][task]["members"]),
            )
        ax.set_ylim(min(everything) - 0.03, top + 0.02)
        ax.set_xticks(range(len(keys)), [rows_named[k].replace(", ", "\n").replace(" + ", "\n+ ")
                                         for k in keys], fontsize=7)  # fmt: skip
        ax.set_title(f"{task} ({metric})")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.suptitle("MT-DNN-KD on the offline tasks: bars = mean over seeds (±1 sd), dots = seeds")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
