"""``textdistill teach`` end to end through the CLI on a tiny random BERT."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification
from typer.testing import CliRunner

from tests.conftest import write_jsonl
from textdistill.cli import app

runner = CliRunner()


def toy_rows(n: int, pair: bool = False, regression: bool = False) -> list[dict]:
    """Separable toy data: "good ..." is positive, "bad ..." is negative."""
    rows = []
    for i in range(n):
        positive = i % 2 == 0
        text = ("good great film" if positive else "bad awful film") + " the" * (i % 5)
        row: dict = {
            "text": text,
            "label": (3.0 if positive else -3.0) if regression else ("pos" if positive else "neg"),
        }
        if pair:
            row["text_pair"] = "it is " + ("true" if positive else "false")
        rows.append(row)
    return rows


def teach(tmp_path: Path, model: Path, *extra: str, pair: bool = False, regression: bool = False):
    train = write_jsonl(tmp_path / "data" / "train.jsonl", toy_rows(96, pair, regression))
    dev = write_jsonl(tmp_path / "data" / "dev.jsonl", toy_rows(16, pair, regression))
    cols = "text=text,label=label" + (",text_pair=text_pair" if pair else "")
    args = [
        "teach",
        "--model",
        str(model),
        "--out",
        str(tmp_path / "out"),
        "--train",
        str(train),
        "--dev",
        str(dev),
        "--columns",
        cols,
        "--batch-size",
        "8",
        *extra,
    ]
    return runner.invoke(app, args + (["--regression"] if regression else []))


def test_two_steps_write_a_hugging_face_teacher(tmp_path: Path, tiny_bert: Path) -> None:
    result = teach(tmp_path, tiny_bert, "--max-steps", "2", "--labels", "neg,pos")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "metrics.json",
        "teach_config.json",
        "task.json",
        "log.jsonl",
    ):
        assert (out / name).exists(), name
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert model.config.id2label == {0: "neg", 1: "pos"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 2 and metrics["primary_metric"] == "dev/accuracy"
    assert set(metrics["best"]) == {"dev/accuracy", "dev/f1"}
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["type"] for r in log] == ["train", "eval"] and "hard" in log[0]


def test_teacher_learns_a_separable_task(tmp_path: Path, tiny_bert: Path) -> None:
    result = teach(tmp_path, tiny_bert, "--epochs", "5", "--lr", "2e-3", "--warmup-ratio", "0")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["best"]["dev/accuracy"] == 1.0
    assert len(metrics["history"]) == 5  # one evaluation per epoch


def test_pairs_and_regression(tmp_path: Path, tiny_bert: Path) -> None:
    result = teach(tmp_path / "p", tiny_bert, "--max-steps", "2", pair=True)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "p" / "out" / "task.json").read_text())["is_pair"] is True
    result = teach(tmp_path / "r", tiny_bert, "--epochs", "5", "--lr", "2e-3", regression=True)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "r" / "out" / "metrics.json").read_text())
    assert metrics["primary_metric"] == "dev/pearson" and metrics["best"]["dev/pearson"] > 0.9
    config = json.loads((tmp_path / "r" / "out" / "config.json").read_text())
    assert len(config["id2label"]) == 1 and config["problem_type"] == "regression"


def test_same_seed_same_weights(tmp_path: Path, tiny_bert: Path) -> None:
    weights = []
    for run in ("a", "b"):
        assert teach(tmp_path / run, tiny_bert, "--max-steps", "3", "--seed", "7").exit_code == 0
        weights.append(load_file(tmp_path / run / "out" / "model.safetensors"))
    assert weights[0].keys() == weights[1].keys()
    assert all((weights[0][k] == weights[1][k]).all() for k in weights[0])


def test_offline_task_from_a_local_folder(tmp_path: Path, tiny_bert: Path) -> None:
    data = tmp_path / "movie"
    for split, n in (("train", 16), ("dev", 8), ("test", 8)):
        write_jsonl(
            data / f"{split}.jsonl",
            [
                {"text": r["text"], "label": "positive" if r["label"] == "pos" else "negative"}
                for r in toy_rows(n)
            ],
        )
    result = runner.invoke(
        app,
        [
            "teach",
            "--task",
            "movie-sentiment",
            "--data",
            str(data),
            "--model",
            str(tiny_bert),
            "--out",
            str(tmp_path / "out"),
            "--max-steps",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    best = json.loads((tmp_path / "out" / "metrics.json").read_text())["best"]
    assert set(best) == {"dev/accuracy", "dev/f1", "test/accuracy", "test/f1"}  # test scored once, at the end


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "nope"], "unknown task 'nope'"),
        (["--task", "sst2"], "needs --data"),
        (["--train", "x.jsonl"], "both --train and --dev"),
        ([], "give --task"),
    ],
)
def test_bad_options_get_clear_errors(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["teach", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_bad_label_in_a_user_file_names_file_and_line(tmp_path: Path, tiny_bert: Path) -> None:
    write_jsonl(tmp_path / "train.jsonl", [{"text": "good", "label": "pos"}, {"text": "bad", "label": "neg"}])
    write_jsonl(tmp_path / "dev.jsonl", [{"text": "good", "label": "pos"}, {"text": "meh", "label": "maybe"}])
    result = runner.invoke(
        app,
        [
            "teach",
            "--model",
            str(tiny_bert),
            "--train",
            str(tmp_path / "train.jsonl"),
            "--dev",
            str(tmp_path / "dev.jsonl"),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 2
    assert "dev.jsonl:2: unknown label 'maybe'" in " ".join(result.output.split())
