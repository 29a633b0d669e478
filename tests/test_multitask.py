"""Multi-task pieces (MT-DNN): the task sampler's proportions and per-epoch coverage, and heads that
receive only their own task's gradients."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoModel
from typer.testing import CliRunner

from tests.test_deploy import json_lines
from tests.test_distill import TINY_TRANSFORMER, setup_task
from tests.test_scale import kill_at_first_checkpoint
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
            {"task": "movie-sentiment", "data": str(data_a), "teacher": str(teacher_a), "alpha": 0.2},
            {"task": "movie-score", "data": str(data_b)},
        ],
        "encoder": str(teacher_a),
        "temperature": 3.0,
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
    # the task's own alpha, the run's temperature
    assert metrics["tasks"]["movie-sentiment"]["alpha"] == 0.2
    assert metrics["tasks"]["movie-sentiment"]["temperature"] == 3.0
    assert metrics["tasks"]["movie-score"]["method"] == "hard"
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    terms = {k for r in log if r["type"] == "train" for k in r} - {"type", "step", "epoch", "lr", "loss"}
    assert terms and terms <= {"movie-sentiment/hard", "movie-sentiment/kl", "movie-score/hard"}  # per task
    assert (tmp_path / "run" / "model" / "heads.safetensors").exists()
    bad = runner.invoke(app, ["distill", str(path), "tasks=[{task: trec6}, {task: trec6}]"])
    assert bad.exit_code == 2 and "each task may appear once" in bad.output
    bad = runner.invoke(app, ["distill", str(path), "tasks=[{task: trec6, alpha: 0.3}]"])
    assert (
        bad.exit_code == 2
        and "alpha weigh the teacher's soft targets: give this task a teacher" in bad.output
    )


def small_student_run(tmp_path: Path, train: dict) -> tuple[Path, Path]:
    """A config (its path, its run folder) of a tiny student on movie-sentiment (with a teacher) and
    movie-score (labels only)."""
    data_a, teacher_a = setup_task(tmp_path / "a", "movie-sentiment")
    data_b, _ = setup_task(tmp_path / "b", "movie-score")
    run = tmp_path / "run"
    config = {
        "tasks": [{"task": "movie-sentiment", "data": str(data_a), "teacher": str(teacher_a)},
                  {"task": "movie-score", "data": str(data_b)}],
        "encoder": str(teacher_a), "student": TINY_TRANSFORMER, "out": str(run), "train": train,
    }  # fmt: skip
    path = tmp_path / "mt.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, run


def test_a_multitask_run_is_evaluated_exported_and_served_per_task(tmp_path: Path) -> None:
    """evaluate / export / predict take ``--task`` for a multi-task run: the shared encoder with that
    task's head, reloaded from the run folder, scores what training reported."""
    path, run = small_student_run(tmp_path, {"epochs": 1, "batch_size": 8})
    assert runner.invoke(app, ["distill", str(path)]).exit_code == 0
    best = json.loads((run / "metrics.json").read_text())["best"]

    result = runner.invoke(app, ["evaluate", str(run), "--task", "movie-score"])
    assert result.exit_code == 0, result.output
    got = json.loads((run / "evaluation-movie-score.json").read_text())
    assert got["kind"] == "multitask" and got["task"] == "movie-score"
    assert got["quality"]["dev/pearson"] == pytest.approx(best["movie-score/dev/pearson"], abs=1e-4)
    assert got["throughput_bs32"] > 0

    result = runner.invoke(app, ["predict", str(run), "a fine film", "--task", "movie-sentiment"])
    assert result.exit_code == 0, result.output
    answer = json_lines(result.output)[-1]
    assert answer["label"] in ("negative", "positive")
    assert sum(answer["probabilities"].values()) == pytest.approx(1, abs=1e-5)
    score = runner.invoke(app, ["predict", str(run), "a fine film", "--task", "movie-score"])
    assert score.exit_code == 0, score.output
    assert set(json_lines(score.output)[-1]) == {"score"}

    result = runner.invoke(app, ["export", str(run), "--task", "movie-sentiment", "--check-examples", "8"])
    assert result.exit_code == 0, result.output
    check = json.loads((run / "onnx" / "movie-sentiment" / "export.json").read_text())["check"]
    assert check["onnx"]["same_prediction"] == 1.0 and check["onnx"]["max_abs_logit_diff"] < 1e-4
    onnx = runner.invoke(app, ["predict", str(run), "a fine film", "--task", "movie-sentiment",
                               "--backend", "onnx"])  # fmt: skip
    assert onnx.exit_code == 0, onnx.output
    probs = json_lines(onnx.output)[-1]["probabilities"]
    assert probs == pytest.approx(answer["probabilities"], abs=1e-4)

    no_task = runner.invoke(app, ["predict", str(run), "a fine film"])
    assert (
        no_task.exit_code != 0
        and "choose its task with --task (movie-sentiment, movie-score)" in no_task.output
    )
    unknown = runner.invoke(app, ["evaluate", str(run), "--task", "trec6"])
    assert unknown.exit_code != 0 and "has no task 'trec6'" in unknown.output
    missing = runner.invoke(app, ["predict", str(run), "x", "--task", "movie-score", "--backend", "onnx"])
    assert missing.exit_code != 0 and "--task movie-score" in missing.output

    bench = runner.invoke(app, ["bench", str(run), "--task", "movie-sentiment", "--batch-sizes", "1,4",
                                "--examples", "8", "--out", str(tmp_path / "bench")])  # fmt: skip
    assert bench.exit_code == 0, bench.output
    rows = json.loads((tmp_path / "bench.json").read_text())
    assert [(r["model"], r["backend"]) for r in rows] == [
        ("multitask", "torch fp32"), ("multitask", "onnx fp32"), ("multitask", "onnx int8"),
        ("teacher", "torch fp32"),
    ]  # fmt: skip
    assert rows[-1]["folder"] == str(tmp_path / "a" / "teacher")
    assert {r["task"] for r in rows} == {"movie-sentiment"}
    bench = runner.invoke(app, ["bench", str(run), "--task", "movie-score", "--batch-sizes", "2",
                                "--examples", "8", "--out", str(tmp_path / "score")])  # fmt: skip
    assert bench.exit_code == 0, bench.output
    rows = json.loads((tmp_path / "score.json").read_text())
    assert len(rows) == 3 and (run / "onnx" / "movie-score" / "model.onnx").exists()  # no teacher: no row


def test_an_ensemble_teacher_is_benched_member_by_member(tmp_path: Path) -> None:
    from textdistill.serving import run_teachers

    ensemble = tmp_path / "ens"
    for name in ("member-1", "member-3"):
        (ensemble / name).mkdir(parents=True)
        (ensemble / name / "config.json").write_text("{}")
    (ensemble / "ensemble.json").write_text(json.dumps({"members": ["member-3", "member-1"]}))
    assert run_teachers([ensemble]) == [
        ("teacher, ensemble member 1 of 2", ensemble / "member-3"),
        ("teacher, ensemble member 2 of 2", ensemble / "member-1"),
    ]
    assert run_teachers([]) == []


def test_a_killed_multitask_run_resumes_to_the_same_model(tmp_path: Path) -> None:
    """A real SIGKILL mid-epoch, then ``--resume``: the same heads, encoder, metrics and log as a run
    never interrupted (the task order of each epoch is a function of seed and epoch)."""
    path, run = small_student_run(tmp_path, {"epochs": 2, "batch_size": 4, "checkpoint_every": 5})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "textdistill", "distill", str(path)]
    ref = subprocess.run([*command, f"out={tmp_path / 'ref'}"], capture_output=True, text=True, env=env)
    assert ref.returncode == 0, ref.stderr[-3000:]
    a = json.loads((tmp_path / "ref" / "metrics.json").read_text())
    step = kill_at_first_checkpoint(command, run, env)
    assert 0 < step < a["steps"] and step % (a["steps"] // 2) != 0  # mid-epoch
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    b = json.loads((run / "metrics.json").read_text())
    assert b["resumed_from"] == step and a["resumed_from"] is None and not (run / "checkpoint.pt").exists()
    assert a["best"] == b["best"] and a["best_step"] == b["best_step"] and a["steps"] == b["steps"]
    for name in ("model.safetensors", "heads.safetensors"):
        ref_w, run_w = load_file(tmp_path / "ref" / "model" / name), load_file(run / "model" / name)
        assert all(torch.equal(ref_w[k], run_w[k]) for k in ref_w), name

    def rows(folder: Path) -> list[dict]:
        log = [json.loads(x) for x in (folder / "log.jsonl").read_text().splitlines()]
        return [
            {k: v for k, v in r.items() if not k.endswith("_s")} for r in log if r["type"] != "checkpoint"
        ]

    assert rows(tmp_path / "ref") == rows(run)
    again = runner.invoke(app, ["distill", str(path), "--resume"])
    assert again.exit_code == 2 and "finished run" in again.output
