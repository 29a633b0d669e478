"""Distilling from a predictions file (``teacher: {predictions: FILE}``) against the teacher model.

For each task, the fine-tuned teacher writes its predictions on every split's texts with
``td.predict(teacher, texts, out=FILE)`` (what ``textdistill predict --out`` does), and students
of one recipe (the BiLSTM on the teacher's tokens by Hinton KD, ``configs/bilstm-teacher-hinton.yaml``)
learn from:

- ``model``: the teacher folder itself (its outputs through the teacher cache);
- ``file: logits``: the teacher's predictions file as written (the student should be the same one,
  weight for weight);
- ``file: probs, 2 decimals``: only probabilities rounded to two decimals, as an API or a large
  language model asked for label probabilities would give them;
- ``file: labels only``: the teacher's label alone (probability 1), as a labelling service returns.

On ``--transfer-task`` (trec6 by default) instead the transfer set of Tang et al. with no teacher model
in the run: ``textdistill augment`` writes 8 augmented copies of the training set, the teacher
labels them in a file, and the student distils from that file with ``transfer:``; against the same
recipe with ``augment:`` and the teacher model in the run. Every row is scored on the same
examples; TF-IDF + LR is fitted on the labelled data for reference.

    python benchmarks/predictions_teacher.py --teachers /tmp/spot/teachers --seeds 1 2 3 \\
        --runs runs/predictions --results results/predictions_teacher
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))

import textdistill as td
from common import header_markdown, mean_sd, pm, run_distill, run_record, write_results
from textdistill.data.load import load_task
from textdistill.evaluation.baseline import evaluate_baseline

STUDENT = {"kind": "bilstm", "embedding": "teacher", "embed_dim": 256, "hidden": 150, "fc": 200}
METHOD = {"name": "hinton", "alpha": 0.5, "temperature": 2.0}
AUG8 = {"rounds": 8, "seed": 0, "tagger": "en-core-web-sm"}  # as results/frontier.md's -aug8 rows
VARIANTS = ("model", "file: logits", "file: probs, 2 decimals", "file: labels only")


def predict_parts(teacher: Path, parts: list[list[str]], path: Path) -> float:
    """The teacher's predictions file on each list of texts in turn (the training texts, then the
    dev texts, ...): each list is batched as the teacher cache batches that set in a run, so the
    file's logits are the cached ones to the bit. Returns the seconds it took."""
    started = time.perf_counter()
    lines = []
    for i, texts in enumerate(parts):
        part = path.with_suffix(f".part{i}.jsonl")
        td.predict(teacher, texts, out=part, truncate=True)
        lines.append(part.read_text())
        part.unlink()
    path.write_text("".join(lines))
    return time.perf_counter() - started


def write_files(
    teacher: Path, task: str, folder: Path, parts: list[list[str]]
) -> tuple[dict[str, Path], float]:
    """The teacher's predictions on the texts of ``parts`` as written, then the two reduced versions."""
    folder.mkdir(parents=True, exist_ok=True)
    logits = folder / f"{task}.logits.jsonl"
    timing = folder / f"{task}.logits.seconds"
    if not logits.exists():  # reused when there, with the time it took then
        timing.write_text(f"{predict_parts(teacher, parts, logits):.1f}\n")
    seconds = float(timing.read_text()) if timing.exists() else float("nan")
    rows = [json.loads(line) for line in logits.read_text().splitlines()]
    probs, labels = folder / f"{task}.probs2.jsonl", folder / f"{task}.labels.jsonl"
    with probs.open("w") as p, labels.open("w") as lab:
        for r in rows:
            rounded = {k: round(v, 2) for k, v in r["probs"].items()}
            top = max(rounded, key=rounded.get)
            rounded[top] = round(rounded[top] + 1 - sum(rounded.values()), 2)  # sums to 1 again
            p.write(json.dumps({"text": r["text"], "probs": rounded}) + "\n")
            onehot = {k: float(k == r["label"]) for k in r["probs"]}
            lab.write(json.dumps({"text": r["text"], "label": r["label"], "probs": onehot}) + "\n")
    return {"file: logits": logits, "file: probs, 2 decimals": probs, "file: labels only": labels}, seconds


def differing_targets(model_run: Path, file_run: Path) -> dict[str, int]:
    """How many training-set teacher logits the file run read differ from the model run's (both
    runs' teacher cache entries, by the fingerprints their metrics record)."""
    from textdistill.paths import home

    def logits(run: Path) -> torch.Tensor:
        key = json.loads((run / "metrics.json").read_text())["teacher"]["cache"]["fingerprint"]
        return load_file(str(home() / "teacher_cache" / f"{key}.safetensors"))["logits"]

    a, b = logits(model_run), logits(file_run)
    return {"differing": int((a != b).sum()), "of": int(a.numel())}


def same_weights(a: Path, b: Path) -> tuple[bool, float]:
    """Whether two runs' students are equal to the bit, and their largest weight difference."""
    wa, wb = (load_file(str(r / "student" / "model.safetensors")) for r in (a, b))
    diff = max(float((wa[k] - wb[k]).abs().max()) for k in wa)
    return all(torch.equal(wa[k], wb[k]) for k in wa), diff


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", nargs="+", default=["movie-sentiment", "trec6"])
    ap.add_argument("--transfer-task", default="trec6", help="the task of the transfer-set rows (only those)")
    ap.add_argument("--teachers", type=Path, default=Path("runs/teachers"), help="minilm-l6-TASK folders")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), help=f"of {', '.join(VARIANTS)}")
    ap.add_argument("--runs", type=Path, default=Path("runs/predictions"))
    ap.add_argument("--results", type=Path, default=Path("results/predictions_teacher"))
    args = ap.parse_args()
    out = {**run_record(), "seeds": args.seeds, "student": STUDENT, "method": METHOD, "tasks": {}}
    rows = []
    for task in args.tasks:
        teacher = args.teachers / f"minilm-l6-{task}"
        data = load_task(task)
        parts = [[e.text for e in data.splits[s]] for s in ("train", *data.labelled_splits)]
        files, predict_seconds = write_files(teacher, task, args.runs / "files", parts)
        train = parts[0]
        info = {
            "texts": sum(map(len, parts)),
            "train": len(train),
            "train_distinct": len(set(train)),
            "predict_seconds": round(predict_seconds, 1),
            "files": {k: str(v) for k, v in files.items()},
        }
        base = {
            "task": task,
            "student": STUDENT,
            "method": METHOD,
            "train": {"epochs": 10, "batch_size": 32, "lr": 1e-3},
        }
        # the files' students read the teacher folder's tokens and static vectors (teacher.tokenizer)
        variants = {
            "model": str(teacher),
            **{k: {"predictions": str(v), "tokenizer": str(teacher)} for k, v in files.items()},
        }
        variants = {k: v for k, v in variants.items() if k in args.variants}
        if task == args.transfer_task:  # only the transfer-set pair here (the other files: the other tasks)
            variants = {}
            transfer = args.runs / "files" / f"{task}.aug8.jsonl"
            from typer.testing import CliRunner

            from textdistill.cli import app

            augment = ["augment", "--task", task, "--out", str(transfer), "--rounds", "8", "--seed", "0"]
            result = CliRunner().invoke(app, augment)
            assert result.exit_code == 0, result.output
            aug_texts = [json.loads(line)["text"] for line in transfer.read_text().splitlines()]
            aug_file = args.runs / "files" / f"{task}.aug8.logits.jsonl"
            seconds = predict_parts(teacher, [train, aug_texts], aug_file)
            info["transfer"] = {"examples": len(aug_texts), "predict_seconds": round(seconds, 1)}
            variants["model + augment"] = str(teacher)
            variants["file + transfer file"] = {"predictions": str(aug_file), "tokenizer": str(teacher)}
        for name, teacher_cfg in variants.items():
            runs = []
            for seed in args.seeds:
                cfg = {
                    **base,
                    "teacher": teacher_cfg,
                    "student": STUDENT,
                    "train": {**base["train"], "seed": seed},
                }
                if name == "model + augment":
                    cfg.update(augment=AUG8, train={**cfg["train"], "epochs": 6})
                if name == "file + transfer file":
                    cfg.update(transfer=str(transfer), train={**cfg["train"], "epochs": 6})
                folder = (
                    args.runs / f"{task}-{name.replace(':', '').replace(',', '').replace(' ', '-')}-s{seed}"
                )
                m = run_distill(folder, cfg)
                runs.append((folder, m))
            primary = runs[0][1]["primary_metric"]
            test_key = primary.replace("dev/", "test/")
            row = {
                "task": task,
                "model": name,
                "dev": [m["best"][primary] for _, m in runs],
                "test": [m["best"][test_key] for _, m in runs],
                "seeds": args.seeds,
                "train_seconds": [m["train_seconds"] for _, m in runs],
                "teacher_dev": runs[0][1]["teacher"]["best"].get(primary),
                "folders": [str(f) for f, _ in runs],
            }
            rows.append(row)
        info["baseline"] = evaluate_baseline(data)["quality"]
        out["tasks"][task] = info
    for r in rows:  # the same student as the reference run (the teacher model in the run), seed by seed?
        ref = next(
            x
            for x in rows
            if x["task"] == r["task"]
            and x["model"] == ("model + augment" if r["model"] == "file + transfer file" else "model")
        )
        checks = [same_weights(Path(a), Path(b)) for a, b in zip(r["folders"], ref["folders"], strict=True)]
        r["same_student"] = all(c[0] for c in checks)
        r["max_weight_diff"] = max(c[1] for c in checks)
        r["threads"] = sorted(
            {json.loads((Path(f) / "metrics.json").read_text())["threads"] for f in r["folders"]}
        )
        if r["model"] == "file: logits":  # the targets themselves: the file's against the teacher cache's
            r["targets_differing"] = differing_targets(Path(ref["folders"][0]), Path(r["folders"][0]))
        teacher_dev = ref["teacher_dev"]
        r["retention"] = None if not teacher_dev else mean_sd(r["dev"])[0] / teacher_dev
    out["rows"] = rows
    write_results(args.results, out, markdown, plot)


def markdown(out: dict) -> str:
    lines = [
        "# Distilling from a predictions file, against the teacher model\n\n",
        header_markdown(out),
        f"- seeds {out['seeds']} (mean ± sample sd); student: BiLSTM on the teacher's tokens and static "
        "vectors (256-d), Hinton KD (alpha 0.5, T 2), 10 epochs (the transfer-set rows: 6 over the labelled "
        "set and 8 augmented copies), best checkpoint by dev; the teacher: minilm-l6 fine-tuned on the "
        "task\n",
        "- `file: ...` rows read `teacher: {predictions: FILE, tokenizer: TEACHER}`: the outputs come from "
        "the file only, the tokens and static vectors from the teacher folder (as `model` takes them); "
        "the file "
        "holds the teacher's predictions on every text of the task, split by split (`td.predict(..., "
        "out=FILE)`, as `textdistill predict --out` writes it)\n",
        "- same student: every seed's weights equal, to the bit, to the row the file came from (`model`, "
        "or `model + augment` for the transfer-set file); every run on the threads named (a different "
        "thread count alone changes the float sums of training, not the file)\n",
        *[
            f"- `file: logits` on {r['task']}: {r['targets_differing']['differing']:,} of "
            f"{r['targets_differing']['of']:,} teacher logits on the training texts differ from the teacher "
            "cache's (the file's are the cached ones, bit for bit, when 0)\n"
            for r in out["rows"]
            if "targets_differing" in r
        ],
        "\n",
        "| task | teacher given as | dev | test | retention (dev) | same student "
        "| largest weight difference | threads |\n",
        "|---|---|---|---|---|---|---|---|\n",
    ]
    for r in out["rows"]:
        same = "yes" if r["same_student"] else "no"
        ret = "" if r["retention"] is None else f"{r['retention']:.1%}"
        lines.append(
            f"| {r['task']} | {r['model']} | {pm(r['dev'])} | {pm(r['test'])} | {ret} | {same} | "
            f"{r['max_weight_diff']:.2g} | {'/'.join(map(str, r['threads']))} |\n"
        )
    lines.append(
        "\n| task | texts predicted | seconds | training texts (distinct) | TF-IDF + LR dev / test |\n"
    )
    lines.append("|---|---|---|---|---|\n")
    for task, info in out["tasks"].items():
        q = info["baseline"]
        dev = next(v for k, v in q.items() if k.startswith("dev/"))
        test = next(v for k, v in q.items() if k.startswith("test/"))
        lines.append(
            f"| {task} | {info['texts']:,} | {info['predict_seconds']} | {info['train']:,} "
            f"({info['train_distinct']:,}) | {dev:.4f} / {test:.4f} |\n"
        )
        if "transfer" in info:
            t = info["transfer"]
            lines.append(
                f"| {task} transfer set | {t['examples']:,} (+ training) | {t['predict_seconds']} | | |\n"
            )
    return "".join(lines)


def plot(out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(out["tasks"])
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        rows = [r for r in out["rows"] if r["task"] == task]
        means = [mean_sd(r["dev"])[0] for r in rows]
        sds = [mean_sd(r["dev"])[1] for r in rows]
        ax.bar(range(len(rows)), means, yerr=sds, capsize=4, color="#4c72b0")
        for i, r in enumerate(rows):
            ax.scatter([i] * len(r["dev"]), r["dev"], color="black", s=8, zorder=3)
        teacher = rows[0]["teacher_dev"]
        if teacher:
            ax.axhline(teacher, ls="--", color="red", label="teacher")
        q = out["tasks"][task]["baseline"]
        ax.axhline(
            next(v for k, v in q.items() if k.startswith("dev/")), ls=":", color="gray", label="TF-IDF + LR"
        )
        ax.set_xticks(
            range(len(rows)), [r["model"].replace(", ", "\n") for r in rows], fontsize=7, rotation=20
        )
        ax.set(
            title=task,
            ylabel="dev (primary metric)",
            ylim=(min(means) - 0.05, max([*means, teacher or 0]) + 0.02),
        )
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
