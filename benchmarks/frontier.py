"""The quality-speed frontier: every student kind against the teacher and the classic baselines.

    python benchmarks/frontier.py [--tasks movie-sentiment trec6] [--seeds 1 2 3] [--lever-seeds 1]
                                  [--students NAME ...] [--train-only] [--render]

For each task: the teacher (``--teachers``/minilm-l6-TASK, from benchmarks/teachers.py), each
student recipe of ``--students`` (:data:`STUDENTS`; all by default) distilled from it (Hinton KD,
alpha 0.5, T 2, unless the recipe names another method; best checkpoint by dev) with each seed
(``--lever-seeds`` for the levers tried aside), and the baselines fitted on the same labelled
data: TF-IDF + logistic regression (``tfidf-lr``) and the teacher's static vectors averaged +
logistic regression (``static-lr``, model2vec). Quality: dev and test, mean ± sample sd over
seeds. Speed, last and back to back on the same dev examples: the teacher and each recipe's
first-seed student on PyTorch fp32 and on int8 ONNX (``textdistill export --int8``), throughput
at batch 32 (in file order, and sorted by length) and latency at batch 1; a speed-up compares a
student with the teacher on the same backend. Each lever of :data:`LEVERS` is set against the
recipe without it. Runs land in ``--runs`` and are reused when finished. Writes
``results/frontier.{md,json,png}``.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from common import STUDENTS as BENCH_STUDENTS
from common import finished_line, header_markdown, mean_sd, pm, run_distill, run_record
from textdistill.artifacts import open_run
from textdistill.deploy import ONNX_FILES, export_folder, onnx_dir
from textdistill.evaluation.baseline import evaluate_baseline
from textdistill.evaluation.run_eval import evaluate_folder
from textdistill.evaluation.speed import measure, throughput, torch_runner
from textdistill.run import STUDENTS as MAIN_JOB_STUDENTS
from textdistill.runtime import set_threads
from textdistill.serving import _onnx_runner

GOALS = ((10.0, 0.97), (25.0, 0.95))  # (speed-up at batch 32, retention of the teacher's dev metric)
BASELINE_MARGIN = 0.02  # the 10x student beats TF-IDF + LR on test by this much
EMBED = {"embedding": "teacher", "embed_dim": 256}
AUG8 = {"rounds": 8, "seed": 0, "tagger": "en-core-web-sm"}  # Tang et al.'s transfer set, 8 copies


@dataclass(frozen=True)
class Recipe:
    """One student recipe: the ``student`` section, its training length and learning rate, the
    method (Hinton KD unless said), an optional transfer set (``augment`` section), the tasks it
    runs on (``None``: every task), and those where it is a lever tried aside, on
    ``--lever-seeds`` (it costs too much there for every seed)."""

    student: dict
    epochs: float
    lr: float
    augment: dict | None = None
    method: dict = field(default_factory=lambda: {"name": "hinton"})
    tasks: tuple[str, ...] | None = None
    lever_tasks: tuple[str, ...] = ()


STUDENTS = {
    "bilstm-glove": Recipe(BENCH_STUDENTS["bilstm"], 10, 1e-3),
    "bilstm-teacher": Recipe({"kind": "bilstm", **EMBED}, 10, 1e-3),
    "cnn-teacher": Recipe({"kind": "cnn", **EMBED}, 10, 1e-3),
    "cnn-teacher-128": Recipe({"kind": "cnn", "embedding": "teacher", "embed_dim": 128}, 10, 1e-3),
    "transformer-2l": Recipe(MAIN_JOB_STUDENTS["transformer"], 3, 1e-4),  # the main job's 3-4x student
    # DistilBERT's cosine term on the fast students' text vector (textdistill.methods.hinton_cos)
    "bilstm-teacher-cos": Recipe({"kind": "bilstm", **EMBED}, 10, 1e-3, method={"name": "hinton_cos"}),
    "cnn-teacher-cos": Recipe({"kind": "cnn", **EMBED}, 10, 1e-3, method={"name": "hinton_cos"}),
    # transfer sets for the fast students (6 epochs over 9x the rows: results/augment-movie-longer.md)
    "bilstm-teacher-aug8": Recipe(
        {"kind": "bilstm", **EMBED}, 6, 1e-3, AUG8, lever_tasks=("movie-sentiment",)
    ),
    "cnn-teacher-aug8": Recipe({"kind": "cnn", **EMBED}, 6, 1e-3, AUG8, tasks=("trec6",)),
}
# (what the lever is, the recipe without it, the recipe with it): the levers table
LEVERS = (
    ("the teacher's tokens and static vectors instead of GloVe 50d", "bilstm-glove", "bilstm-teacher"),
    ("a CNN instead of the BiLSTM", "bilstm-teacher", "cnn-teacher"),
    ("CNN embeddings 128-d instead of 256-d", "cnn-teacher", "cnn-teacher-128"),
    ("a cosine term to the teacher's pooled last layer (BiLSTM)", "bilstm-teacher", "bilstm-teacher-cos"),
    ("a cosine term to the teacher's pooled last layer (CNN)", "cnn-teacher", "cnn-teacher-cos"),
    ("a transfer set of 8 augmented copies (BiLSTM)", "bilstm-teacher", "bilstm-teacher-aug8"),
    ("a transfer set of 8 augmented copies (CNN)", "cnn-teacher", "cnn-teacher-aug8"),
)
BACKENDS = ("torch fp32", "onnx int8")
QUALITY_ONLY = 8  # dev examples evaluate_folder times: its speed is not used here (speeds() times, later)
TRANSFORMER, TRANSFORMER_GOAL = "transformer-2l", 0.99  # goal 3: the 3x transformer keeps 99%


def speeds(folder: Path, examples: list, latency_n: int) -> dict[str, dict]:
    """Throughput at batch 32 and latency at batch 1 of a folder's model on PyTorch fp32 and int8
    ONNX (exported first when missing), each on its own pre-tokenised batches of ``examples``."""
    opened = open_run(folder)
    student = opened.student
    onnx = onnx_dir(folder, student, opened.spec.name)
    made = json.loads((onnx / "export.json").read_text()) if (onnx / "export.json").exists() else {}
    if not (onnx / ONNX_FILES["onnx-int8"]).exists() or "int8_op_types" not in made:
        export_folder(folder, int8=True)  # missing, or quantised before convolutions were kept fp32
    runners = {
        "torch fp32": torch_runner(student.model),
        "onnx int8": _onnx_runner(onnx / ONNX_FILES["onnx-int8"]),
    }
    out = {}
    for backend, run in runners.items():
        m = measure(run, student, examples, (32,), latency_n)  # batches of like lengths, as served
        in_order = throughput(run, list(student.loader(examples, 32)))  # batches in the file's order
        out[backend] = {
            "throughput_b32": in_order,
            "throughput_b32_by_length": m["throughput"][32],
            "latency_p50_ms": m["latency_ms"]["p50"],
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="+", default=["movie-sentiment", "trec6"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--lever-seeds", nargs="+", type=int, default=[1], help="seeds of the levers tried aside")
    ap.add_argument("--students", nargs="+", default=list(STUDENTS), choices=list(STUDENTS))
    ap.add_argument("--speed-examples", type=int, default=640, help="dev examples timed per model")
    ap.add_argument("--latency-examples", type=int, default=200)
    ap.add_argument("--teachers", default="runs/teachers")
    ap.add_argument("--runs", default="runs/frontier")
    ap.add_argument("--results", default="results/frontier")
    ap.add_argument("--render", action="store_true", help="only redraw the tables and plot from the JSON")
    ap.add_argument("--train-only", action="store_true", help="train the missing runs, time nothing")
    args = ap.parse_args()
    if args.render:
        render(json.loads(Path(args.results + ".json").read_text()), args.results)
        return
    record = run_record()
    rows: list[dict] = []
    loads: list[float] = []  # the 1-minute load average before each task's speed measurements
    for task in args.tasks:
        teacher = Path(args.teachers) / f"minilm-l6-{task}"
        data = open_run(teacher).task_data()
        primary = f"dev/{data.spec.primary_metric}"
        trained = {}
        for name in args.students:
            recipe = STUDENTS[name]
            if recipe.tasks is not None and task not in recipe.tasks:
                continue
            config = {
                "task": task,
                "teacher": str(teacher),
                "student": recipe.student,
                "method": recipe.method,
                "train": {"epochs": recipe.epochs, "lr": recipe.lr},
                **({"augment": recipe.augment} if recipe.augment else {}),
            }
            lever = task in recipe.lever_tasks
            seeds = args.lever_seeds if lever else args.seeds
            runs = [Path(args.runs) / f"{task}-{name}-s{seed}" for seed in seeds]
            results = [
                run_distill(run, {**config, "train": {**config["train"], "seed": seed}})
                for run, seed in zip(runs, seeds, strict=True)
            ]
            trained[name] = (runs, seeds, results, lever)
        if args.train_only:
            continue
        # quality of every seed on the same examples, then speed back to back
        t = evaluate_folder(teacher, speed_examples=QUALITY_ONLY, data=data)
        task_rows = [
            {
                "task": task,
                "model": "teacher",
                "kind": "teacher",
                "seeds": [None],
                "dev": [t["quality"][primary]],
                "test": [t["quality"][primary.replace("dev/", "test/")]],
                "parameters": t["parameters"],
                "size_mb": t["size_mb"],
                "folder": str(teacher),
            }
        ]
        for name, (runs, seeds, results, lever) in trained.items():
            evals = [evaluate_folder(run, speed_examples=QUALITY_ONLY, data=data) for run in runs]
            task_rows.append(
                {
                    "task": task,
                    "model": name,
                    "kind": STUDENTS[name].student["kind"],
                    "seeds": seeds,
                    "lever": lever,
                    "dev": [e["quality"][primary] for e in evals],
                    "test": [e["quality"][primary.replace("dev/", "test/")] for e in evals],
                    "parameters": evals[0]["parameters"],
                    "size_mb": evals[0]["size_mb"],
                    "folder": str(runs[0]),
                    "train_seconds": [m["train_seconds"] for m in results],
                    "finished": [m["finished"] for m in results],
                }
            )
        sample = data.splits[data.eval_splits[0]][: args.speed_examples]
        set_threads()
        loads.append(round(os.getloadavg()[0], 2))  # a busy machine makes speed-ups meaningless: say so
        for row in task_rows:
            for backend, speed in speeds(Path(row["folder"]), sample, args.latency_examples).items():
                rows.append({**row, "backend": backend, **speed})
        for teacher_dir in (None, teacher):
            b = evaluate_baseline(data, args.speed_examples, teacher=teacher_dir)
            rows.append(
                {
                    "task": task,
                    "model": b["kind"],
                    "kind": "baseline",
                    "backend": "scikit-learn",
                    "seeds": [0],
                    "dev": [b["quality"][primary]],
                    "test": [b["quality"][primary.replace("dev/", "test/")]],
                    "parameters": b["parameters"],
                    "size_mb": b["size_mb"],
                    "folder": None,
                    "throughput_b32": b["throughput_bs32"],
                    "latency_p50_ms": b["latency_p50_ms"],
                    "fit_seconds": b["fit_seconds"],
                }
            )
    for r in rows:  # retention and speed-up against the teacher on the same backend (PyTorch for baselines)
        teacher = next(
            x
            for x in rows
            if x["task"] == r["task"]
            and x["model"] == "teacher"
            and x["backend"] == (r["backend"] if r["backend"] in BACKENDS else "torch fp32")
        )
        r["retention_dev"] = mean_sd(r["dev"])[0] / teacher["dev"][0]
        r["speedup_b32"] = r["throughput_b32"] / teacher["throughput_b32"]
    if args.train_only:
        return
    out = {**record, "args": vars(args), "rows": rows, "load_before_speed": loads}
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results + ".json").write_text(json.dumps(out, indent=2) + "\n")
    render(out, args.results)


def verdicts(rows: list[dict]) -> list[str]:
    """Each goal, per task and backend: the best student that meets it, or the closest."""
    lines = []
    for task in dict.fromkeys(r["task"] for r in rows):
        tfidf = next(r for r in rows if r["task"] == task and r["model"] == "tfidf-lr")
        for backend in BACKENDS:
            students = [
                r
                for r in rows
                if r["task"] == task and r["backend"] == backend and r["kind"] not in ("teacher", "baseline")
            ]
            for speedup, retention in GOALS:
                fast = [r for r in students if r["speedup_b32"] >= speedup]
                if not fast:
                    lines.append(f"- {task}, {backend}: no student at {speedup:g}x or more")
                    continue
                best = max(fast, key=lambda r: r["retention_dev"])
                met = best["retention_dev"] >= retention
                line = (
                    f"- {task}, {backend}, {retention:.0%} at {speedup:g}x: {'met' if met else 'not met'} "
                    f"(best at {speedup:g}x or more: {label(best)}, {best['retention_dev']:.1%} at "
                    f"{best['speedup_b32']:.1f}x"
                )
                if speedup == GOALS[0][0]:
                    gain = 100 * (mean_sd(best["test"])[0] - tfidf["test"][0])
                    beats = gain >= 100 * BASELINE_MARGIN
                    line += f"; test {gain:+.2f} points over TF-IDF + LR: {'met' if beats else 'not met'}"
                lines.append(line + ")")
        for r in rows:  # goal 3: the 3x transformer
            if r["task"] == task and r["model"] == TRANSFORMER and r["backend"] == BACKENDS[0]:
                met = r["retention_dev"] >= TRANSFORMER_GOAL
                lines.append(
                    f"- {task}, {TRANSFORMER} at {r['speedup_b32']:.1f}x keeps {r['retention_dev']:.1%}: "
                    f"{TRANSFORMER_GOAL:.0%} {'met' if met else 'not met'}"
                )
    return lines


def label(row: dict) -> str:
    """A row's model, with its seed count when it is a lever tried on fewer seeds."""
    if not row.get("lever"):
        return row["model"]
    n = len(row["seeds"])
    return f"{row['model']} ({n} seed{'s' * (n > 1)})"


def find(rows: list[dict], task: str, model: str, backend: str) -> dict | None:
    return next(
        (r for r in rows if r["task"] == task and r["model"] == model and r["backend"] == backend), None
    )


def lever_lines(rows: list[dict]) -> list[str]:
    """Each lever against the recipe without it, per task: dev retention, test, and speed-up on
    both backends."""
    lines = [
        "| task | lever | without → with | retention (dev) | test | speed-up torch fp32 "
        "| speed-up onnx int8 |",
        "|---|---|---|---|---|---|---|",
    ]
    for task in dict.fromkeys(r["task"] for r in rows):
        for what, base, variant in LEVERS:
            pair = [[find(rows, task, m, b) for b in BACKENDS] for m in (base, variant)]
            if None in pair[0] + pair[1]:
                continue
            (b_t, b_i), (v_t, v_i) = pair
            gain = 100 * (v_t["retention_dev"] - b_t["retention_dev"])
            test = 100 * (mean_sd(v_t["test"])[0] - mean_sd(b_t["test"])[0])
            lines.append(
                f"| {task} | {what} | {base} → {label(v_t)} | {b_t['retention_dev']:.1%} → "
                f"{v_t['retention_dev']:.1%} ({gain:+.1f}) | {mean_sd(b_t['test'])[0]:.4f} → "
                f"{mean_sd(v_t['test'])[0]:.4f} ({test:+.1f}) | {b_t['speedup_b32']:.1f}x → "
                f"{v_t['speedup_b32']:.1f}x | {b_i['speedup_b32']:.1f}x → {v_i['speedup_b32']:.1f}x |"
            )
    return lines


def bucketing_lines(rows: list[dict]) -> list[str]:
    """Throughput at batch 32 on the dev examples in their order, and sorted by length first
    (batches of like lengths, less padding), per model and backend."""
    lines = [
        "| task | model | backend | ex/s bs32, file order | ex/s bs32, by length | gain |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "throughput_b32_by_length" in r:
            lines.append(
                f"| {r['task']} | {r['model']} | {r['backend']} | {r['throughput_b32']:.0f} "
                f"| {r['throughput_b32_by_length']:.0f} "
                f"| {r['throughput_b32_by_length'] / r['throughput_b32']:.2f}x |"
            )
    return lines


def render(out: dict, results: str) -> None:
    a = out["args"]
    lines = [
        "# The quality-speed frontier: students, the teacher and the classic baselines\n",
        header_markdown(out),
        *finished_line([r for r in out["rows"] if r.get("finished")], a["runs"]),
        f"- seeds {a['seeds']} (mean ± sample sd; a row marked with its seed count is a lever tried on "
        f"{a.get('lever_seeds', a['seeds'])}); students distilled from minilm-l6 fine-tuned on the task by "
        "Hinton KD (alpha 0.5, T 2; `-cos`: plus the cosine term of `hinton_cos`), 10 epochs (the "
        "transformer 3; `-aug8`: 6 epochs over the labelled set and 8 augmented copies of it), best "
        "checkpoint by dev; `-teacher`: the teacher's tokens and static vectors (256-d unless named), "
        "`-glove`: GloVe 50d words; speed on this machine, back to back, on "
        f"{a['speed_examples']} dev examples (throughput, batch 32) and {a['latency_examples']} (latency, "
        "batch 1), each recipe's first-seed student; speed-up and retention against the teacher on the "
        "same backend (the baselines against the teacher on PyTorch; they run in scikit-learn, "
        "featurising included)\n",
        "- 1-minute load average before the speed measurements: "
        f"{out.get('load_before_speed', 'not recorded')} "
        f"({out['machine']['cores']} cores: a load above that means another job shared the machine)\n",
        "- goals (issue 18): 97% of the teacher's dev metric at 10x and 2 points over TF-IDF + LR on test; "
        "95% at 25x; 99% for the 3x transformer\n",
        "| task | model | backend | dev | test | retention (dev) | params | MB | ex/s bs32 | speed-up "
        "| p50 ms bs1 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in out["rows"]:
        lines.append(
            f"| {r['task']} | {label(r)} | {r['backend']} | {pm(r['dev'])} | {pm(r['test'])} "
            f"| {r['retention_dev']:.1%} | {r['parameters'] / 1e6:.2f}M | {r['size_mb']:.1f} "
            f"| {r['throughput_b32']:.0f} | {r['speedup_b32']:.1f}x | {r['latency_p50_ms']:.2f} |"
        )
    lines += ["", "## Goals", "", *verdicts(out["rows"])]
    lines += [
        "",
        "## Levers",
        "",
        "Each lever against the same recipe without it (speed of each recipe's first-seed student, "
        "mean quality over the seeds each row names).",
        "",
        *lever_lines(out["rows"]),
        "",
        "## Length bucketing at serving time",
        "",
        "Sorting a file's texts by length before batching them (what `predict --file` does) cuts padding; "
        "the goals above use the file order, as a server answering requests in turn would.",
        "",
        *bucketing_lines(out["rows"]),
    ]
    Path(results + ".md").write_text("\n".join(lines) + "\n")
    plot(out, results + ".png")
    print("\n".join(lines))


def plot(out: dict, path: str) -> None:
    """Retention (dev) against speed-up (log scale), per task; one colour per model, one marker per
    backend; the goals as target corners."""
    tasks = list(dict.fromkeys(r["task"] for r in out["rows"]))
    models = list(dict.fromkeys(r["model"] for r in out["rows"]))
    colors = {m: plt.get_cmap("tab20")(i % 20) for i, m in enumerate(models)}
    markers = {"torch fp32": "o", "onnx int8": "s", "scikit-learn": "^"}
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.5 * len(tasks), 4.6), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        for r in (r for r in out["rows"] if r["task"] == task):
            sd = mean_sd(r["dev"])[1] / next(
                x["dev"][0] for x in out["rows"] if x["task"] == task and x["model"] == "teacher"
            )
            ax.errorbar(
                r["speedup_b32"],
                r["retention_dev"],
                yerr=sd,
                fmt=markers[r["backend"]],
                color=colors[r["model"]],
                ms=7,
                capsize=3,
                label=f"{r['model']} ({r['backend']})",
            )
        for speedup, retention in GOALS:
            ax.plot([speedup, speedup], [retention, 1.02], color="red", lw=0.8, ls=":")
            ax.plot(
                [speedup, ax.get_xlim()[1] if ax.get_xlim()[1] > speedup else speedup * 4],
                [retention, retention],
                color="red",
                lw=0.8,
                ls=":",
            )
        ax.set(
            xscale="log",
            xlabel="speed-up over the teacher, batch 32 (same backend; log scale)",
            ylabel="retention of the teacher's dev metric",
            title=task,
        )
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
