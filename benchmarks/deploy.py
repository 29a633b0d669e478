"""Deployable students: ONNX fp32 and int8 against PyTorch fp32, quality and speed, beside the teacher.

    python benchmarks/deploy.py [--tasks movie-sentiment trec6]

The students are the seed-1 Hinton-KD runs of ``benchmarks/distill.py`` (a BiLSTM and the
2-layer transformer; reused when present, trained when not). Each is exported with
``textdistill export --int8`` (the check: accuracy of every backend on the whole dev set, the
share of identical predictions, the largest logit difference) and measured with
``textdistill bench`` (throughput at batch 1 / 8 / 32 / 128 on 512 dev examples, latency
percentiles at batch 1 over 200). Writes ``results/deploy.{md,json,png}``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import header_markdown, run_record
from distill import run_one
from textdistill.deploy import export_folder
from textdistill.serving import bench_folder, plot, ratio, table_markdown


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="+", default=["movie-sentiment"])
    ap.add_argument("--teachers", default="runs/teachers")
    ap.add_argument("--runs", default="runs/distill-bench")
    ap.add_argument("--results", default="results/deploy")
    args = ap.parse_args()
    record = run_record()
    checks, rows = [], []
    for task in args.tasks:
        teacher = Path(args.teachers) / f"minilm-l6-{task}"
        for student in ("bilstm", "transformer"):
            run_one(task, teacher, student, "hinton", 1, Path(args.runs))
            folder = Path(args.runs) / f"{task}-{student}-hinton-s1"
            exported = export_folder(folder, int8=True)
            checks.append({"task": task, "student": student, "folder": str(folder), **exported["check"]})
            got = bench_folder(folder, teacher=student == "transformer")  # the teacher once per task
            rows += [{**r, "task": task} for r in got]
    out = {**record, "checks": checks, "speed": rows}
    Path(args.results + ".json").write_text(json.dumps(out, indent=2) + "\n")
    plot(rows, Path(args.results + ".png"))
    lines = [
        "# Deployable students: ONNX fp32 and int8 against PyTorch fp32\n",
        header_markdown(record),
        "## Quality (whole dev set; int8 = ONNX Runtime dynamic quantisation)\n",
        "| task | student | PyTorch fp32 | ONNX fp32 | ONNX int8 | int8 - fp32 (points) "
        "| same prediction fp32 / int8 | max logit diff fp32 | size MB fp32 / int8 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for c in checks:
        t, o, q = c["torch"]["accuracy"], c["onnx"]["accuracy"], c["onnx-int8"]["accuracy"]
        lines.append(
            f"| {c['task']} | {c['student']} | {t:.4f} | {o:.4f} | {q:.4f} | {(q - t) * 100:+.2f} | "
            f"{c['onnx']['same_prediction']:.2%} / {c['onnx-int8']['same_prediction']:.2%} | "
            f"{c['onnx']['max_abs_logit_diff']:.1e} | {c['onnx']['size_mb']} / {c['onnx-int8']['size_mb']} |"
        )
        speed = ratio(rows, c["folder"], "onnx int8")
        verdicts.append(
            f"- {c['task']} {c['student']}: ONNX int8 is {speed:.2f}x PyTorch fp32's throughput at batch 32, "
            f"{(q - t) * 100:+.2f} points of dev accuracy: "
            + ("met" if speed >= 2 and abs(q - t) <= 0.005 else "not met")
            + f" (ONNX fp32: {ratio(rows, c['folder'], 'onnx fp32'):.2f}x)."
        )
    lines += [
        "",
        "## Speed (examples/s; latency at batch 1 in ms)\n",
        table_markdown(rows),
        "",
        "## Verdict",
        "",
    ]
    lines += verdicts
    Path(args.results + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
