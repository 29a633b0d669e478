"""The classic baseline (TF-IDF + a linear model): fitted on the training split, scored and timed
like a model folder, beside a model in ``evaluate --baseline``."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

from typer.testing import CliRunner

from tests.test_teach import teach
from textdistill.cli import app
from textdistill.data.load import TaskData
from textdistill.data.spec import Example, TaskSpec
from textdistill.evaluation.baseline import build, evaluate_baseline

runner = CliRunner()
WORDS = "the a film plot acting music scene story cast ending".split()


def noise(rng: random.Random, n: int = 5) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def toy(pair: bool = False, regression: bool = False, n: int = 80) -> TaskData:
    """The label is in one marker word: in the text, or (``pair``) only in the second text."""
    rng = random.Random(0)
    labels, metrics = (None, ("pearson",)) if regression else (("neg", "pos"), ("accuracy",))
    spec = TaskSpec("toy", labels, metrics, is_pair=pair)

    def example(i: int) -> Example:
        positive = i % 2 == 0
        marker = "wonderful" if positive else "dreadful"
        label: float | int = (2.0 if positive else -2.0) if regression else int(positive)
        if pair:
            return Example(noise(rng), f"{noise(rng)} {marker} {noise(rng)}", label)
        return Example(f"{noise(rng)} {marker} {noise(rng)}", None, label)

    splits = {"train": [example(i) for i in range(n)], "dev": [example(i) for i in range(20)]}
    return TaskData(spec, splits)


def test_the_baseline_learns_a_marker_word_and_reports_like_a_model() -> None:
    r = evaluate_baseline(toy(), speed_examples=16)
    assert r["kind"] == "tfidf-lr" and r["primary_metric"] == "dev/accuracy"
    assert r["quality"]["dev/accuracy"] == 1.0
    assert r["throughput_bs32"] > 0 and r["latency_p50_ms"] > 0 and r["speed_examples"] == 16
    assert r["parameters"] > 100 and r["size_mb"] > 0 and r["train_examples"] == 80
    assert set(r["scored_on"]) == {"dev"}


def test_a_pair_task_gets_features_from_both_sides() -> None:
    data = toy(pair=True)
    assert evaluate_baseline(data, speed_examples=8)["quality"]["dev/accuracy"] == 1.0
    # the label is only in the second text: the first text's features alone cannot tell
    single = build(pair=False, regression=False).fit(
        [(e.text, None) for e in data.splits["train"]], [e.label for e in data.splits["train"]]
    )
    hits = single.predict([(e.text, None) for e in data.splits["dev"]]) == [
        e.label for e in data.splits["dev"]
    ]
    assert hits.mean() < 0.9


def test_regression_uses_a_ridge_and_pearson() -> None:
    r = evaluate_baseline(toy(regression=True), speed_examples=8)
    assert r["quality"]["dev/pearson"] > 0.9 and r["labels"] is None


def test_the_fitted_pipeline_pickles() -> None:
    data = toy()
    pipeline = build(pair=True, regression=False).fit(
        [(e.text, e.text) for e in data.splits["train"]], [e.label for e in data.splits["train"]]
    )
    assert pickle.loads(pickle.dumps(pipeline)).predict([("wonderful", "x")])[0] == 1


def test_evaluate_baseline_beside_a_teacher(tmp_path: Path, tiny_bert: Path) -> None:
    assert teach(tmp_path, tiny_bert, "--max-steps", "1", "--labels", "neg,pos").exit_code == 0
    result = runner.invoke(app, ["evaluate", str(tmp_path / "out"), "--baseline"])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "measure" in line)
    assert "teacher" in header and "tfidf-lr" in header
    assert "throughput, batch 32" in result.output


def test_the_static_embedding_baseline_reads_the_teachers_vectors(tiny_bert: Path) -> None:
    r = evaluate_baseline(toy(), speed_examples=8, teacher=tiny_bert)
    assert r["kind"] == "static-lr" and set(r["quality"]) == {"dev/accuracy"}
    assert r["parameters"] > 90 * 32  # the token table (tiny BERT: about 90 tokens x 32) and the model
    assert r["throughput_bs32"] > 0


def test_a_class_without_training_examples_keeps_its_column() -> None:
    data = toy()
    spec = TaskSpec("toy3", ("neg", "mid", "pos"), ("accuracy",))
    remap = {0: 0, 1: 2}  # the toy's classes become 0 and 2: class 1 has no example at all
    splits = {s: [Example(e.text, None, remap[e.label]) for e in ex] for s, ex in data.splits.items()}
    r = evaluate_baseline(TaskData(spec, splits), speed_examples=8)
    assert r["quality"]["dev/accuracy"] == 1.0  # column c is class c: "pos" is read as 2, not 1
