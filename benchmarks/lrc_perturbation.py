"""How large should LRC-BERT's gradient perturbation be? LRC-BERT (full) at several sizes.

    python benchmarks/lrc_perturbation.py --task trec6 --sizes 0 0.1 0.3 1.0 --seeds 1 2 3

Same student, data limits and training settings as ``benchmarks/lrc_bert.py`` (random init);
runs land in the same folder, so its size-1.0 and size-0 runs are reused. Writes
``results/lrc_perturbation.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import header_markdown, pm, run_distill, run_record
from lrc_bert import LIMITS, STUDENT


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="trec6")
    ap.add_argument("--sizes", nargs="+", type=float, default=[0.0, 0.1, 0.3, 1.0])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--teachers", default="runs/teachers")
    ap.add_argument("--runs", default="runs/lrc-bench")
    ap.add_argument("--results", default="results/lrc_perturbation")
    args = ap.parse_args()
    record = run_record()
    teacher = Path(args.teachers) / f"minilm-l6-{args.task}"
    rows = []
    for size in args.sizes:
        results = []
        for seed in args.seeds:
            # the names of benchmarks/lrc_bert.py's runs for sizes 1.0 (LRC-BERT) and 0 (w/o perturbation)
            variant = {1.0: "lrc-bert", 0.0: "w-o-perturbation"}.get(size, f"lrc-bert-eps{size:g}")
            name = f"{args.task}-random-{variant}-e{args.epochs:g}-lr{args.lr:g}-s{seed}"
            config = {
                "task": args.task,
                "teacher": str(teacher),
                "student": STUDENT,
                "method": {"name": "lrc_bert", "perturbation": size},
                "train": {"epochs": args.epochs, "lr": args.lr, "seed": seed, **LIMITS[args.task]},
            }
            results.append(run_distill(Path(args.runs) / name, config))
        key = results[0]["primary_metric"]
        rows.append(
            {
                "size": size,
                "dev": [r["best"][key] for r in results],
                "test": [r["best"][key.replace("dev", "test")] for r in results],
                "key": key,
            }
        )
    out = Path(args.results)
    out.with_suffix(".json").write_text(json.dumps({"run": record, "rows": rows}, indent=2) + "\n")
    lines = [
        f"# LRC-BERT: size of the gradient perturbation ({args.task}, {len(args.seeds)} seeds)\n",
        header_markdown(record),
        f"- 4-layer 312-wide student from random initialisation, {args.epochs:g} epochs, lr {args.lr:g}, "
        f"limits {LIMITS[args.task]}; the perturbation is epsilon * G / ||G|| per example (L2 over the "
        "embedding output); mean ± sample sd over seeds\n",
        "| perturbation size | dev | test |",
        "|---|---|---|",
        *(f"| {r['size']:g} | {pm(r['dev'])} | {pm(r['test'])} |" for r in rows),
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
