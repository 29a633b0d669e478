"""The trainer at scale and under faults, on the real offline assets.

    python benchmarks/scale.py            # CPU: resume after SIGKILL, 2 gloo processes, accumulation
    python benchmarks/scale.py --gpu      # a GPU machine: MPNet-base teacher -> 4-layer student, bf16
    python benchmarks/scale.py --render   # rewrite results/scale.md from results/scale.json

CPU part (minilm-l6 teacher of ``benchmarks/teachers.py`` on movie-sentiment; a 2-layer student
initialised from teacher layers 1 and 4; Hinton KD; 2,000 training sentences, 2 epochs, batch
32, 500 dev/test sentences):

* reference: one process, never interrupted;
* killed + resumed: the same run, killed with SIGKILL once its checkpoint at step >= 40 is on
  disk, then ``--resume``: its weights and metrics against the reference's;
* two processes: ``--nproc 2`` (gloo, one thread each), the same global batch;
* gradient accumulation: 2 micro-batches of 16 per step.

GPU part: ``textdistill teach --model mpnet-base --task vitaminc`` in bf16, then a 4-layer,
hidden-312 student distilled from it (Hinton KD) in bf16 and in fp32: examples/s and accuracy.
Writes ``results/scale.{md,json}`` or ``results/scale-gpu.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from safetensors.torch import load_file

from common import header_markdown, run_record

PYTHON = [sys.executable, "-m", "textdistill"]


def config(teacher: Path, out: Path, **train: object) -> dict:
    return {
        "task": "movie-sentiment",
        "teacher": str(teacher),
        "out": str(out),
        "student": {
            "kind": "transformer",
            "layers": 2,
            "hidden": 384,
            "heads": 12,
            "intermediate": 1536,
            "init_from_teacher": [1, 4],
        },
        "method": {"name": "hinton"},
        "train": {
            "epochs": 2,
            "batch_size": 32,
            "max_train_examples": 2000,
            "max_eval_examples": 500,
            "seed": 1,
            **train,
        },
    }


def run(cfg: dict, folder: Path, *extra: str, env: dict | None = None) -> tuple[dict, float]:
    """``textdistill distill`` in a subprocess; its metrics and wall seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.in.yaml"
    path.write_text(yaml.safe_dump(cfg))
    started = time.perf_counter()
    subprocess.run([*PYTHON, "distill", str(path), *extra], check=True, env=env)
    return json.loads((Path(cfg["out"]) / "metrics.json").read_text()), time.perf_counter() - started


def kill_and_resume(cfg: dict, folder: Path, kill_after: int) -> tuple[dict, float, dict]:
    """Start the run, SIGKILL it once a checkpoint at step >= ``kill_after`` is logged, resume."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.in.yaml"
    path.write_text(yaml.safe_dump(cfg))
    log = Path(cfg["out"]) / "log.jsonl"
    started = time.perf_counter()
    proc = subprocess.Popen([*PYTHON, "distill", str(path)])
    checkpoint = None
    while proc.poll() is None and checkpoint is None:
        time.sleep(0.05)
        rows = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
        done = [r for r in rows if r["type"] == "checkpoint" and r["step"] >= kill_after]
        checkpoint = done[0] if done else None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = time.perf_counter() - started
    subprocess.run([*PYTHON, "distill", str(path), "--resume"], check=True)
    metrics = json.loads((Path(cfg["out"]) / "metrics.json").read_text())
    return (
        metrics,
        time.perf_counter() - started,
        {"checkpoint": checkpoint, "killed_after_s": round(killed_at, 1)},
    )


def max_diff(a: Path, b: Path) -> float:
    wa, wb = load_file(a / "student" / "model.safetensors"), load_file(b / "student" / "model.safetensors")
    return max((wa[k].float() - wb[k].float()).abs().max().item() for k in wa)


def cpu(args: argparse.Namespace) -> None:
    teacher = Path(args.teachers) / "minilm-l6-movie-sentiment"
    runs = Path(args.runs)
    record = run_record()
    rows = {}
    ref_cfg = config(teacher, runs / "reference")
    rows["reference"], wall = run(ref_cfg, runs / "reference")
    rows["reference"]["wall_s"] = wall
    cfg = config(teacher, runs / "resumed", checkpoint_every=20)
    rows["killed + resumed"], wall, kill = kill_and_resume(cfg, runs / "resumed", 40)
    rows["killed + resumed"]["wall_s"] = wall
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rows["2 processes (gloo)"], wall = run(
        config(teacher, runs / "nproc2"), runs / "nproc2", "--nproc", "2", env=env
    )
    rows["2 processes (gloo)"]["wall_s"] = wall
    cfg = config(teacher, runs / "accum2", grad_accumulation=2)
    rows["accumulation 2 x 16"], wall = run(cfg, runs / "accum2")
    rows["accumulation 2 x 16"]["wall_s"] = wall
    log = [json.loads(x) for x in (runs / "resumed" / "log.jsonl").read_text().splitlines()]
    writes = [r for r in log if r["type"] == "checkpoint"]
    summary = {
        "resume": {
            **kill,
            "resumed_from": rows["killed + resumed"]["resumed_from"],
            "max_abs_weight_diff_vs_reference": max_diff(runs / "reference", runs / "resumed"),
            "same_best_metrics": rows["killed + resumed"]["best"] == rows["reference"]["best"],
            "checkpoint_mb": writes[-1]["mb"],
            "checkpoint_write_s_mean": round(sum(r["write_s"] for r in writes) / len(writes), 3),
        },
        "nproc2_max_abs_weight_diff_vs_reference": max_diff(runs / "reference", runs / "nproc2"),
    }
    table = []
    for name, m in rows.items():
        table.append({
            "run": name, "processes": m["processes"], "steps": m["steps"],
            "dev": m["best"]["dev/accuracy"], "test": m["best"]["test/accuracy"],
            "train_s": m["train_seconds"], "wall_s": round(m["wall_s"], 1),
            "steps_per_s": round(m["steps"] / m["train_seconds"], 2),
        })  # fmt: skip
    out = {**record, "rows": table, "summary": summary}
    Path(args.results + ".json").write_text(json.dumps(out, indent=2) + "\n")
    render(args.results)


def render(results: str) -> None:
    """``results``.md from ``results``.json."""
    out = json.loads(Path(results + ".json").read_text())
    table, summary = out["rows"], out["summary"]
    lines = [
        "# The trainer at scale and under faults (CPU)\n",
        header_markdown(out),
        "- teacher: minilm-l6 fine-tuned on movie-sentiment; student: 2 layers, hidden 384, from teacher "
        "layers 1 and 4; Hinton KD; 2,000 training sentences, 2 epochs, global batch 32, seed 1; "
        "500 dev / 500 test sentences\n",
        "| run | processes | steps | dev acc | test acc | train s | wall s | steps/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        lines.append(
            f"| {r['run']} | {r['processes']} | {r['steps']} | {r['dev']:.4f} | {r['test']:.4f} | "
            f"{r['train_s']} | {r['wall_s']} | {r['steps_per_s']} |"
        )
    s = summary["resume"]
    steps = table[0]["steps"]
    lines += [
        "",
        "train s: the training loop only (for the resumed run: after the resume); wall s: the whole "
        "command (both processes of the killed run), teacher cache and model loading included.",
        "",
        "## Resume after SIGKILL",
        f"- killed {s['killed_after_s']} s after the start, once the checkpoint of step "
        f"{s['checkpoint']['step']} was logged; resumed from step {s['resumed_from']} (mid-epoch: "
        f"{steps // 2} steps per epoch)",
        f"- largest weight difference to the uninterrupted run: {s['max_abs_weight_diff_vs_reference']:g}; "
        f"same best metrics: {s['same_best_metrics']}",
        f"- a checkpoint (weights, AdamW moments, scheduler, RNG states) is {s['checkpoint_mb']} MB and "
        f"takes {s['checkpoint_write_s_mean']} s to write (mean over the run's checkpoints)",
        "",
        "## Two processes and accumulation",
        "- `--nproc 2` runs two gloo processes of one thread each on this 2-core machine, each on half "
        "of every global batch of 32. It is slower than one process with two threads: the cores are "
        "the same, and each step adds a gradient all-reduce and a smaller matrix per process. It is "
        "here to show that the data-parallel path trains to the same quality; the speed-up needs more "
        "cores or GPUs. Dropout draws differ from one process's, so the weights differ (largest "
        f"difference {summary['nproc2_max_abs_weight_diff_vs_reference']:.3g}); tests/test_scale.py "
        "checks equality with dropout off.",
        "- accumulation 2 x 16: each step is the same global batch of 32 in two micro-batches of 16.",
    ]
    Path(results + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def gpu(args: argparse.Namespace) -> None:
    import torch

    if not torch.cuda.is_available():
        sys.exit("--gpu needs a CUDA GPU; none is visible here (the CPU part runs without --gpu)")
    record = {**run_record(), "gpu": torch.cuda.get_device_name()}
    runs = Path(args.runs) / "gpu"
    teacher = runs / "mpnet-base-vitaminc"
    if not (teacher / "metrics.json").exists():
        subprocess.run(
            [*PYTHON, "teach", "--task", "vitaminc", "--model", "mpnet-base", "--out", str(teacher),
             "--epochs", "2", "--lr", "2e-5", "--batch-size", "32", "--precision", "bf16",
             "--max-train-examples", str(args.train_examples), "--max-eval-examples", "2000"],
            check=True,
        )  # fmt: skip
    t = json.loads((teacher / "metrics.json").read_text())
    rows = []
    for precision in ("bf16", "fp32"):
        cfg = {
            "task": "vitaminc",
            "teacher": str(teacher),
            "out": str(runs / f"student-{precision}"),
            "student": {"kind": "transformer", "layers": 4, "hidden": 312, "heads": 12, "intermediate": 1200},
            "method": {"name": "hinton"},
            "train": {
                "epochs": 3,
                "batch_size": 64,
                "lr": 1e-4,
                "max_train_examples": args.train_examples,
                "max_eval_examples": 2000,
                "precision": precision,
                "seed": 1,
            },
        }
        m, wall = run(cfg, runs / f"student-{precision}")
        rows.append({
            "precision": precision, "dev": m["best"]["dev/accuracy"], "test": m["best"]["test/accuracy"],
            "train_s": m["train_seconds"], "examples_per_s": round(m["steps"] * 64 / m["train_seconds"], 1),
            "wall_s": round(wall, 1), "teacher_s": m["teacher"]["cache"]["seconds"],
        })  # fmt: skip
    out = {**record, "teacher": t, "rows": rows}
    Path(args.results + "-gpu.json").write_text(json.dumps(out, indent=2, default=str) + "\n")
    lines = [
        "# MPNet-base teacher -> 4-layer student on vitaminc (GPU)\n",
        header_markdown(record) + f"- GPU: {record['gpu']}\n",
        f"- teacher: mpnet-base, {args.train_examples} training pairs, 2 epochs, bf16: dev "
        f"{t['best'].get('dev/accuracy', float('nan')):.4f}",
        "",
        "| student precision | dev acc | test acc | train s | examples/s | teacher pass s |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['precision']} | {r['dev']:.4f} | {r['test']:.4f} | {r['train_s']} | {r['examples_per_s']} | "
        f"{r['teacher_s']} |"
        for r in rows
    ]
    Path(args.results + "-gpu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpu", action="store_true", help="the GPU part (needs CUDA)")
    ap.add_argument("--teachers", default="runs/teachers")
    ap.add_argument("--runs", default="runs/scale-bench")
    ap.add_argument("--train-examples", type=int, default=50000, help="GPU part: training pairs")
    ap.add_argument("--results", default="results/scale")
    ap.add_argument("--render", action="store_true", help="only rewrite the .md from the .json")
    args = ap.parse_args()
    if args.render:
        render(args.results)
    else:
        gpu(args) if args.gpu else cpu(args)


if __name__ == "__main__":
    main()
