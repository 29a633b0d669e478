"""Long documents: BBC News (the offline task ``bbc-news``: 2,225 articles, 5 topics, median 335
words, nearly every one longer than 128 tokens), read cut at 128 tokens, head + tail, over windows,
or whole.

Rows: one-vs-rest-free TF-IDF + logistic regression (reads everything); the MiniLM-L6 teacher
fine-tuned on each article's first 128 tokens, on all its 128-token windows (each document's
windows with its label) and on all its 512-token windows, each scored cut and over windows (mean
or max of the windows' probabilities); students distilled (Hinton KD) from the soft targets over
windows of the windowed teacher best on dev (``--teacher`` names one): a BiLSTM, a CNN and a deep
averaging network on the teacher's tokens, cut at 128, head + tail, and whole (up to ``--whole``
tokens), and a 2-layer transformer cut at 128 and over windows; the finished students of the other
teachers are rows too. Every student row has ``--seeds`` seeds; each teacher row is one
fine-tuning (seed 42), scored deterministically.

Speed: documents per second at batch 32 on the test articles, every model measured back to back in
one pass at the end (same backend: PyTorch fp32, this machine's threads), with the tokens each model
reads per second and the share of the articles' tokens it reads.

    python benchmarks/long_documents.py --seeds 1 2 3 --runs runs/long --results results/long_documents
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

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
from textdistill.data.windows import Reading
from textdistill.evaluation.baseline import build, measure_baseline, rows_of
from textdistill.evaluation.speed import throughput, tokens_per_second, torch_runner
from textdistill.recipes.teach import teach_or_reuse
from textdistill.run import LR, STUDENTS

TASK = "bbc-news"
WINDOWS = {"mode": "windows"}
WINDOWS_MAX = {"mode": "windows", "combine": "max"}
CUT = {"mode": "truncate"}
CNN = {"kind": "cnn", "embedding": "teacher", "embed_dim": 256}
DAN = {"kind": "dan", "embedding": "teacher", "embed_dim": 256}
TEACHERS = {  # name: the teach config's keys besides task, out and lr
    "teacher-first": {"reading": CUT, "epochs": 3.0},  # trained (best step chosen) on first 128 tokens
    "teacher-windows": {"reading": WINDOWS, "epochs": 2.0},
    # windows of the model's own 512 positions: most articles are one window
    "teacher-512": {"reading": WINDOWS, "epochs": 3.0, "max_length": 512, "batch_size": 16},
}


def recipes(whole: int, lstm: int) -> dict[str, dict]:
    """Student rows: name -> student, reading, epochs and whether its training batches group texts
    by length (for the students that read long texts whole: a BiLSTM batch costs as many recurrent
    steps as its longest text)."""
    bilstm, transformer = STUDENTS["bilstm"], STUDENTS["transformer"]
    long_cnn = {"student": {**CNN, "max_length": whole}, "reading": CUT, "epochs": 5, "group": True}
    long_dan = {"student": {**DAN, "max_length": whole}, "reading": CUT, "group": True}
    rows = {
        f"cnn, whole (<= {whole})": long_cnn,
        f"cnn, whole (<= {whole}), 10 epochs": {**long_cnn, "epochs": 10},
        # a deep averaging network (mean and max of the token vectors): nothing sequential to pay for
        f"dan, whole (<= {whole})": {**long_dan, "epochs": 20},
        f"dan (mean), whole (<= {whole})": {
            **long_dan,
            "student": {**DAN, "pooling": "mean", "max_length": whole},
            "epochs": 20,
        },
        f"bilstm, <= {lstm}": {
            "student": {**bilstm, "max_length": lstm},
            "reading": CUT,
            "epochs": 5,
            "group": True,
        },
        "bilstm, cut at 128": {"student": bilstm, "reading": CUT, "epochs": 10},
        "bilstm, head+tail 128": {"student": bilstm, "reading": {"mode": "head_tail"}, "epochs": 10},
        "transformer-2L, cut at 128": {"student": transformer, "reading": CUT, "epochs": 3},
        "transformer-2L, windows": {"student": transformer, "reading": WINDOWS, "epochs": 2},
        # the same runs served cut, as the teacher taught on windows is (no training of its own)
        "transformer-2L, trained on windows, served cut at 128": {
            "student": transformer,
            "reading": WINDOWS,
            "epochs": 2,
            "serve": CUT,
            "runs": "transformer-2L, windows",
        },
    }
    if not lstm:  # a BiLSTM over 1,024 tokens took about 10 s a step on one core (a batch costs its longest
        rows.pop(f"bilstm, <= {lstm}")  # text's recurrent steps): too slow to train 3 seeds here
    return rows


def slug(name: str) -> str:
    """A row's run-folder name: ``bilstm, whole (<= 4096)`` -> ``bilstm-whole-4096``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--runs", type=Path, default=Path("runs/long"))
    ap.add_argument("--results", type=Path, default=Path("results/long_documents"))
    ap.add_argument("--whole", type=int, default=4096, help="the whole-document CNN's length limit")
    ap.add_argument("--lstm", type=int, default=0, help="a long BiLSTM's length limit (0: none)")
    ap.add_argument(
        "--only", nargs="*", default=None, help="train these student rows and stop (streams side by side)"
    )
    ap.add_argument("--teacher", choices=sorted(TEACHERS), help="the students' teacher (default: best dev)")
    ap.add_argument("--render", action="store_true", help="train nothing: the table of the finished runs")
    ap.add_argument(
        "--reuse-speeds", action="store_true", help="the speeds of the last pass (runs/speeds.json)"
    )
    args = ap.parse_args()
    data = load_task(TASK)
    test = data.splits["test"]
    rows, speed_models = [], {}
    evaluations = {}
    streaming = args.only is not None and args.teacher is not None  # one stream needs its teacher alone
    for name, keys in TEACHERS.items():
        if streaming and name != args.teacher:
            continue
        folder = args.runs / name
        cfg = TeachConfig(task=TASK, out=str(folder), lr=1e-4, **keys)
        teacher = (
            teach_or_reuse(cfg) if not args.render else json.loads((folder / "metrics.json").read_text())
        )
        cut = f"cut at {cfg.max_length}"
        for how, label in ((CUT, cut), (WINDOWS, "windows, mean"), (WINDOWS_MAX, "windows, max")):
            e = evaluated(folder, how)
            evaluations[(name, Reading(**how).slug())] = e
            tuned = "fine-tuned on first windows" if name.endswith("first") else "fine-tuned on all windows"
            tuned += "" if cfg.max_length == 128 else f" of {cfg.max_length}"
            model = f"{name} ({tuned}), {label}"
            rows.append(row(model, "teacher", [e], [42], how, teacher["train_seconds"]))
            speed_models[model] = (folder, Reading(**how))
    # the soft targets: the windowed teacher with the best dev score (over windows), or --teacher
    chosen = args.teacher or max(
        TEACHERS, key=lambda n: evaluations[(n, "windows")]["quality"]["dev/accuracy"]
    )
    for teacher in [chosen, *(t for t in TEACHERS if t != chosen)]:  # the others: their finished runs
        more, timed = student_rows(args, teacher, train=teacher == chosen and not args.render)
        for r in more:
            r["model"] += "" if teacher == chosen else f" (from {teacher})"
            r["teacher"] = teacher
            speed_models[r["model"]] = timed[r["model"].split(" (from ")[0]]
        rows += more
    if args.only is not None:  # one stream of several running side by side: the report comes after
        return
    baseline = cached_baseline(args.runs / "tfidf-lr.json", data)
    rows.append(row("tfidf-lr", "baseline", [baseline], [0], None, baseline["fit_seconds"], share=1.0))
    kept = args.runs / "speeds.json"  # one pass over every model, kept so a report can be redrawn
    if args.reuse_speeds and kept.exists():
        speeds = json.loads(kept.read_text())
    else:
        speeds = measure_speeds(speed_models, data, test)
        kept.write_text(json.dumps(speeds, indent=2) + "\n")

    def windowed_of(teacher: str) -> dict:
        return next(
            r for r in rows if r["model"].startswith(f"{teacher} (") and r["model"].endswith("windows, mean")
        )

    windowed = windowed_of(chosen)
    for r in rows:  # a student against its own teacher over windows; the others against the chosen one
        r.update(speeds.get(r["model"], {}))
    for r in rows:
        own = windowed_of(r.get("teacher", chosen))
        r["retention_dev"] = round(mean_sd(r["dev"])[0] / mean_sd(own["dev"])[0], 4)
        r["speedup_vs_windowed_teacher"] = round(r["docs_per_s"] / own["docs_per_s"], 2)
    stats = json.loads((Path(data.source) / "manifest.json").read_text())
    out = {
        **run_record(),
        "seeds": args.seeds,
        "task": TASK,
        "max_length": 128,
        "whole_limit": {"cnn": args.whole, "bilstm": args.lstm},
        "soft_targets": f"{chosen}, over windows (mean of probabilities)",
        "data": {k: stats[k] for k in ("counts", "words_per_text", "removed")},
        "coverage": evaluations[("teacher-windows", "truncate")]["coverage"],  # a cut at 128
        "train_coverage": cut_coverage(args.runs / chosen, data.splits["train"]),
        "rows": rows,
        "goals": goals(rows, windowed),
    }
    write_results(args.results, out, markdown, plot)


def student_rows(args: argparse.Namespace, teacher: str, train: bool) -> tuple[list[dict], dict]:
    """The student rows distilled from ``teacher`` (its soft targets over windows): each recipe's
    seeds, trained when ``train`` (else only the finished runs), and ``{row: (a run, its serving
    reading)}`` for the speed pass. The students of ``teacher-windows`` have folders of their own
    name; the others' start with their teacher's."""
    prefix = "" if teacher == "teacher-windows" else f"{teacher}-"  # the first students kept their names
    rows, timed = [], {}
    for name, recipe in recipes(args.whole, args.lstm).items():
        if args.only is not None and name not in args.only:
            continue
        evals, seconds, done = [], [], []
        for seed in args.seeds:
            folder = args.runs / f"{prefix}{slug(recipe.get('runs', name))}-s{seed}"
            if not train and not (folder / "metrics.json").exists():
                continue
            kind = recipe["student"]["kind"]
            cfg = {
                "task": TASK,
                "teacher": str(args.runs / teacher),
                "teacher_reading": WINDOWS,
                "student": recipe["student"],
                "reading": recipe["reading"],
                "method": {"name": "hinton"},
                "train": {
                    "epochs": recipe["epochs"],
                    "lr": LR.get(kind, 1e-3),
                    "batch_size": 32,
                    "seed": seed,
                    **({"group_by_length": True} if recipe.get("group") else {}),
                },
            }
            metrics = run_distill(folder, cfg)
            evals.append(evaluated(folder, recipe.get("serve")))
            seconds.append(metrics["train_seconds"])
            done.append(seed)
        if evals:
            served = recipe.get("serve", recipe["reading"])
            rows.append(row(name, "student", evals, done, served, sum(seconds) / len(seconds)))
            serve = Reading(**recipe["serve"]) if "serve" in recipe else None
            timed[name] = (args.runs / f"{prefix}{slug(recipe.get('runs', name))}-s{done[0]}", serve)
    return rows, timed


def cut_coverage(teacher_dir: Path, examples: list) -> dict:
    """What a cut at 128 of the teacher's tokens keeps of ``examples``."""
    from textdistill.data.encode import EncodedDataset
    from textdistill.models.weights import read_tokenizer

    return EncodedDataset(examples, read_tokenizer(teacher_dir), 128).coverage().record()


def row(
    model: str,
    role: str,
    evaluations: list[dict],
    seeds: list[int],
    reading: dict | None,
    train_seconds: float,
    share: float | None = None,
) -> dict:
    """One table row: accuracy and macro-F1 per seed (lists), the share of the test tokens read."""
    out: dict = {"model": model, "role": role, "seeds": seeds, "train_seconds": round(train_seconds, 1)}
    out["reading"] = (reading or {"mode": "all (bag of words)"})["mode"]
    for split in ("dev", "test"):
        for metric in ("accuracy", "macro_f1"):
            out[f"{split}/{metric}"] = [e["quality"][f"{split}/{metric}"] for e in evaluations]
    out["dev"], out["test"] = out["dev/accuracy"], out["test/accuracy"]
    coverage = evaluations[0].get("coverage") or {}
    out["tokens_read_share"] = (
        share if share is not None else coverage.get("test", {}).get("tokens_read_share")
    )
    if out["reading"] == "truncate" and out["tokens_read_share"] == 1.0:
        out["reading"] = "whole"  # its limit is past every text
    out["parameters"] = evaluations[0]["parameters"]
    return out


def measure_speeds(models: dict[str, tuple[Path, Reading | None]], data: object, test: list) -> dict:
    """Documents and tokens per second at batch 32 on the test articles, every model back to back,
    batched as ``predict`` serves (shortest first), the best of two passes."""
    from textdistill.artifacts import open_run

    speeds = {}
    for name, (folder, reading) in models.items():
        student = open_run(folder, reading=reading).student
        batches = list(student.by_length(test, 32)[1])  # as predict serves: shortest first
        run = torch_runner(student.model)
        best = max(throughput(run, batches) for _ in range(2))
        speeds[name] = {
            "docs_per_s": round(best, 1),
            "tokens_per_s": round(tokens_per_second(best, batches)),
        }
    spec = data.spec
    pipeline = build(spec.is_pair, False, 0, None, False)
    pipeline.fit(rows_of(data.splits["train"]), [e.label for e in data.splits["train"]])
    speed = measure_baseline(pipeline, test, False, classes=spec.num_labels)
    speeds["tfidf-lr"] = {"docs_per_s": round(speed["throughput_bs32"], 1), "tokens_per_s": None}
    return speeds


def goals(rows: list[dict], windowed: dict) -> dict:
    """The issue's goals: the windowed teacher and the best student at least match TF-IDF + LR on
    test, and that student reads a document at least 10x faster than the windowed teacher. The
    best student is the one with the best dev score (test picks nothing; among the rows, the best
    test score is given too, with that caveat)."""
    tfidf = mean_sd(next(r for r in rows if r["role"] == "baseline")["test"])[0]
    students = [r for r in rows if r["role"] == "student"]
    best = max(students, key=lambda r: (mean_sd(r["test"])[0], r["docs_per_s"])) if students else None
    fast = [r for r in students if r["speedup_vs_windowed_teacher"] >= 10]
    best_fast = max(fast, key=lambda r: (mean_sd(r["dev"])[0], r["docs_per_s"])) if fast else None
    return {
        "tfidf_test": round(tfidf, 4),
        "windowed_teacher": windowed["model"],
        "windowed_teacher_test": round(mean_sd(windowed["test"])[0], 4),
        "windowed_teacher_matches_tfidf": mean_sd(windowed["test"])[0] >= tfidf,
        "best_student": best and best["model"],
        "best_student_test": best and round(mean_sd(best["test"])[0], 4),
        "best_10x_student": best_fast and best_fast["model"],
        "best_10x_student_test": best_fast and round(mean_sd(best_fast["test"])[0], 4),
        "best_10x_student_matches_tfidf": bool(best_fast) and mean_sd(best_fast["test"])[0] >= tfidf,
        # dev and test are 212 articles each (one article: 0.0047); both together halve the noise
        "pooled_dev_test": {
            r["model"]: round((mean_sd(r["dev"])[0] + mean_sd(r["test"])[0]) / 2, 4)
            for r in (next(r for r in rows if r["role"] == "baseline"), windowed, best_fast)
            if r is not None
        },
    }


def markdown(out: dict) -> str:
    g, cov = out["goals"], out["train_coverage"]
    tfidf_dev = mean_sd(next(r for r in out["rows"] if r["role"] == "baseline")["dev"])[0]
    windowed = next(r for r in out["rows"] if r["model"] == g["windowed_teacher"])
    best_dev = max(
        (r for r in out["rows"] if r["role"] == "student"), key=lambda r: mean_sd(r["dev"])[0]
    )  # what a cut at 128 tokens keeps of the training articles
    lines = [
        "# Long documents: BBC News, cut, head + tail, windows, whole\n",
        header_markdown(out),
        f"- task `{out['task']}`: {out['data']['counts']} articles; words per article (train) "
        f"{out['data']['words_per_text']['train']}",
        f"- at 128 tokens: {cov['over_limit']:,} of {cov['texts']:,} training articles are cut, keeping "
        f"{cov['tokens_read_share']:.0%} of the tokens",
        f"- students: Hinton KD from {out['soft_targets']} (the windowed teacher best on dev), each teacher "
        "reading at the length it was taught; the rows marked (from ...) are an earlier teacher's students; "
        f"seeds {out['seeds']}; teacher rows: one fine-tuning each (seed 42)",
        "- x its windowed teacher: a student's documents/s over those of the teacher it learnt from, "
        "read over windows; a teacher's and TF-IDF's over the chosen teacher's",
        "- speed: documents/s at batch 32 on the 212 test articles, all models back to back in one pass, "
        "PyTorch fp32 (TF-IDF: scikit-learn), best of two passes\n",
        "| model | reads | dev accuracy | test accuracy | test macro-F1 | tokens read | docs/s | tokens/s | "
        "x its windowed teacher | params |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in out["rows"]:
        share = "" if r["tokens_read_share"] is None else f"{r['tokens_read_share']:.0%}"
        rate = "" if r.get("tokens_per_s") is None else f"{r['tokens_per_s']:,}"
        speed = [f"{r['docs_per_s']:,}", rate, r["speedup_vs_windowed_teacher"], f"{r['parameters']:,}"]
        cells = [r["model"], r["reading"], pm(r["dev"]), pm(r["test"]), pm(r["test/macro_f1"]), share, *speed]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += [
        "",
        "## Goals",
        f"- windowed teacher at least TF-IDF + LR on test: {g['windowed_teacher_test']} vs "
        f"{g['tfidf_test']}: {'met' if g['windowed_teacher_matches_tfidf'] else 'not met'}",
        "- the best student at least 10x the windowed teacher's docs/s, chosen on dev: "
        f"{g['best_10x_student']} at {g['best_10x_student_test']} test: "
        f"{'met' if g['best_10x_student_matches_tfidf'] else 'not met'} "
        "(at least TF-IDF + LR on test)",
        f"- the best test score of any student row (picked on test, so optimistic): {g['best_student']} "
        f"at {g['best_student_test']}",
        f"- on dev (212 articles, as test): TF-IDF + LR {tfidf_dev:.4f}, the windowed teacher "
        f"{mean_sd(windowed['dev'])[0]:.4f}, the best student {best_dev['model']} "
        f"{mean_sd(best_dev['dev'])[0]:.4f}; "
        "one article is 0.0047",
        "- dev and test pooled (424 articles): "
        + ", ".join(f"{model} {acc:.4f}" for model, acc in g["pooled_dev_test"].items()),
        "",
        "## Notes",
        "- A BiLSTM reading up to 1,024 tokens (`--lstm 1024`) took about 10 s a training step on one core "
        "(a batch costs as many recurrent steps as its longest text), 45 minutes a seed: not in the table.",
        "- The CNN and BiLSTM read the teacher's sub-word tokens with static vectors distilled from it "
        "(model2vec); the whole-document rows batch training texts by length (`train.group_by_length`).",
        "",
    ]
    return "\n".join(lines) + "\n"


def plot(out: dict, path: Path) -> None:
    """Test accuracy (mean, sd, seeds) against documents per second, one point per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"truncate": "tab:red", "head_tail": "tab:orange", "windows": "tab:blue"}
    fig, ax = plt.subplots(figsize=(8.5, 5))
    for i, r in enumerate(out["rows"]):
        mean, sd = mean_sd(r["test"])
        whole = "whole" in r["model"]
        color = "tab:green" if whole else colors.get(r["reading"], "black")
        marker = {"teacher": "s", "student": "o", "baseline": "*"}[r["role"]]
        ax.errorbar(r["docs_per_s"], mean, yerr=sd, fmt=marker, color=color, ms=8, capsize=3)
        short = r["model"].replace(" (fine-tuned on first windows)", " [first-window tuned]")
        short = short.replace(" (fine-tuned on all windows)", " [window tuned]")
        short = short.replace(" (fine-tuned on all windows of 512)", " [512-window tuned]")
        short = short.replace(" (from teacher-windows)", " [from t-windows]")
        lift = 4 + 7 * (i % 3)  # neighbours at one speed get different heights
        ax.annotate(short, (r["docs_per_s"], mean), fontsize=6, xytext=(4, lift), textcoords="offset points")
    ax.axhline(out["goals"]["tfidf_test"], ls="--", color="grey", lw=1, label="TF-IDF + LR (test)")
    ax.set_xscale("log")
    ax.set(xlabel="documents / s at batch 32 (log)", ylabel="test accuracy",
           title="BBC News: red cut at 128, orange head+tail, blue windows, green whole")  # fmt: skip
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


if __name__ == "__main__":
    main()
