"""What every benchmark records beside its numbers: the command, the machine, the date."""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch

from textdistill.run import STUDENTS as MAIN_JOB_STUDENTS

# the students of the committed results/distill.md and results/augment*.md: the main job's before
# it moved its BiLSTM to the teacher's tokens and static vectors (issue 18), a BiLSTM on GloVe 50d
STUDENTS = {**MAIN_JOB_STUDENTS, "bilstm": {"kind": "bilstm", "embedding": "glove-6b-50d"}}


def machine() -> dict[str, object]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "os": platform.platform(),
    }


def run_record() -> dict[str, object]:
    return {
        "command": " ".join(shlex.quote(a) for a in ["python", *sys.argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
    }


def header_markdown(record: dict) -> str:
    m = record["machine"]
    return (
        f"- command: `{record['command']}`\n- date: {record['date']}\n"
        f"- machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads), "
        f"Python {m['python']}\n"
    )


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def finished_line(rows: list[dict], runs: str) -> list[str]:
    """When the (possibly reused) runs finished: a table may join runs of several days."""
    finished = [f for r in rows for f in r.get("finished", [])]
    if not finished:
        return []
    return [f"- runs are reused from `{runs}` when there; these finished between {min(finished)} and "
            f"{max(finished)}\n"]  # fmt: skip


def run_distill(out: Path, config: dict) -> dict:
    """One distillation run into ``out`` (``config`` without ``out``); a finished run (its manifest
    says so; a folder of an earlier textdistill is migrated first) is reused, so an interrupted
    benchmark continues where it stopped, but only if it was made with the same config: a finished
    run of another recipe under the same name is refused."""
    import yaml

    from textdistill.artifacts import manifest_path, migrate, read_manifest
    from textdistill.config import validate
    from textdistill.recipes.common import changed_keys, plain
    from textdistill.recipes.distill import distill

    cfg = validate({**config, "out": str(out)})
    if (out / "metrics.json").exists() and not manifest_path(out).exists():
        migrate(out)
    if not manifest_path(out).exists() or read_manifest(out).get("state") != "finished":
        distill(cfg)
    else:
        changed = changed_keys(
            plain(yaml.safe_load((out / "config.yaml").read_text())), plain(cfg.model_dump())
        )
        if changed:
            raise SystemExit(
                f"{out} holds a finished run of another config (these keys differ: {', '.join(changed)}); "
                "move it away or give the benchmark another --runs folder"
            )
    return json.loads((out / "metrics.json").read_text())


def write_results(
    path: Path, out: dict, markdown: Callable[[dict], str], plot: Callable[[dict, Path], None]
) -> None:
    """``path``'s ``.json`` (for machines), ``.md`` (for people, also printed) and ``.png``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps(out, indent=2) + "\n")
    path.with_suffix(".md").write_text(markdown(out))
    plot(out, path.with_suffix(".png"))
    print(path.with_suffix(".md").read_text())


def pm(values: list[float]) -> str:
    """``mean ± sd`` of seed results, 4 decimals."""
    mean, sd = mean_sd(values)
    return f"{mean:.4f} ± {sd:.4f}"


def seed_bars(
    ax, rows: list[dict], labels: list[str], colors: list[str], teacher: float, ylabel: str
) -> None:
    """One bar per row (mean of ``row["dev"]`` over seeds, ±1 sd), the seeds as dots, the teacher
    as a dashed line."""
    means = [mean_sd(r["dev"])[0] for r in rows]
    sds = [mean_sd(r["dev"])[1] for r in rows]
    ax.bar(range(len(rows)), means, yerr=sds, color=colors, capsize=4)
    for i, r in enumerate(rows):
        ax.scatter([i] * len(r["dev"]), r["dev"], color="black", s=8, zorder=3)
    ax.axhline(teacher, ls="--", color="red", label="teacher")
    ax.set_xticks(range(len(rows)), labels, fontsize=7)
    ax.set(ylabel=ylabel, ylim=(min(means) - 0.08, teacher + 0.03))
    ax.legend()


def evaluated(folder: Path, reading: dict | None = None) -> dict:
    """``td.evaluate(folder)`` (reading long texts as ``reading`` says, when given), or the
    ``evaluation.json`` (``evaluation-<reading's slug>.json``: ``windows-max``, say) it wrote after
    the run finished."""
    import textdistill as td
    from textdistill.data.windows import Reading

    name = "evaluation.json" if reading is None else f"evaluation-{Reading(**reading).slug()}.json"
    done = folder / name
    if done.exists() and done.stat().st_mtime > (folder / "metrics.json").stat().st_mtime:
        return json.loads(done.read_text())
    return td.evaluate(folder, reading=reading)


def cached_baseline(path: Path, data: object) -> dict:
    """TF-IDF + LR on a task (one-vs-rest for a multi-label one), fitted once and kept in ``path``."""
    from textdistill.evaluation.baseline import evaluate_baseline

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(evaluate_baseline(data), indent=2) + "\n")
    return json.loads(path.read_text())
