"""``textdistill distill`` end to end through the CLI on tiny models: single sentences, pairs and
regression; BiLSTM and transformer students; every method."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from tests.conftest import make_tiny_bert, write_jsonl
from tests.test_teach import toy_rows
from textdistill.cli import app

runner = CliRunner()
TINY_TRANSFORMER = {"kind": "transformer", "layers": 1, "hidden": 16, "heads": 2, "intermediate": 24}
BILSTM = {"kind": "bilstm", "embedding": "random", "embed_dim": 8, "hidden": 8, "fc": 8}


LABELS = {
    "movie-sentiment": ("positive", "negative"),
    "movie-dialog": ("same", "different"),
    "movie-score": None,
}


def setup_task(root: Path, task: str = "movie-sentiment") -> tuple[Path, Path]:
    """Toy data in our layout (as the offline tasks have it) and a tiny teacher folder with task.json."""
    names, data = LABELS[task], root / "data"
    for split, n in (("train", 48), ("dev", 16), ("test", 16)):
        rows = toy_rows(n, pair=task == "movie-dialog", regression=names is None)
        for r in rows:
            if names is not None:
                r["label"] = names[0] if r["label"] == "pos" else names[1]
        write_jsonl(data / f"{split}.jsonl", rows)
    teacher = make_tiny_bert(root / "teacher", num_labels=1 if names is None else 2)
    labels = None if names is None else sorted(names) if task == "movie-sentiment" else list(names)
    (teacher / "task.json").write_text(json.dumps({"name": task, "labels": labels}))
    (teacher / "metrics.json").write_text(json.dumps({"best": {"dev/accuracy": 0.5, "dev/pearson": 0.5}}))
    return data, teacher


def write_config(root: Path, data: Path, teacher: Path, student: dict, method: dict, task: str) -> Path:
    cfg = {
        "task": task,
        "data": str(data),
        "teacher": str(teacher),
        "out": str(root / "run"),
        "student": student,
        "method": method,
        "train": {"epochs": 1, "batch_size": 8},
    }
    root.mkdir(parents=True, exist_ok=True)
    path = root / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize("student", [BILSTM, TINY_TRANSFORMER], ids=["bilstm", "transformer"])
@pytest.mark.parametrize(
    "method",
    [{"name": "hard"}, {"name": "hinton", "temperature": 3.0}, {"name": "tang"}],
    ids=["hard", "hinton", "tang"],
)
def test_distill_single_sentences(tmp_path: Path, student: dict, method: dict) -> None:
    data, teacher = setup_task(tmp_path)
    config = write_config(tmp_path, data, teacher, student, method, "movie-sentiment")
    result = runner.invoke(app, ["distill", str(config), "train.max_steps=3"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == 3 and metrics["method"] == method["name"]
    assert set(metrics["best"]) == {"dev/accuracy", "dev/f1", "test/accuracy", "test/f1"}
    # against the teacher scored on the same examples (a random tiny teacher: not always 0.5)
    teacher = metrics["teacher"]["best"]["dev/accuracy"]
    assert metrics["retention"] == pytest.approx(metrics["best"]["dev/accuracy"] / teacher, abs=1e-3)
    assert (run / "student" / "model.safetensors").exists()
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    terms = {"hard": {"hard"}, "hinton": {"hard", "kl"}, "tang": {"hard", "mse"}}[method["name"]]
    assert terms <= set(log[0])
    assert (metrics["teacher"]["cache"] is None) == (method["name"] == "hard")


@pytest.mark.parametrize("student", [BILSTM, TINY_TRANSFORMER], ids=["bilstm", "transformer"])
@pytest.mark.parametrize("task", ["movie-dialog", "movie-score"], ids=["pairs", "regression"])
def test_pairs_and_regression(tmp_path: Path, student: dict, task: str) -> None:
    data, teacher = setup_task(tmp_path, task)
    config = write_config(tmp_path, data, teacher, student, {"name": "hinton"}, task)
    result = runner.invoke(app, ["distill", str(config), "train.max_steps=2"])
    assert result.exit_code == 0, result.output
    best = json.loads((tmp_path / "run" / "metrics.json").read_text())["best"]
    first_log = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[0])
    if task == "movie-score":
        assert set(best) == {"dev/pearson", "dev/spearman", "test/pearson", "test/spearman"}
        assert "mse" in first_log  # the soft term of a regression task: MSE to the teacher's prediction
    else:
        assert set(best) == {"dev/accuracy", "dev/f1", "test/accuracy", "test/f1"}
        assert "kl" in first_log


def test_teacher_runs_once_then_comes_from_the_cache(tmp_path: Path) -> None:
    data, teacher = setup_task(tmp_path)
    config = write_config(tmp_path, data, teacher, BILSTM, {"name": "hinton"}, "movie-sentiment")
    hits = []
    for _ in range(2):
        assert runner.invoke(app, ["distill", str(config), "train.max_steps=2"]).exit_code == 0
        hits.append(json.loads((tmp_path / "run" / "metrics.json").read_text())["teacher"]["cache"]["hit"])
    assert hits == [False, True]


def test_same_seed_same_student(tmp_path: Path) -> None:
    data, teacher = setup_task(tmp_path)
    weights = []
    for run in ("a", "b"):
        config = write_config(
            tmp_path / run, data, teacher, TINY_TRANSFORMER, {"name": "hinton"}, "movie-sentiment"
        )
        assert runner.invoke(app, ["distill", str(config), "train.max_steps=4"]).exit_code == 0
        weights.append(load_file(tmp_path / run / "run" / "student" / "model.safetensors"))
    assert all((weights[0][k] == weights[1][k]).all() for k in weights[0])


def test_teacher_for_another_task_is_refused(tmp_path: Path) -> None:
    data, teacher = setup_task(tmp_path)
    (teacher / "task.json").write_text(json.dumps({"name": "trec6", "labels": ["ABBR", "DESC"]}))
    config = write_config(tmp_path, data, teacher, BILSTM, {"name": "hinton"}, "movie-sentiment")
    result = runner.invoke(app, ["distill", str(config)])
    assert result.exit_code == 2
    assert "trained on labels ['ABBR', 'DESC']" in " ".join(result.output.split())


def test_invalid_config_stops_before_any_compute(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "task: movie-sentiment\nteacher: nowhere\nstudent: {kind: bilstm, hidden: 0}\n"
        "method: {name: hinton, temperature: -1}\n"
    )
    result = runner.invoke(app, ["distill", str(path)])
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "2 problem(s)" in out and "hidden" in out and "temperature" in out
    assert not (tmp_path / "runs").exists()


def test_evaluate_a_run_and_a_teacher(tmp_path: Path) -> None:
    data, teacher = setup_task(tmp_path)
    config = write_config(tmp_path, data, teacher, BILSTM, {"name": "hinton"}, "movie-sentiment")
    assert runner.invoke(app, ["distill", str(config), "train.max_steps=2"]).exit_code == 0
    result = runner.invoke(app, ["evaluate", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    ev = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    trained = json.loads((tmp_path / "run" / "metrics.json").read_text())["best"]
    assert ev["quality"] == pytest.approx(trained)  # the saved student scores what training reported
    assert ev["throughput_bs32"] > 0 and ev["latency_p90_ms"] >= ev["latency_p50_ms"] > 0
    assert ev["size_mb"] > 0 and ev["parameters"] > 0 and ev["kind"] == "bilstm"
    result = runner.invoke(app, ["evaluate", str(tmp_path)])
    assert result.exit_code == 2 and "not a textdistill run folder" in " ".join(result.output.split())


def test_report_table_retention_and_speedup(tmp_path: Path) -> None:
    from textdistill.run import write_report

    def row(name: str, acc: float, speed: float, scored_on: str = "abc") -> dict:
        return {
            "model": name,
            "primary_metric": "dev/accuracy",
            "quality": {"dev/accuracy": acc},
            "scored_on": {"dev": {"examples": 10, "sha256": scored_on}},
            "parameters": 1_000_000,
            "size_mb": 4.0,
            "throughput_bs32": speed,
            "latency_p50_ms": 1.0,
        }

    rows = [row("teacher", 0.8, 100.0), row("bilstm-hinton", 0.76, 1500.0), row("other", 1.3, 900.0, "def")]
    rows[1]["coverage"] = {"dev": {"texts": 10, "over_limit": 9, "tokens_read_share": 0.26, "limit": 128}}
    write_report(rows, tmp_path, "movie-sentiment", quick=False)
    assert rows[1]["retention"] == pytest.approx(0.95) and rows[1]["speedup_bs32"] == pytest.approx(15.0)
    assert rows[2]["retention"] is None  # scored on other examples: no retention, never 162.5%
    md = (tmp_path / "report.md").read_text()
    assert "| bilstm-hinton | 1.00M | 4.0 | 0.7600 | 95.0% | 1500 | 1.0 | 15.0x |" in md
    assert "| 15.0x | 26% (9 of 10 texts cut at 128) |" in md
    assert "| other | 1.00M | 4.0 | 1.3000 | n/a (other examples) |" in md and "162.5%" not in md
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_distill_on_the_users_own_files(tmp_path: Path) -> None:
    """``files:`` in the config: CSV files with their own column names, as ``teach --train`` reads them."""
    import csv

    for split, n in (("train", 40), ("dev", 12)):
        with (tmp_path / f"{split}.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "sentence", "y"])
            for i, r in enumerate(toy_rows(n)):
                w.writerow([i, r["text"], r["label"]])
    teacher = make_tiny_bert(tmp_path / "teacher")
    (teacher / "task.json").write_text(json.dumps({"name": "reviews", "labels": ["neg", "pos"]}))
    files = {
        "train": str(tmp_path / "train.csv"),
        "dev": str(tmp_path / "dev.csv"),
        "columns": {"text": "sentence", "label": "y"},
    }
    cfg = {
        "task": "reviews",
        "teacher": str(teacher),
        "files": files,
        "out": str(tmp_path / "run"),
        "student": BILSTM,
        "method": {"name": "hinton"},
        "train": {"epochs": 1, "batch_size": 8},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    result = runner.invoke(app, ["distill", str(tmp_path / "run.yaml")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["task"] == "reviews" and metrics["train_examples"] == 40
    assert set(metrics["best"]) == {"dev/accuracy", "dev/f1"}
    # a wrong column is reported with the file, before any training
    result = runner.invoke(app, ["distill", str(tmp_path / "run.yaml"), "files.columns.text=review"])
    assert result.exit_code == 2 and "train.csv" in result.output and "review" in result.output
    result = runner.invoke(app, ["distill", str(tmp_path / "run.yaml"), "data=somewhere"])
    assert result.exit_code == 2 and "not both" in result.output


def test_training_metrics_also_go_to_tensorboard(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data, teacher = setup_task(tmp_path)
    config = write_config(tmp_path, data, teacher, BILSTM, {"name": "hinton"}, "movie-sentiment")
    overrides = ["train.max_steps=4", "train.eval_every=2", "train.report_to=[tensorboard]"]
    result = runner.invoke(app, ["distill", str(config), *overrides])
    assert result.exit_code == 0, result.output
    board = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    board.Reload()
    tags = set(board.Tags()["scalars"])
    assert {"train/loss", "train/kl", "train/hard", "train/lr", "eval/dev/accuracy"} <= tags
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    evals = [r for r in log if r["type"] == "eval"]  # the same numbers as log.jsonl, at the same steps
    scalars = board.Scalars("eval/dev/accuracy")
    assert [e.step for e in scalars] == [r["step"] for r in evals] == [2, 4]
    assert [e.value for e in scalars] == pytest.approx([r["dev/accuracy"] for r in evals])


def test_tensorboard_missing_is_said_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a)
    )
    data, teacher = setup_task(tmp_path)
    config = write_config(tmp_path, data, teacher, BILSTM, {"name": "hinton"}, "movie-sentiment")
    result = runner.invoke(app, ["distill", str(config), "train.report_to=[tensorboard]"])
    assert result.exit_code == 2 and "pip install 'textdistill[tensorboard]'" in result.output
    assert not (tmp_path / "run").exists()


def test_a_fresh_run_into_the_same_folder_starts_new_tensorboard_curves(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data, teacher = setup_task(tmp_path)
    config = write_config(tmp_path, data, teacher, BILSTM, {"name": "hinton"}, "movie-sentiment")
    for steps in (4, 2):  # the second run, shorter, into the same out folder
        overrides = [f"train.max_steps={steps}", "train.eval_every=2", "train.report_to=[tensorboard]"]
        assert runner.invoke(app, ["distill", str(config), *overrides]).exit_code == 0
    board = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    board.Reload()
    assert [e.step for e in board.Scalars("eval/dev/accuracy")] == [2]  # not the first run's 2 and 4


def test_the_environment_names_the_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from textdistill.errors import TextdistillError
    from textdistill.runtime import set_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("TEXTDISTILL_THREADS", "1")
        assert set_threads(2) == 1 and torch.get_num_threads() == 1  # over what the caller asks
        monkeypatch.setenv("TEXTDISTILL_THREADS", "two")
        with pytest.raises(TextdistillError, match="TEXTDISTILL_THREADS='two'"):
            set_threads()
    finally:
        torch.set_num_threads(before)
