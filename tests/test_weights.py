"""Damaged model files are named, with what to do, by every loader: teachers, students (BiLSTM and
transformer), multi-task heads, through the loaders and through the commands."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from tests.test_artifacts import BILSTM, distill_config, news_files, teach_args
from textdistill.cli import app
from textdistill.data.spec import TaskSpec
from textdistill.errors import TextdistillError
from textdistill.models.bundle import load_student
from textdistill.models.multitask import open_task_view
from textdistill.models.teacher import HFClassifier

runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


def cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def overwritten(path: Path) -> None:
    path.write_bytes(b"\x00garbage" * 64)


def emptied(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (cut_short, "incomplete metadata, file not fully covered"),
        (overwritten, "header too large"),
        (emptied, "empty"),
    ],
)
def test_a_damaged_teacher_is_named_by_the_loader(
    tiny_bert: Path, tmp_path: Path, damage: Callable[[Path], None], why: str
) -> None:
    teacher = tmp_path / "teacher"
    shutil.copytree(tiny_bert, teacher)  # the fixture is shared: damage a copy
    damage(teacher / "model.safetensors")
    with pytest.raises(TextdistillError) as caught:
        HFClassifier.from_pretrained(str(teacher))
    assert str(caught.value) == (
        f"{teacher / 'model.safetensors'} is damaged ({why}): replace it with an intact copy"
    )
    with pytest.raises(TextdistillError, match="is damaged"):
        load_student(teacher)  # a transformer student: the same loader


def test_a_damaged_asset_model_points_to_assets_verify(tiny_bert: Path, isolated_home: Path) -> None:
    folder = isolated_home / "assets" / "minilm-l6"
    shutil.copytree(tiny_bert, folder)
    cut_short(folder / "model.safetensors")
    with pytest.raises(TextdistillError) as caught:
        HFClassifier.from_pretrained(str(folder))
    assert str(caught.value).endswith(
        "it belongs to the asset minilm-l6: run `textdistill assets verify minilm-l6 --repair`"
    )


def test_a_damaged_config_is_named(tiny_bert: Path, tmp_path: Path) -> None:
    teacher = tmp_path / "teacher"
    shutil.copytree(tiny_bert, teacher)
    (teacher / "config.json").write_text('{"model_type": "bert", "hidden_')
    with pytest.raises(TextdistillError, match=r"config\.json is damaged \(Unterminated string"):
        HFClassifier.from_pretrained(str(teacher))


def test_damaged_multitask_heads_are_named(tiny_bert: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "run" / "model"
    shutil.copytree(tiny_bert, model_dir)
    spec = TaskSpec("movie-sentiment", ("negative", "positive"), ("accuracy",))
    (model_dir / "tasks.json").write_text(json.dumps([spec.to_dict()]))
    save_file({"x": torch.zeros(3)}, model_dir / "heads.safetensors")
    cut_short(model_dir / "heads.safetensors")
    with pytest.raises(TextdistillError, match=r"heads\.safetensors is damaged \(.*\): replace it"):
        open_task_view(tmp_path / "run", spec)


def test_damaged_run_folders_say_to_restore_or_make_them_again(tiny_bert: Path, tmp_path: Path) -> None:
    files = news_files(tmp_path / "files")
    teacher = tmp_path / "teacher"
    result = runner.invoke(app, teach_args(files, tiny_bert, teacher, "--max-steps", "1"))
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["distill", str(distill_config(tmp_path, files, teacher, BILSTM, "bilstm"))])
    assert result.exit_code == 0, result.output
    run = tmp_path / "bilstm"

    cut_short(run / "student" / "model.safetensors")
    result = runner.invoke(app, ["predict", str(run), "good film"])
    assert result.exit_code == 2
    assert flat(result.output) == flat(
        f"error: {run / 'student' / 'model.safetensors'} is damaged (incomplete metadata, file not fully "
        f"covered): it belongs to the run folder {run}: restore that folder from a copy, or make it "
        "again (textdistill distill)"
    )

    overwritten(teacher / "model.safetensors")
    result = runner.invoke(app, ["evaluate", str(teacher)])
    assert result.exit_code == 2
    assert flat(result.output) == flat(
        f"error: {teacher / 'model.safetensors'} is damaged (header too large): it belongs to the run "
        f"folder {teacher}: restore that folder from a copy, or make it again (textdistill teach)"
    )


def test_a_damaged_tokenizer_or_an_edited_config_is_named(tiny_bert: Path, tmp_path: Path) -> None:
    from textdistill.models.weights import read_tokenizer

    teacher = tmp_path / "teacher"
    shutil.copytree(tiny_bert, teacher)
    (teacher / "tokenizer.json").write_text('{"bad')
    with pytest.raises(TextdistillError, match=r"tokenizer.json is damaged \("):
        read_tokenizer(teacher)
    shutil.copy(tiny_bert / "tokenizer.json", teacher / "tokenizer.json")
    config = json.loads((teacher / "config.json").read_text())
    (teacher / "config.json").write_text(
        json.dumps({**config, "hidden_size": 30})
    )  # 30 is not 4 heads' multiple
    with pytest.raises(TextdistillError, match=f"the model at {teacher} does not load"):
        HFClassifier.from_pretrained(str(teacher))


def test_damaged_small_student_records_and_onnx_files_are_named(tmp_path: Path) -> None:
    from tests.test_distill import setup_task, write_config

    data, teacher = setup_task(tmp_path)
    student = {"kind": "cnn", "embedding": "random", "embed_dim": 8, "widths": [2], "filters": 4, "fc": 6}
    config = write_config(tmp_path, data, teacher, student, {"name": "hinton"}, "movie-sentiment")
    assert runner.invoke(app, ["distill", str(config), "train.max_steps=2"]).exit_code == 0
    run = tmp_path / "run"
    assert runner.invoke(app, ["export", str(run)]).exit_code == 0
    onnx = run / "onnx" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:300])
    result = runner.invoke(app, ["predict", str(run), "a good film", "--backend", "onnx"])
    assert result.exit_code == 2 and f"{onnx} does not load in ONNX Runtime" in flat(result.output)
    assert f"export it again with `textdistill export {run}`" in flat(result.output)
    (run / "student" / "vocab.json").write_text("{bad")
    result = runner.invoke(app, ["predict", str(run), "a good film"])
    assert result.exit_code == 2 and f"{run / 'student' / 'vocab.json'} is damaged" in flat(result.output)
