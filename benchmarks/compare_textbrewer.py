"""The same distillation with TextBrewer 0.2.1.post1 and with textdistill, side by side.

    python benchmarks/compare_textbrewer.py [--rounds 2] [--train-examples 2000] [--epochs 3]
    python benchmarks/compare_textbrewer.py --teacher runs/teachers/mpnet-base-movie-sentiment-2k \
        --init-layers none --lr 5e-4 --results results/compare_textbrewer-mpnet   # a BERT-base-size teacher

Both sides get the same fine-tuned teacher (minilm-l6 on movie-sentiment, from
``benchmarks/teachers.py``), the same student (2 layers, hidden 384, initialised from teacher
layers 1 and 4: identical initial weights), the same tokenisation (max 128 tokens), the same
batches in the same order (textdistill's seeded length-grouped sampler, batch 32), AdamW at lr
1e-4 with the same weight-decay groups, linear warm-up (10%) and decay, clipping at 1.0, 3 epochs,
the same loss (0.5 x hard cross-entropy + 0.5 x T^2 x soft loss at T = 2: TextBrewer's soft cross
entropy has the same gradient as textdistill's KL) and the same evaluation after every epoch on
the same 500 dev sentences. The runs alternate, ``--rounds`` times: textdistill, TextBrewer, and
a plain hard-label run of the student (textdistill ``hard``: the cost of training the student
alone). textdistill starts each round with its teacher cache emptied (cold: the teacher's pass
is counted), and its warm time is reported beside.

TextBrewer is installed from PyPI into its own virtual environment (``runs/textbrewer-venv``,
``pip install textbrewer==0.2.1.post1 tensorboardX``, ``--no-deps`` for TextBrewer so that pip
does not replace torch); torch, transformers and textdistill come from this project's
environment through a ``.pth`` file, so both sides run the same torch build.
Each run is its own process; its peak memory is its maximum resident set size.
Writes ``results/compare_textbrewer.{md,json,png}``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "runs" / "textbrewer-venv"
TEXTBREWER = "textbrewer==0.2.1.post1"


def spec(args: argparse.Namespace, out: Path) -> dict:
    """The run: a 2-layer student as wide as the teacher, from the teacher layers ``--init-layers``
    (``none``: a random 2-layer, width-384 student, for teachers it cannot copy layers from)."""
    from transformers import AutoConfig

    t = AutoConfig.from_pretrained(args.teacher)
    student = {"kind": "transformer", "layers": 2, "hidden": 384, "heads": 12, "intermediate": 1536}
    if args.init_layers != "none":
        student.update(hidden=t.hidden_size, heads=t.num_attention_heads, intermediate=t.intermediate_size,
                       init_from_teacher=[int(i) for i in args.init_layers.split(",")])  # fmt: skip
    return {
        "task": "movie-sentiment",
        "teacher": args.teacher,
        "out": str(out),
        "student": student,
        "method": {"name": "hinton", "alpha": 0.5, "temperature": 2.0},
        "train": {
            "epochs": args.epochs,
            "batch_size": 32,
            "lr": args.lr,
            "max_train_examples": args.train_examples,
            "max_eval_examples": 500,
            "seed": 1,
            "checkpoint_every": 10**9,
        },
    }


# ------------------------------------------------------------------------------------ the workers
def work_textdistill(cfg: dict) -> dict:
    from textdistill.config import validate
    from textdistill.recipes.distill import distill

    metrics = distill(validate(cfg))
    ends = [row["elapsed_s"] for row in metrics["history"]]
    cache = metrics["teacher"]["cache"]
    return {
        "epoch_s": [round(b - a, 2) for a, b in zip([0.0, *ends], ends, strict=False)],
        "eval_s": [row["eval_s"] for row in metrics["history"]],
        "teacher_s": cache["seconds"] if cache else 0.0,
        "train_s": metrics["train_seconds"],
        "dev": [row["dev/accuracy"] for row in metrics["history"]],
        "steps": metrics["steps"],
    }


def work_textbrewer(cfg: dict) -> dict:
    """The same run through TextBrewer's GeneralDistiller (the teacher runs at every step)."""
    import textbrewer
    import torch
    from textbrewer import DistillationConfig, GeneralDistiller, TrainingConfig
    from transformers import get_linear_schedule_with_warmup

    from textdistill.config import validate
    from textdistill.data.load import load_task, subsample
    from textdistill.evaluation.quality import score_splits
    from textdistill.models.teacher import HFClassifier
    from textdistill.recipes.distill import build_student
    from textdistill.runtime import set_seed, set_threads
    from textdistill.train.trainer import TrainConfig, _optimizer

    c = validate(cfg)
    set_threads()
    task = load_task(c.task)
    train_examples = subsample(task.splits["train"], c.train.max_train_examples)
    dev = subsample(task.splits["dev"], c.train.max_eval_examples)
    set_seed(c.train.seed)
    student = build_student(c, task.spec, train_examples)
    loader = student.loader(train_examples, c.train.batch_size, shuffle=True, seed=c.train.seed)
    evals = {"dev": (student.loader(dev, 64), [e.label for e in dev])}
    import numpy as np

    evals["dev"] = (evals["dev"][0], np.array(evals["dev"][1]))
    teacher = HFClassifier.from_pretrained(c.teacher).eval()

    class Epochs:
        """Our loader, one epoch per iteration (TextBrewer calls set_epoch only when distributed)."""

        def __init__(self) -> None:
            self.epoch = 0

        def __len__(self) -> int:
            return len(loader)

        def __iter__(self):
            loader.batch_sampler.set_epoch(self.epoch)
            self.epoch += 1
            return iter(loader)

    class Wrapped(torch.nn.Module):
        def __init__(self, model: torch.nn.Module, hard: bool):
            super().__init__()
            self.model, self.hard = model, hard

        def forward(self, input_ids, attention_mask, token_type_ids=None, labels=None, index=None, **_):
            logits = self.model(input_ids, attention_mask, token_type_ids).logits
            out = {"logits": logits}
            if self.hard:
                out["loss"] = torch.nn.functional.cross_entropy(logits, labels)
            return out

    def adaptor(batch, out):
        return {"logits": out["logits"], **({"losses": [out["loss"]]} if "loss" in out else {})}

    alpha, t = c.method.alpha, c.method.temperature
    s_model = Wrapped(student.model, hard=True)
    optimizer = _optimizer(s_model, TrainConfig(lr=c.train.lr, weight_decay=c.train.weight_decay))
    steps = len(loader) * int(c.train.epochs)
    marks, dev_acc, eval_s = [time.perf_counter()], [], []

    def callback(model, step):
        began = time.perf_counter()
        dev_acc.append(score_splits(student.model, task.spec, evals, ["dev"])["dev/accuracy"])
        marks.append(time.perf_counter())
        eval_s.append(round(marks[-1] - began, 2))

    out = Path(c.out)
    out.mkdir(parents=True, exist_ok=True)
    distiller = GeneralDistiller(
        train_config=TrainingConfig(device="cpu", output_dir=str(out), log_dir=None),
        distill_config=DistillationConfig(
            temperature=t, kd_loss_type="ce", kd_loss_weight=(1 - alpha) * t * t, hard_label_weight=alpha
        ),
        model_T=Wrapped(teacher, hard=False),
        model_S=s_model,
        adaptor_T=adaptor,
        adaptor_S=adaptor,
    )
    started = time.perf_counter()
    with distiller:
        distiller.train(
            optimizer,
            Epochs(),
            num_epochs=int(c.train.epochs),
            scheduler_class=get_linear_schedule_with_warmup,
            scheduler_args={"num_warmup_steps": int(0.1 * steps), "num_training_steps": steps},
            max_grad_norm=c.train.max_grad_norm,
            callback=callback,
        )
    return {
        "epoch_s": [round(b - a, 2) for a, b in itertools.pairwise(marks)],
        "eval_s": eval_s,
        "teacher_s": 0.0,
        "train_s": round(time.perf_counter() - started, 1),
        "dev": dev_acc,
        "steps": steps,
        "textbrewer": textbrewer.__version__,
    }


def profile_steps(cfg: dict, batches: int = 20) -> dict:
    """Where a TextBrewer step's time goes, on the run's own batches: the teacher's forward pass
    (TextBrewer runs it every step; textdistill once, then reads the cache) against the student's
    own training step (forward, backward, AdamW); and torch.profiler's top operators of one
    textdistill distillation step, to show it holds the student's work only."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from textdistill.config import validate
    from textdistill.data.load import load_task, subsample
    from textdistill.losses import hard_loss, kd_kl
    from textdistill.models.teacher import HFClassifier
    from textdistill.recipes.distill import build_student
    from textdistill.runtime import set_seed, set_threads
    from textdistill.train.trainer import TrainConfig, _optimizer

    c = validate(cfg)
    set_threads()
    task = load_task(c.task)
    examples = subsample(task.splits["train"], c.train.max_train_examples)
    set_seed(1)
    student = build_student(c, task.spec, examples)
    teacher = HFClassifier.from_pretrained(c.teacher).eval()
    loader = student.loader(examples, c.train.batch_size, shuffle=True, seed=1)
    data = [b for _, b in zip(range(batches + 2), loader, strict=False)]
    optimizer = _optimizer(student.model, TrainConfig(lr=1e-4))
    names = ("input_ids", "attention_mask", "token_type_ids")
    with torch.no_grad():
        cached = [teacher(**{k: b[k] for k in names if k in b}).logits for b in data]

    def teacher_pass(i: int) -> None:
        with torch.no_grad():
            teacher(**{k: data[i][k] for k in names if k in data[i]})

    def student_step(i: int) -> None:
        logits = student.model(**{k: data[i][k] for k in names if k in data[i]}).logits
        loss = 0.5 * hard_loss(logits, data[i]["labels"]) + 0.5 * kd_kl(logits, cached[i], 2.0)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def ms(fn) -> float:
        fn(0), fn(1)  # warm-up
        started = time.perf_counter()
        for i in range(2, len(data)):
            fn(i)
        return round((time.perf_counter() - started) / (len(data) - 2) * 1000, 1)

    result = {"teacher_forward_ms": ms(teacher_pass), "student_step_ms": ms(student_step), "batches": batches}
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        student_step(2)
    top = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8)
    result["profile_top_ops"] = top
    return result


def worker(kind: str, spec_file: Path) -> None:
    cfg = json.loads(spec_file.read_text())
    result = work_textbrewer(cfg) if kind == "textbrewer" else work_textdistill(cfg)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    (spec_file.with_suffix(".result.json")).write_text(json.dumps(result, indent=2) + "\n")


# --------------------------------------------------------------------------------------- the driver
def textbrewer_python() -> Path:
    """The TextBrewer virtual environment's python, made (and TextBrewer installed) when missing."""
    python = VENV / "bin" / "python"
    if not (VENV / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        ask = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        site = subprocess.run(
            [str(python), "-c", ask], check=True, capture_output=True, text=True
        ).stdout.strip()
        # torch, transformers, textdistill: this project's environment, the same build on both sides
        ours = sysconfig.get_paths()["purelib"]  # addsitedir: its own .pth files (editable textdistill) too
        Path(site, "textdistill-env.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--no-deps", TEXTBREWER], check=True)
        subprocess.run([*pip, "tensorboardX"], check=True)
        (VENV / ".installed").write_text(TEXTBREWER + "\n")
    return python


def run(kind: str, cfg: dict, python: Path) -> dict:
    folder = Path(cfg["out"])
    folder.mkdir(parents=True, exist_ok=True)
    spec_file = folder / "spec.json"
    spec_file.write_text(json.dumps(cfg))
    started = time.perf_counter()
    subprocess.run([str(python), __file__, "--worker", kind, str(spec_file)], check=True)
    result = json.loads(spec_file.with_suffix(".result.json").read_text())
    result["wall_s"] = round(time.perf_counter() - started, 1)
    return result


def drop_teacher_cache(cfg: dict) -> None:
    """Empty textdistill's teacher cache for this run's examples: its next run starts cold."""
    from textdistill.config import validate
    from textdistill.data.load import load_task, subsample
    from textdistill.paths import home
    from textdistill.teachers.cache import fingerprint

    c = validate(cfg)
    examples = subsample(load_task(c.task).splits["train"], c.train.max_train_examples)
    (home() / "teacher_cache" / f"{fingerprint(c.teacher, examples, c.train.max_length)}.safetensors").unlink(
        missing_ok=True
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--train-examples", type=int, default=2000)
    ap.add_argument("--teacher", default="runs/teachers/minilm-l6-movie-sentiment", help="the teacher folder")
    ap.add_argument("--init-layers", default="1,4", help="teacher layers the student starts from, or none")
    ap.add_argument("--runs", default="runs/compare-textbrewer")
    ap.add_argument("--results", default="results/compare_textbrewer")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]))
        return
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from common import run_record

    record = run_record()
    tb_python = textbrewer_python()
    rows = []
    for r in range(1, args.rounds + 1):
        ours = spec(args, Path(args.runs) / f"textdistill-r{r}")
        drop_teacher_cache(ours)
        rows.append({"side": "textdistill", "round": r, **run("textdistill", ours, Path(sys.executable))})
        theirs = spec(args, Path(args.runs) / f"textbrewer-r{r}")
        rows.append({"side": "TextBrewer", "round": r, **run("textbrewer", theirs, tb_python)})
        hard = {**spec(args, Path(args.runs) / f"hard-r{r}"), "method": {"name": "hard"}}
        rows.append(
            {
                "side": "hard labels (student alone)",
                "round": r,
                **run("textdistill", hard, Path(sys.executable)),
            }
        )
    profile = profile_steps(spec(args, Path(args.runs) / "profile"))
    out = {**record, "args": vars(args), "rows": rows, "profile": profile}
    Path(args.results + ".json").write_text(json.dumps(out, indent=2) + "\n")
    render(args.results)


def render(results: str) -> None:
    import statistics

    from common import header_markdown

    out = json.loads(Path(results + ".json").read_text())
    rows, a = out["rows"], out["args"]
    sides = list(dict.fromkeys(r["side"] for r in rows))

    def mean(side: str, key) -> float:
        return statistics.fmean(key(r) for r in rows if r["side"] == side)

    total = {s: mean(s, lambda r: r["teacher_s"] + sum(r["epoch_s"])) for s in sides}
    warm = {s: mean(s, lambda r: sum(r["epoch_s"])) for s in sides}
    no_eval = {s: mean(s, lambda r: r["teacher_s"] + sum(r["epoch_s"]) - sum(r["eval_s"])) for s in sides}
    n = a["train_examples"] * a["epochs"]
    student = "2-layer student, random, width 384"
    if a.get("init_layers", "1,4") != "none":
        student = f"2-layer student as wide as the teacher, from teacher layers {a.get('init_layers', '1,4')}"
    lines = [
        "# textdistill and TextBrewer: the same distillation, side by side\n",
        header_markdown(out),
        f"- TextBrewer {next((r['textbrewer'] for r in rows if 'textbrewer' in r), '?')} (PyPI, own venv); "
        f"teacher {a.get('teacher', 'runs/teachers/minilm-l6-movie-sentiment')} -> {student}; "
        f"{a['train_examples']} training sentences, {a['epochs']} epochs, batch 32, "
        f"AdamW lr {a.get('lr', 1e-4):g}, "
        "0.5 hard + 0.5 T^2 soft at T = 2, the same batches in the same order; "
        f"{a['rounds']} alternating rounds (mean shown); evaluation on 500 dev sentences after every epoch "
        "(included in the times).\n",
        "| | epochs s (each) | teacher pass s | total s | without evaluation s | examples/s | peak RSS MB "
        "| dev acc (last epoch) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in sides:
        epochs = [
            statistics.fmean(r["epoch_s"][i] for r in rows if r["side"] == s) for i in range(a["epochs"])
        ]
        lines.append(
            f"| {s} | {' / '.join(f'{e:.1f}' for e in epochs)} | {mean(s, lambda r: r['teacher_s']):.1f} | "
            f"{total[s]:.1f} | {no_eval[s]:.1f} | {n / total[s]:.1f} | "
            f"{mean(s, lambda r: r['peak_rss_mb']):.0f} | "
            f"{mean(s, lambda r: r['dev'][-1]):.4f} |"
        )
    ours, theirs, alone = sides[0], sides[1], sides[2]
    speed = total[theirs] / total[ours]
    acc = mean(ours, lambda r: r["dev"][-1]) - mean(theirs, lambda r: r["dev"][-1])
    verdict = "met" if speed >= 2 and abs(acc) <= 0.005 else "not met"
    lines += [
        "",
        f"- **textdistill is {speed:.2f}x faster** than TextBrewer over {a['epochs']} epochs with a cold "
        f"teacher cache ({total[theirs] / warm[ours]:.2f}x with a warm one); dev accuracy differs by "
        f"{acc * 100:+.2f} points (target: 2x at equal accuracy within 0.5 points: {verdict}).",
        f"- A distillation epoch of textdistill costs {warm[ours] / warm[alone]:.2f}x an epoch of training "
        "the "
        "student on hard labels alone: the teacher's pass is paid once, then its cached logits are read by "
        "example index.",
    ]
    p = out.get("profile")
    if p:
        bound = (p["teacher_forward_ms"] + p["student_step_ms"]) / p["student_step_ms"]
        lines += [
            f"- Without evaluation (the same on both sides): {no_eval[theirs] / no_eval[ours]:.2f}x.",
            "",
            "## Where a step's time goes: profile",
            f"On {p['batches']} batches of this run: the teacher's forward pass takes "
            f"{p['teacher_forward_ms']} ms per batch, the student's own training step (forward, backward, "
            "clipping, AdamW) "
            f"{p['student_step_ms']} ms. A TextBrewer step is both, a textdistill step the second alone, so "
            f"skipping the teacher can make a step at most {bound:.2f}x faster here. The bound is the "
            "teacher's forward pass over the student's training step: small for a small teacher next to a "
            "student of its width (minilm-l6: 6 layers, width 384), large for a BERT-base-size teacher.",
            "",
            "torch.profiler, one textdistill distillation step (self CPU time; the student's operators only, "
            "no teacher):",
            "",
            "```",
            p["profile_top_ops"].strip(),
            "```",
        ]
    Path(results + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
