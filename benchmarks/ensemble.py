"""Teacher ensembles: does the ensemble beat its best member? (issue 5, first part)

    python benchmarks/ensemble.py [--tasks trec6] [--size 3] [--epochs 3]

For each task, ``textdistill teach --model minilm-l6 --ensemble SIZE`` (members differ in seed,
42, 43, ..., and hidden dropout 0.1 / 0.2 / 0.3, all kept, probabilities averaged); members already
trained with the same settings are reused. Reports every member's and the ensemble's dev and test
metrics. Writes ``results/ensemble.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import header_markdown, run_record
from textdistill.recipes.teach import TeachConfig, teach_ensemble


def subsets(out: Path, metrics: dict, cfg: TeachConfig) -> list[dict]:
    """The ensemble of every subset of two or more members (probabilities averaged), on each split."""
    import itertools

    import numpy as np

    from textdistill.data.encode import EncodedDataset, make_loader
    from textdistill.data.load import load_task
    from textdistill.evaluation.metrics import compute_metrics
    from textdistill.models.teacher import HFClassifier, load_tokenizer, predict_logits
    from textdistill.teachers.ensemble import combine

    task = load_task(cfg.task)
    tokenizer = load_tokenizer(str(out / "member-1"))
    names = [m["member"] for m in metrics["members"]]
    logits, labels = {}, {}
    for split in task.labelled_splits:
        examples = task.splits[split]
        loader = make_loader(EncodedDataset(examples, tokenizer, cfg.max_length), tokenizer, 64)
        labels[split] = np.array([e.label for e in examples])
        for name in names:
            logits[name, split] = predict_logits(HFClassifier.from_pretrained(str(out / name)), loader)
    rows = []
    for k in range(2, len(names) + 1):
        for group in itertools.combinations(names, k):
            row = {"members": list(group)}
            for split in task.labelled_splits:
                scores = compute_metrics(
                    task.spec, combine([logits[n, split] for n in group]).numpy(), labels[split]
                )
                row.update({f"{split}/{key}": value for key, value in scores.items()})
            rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="+", default=["trec6"])
    ap.add_argument("--size", type=int, default=3)
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--teachers", default="runs/teachers")
    ap.add_argument("--results", default="results/ensemble")
    args = ap.parse_args()
    record = run_record()
    tables = []
    for task in args.tasks:
        out = Path(args.teachers) / f"minilm-l6-{task}-ensemble{args.size}"
        cfg = TeachConfig(task=task, model="minilm-l6", out=str(out), epochs=args.epochs)
        metrics = teach_ensemble(cfg, None, args.size, args.size, (0.1, 0.2, 0.3))
        metrics["subsets"] = subsets(out, metrics, cfg)
        tables.append(metrics)
    Path(args.results + ".json").write_text(json.dumps({**record, "tasks": tables}, indent=2) + "\n")
    lines = ["# Teacher ensembles (minilm-l6, probabilities averaged)\n", header_markdown(record)]
    for m in tables:
        keys = [k for k in m["best"] if k.endswith("/" + m["primary_metric"].split("/")[1])]
        lines += [f"## {m['task']}\n", "| teacher | seed | dropout | " + " | ".join(keys) + " |",
                  "|---|---|---|" + "---|" * len(keys)]  # fmt: skip
        for member in m["members"]:
            values = " | ".join(f"{member['best'][k]:.4f}" for k in keys)
            lines.append(f"| {member['member']} | {member['seed']} | {member['dropout']} | {values} |")
        lines.append("| **ensemble** | | | " + " | ".join(f"**{m['best'][k]:.4f}**" for k in keys) + " |")
        best = max(member["best"][keys[0]] for member in m["members"])
        gain = (m["best"][keys[0]] - best) * 100
        lines += ["", f"Ensemble of all minus the best member on {keys[0]}: {gain:+.2f} points.", ""]
        lines += ["Every subset of two or more members:", "", "| members | " + " | ".join(keys) + " |",
                  "|---|" + "---|" * len(keys)]  # fmt: skip
        for row in m["subsets"]:
            lines.append(
                f"| {', '.join(row['members'])} | " + " | ".join(f"{row[k]:.4f}" for k in keys) + " |"
            )
        lines.append("")
    Path(args.results + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
