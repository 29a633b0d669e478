"""Fine-tune teachers on the offline tasks and record quality and time.

    python benchmarks/teachers.py --tasks movie-sentiment trec6 --model minilm-l6

Writes ``results/teachers.md`` (for people), ``results/teachers.json`` (for machines) and
``results/teachers.png`` (dev metric per epoch). Teachers are kept under ``--runs``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from common import header_markdown, run_record
from textdistill.config import TeachConfig
from textdistill.recipes.teach import teach

TARGETS = {"movie-sentiment": 0.84, "trec6": 0.90}  # issue: dev accuracy a teacher must reach


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="+", default=["movie-sentiment", "trec6"])
    ap.add_argument("--model", default="minilm-l6")
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--max-train-examples", type=int, default=None, help="train on a random subset")
    ap.add_argument("--max-eval-examples", type=int, default=None, help="score a random subset")
    ap.add_argument("--runs", default="runs/teachers")
    ap.add_argument("--results", default="results/teachers")
    args = ap.parse_args()
    record = run_record()
    rows = []
    for task in args.tasks:
        cfg = TeachConfig(
            task=task,
            model=args.model,
            out=f"{args.runs}/{args.model}-{task}",
            epochs=args.epochs,
            lr=args.lr,
            batch_size=args.batch_size,
            seed=args.seed,
            max_train_examples=args.max_train_examples,
            max_eval_examples=args.max_eval_examples,
        )
        m = teach(cfg)
        rows.append(
            {
                "task": task,
                "model": args.model,
                "config": cfg.__dict__,
                **{
                    k: m[k]
                    for k in (
                        "primary_metric",
                        "best",
                        "best_step",
                        "steps",
                        "train_examples",
                        "train_seconds",
                        "train_examples_per_second",
                        "eval_examples_per_second",
                        "parameters",
                        "history",
                    )
                },
                "target_dev_accuracy": TARGETS.get(task),
            }
        )
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"run": record, "rows": rows}, indent=2) + "\n")

    lines = [
        f"# Teachers: {args.model} fine-tuned on the offline tasks\n",
        header_markdown(record),
        f"- seed {args.seed}; {args.epochs:g} epochs, lr {args.lr:g}, batch {args.batch_size}, "
        + (f"a random {args.max_train_examples} training examples, " if args.max_train_examples else "")
        + (f"scored on a random {args.max_eval_examples} per split, " if args.max_eval_examples else "")
        + "max length 128, AdamW, linear warm-up 10% and decay; best checkpoint by the dev metric\n",
        "| task | dev (primary) | test | target (dev acc.) | train examples | train time | train ex/s "
        "| infer ex/s | params |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        name = r["primary_metric"].split("/")[1]
        dev, test = r["best"][f"dev/{name}"], r["best"].get(f"test/{name}")
        target = r["target_dev_accuracy"]
        verdict = (
            ""
            if target is None
            else f"{target:.2f} {'met' if r['best']['dev/accuracy'] >= target else 'MISSED'}"
        )
        lines.append(
            f"| {r['task']} | {name} {dev:.4f} | {test:.4f} | {verdict} | {r['train_examples']} "
            f"| {r['train_seconds'] / 60:.1f} min | {r['train_examples_per_second']} "
            f"| {r['eval_examples_per_second']} | {r['parameters'] / 1e6:.1f}M |"
        )
    lines.append(
        "\nDev metric after each epoch: `teachers.png`. Per-step logs: the run folders' `log.jsonl`."
    )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        key = r["primary_metric"]
        ax.plot(
            [h["epoch"] for h in r["history"]], [h[key] for h in r["history"]], marker="o", label=r["task"]
        )
        if r["target_dev_accuracy"]:
            ax.axhline(r["target_dev_accuracy"], ls=":", color=ax.lines[-1].get_color())
    ax.set(xlabel="epoch", ylabel="dev accuracy", title=f"{args.model} teachers (dotted: target)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
