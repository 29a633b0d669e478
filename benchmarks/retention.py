"""How much of the teacher a student at least 3x faster keeps: small transformers, hard labels
against distillation with a transfer set, over seeds.

    python benchmarks/retention.py [--tasks movie-sentiment trec6] [--seeds 1 2 3] [--transfer 8x4]

Students: 2 layers of the teacher's width (384) started from teacher layers 1 and 4, with the
feed-forward block of each width in ``--widths`` (the units of largest magnitude of the teacher's
1536: ``models/transformer.py``), and of each ``--reference-widths`` (hard labels only: what the
cut costs). Each is trained on hard labels (``--hard-epochs``) and distilled (Hinton KD, alpha
0.5, T 2) on the labelled set plus R augmented copies of it (Tang et al.: masking, POS-guided
replacement, n-grams; the teacher labels them) for E epochs, for each ``RxE`` in ``--transfer``.
Speed is measured on this machine by ``textdistill evaluate`` (throughput at batch 32, latency at
batch 1) on the seed-1 students and the teacher, one after the other once all training is done.
Runs land in ``--runs`` and are reused when finished. Writes ``results/retention.{md,json,png}``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from common import finished_line, header_markdown, mean_sd, pm, run_distill, run_record
from textdistill.data.tasks import OFFLINE_TASKS
from textdistill.evaluation.run_eval import evaluate_folder

TARGET_RETENTION, TARGET_SPEEDUP = 0.97, 3.0  # issue 3, criterion 2


def student(width: int) -> dict:
    return {"kind": "transformer", "layers": 2, "hidden": 384, "heads": 12, "intermediate": width,
            "init_from_teacher": [1, 4]}  # fmt: skip


def measures(evaluation: dict) -> dict:
    """What a row keeps of ``textdistill evaluate``'s answer: size and speed."""
    keys = ("parameters", "size_mb", "throughput_bs32", "latency_p50_ms")
    return {k: evaluation[k] for k in keys}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="+", default=["movie-sentiment"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--widths", nargs="+", type=int, default=[1024])
    ap.add_argument("--reference-widths", nargs="*", type=int, default=[1536], help="hard labels only")
    ap.add_argument("--transfer", nargs="+", default=["8x4"], help="ROUNDSxEPOCHS of each distilled run")
    ap.add_argument("--hard-epochs", type=float, default=3)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--speed-examples", type=int, default=1000, help="dev examples timed per model")
    ap.add_argument("--teachers", default="runs/teachers")
    ap.add_argument("--runs", default="runs/retention-bench")
    ap.add_argument("--results", default="results/retention")
    ap.add_argument("--render", action="store_true", help="only redraw the tables and plot from the JSON")
    args = ap.parse_args()
    if args.render:
        render(json.loads(Path(args.results + ".json").read_text()), args.results)
        return
    record = run_record()
    rows = []
    for task in args.tasks:
        teacher = Path(args.teachers) / f"minilm-l6-{task}"
        metric = f"dev/{OFFLINE_TASKS[task].primary_metric}"
        task_rows = []
        for width in [*args.widths, *args.reference_widths]:
            plans = [("hard", 0, args.hard_epochs)]
            if width in args.widths:
                plans += [("hinton", int(r), float(e)) for r, e in (t.split("x") for t in args.transfer)]
            for method, rounds, epochs in plans:
                config = {
                    "task": task,
                    "teacher": str(teacher),
                    "student": student(width),
                    "method": {"name": method},
                    "train": {"epochs": epochs, "lr": args.lr, "batch_size": args.batch_size},
                }
                name = f"{task}-2L{width}-{method}-e{epochs:g}"
                if method != "hard":
                    config["augment"] = {"rounds": rounds, "seed": 0}
                    name = f"{task}-2L{width}-{method}-aug{rounds}-e{epochs:g}"
                runs = [Path(args.runs) / f"{name}-s{seed}" for seed in args.seeds]
                results = [
                    run_distill(run, {**config, "train": {**config["train"], "seed": seed}})
                    for run, seed in zip(runs, args.seeds, strict=True)
                ]
                task_rows.append(
                    {
                        "task": task,
                        "folder": str(runs[0]),
                        "width": width,
                        "method": method,
                        "transfer_rounds": rounds,
                        "epochs": epochs,
                        "dev": [m["best"][metric] for m in results],
                        "test": [m["best"][metric.replace("dev/", "test/")] for m in results],
                        "train_seconds": [m["train_seconds"] for m in results],
                        "finished": [m["finished"] for m in results],
                    }
                )
        # speed and size last, the teacher and the seed-1 students back to back on an idle machine
        t = evaluate_folder(teacher, args.speed_examples)
        rows.append({"task": task, "folder": str(teacher), "width": None, "method": "teacher",
                     "dev": [t["quality"][metric]], "test": [t["quality"][metric.replace("dev/", "test/")]],
                     **measures(t)})  # fmt: skip
        for row in task_rows:
            rows.append({**row, **measures(evaluate_folder(row["folder"], args.speed_examples))})
    out = {**record, "args": vars(args), "rows": rows}
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results + ".json").write_text(json.dumps(out, indent=2) + "\n")
    render(out, args.results)


def render(out: dict, results: str) -> None:
    a = out["args"]
    widths = a["widths"] + a.get("reference_widths", [])
    lines = [
        "# Retention at 3x: 2-layer transformer students, hard labels against KD with a transfer set\n",
        header_markdown(out),
        *finished_line(out["rows"], a["runs"]),
        f"- seeds {a['seeds']}; students: 2 layers of width 384 from minilm-l6 teacher layers 1 and 4, "
        f"feed-forward width {' / '.join(map(str, widths))} (teacher: 1536; narrower keeps the units of "
        f"largest magnitude); lr {a['lr']:g}, batch {a['batch_size']}; hard labels for {a['hard_epochs']:g} "
        "epochs; Hinton KD (alpha 0.5, T 2) on the labelled set + R augmented copies per example (aug xR, "
        "augmentation seed 0, spaCy POS tagger) for E epochs; best checkpoint by dev; "
        "mean ± sample sd over seeds; "
        f"speed from `textdistill evaluate` on this machine on {a['speed_examples']} dev examples "
        "(seed-1 students)\n",
        f"- target (issue 3): at least {TARGET_RETENTION:.0%} of the teacher's dev metric at at least "
        f"{TARGET_SPEEDUP:g}x its throughput at batch 32\n",
        "| task | model | method | dev | test | retention (dev) | params | MB | ex/s bs32 | speed-up "
        "| p50 ms bs1 | train s | target |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for r in out["rows"]:
        teacher = next(t for t in out["rows"] if t["task"] == r["task"] and t["method"] == "teacher")
        dev = mean_sd(r["dev"])[0]
        retention = dev / teacher["dev"][0]
        speedup = r["throughput_bs32"] / teacher["throughput_bs32"]
        if r["method"] == "teacher":
            model, method, seconds, target = "teacher minilm-l6", "-", "-", "-"
        else:
            model = f"2L-384, ff {r['width']}"
            method = "hard" if r["method"] == "hard" else f"KD + aug x{r['transfer_rounds']}"
            method += f", {r['epochs']:g} ep"
            seconds = f"{mean_sd(r['train_seconds'])[0]:.0f}"
            met = retention >= TARGET_RETENTION and speedup >= TARGET_SPEEDUP
            target = "met" if met else "not met"
            verdicts.append(f"- {r['task']}, {model}, {method}: {retention:.1%} at {speedup:.2f}x: {target}")
        lines.append(
            f"| {r['task']} | {model} | {method} | {pm(r['dev'])} | {pm(r['test'])} | {retention:.1%} "
            f"| {r['parameters'] / 1e6:.2f}M | {r['size_mb']:.1f} | {r['throughput_bs32']:.0f} "
            f"| {speedup:.2f}x | {r['latency_p50_ms']:.1f} | {seconds} | {target} |"
        )
    lines += ["", "## Verdict (97% at 3x)", "", *verdicts, "", *against_hard(out["rows"])]
    Path(results + ".md").write_text("\n".join(lines) + "\n")
    plot(out, results + ".png")
    print("\n".join(lines))


def against_hard(rows: list[dict]) -> list[str]:
    """Issue 3, criterion 1: each distilled row against the hard-label row of the same task and
    width, as the difference of the seed means in points and the seeds (paired by seed) it wins."""
    lines = ["## Distilled against hard labels (same student, same seeds)", ""]
    for r in rows:
        hard = next((h for h in rows if h["method"] == "hard" and h["task"] == r["task"]
                     and h["width"] == r["width"]), None)  # fmt: skip
        if r["method"] in ("teacher", "hard") or hard is None:
            continue
        parts = []
        for split in ("dev", "test"):
            gain = 100 * (mean_sd(r[split])[0] - mean_sd(hard[split])[0])
            wins = sum(k > h for k, h in zip(r[split], hard[split], strict=True))
            parts.append(f"{split} {gain:+.2f} points (ahead in {wins} of {len(r[split])} seeds)")
        ahead = all(mean_sd(r[s])[0] > mean_sd(hard[s])[0] for s in ("dev", "test"))
        verdict = "beats" if ahead else "does not beat"
        lines.append(f"- {r['task']}, ff {r['width']}, KD + aug x{r['transfer_rounds']}, {r['epochs']:g} ep "
                     f"{verdict} hard labels, {hard['epochs']:g} ep: " + "; ".join(parts))  # fmt: skip
    return lines


def plot(out: dict, path: str) -> None:
    """Dev metric against speed-up, per task: students as mean ± sd over seeds, the target region."""
    tasks = list(dict.fromkeys(r["task"] for r in out["rows"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        rows = [r for r in out["rows"] if r["task"] == task]
        teacher = next(r for r in rows if r["method"] == "teacher")
        for r in rows:
            speedup = r["throughput_bs32"] / teacher["throughput_bs32"]
            mean, sd = mean_sd(r["dev"])
            if r["method"] == "teacher":
                label, marker = "teacher", "*"
            else:
                kind = "hard" if r["method"] == "hard" else f"KD + aug x{r['transfer_rounds']}"
                label, marker = f"ff {r['width']}, {kind}", "o" if r["method"] == "hard" else "s"
            ax.errorbar(speedup, mean, yerr=sd, fmt=marker, capsize=3, label=label, ms=7)
        ax.axhline(TARGET_RETENTION * teacher["dev"][0], color="red", ls="--", lw=1, label="97% of teacher")
        ax.axvline(TARGET_SPEEDUP, color="red", ls=":", lw=1, label="3x")
        metric = OFFLINE_TASKS[task].primary_metric if task in OFFLINE_TASKS else "metric"
        ax.set(xlabel="speed-up over the teacher at batch 32 (this CPU)", ylabel=f"dev {metric}", title=task)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
