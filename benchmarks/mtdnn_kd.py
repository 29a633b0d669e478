"""MT-DNN-KD on the offline tasks: teachers, ensembles, single-task and multi-task students.

    python benchmarks/mtdnn_kd.py [--seeds 1 2 3] [--train-examples 2000] [--epochs 3]

Tasks: movie-sentiment and trec6 get an ensemble of three minilm-l6 teachers (seeds 42-44,
dropout 0.1 / 0.2 / 0.3, probabilities averaged); movie-score (regression) and vitaminc (pairs)
get none. Students (2 layers, width 384, from minilm-l6 layers 1 and 4) on ``--train-examples``
training examples per task, for each seed: a single-task student per task (Hinton KD against the
ensemble where there is one, hard labels elsewhere), the multi-task student without KD (every task
on its labels) and with KD (the two ensembles as teachers). Students are scored on
``--eval-examples`` dev/test examples per task; teachers and ensembles on the whole splits.
Writes ``results/mtdnn_kd.{md,json}``; finished runs are reused.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from common import header_markdown, pm, run_record
from textdistill.config import validate
from textdistill.data.tasks import OFFLINE_TASKS
from textdistill.ensemble import teach_ensemble
from textdistill.train.multitask import multitask_distill
from textdistill.train.teach import TeachConfig

WITH_TEACHER = ("movie-sentiment", "trec6")
WITHOUT = ("movie-score", "vitaminc")
STUDENT = {"kind": "transformer", "layers": 2, "hidden": 384, "heads": 12, "intermediate": 1536,
           "init_from_teacher": [1, 4]}  # fmt: skip


NAMES = {"single": "single-task student", "mt": "multi-task, no KD", "mt_kd": "multi-task + KD"}


def of(best: dict, task: str) -> dict:
    """A multi-task run's metrics of one task, without the task prefix."""
    return {k.split("/", 1)[1]: v for k, v in best.items() if k.startswith(task + "/")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--train-examples", type=int, default=2000)
    ap.add_argument("--eval-examples", type=int, default=500)
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--teacher-examples", type=int, default=None, help="teachers' training examples (all)")
    ap.add_argument("--teachers", default="runs/teachers")
    ap.add_argument("--runs", default="runs/mtdnn-bench")
    ap.add_argument("--results", default="results/mtdnn_kd")
    args = ap.parse_args()
    record = run_record()
    runs = Path(args.runs)
    limits = {"max_train_examples": args.train_examples, "max_eval_examples": args.eval_examples,
              "epochs": args.epochs}  # fmt: skip
    ensembles = {}
    for task in WITH_TEACHER:
        out = Path(args.teachers) / f"minilm-l6-{task}-ensemble3"
        cfg = TeachConfig(task, "minilm-l6", str(out), epochs=3, max_train_examples=args.teacher_examples)
        ensembles[task] = (out, teach_ensemble(cfg, None, 3, 3, (0.1, 0.2, 0.3)))
    results: dict = {task: {"single": [], "mt": [], "mt_kd": []} for task in (*WITH_TEACHER, *WITHOUT)}

    def run(name: str, tasks: list[str], kd: bool, train: dict) -> dict:
        """One (multi-)task run through the same code: a single-task student is a run of one task."""
        out = runs / name
        if not (out / "metrics.json").exists():
            entries = [{"task": t, **({"teacher": str(ensembles[t][0])} if kd and t in ensembles else {})}
                       for t in tasks]  # fmt: skip
            multitask_distill(validate({"tasks": entries, "encoder": "minilm-l6", "student": STUDENT,
                                        "out": str(out), "train": train}))  # fmt: skip
        return json.loads((out / "metrics.json").read_text())["best"]

    for seed in args.seeds:
        train = {**limits, "seed": seed, "lr": 1e-4}
        for task in results:  # KD from the ensemble where there is one, labels elsewhere
            best = run(f"single-{task}-s{seed}", [task], True, train)
            results[task]["single"].append(of(best, task))
        for kd, key in ((False, "mt"), (True, "mt_kd")):
            best = run(f"{key}-s{seed}", list(results), kd, train)
            for task in results:
                results[task][key].append(of(best, task))
    out = {
        **record,
        "args": vars(args),
        "ensembles": {t: m for t, (_, m) in ensembles.items()},
        "students": results,
    }
    Path(args.results + ".json").write_text(json.dumps(out, indent=2, default=str) + "\n")
    render(out, args.results)


def render(out: dict, results: str) -> None:
    lines = ["# MT-DNN-KD: ensembles, single-task and multi-task students\n", header_markdown(out)]
    a = out["args"]
    lines.append(
        "- students: 2 layers, width 384, from minilm-l6 layers 1 and 4; "
        f"{a['train_examples']} training examples per task, {a['epochs']:g} epochs, seeds {a['seeds']}; "
        f"scored on {a['eval_examples']} dev/test examples per task (teachers and ensembles: whole splits)\n"
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
                             f"{m['best'].get(test, float('nan')):.4f} |")  # fmt: skip
            lines.append(
                f"| ensemble of 3 | {ens['best'][dev]:.4f} | {ens['best'].get(test, float('nan')):.4f} |"
            )
            best = max(m["best"][dev] for m in ens["members"])
            verdicts.append(f"- {task}: ensemble {ens['best'][dev]:.4f} vs best teacher {best:.4f} dev: "
                            + ("beats it" if ens["best"][dev] > best else "does not beat it"))  # fmt: skip
        for key, name in NAMES.items():
            lines.append(
                f"| {name} | {pm([r[dev] for r in rows[key]])} | {pm([r[test] for r in rows[key]])} |"
            )
        if task in out["ensembles"]:
            gain = statistics.fmean(r[dev] for r in rows["mt_kd"]) - statistics.fmean(
                r[dev] for r in rows["mt"]
            )
            verdicts.append(f"- {task}: multi-task with KD minus without: {gain * 100:+.2f} dev points")
        lines.append("")
    lines += ["## Verdict", "", *verdicts]
    Path(results + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
