"""Teacher ensembles (MT-DNN-KD): probability averaging by hand, an ensemble of one equals its
teacher, ``teach --ensemble`` keeps the best members, and a student distils from an ensemble."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from tests.test_distill import TINY_TRANSFORMER
from tests.test_teach import teach
from textdistill.cli import app
from textdistill.data.tasks import Example
from textdistill.errors import TextdistillError
from textdistill.teachers.cache import teacher_outputs
from textdistill.teachers.ensemble import combine

runner = CliRunner()


def toy_config(data: Path, teacher: Path, out: Path, method: str, steps: int) -> Path:
    """A distillation config (``OUT.yaml``) on the toy files in ``data`` with a tiny transformer."""
    config = {
        "task": "toy",
        "files": {
            "train": str(data / "train.jsonl"),
            "dev": str(data / "dev.jsonl"),
            "labels": ["neg", "pos"],
        },
        "teacher": str(teacher),
        "out": str(out),
        "student": TINY_TRANSFORMER,
        "method": {"name": method},
        "train": {"max_steps": steps, "batch_size": 8},
    }
    path = out.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(config))
    return path


def test_probabilities_are_averaged_as_by_hand() -> None:
    a = torch.tensor([[0.0, 0.0], [2.0, 0.0]])  # probabilities (0.5, 0.5) and (e^2/(e^2+1), 1/(e^2+1))
    b = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    e, e2 = torch.e, torch.e**2
    expected = torch.tensor(
        [
            [(0.5 + e / (e + 1)) / 2, (0.5 + 1 / (e + 1)) / 2],
            [(e2 / (e2 + 1) + 0.5) / 2, (1 / (e2 + 1) + 0.5) / 2],
        ]
    )
    torch.testing.assert_close(combine([a, b]).softmax(-1), expected)
    torch.testing.assert_close(combine([a, b], "logits"), torch.tensor([[0.5, 0.0], [1.0, 0.0]]))
    scores = [torch.tensor([[1.0], [3.0]]), torch.tensor([[2.0], [-1.0]])]
    torch.testing.assert_close(combine(scores), torch.tensor([[1.5], [1.0]]))  # regression: the mean
    with pytest.raises(TextdistillError, match="unknown ensemble combine"):
        combine([a], "median")


def test_an_ensemble_of_one_equals_its_teacher(tmp_path: Path, tiny_bert: Path) -> None:
    result = teach(
        tmp_path, tiny_bert, "--max-steps", "2", "--labels", "neg,pos", "--ensemble", "1", "--keep", "1"
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    examples = [Example("good great film"), Example("bad awful film the the")]
    single = teacher_outputs(out / "member-1", examples)
    ensemble = teacher_outputs(out, examples)
    torch.testing.assert_close(ensemble.logits.softmax(-1), single.logits.softmax(-1))
    assert ensemble.fingerprint != single.fingerprint
    record = json.loads((out / "ensemble.json").read_text())
    record["combine"] = "logits"
    (out / "ensemble.json").write_text(json.dumps(record))
    assert torch.equal(teacher_outputs(out, examples).logits, single.logits)


def test_teach_ensemble_keeps_the_best_members_and_a_student_distils_from_it(
    tmp_path: Path, tiny_bert: Path
) -> None:
    result = teach(
        tmp_path, tiny_bert, "--max-steps", "3", "--labels", "neg,pos", "--ensemble", "3", "--keep", "2"
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    record = json.loads((out / "ensemble.json").read_text())
    members = {m["member"]: m for m in record["all"]}
    assert [m["dropout"] for m in record["all"]] == [0.1, 0.2, 0.3]
    assert [m["seed"] for m in record["all"]] == [42, 43, 44]
    assert len(record["members"]) == 2
    dropped = (set(members) - set(record["members"])).pop()
    assert all(members[k]["dev"] >= members[dropped]["dev"] for k in record["members"])
    for name, m in members.items():  # each member is a teacher trained with its own dropout
        assert json.loads((out / name / "teach_config.json").read_text())["dropout"] == m["dropout"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["ensemble"] and "dev/accuracy" in metrics["best"]

    data = tmp_path / "data"
    path = toy_config(data, out, tmp_path / "run", "hinton", 3)
    result = runner.invoke(app, ["distill", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["steps"] == 3
    for override, message in (
        ("method.name=lrc_bert", "is an ensemble"),
        ("student.init_from_teacher=[0]", "is an ensemble"),
    ):
        result = runner.invoke(app, ["distill", str(path), override])
        assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output


def test_tang_regresses_the_members_mean_logits_and_hinton_their_mean_probabilities(
    tmp_path: Path, tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import textdistill.recipes.distill as recipe

    result = teach(tmp_path, tiny_bert, "--max-steps", "1", "--labels", "neg,pos", "--ensemble", "2")
    assert result.exit_code == 0, result.output
    ensemble, data = tmp_path / "out", tmp_path / "data"
    assert json.loads((ensemble / "ensemble.json").read_text())["combine"] == "probs"
    seen: dict[str, torch.Tensor] = {}
    real_step = recipe.DistillStep

    def step(*args: object, **kwargs: object) -> recipe.DistillStep:  # the targets the method is given
        seen["targets"] = kwargs["teachers"][None].logits
        return real_step(*args, **kwargs)

    monkeypatch.setattr(recipe, "DistillStep", step)
    texts = [json.loads(line)["text"] for line in (data / "train.jsonl").read_text().splitlines()]
    members = torch.stack(
        [teacher_outputs(ensemble / m, [Example(t) for t in texts]).logits for m in ("member-1", "member-2")]
    )
    expected = {"tang": members.mean(0), "hinton": members.softmax(-1).mean(0).log()}
    said = (
        "tang regresses logits: the ensemble teacher's targets are its members' mean logits (its combine "
        "'probs' gives log-probabilities)"
    )
    fingerprints = set()
    for method, mode in (("tang", "logits"), ("hinton", "probs")):
        path = toy_config(data, ensemble, tmp_path / method, method, 1)
        result = runner.invoke(app, ["distill", str(path)])
        assert result.exit_code == 0, result.output
        assert (said in result.output) == (method == "tang")
        torch.testing.assert_close(seen["targets"], expected[method])
        metrics = json.loads((tmp_path / method / "metrics.json").read_text())
        assert metrics["teacher"]["combine"] == mode
        fingerprints.add(metrics["teacher"]["cache"]["fingerprint"])
        manifest = json.loads((tmp_path / method / "run.json").read_text())
        assert manifest.get("teacher_combine") == ("logits" if method == "tang" else None)
    assert len(fingerprints) == 2  # the two combines are cached under their own keys
