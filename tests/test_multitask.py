"""Multi-task pieces (MT-DNN): the task sampler's proportions and per-epoch coverage, and heads that
receive only their own task's gradients."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModel
from typer.testing import CliRunner

from tests.test_distill import TINY_TRANSFORMER, setup_task
from textdistill.cli import app
from textdistill.data.multitask import TaskSampler
from textdistill.data.tasks import TaskSpec
from textdistill.models.multitask import MultiTaskModel

SIZES = {"big": 40, "mid": 10, "small": 2}
runner = CliRunner()


def test_temperature_one_takes_every_batch_once_in_proportion_to_size() -> None:
    sampler = TaskSampler(SIZES, temperature=1.0, seed=0)
    steps = sampler.epoch(0)
    assert Counter(t for t, _ in steps) == SIZES and len(sampler) == 52
    for task, n in SIZES.items():
        assert sorted(b for t, b in steps if t == task) == list(range(n))  # full coverage, once each
    assert steps != sampler.epoch(1) and steps == TaskSampler(SIZES, 1.0, seed=0).epoch(0)
    # tasks are mixed through the epoch, not one after the other
    first_half = Counter(t for t, _ in steps[:26])
    assert first_half["big"] < 26 and first_half["mid"] > 0


def test_a_higher_temperature_flattens_the_shares_and_still_covers_every_batch() -> None:
    sampler = TaskSampler(SIZES, temperature=2.0, seed=1)
    counts = sampler.counts()
    # shares follow n^(1/2): 40 : 10 : 2 -> 6.32 : 3.16 : 1.41, scaled so that "big" keeps its 40
    assert counts == {"big": 40, "mid": 20, "small": 9}
    steps = sampler.epoch(3)
    assert Counter(t for t, _ in steps) == counts
    for task, n in SIZES.items():
        assert set(b for t, b in steps if t == task) == set(range(n))
    small = [b for t, b in steps if t == "small"]
    assert max(Counter(small).values()) - min(Counter(small).values()) <= 1  # repeats spread evenly
    with pytest.raises(ValueError, match=">= 1"):
        TaskSampler(SIZES, temperature=0.5)
    with pytest.raises(ValueError, match="without a batch: none"):
        TaskSampler({"a": 3, "none": 0})


def test_each_head_gets_only_its_own_task_gradients(tiny_bert: Path) -> None:
    encoder = AutoModel.from_pretrained(tiny_bert)
    specs = [
        TaskSpec("sentiment", ("neg", "pos"), ("accuracy",)),
        TaskSpec("score", None, ("pearson",)),
        TaskSpec("trec", ("a", "b", "c"), ("accuracy",)),
    ]
    model = MultiTaskModel(encoder, specs)
    ids = torch.randint(5, 40, (4, 7))
    mask = torch.ones_like(ids)
    out = model("trec", ids, mask)
    assert out.logits.shape == (4, 3) and model("score", ids, mask).logits.shape == (4, 1)
    model.zero_grad(set_to_none=True)
    out.logits.sum().backward()
    assert model.heads["trec"].weight.grad is not None and model.heads["trec"].weight.grad.abs().sum() > 0
    assert model.heads["sentiment"].weight.grad is None and model.heads["score"].weight.grad is None
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())
    with pytest.raises(KeyError, match="no head for task 'mnli'"):
        model("mnli", ids, mask)
    with pytest.raises(ValueError, match="must differ"):
        MultiTaskModel(encoder, [specs[0], specs[0]])


@pytest.mark.parametrize("student", [None, TINY_TRANSFORMER], ids=["encoder", "small-student"])
def test_multitask_distillation_through_the_cli(tmp_path: Path, student: dict | None) -> None:
    """Two tasks through one shared encoder: movie-sentiment with a teacher (Hinton KD), movie-score
    (regression) without one (its labels alone)."""
    data_a, teacher_a = setup_task(tmp_path / "a", "movie-sentiment")
    data_b, _ = setup_task(tmp_path / "b", "movie-score")
    config = {
        "tasks": [
            {"task": "movie-sentiment", "data": str(data_a), "teacher": str(teacher_a)},
            {"task": "movie-score", "data": str(data_b)},
        ],
        "encoder": str(teacher_a),
        "out": str(tmp_path / "run"),
        "train": {"epochs": 1, "batch_size": 8},
        **({"student": student} if student else {}),
    }
    path = tmp_path / "mt.yaml"
    path.write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["distill", str(path)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["steps"] == 12 and metrics["steps_per_epoch"] == {"movie-sentiment": 6, "movie-score": 6}
    assert {"movie-sentiment/dev/accuracy", "movie-score/dev/pearson", "mean/primary"} <= set(metrics["best"])
    assert metrics["tasks"]["movie-sentiment"]["method"] == "hinton"
    assert metrics["tasks"]["movie-score"]["method"] == "hard"
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    terms = {k for r in log if r["type"] == "train" for k in r} - {"type", "step", "epoch", "lr", "loss"}
    assert terms and terms <= {"movie-sentiment/hard", "movie-sentiment/kl", "movie-score/hard"}  # per task
    assert (tmp_path / "run" / "model" / "heads.safetensors").exists()
    bad = runner.invoke(app, ["distill", str(path), "tasks=[{task: trec6}, {task: trec6}]"])
    assert bad.exit_code == 2 and "each task may appear once" in bad.output
