"""Distillation with and without a transfer set grown by augmentation (Tang et al. 2019), over seeds.

    python benchmarks/augment.py --tasks movie-sentiment trec6 --seeds 1 2 3

Per task: the BiLSTM on hard labels, distilled without augmentation, and distilled with a
transfer set of each size in ``--rounds``; the transformer distilled without and with
augmentation (``--transformer-rounds``). Students and their settings are the main job's
(``textdistill.run``); runs with a transfer set train for fewer epochs (``--aug-epochs``) since
each epoch is many times longer. Runs land in ``--runs`` (shared with ``benchmarks/distill.py``,
so its runs without augmentation are reused: same names, same settings). The transfer sets
(seed ``--aug-seed``, spaCy POS tagger) and the teacher's outputs on them are built once and
cached. "time" is the whole cost of a run: augmentation + teacher labelling (when not cached) +
training, with the first seed's run carrying the one-off costs.
Writes ``results/augment.{md,json,png}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from common import STUDENTS, finished_line, header_markdown, mean_sd, pm, run_distill, run_record, seed_bars
from textdistill.run import EPOCHS, LR

# vitaminc (43.7k pairs, about 60 words each) is cut to what a 2-core CPU trains in minutes: the
# students see 4,000 training pairs (their teacher 10,000) and everything is scored on the same 1,000
# dev and test pairs; its transfer sets are smaller (the teacher labels pairs at ~100/s)
LIMITS = {"vitaminc": {"max_train_examples": 4000, "max_eval_examples": 1000}}
ROUNDS = {"vitaminc": {"bilstm": [1, 3], "transformer": [1]}}


def run_one(
    task: str, teacher: Path, student: str, method: str, rounds: int, seed: int, args: argparse.Namespace
) -> dict:
    epochs = EPOCHS[student] if rounds == 0 else args.aug_epochs[student]
    config: dict = {
        "task": task,
        "teacher": str(teacher),
        "student": STUDENTS[student],
        "method": {"name": method},
        "train": {"epochs": epochs, "lr": LR[student], "seed": seed, **LIMITS.get(task, {})},
    }
    name = f"{task}-{student}-{method}-s{seed}"
    if rounds:
        config["augment"] = {"rounds": rounds, "seed": args.aug_seed, "tagger": args.tagger}
        name = f"{task}-{student}-{method}-aug{rounds}-e{epochs:g}-s{seed}"
    return run_distill(Path(args.runs) / name, config)


def run_cost(m: dict) -> float:
    """Seconds a run took end to end: augmentation and teacher labelling (when computed), training."""
    transfer = (m.get("transfer") or {}).get("augment") or {}
    fresh_transfer = (
        0.0 if transfer.get("from_cache", True) else transfer["tag_seconds"] + transfer["augment_seconds"]
    )
    cache = m["teacher"]["cache"] or {}
    teacher = 0.0 if cache.get("hit", True) else cache["seconds"]
    return fresh_transfer + teacher + m["train_seconds"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="+", default=["movie-sentiment", "trec6"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--rounds", nargs="+", type=int, default=[2, 8], help="BiLSTM transfer-set sizes")
    ap.add_argument("--transformer-rounds", nargs="*", type=int, default=[2])
    ap.add_argument("--bilstm-aug-epochs", type=float, default=3)
    ap.add_argument("--transformer-aug-epochs", type=float, default=2)
    ap.add_argument("--method", default="hinton")
    ap.add_argument("--aug-seed", type=int, default=0)
    ap.add_argument("--tagger", default="en-core-web-sm")
    ap.add_argument("--skip", nargs="*", default=[], help="TASK:STUDENT pairs to leave out")
    ap.add_argument("--teachers", default="runs/teachers")
    ap.add_argument("--runs", default="runs/distill-bench")
    ap.add_argument("--results", default="results/augment")
    args = ap.parse_args()
    args.aug_epochs = {"bilstm": args.bilstm_aug_epochs, "transformer": args.transformer_aug_epochs}
    record = run_record()
    table: list[dict] = []
    for task in args.tasks:
        rounds = ROUNDS.get(task, {"bilstm": args.rounds, "transformer": args.transformer_rounds})
        plan = [("bilstm", "hard", 0), ("bilstm", args.method, 0)]
        plan += [("bilstm", args.method, r) for r in rounds["bilstm"]]
        plan += [("transformer", args.method, 0)]
        plan += [("transformer", args.method, r) for r in rounds["transformer"]]
        teacher = Path(args.teachers) / f"minilm-l6-{task}"
        key = json.loads((teacher / "metrics.json").read_text())["primary_metric"]
        best = json.loads((teacher / "metrics.json").read_text())["best"]
        table.append(
            {
                "task": task,
                "model": "teacher minilm-l6",
                "method": "-",
                "rounds": 0,
                "key": key,
                "dev": [best[key]],
                "test": [best[key.replace("dev", "test")]],
                "time": [],
                "train_examples": None,
                "transfer": 0,
            }
        )
        for student, method, rounds in plan:
            if f"{task}:{student}" in args.skip:
                continue
            results = [run_one(task, teacher, student, method, rounds, s, args) for s in args.seeds]
            transfer = (results[0].get("transfer") or {}).get("examples", 0)
            table.append(
                {
                    "task": task,
                    "model": student,
                    "method": method,
                    "rounds": rounds,
                    "key": key,
                    "dev": [r["best"][key] for r in results],
                    "test": [r["best"][key.replace("dev", "test")] for r in results],
                    "time": [run_cost(r) for r in results],
                    "teacher_seconds": max(
                        (c["seconds"] for r in results if (c := r["teacher"]["cache"]) and not c["hit"]),
                        default=0.0,
                    ),
                    "finished": [r["finished"] for r in results],
                    "epochs": EPOCHS[student] if rounds == 0 else args.aug_epochs[student],
                    "train_examples": results[0]["train_examples"],
                    "transfer": transfer,
                    "augment": ((results[0].get("transfer") or {}).get("augment")),
                }
            )
    write_results(table, record, args)


def write_results(table: list[dict], record: dict, args: argparse.Namespace) -> None:
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(
        json.dumps({"run": record, "seeds": args.seeds, "rows": table}, indent=2) + "\n"
    )
    lines = [
        f"# Distillation with a transfer set from augmentation ({len(args.seeds)} seeds)\n",
        header_markdown(record),
        *finished_line(table, args.runs),
        f"- seeds {args.seeds}; augmentation seed {args.aug_seed}, tagger {args.tagger}, paper defaults "
        "p_mask = p_pos = 0.1, p_ng = 0.25; method "
        f"`{args.method}` (alpha 0.5, T 2); mean ± sample sd over seeds; best checkpoint by the dev "
        "metric; retention = dev / teacher dev; time = augmentation + teacher labelling (first seed "
        "only, then cached) + training, mean over seeds; teacher s = the teacher labelling the training "
        "and transfer sets, where it was not already cached\n",
        *(
            f"- {task}: students train on a random {lim['max_train_examples']:,} training examples and "
            f"are scored on the same {lim['max_eval_examples']:,} dev and test examples as their teacher "
            f"(results/teachers-{task}.md)\n"
            for task, lim in LIMITS.items()
            if any(r["task"] == task for r in table)
        ),
        "| task | model | method | transfer set | epochs | dev | test | retention | time s | teacher s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table:
        teacher = next(r for r in table if r["task"] == row["task"] and r["method"] == "-")
        dev = mean_sd(row["dev"])[0]
        size = (
            "-"
            if row["method"] == "-"
            else f"{row['rounds']} round{'s' * (row['rounds'] > 1)}: +{row['transfer']:,}"
            if row["rounds"]
            else "none"
        )
        epochs = row.get("epochs", "-")
        time_s = f"{statistics.fmean(row['time']):.0f}" if row["time"] else "-"
        lines.append(
            f"| {row['task']} | {row['model']} | {row['method']} | {size} | {epochs} "
            f"| {pm(row['dev'])} | {pm(row['test'])} | {dev / teacher['dev'][0]:.1%} "
            f"| {time_s} | {row.get('teacher_seconds', 0) or '-'} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    plot(table, out.with_suffix(".png"))
    print(out.with_suffix(".md").read_text())


def plot(table: list[dict], path: Path) -> None:
    tasks = list(dict.fromkeys(r["task"] for r in table))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        rows = [r for r in table if r["task"] == task and r["method"] != "-"]
        labels = [
            f"{r['model']}\n{r['method']}\n" + (f"+aug x{r['rounds']}" if r["rounds"] else "no aug")
            for r in rows
        ]
        colors = [
            "#999999" if r["method"] == "hard" else "#ff7f0e" if r["rounds"] else "#1f77b4" for r in rows
        ]
        teacher = next(r for r in table if r["task"] == task and r["method"] == "-")
        seed_bars(ax, rows, labels, colors, teacher["dev"][0], rows[0]["key"])
        ax.set_title(task)
    fig.suptitle(
        "grey: hard labels; blue: distilled; orange: distilled + augmented transfer set; dots: seeds"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
