"""Check that committed results still reproduce after a change: a teacher run of
``benchmarks/teachers.py`` and a main job (``textdistill run``) against ``results/``.

    python benchmarks/teachers.py --tasks movie-sentiment --runs /tmp/spot/teachers \
        --results /tmp/spot/teachers
    textdistill run --out /tmp/spot/main
    python benchmarks/reproduce.py --teachers /tmp/spot/teachers.json --main /tmp/spot/main \\
        --results results/reproduce-2026-12-02

Writes ``RESULTS.md`` (for people) and ``RESULTS.json``: dev accuracy by epoch for the teacher,
every model of the main job with its committed and today's dev metric and retention, and
whether they are identical (accuracies are deterministic on one CPU; speed is not).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import header_markdown, run_record


def teacher_row(label: str, teacher: dict) -> str:
    """A table row: dev accuracy after each epoch, the best checkpoint's dev and test accuracy."""
    by_epoch = " / ".join(f"{h['dev/accuracy']:.4f}" for h in teacher["history"])
    best = teacher["best"]
    return f"| {label} | {by_epoch} | {best['dev/accuracy']:.4f} | {best['test/accuracy']:.4f} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teachers", required=True, help="the .json benchmarks/teachers.py wrote today")
    ap.add_argument("--main", required=True, help="today's main-job folder (its report.json)")
    ap.add_argument("--committed-teachers", default="results/teachers-current.json")
    ap.add_argument("--committed-main", default="results/main-run.json")
    ap.add_argument("--results", default="results/reproduce")
    args = ap.parse_args()
    now_t = json.loads(Path(args.teachers).read_text())["rows"][0]
    then_t = next(
        r for r in json.loads(Path(args.committed_teachers).read_text())["rows"] if r["task"] == now_t["task"]
    )
    rows = json.loads((Path(args.main) / "report.json").read_text())
    committed = {r["model"]: r for r in json.loads(Path(args.committed_main).read_text())}
    key = rows[0]["primary_metric"]
    compared = [
        {"model": r["model"], "committed": committed[r["model"]]["quality"][key], "today": r["quality"][key],
         "committed_retention": committed[r["model"]]["retention"], "today_retention": r["retention"],
         "today_speedup_bs32": r["speedup_bs32"]}
        for r in rows
    ]  # fmt: skip
    same_teacher = [h["dev/accuracy"] for h in now_t["history"]] == [
        h["dev/accuracy"] for h in then_t["history"]
    ]
    record = {**run_record(), "teacher_identical": same_teacher, "main_job": compared}
    lines = [
        "# Reproduction of committed results", "", header_markdown(record),
        f"## Teacher ({args.committed_teachers} against today)", "",
        "| | dev accuracy by epoch | best dev | test |", "|---|---|---|---|",
        teacher_row("committed", then_t),
        teacher_row("today", now_t),
        "", f"## Main job ({args.committed_main} against today, {key})", "",
        "| model | committed | today | identical | committed retention | today retention | today speed-up |",
        "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for c in compared:
        same = "yes" if c["committed"] == c["today"] else "NO"
        lines.append(
            f"| {c['model']} | {c['committed']:.4f} | {c['today']:.4f} | {same} "
            f"| {c['committed_retention']:.1%} | {c['today_retention']:.1%} "
            f"| {c['today_speedup_bs32']:.1f}x |"
        )
    lines += ["", "Speed-ups are measured back to back in each run and move with the machine's load; "
              "accuracies are deterministic on this CPU."]  # fmt: skip
    Path(args.results + ".md").write_text("\n".join(lines) + "\n")
    Path(args.results + ".json").write_text(json.dumps(record, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
