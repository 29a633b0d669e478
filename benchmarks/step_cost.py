"""What a distillation step costs next to a hard-label step of the same student, teacher cache warm.

    python benchmarks/step_cost.py --teacher runs/teachers/minilm-l6-movie-sentiment

Same student, same 32-example batches, same optimiser; a hard step is forward + cross-entropy +
backward + AdamW step, a distillation step adds the teacher-logit lookup and the KD term (Hinton
and Tang). Blocks of steps alternate between the methods so that drift in the machine's speed
hits both alike; the median step time is reported. Writes ``results/step_cost.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from common import header_markdown, run_record
from textdistill.config import validate
from textdistill.data.load import load_task
from textdistill.methods import get_method
from textdistill.recipes.distill import build_student
from textdistill.runtime import set_seed, set_threads
from textdistill.teachers.cache import teacher_outputs

STUDENTS = {
    "bilstm": {"kind": "bilstm", "embedding": "glove-6b-50d"},
    "transformer": {"kind": "transformer", "layers": 4, "hidden": 312, "heads": 12, "intermediate": 1200},
}


def step_times(student, batches, method, teacher) -> list[float]:
    """Seconds per training step over ``batches``."""
    model = student.model
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    times = []
    for batch in batches:
        started = time.perf_counter()
        out = model(**{k: batch[k] for k in model.input_names if k in batch})
        t = teacher.lookup(batch["index"]) if method.needs_teacher else None
        loss, _ = method.loss(batch, out, t, 0, 1)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default="runs/teachers/minilm-l6-movie-sentiment")
    ap.add_argument("--task", default="movie-sentiment")
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--results", default="results/step_cost")
    args = ap.parse_args()
    set_threads()
    record = run_record()
    task = load_task(args.task)
    examples = task.splits["train"][: 32 * args.batches]
    teacher = teacher_outputs(args.teacher, examples, 128)
    rows = []
    for kind, student_cfg in STUDENTS.items():
        cfg = validate(
            {"task": args.task, "teacher": args.teacher, "student": student_cfg, "method": {"name": "hard"}}
        )
        set_seed(0)
        student = build_student(cfg, task.spec, task.splits["train"])
        batches = list(student.loader(examples, 32, shuffle=False))
        medians: dict[str, list[float]] = {"hard": [], "hinton": [], "tang": []}
        step_times(student, batches[:3], get_method("hard"), teacher)  # warm-up
        for _ in range(args.rounds):
            for name in medians:
                medians[name] += step_times(student, batches, get_method(name), teacher)
        hard = statistics.median(medians["hard"])
        for name in ("hinton", "tang"):
            ratio = statistics.median(medians[name]) / hard
            rows.append(
                {
                    "student": kind,
                    "method": name,
                    "hard_ms": hard * 1000,
                    "distill_ms": statistics.median(medians[name]) * 1000,
                    "ratio": ratio,
                    "target": 1.15,
                    "met": ratio <= 1.15,
                    "steps_each": len(medians[name]),
                }
            )
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(
        json.dumps({"run": record, "teacher_cache_hit": teacher.from_cache, "rows": rows}, indent=2) + "\n"
    )
    lines = [
        "# Step cost: distillation step against a hard-label step (teacher cache warm)\n",
        header_markdown(record),
        f"- batch 32 from the {args.task} training set; {rows[0]['steps_each']} steps per method, "
        "alternating blocks; median step time (forward, loss, backward, AdamW step)\n",
        "| student | method | hard step ms | distillation step ms | ratio | target ≤ 1.15 |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['student']} | {r['method']} | {r['hard_ms']:.2f} | {r['distill_ms']:.2f} "
            f"| {r['ratio']:.3f} | {'met' if r['met'] else 'MISSED'} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
