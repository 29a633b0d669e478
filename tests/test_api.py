"""The Python API (``import textdistill as td``): the walkthrough of docs/api.md runs on the real
assets; ``td.distill`` gives the CLI's student to the last weight; errors; a light import."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import textdistill as td
from tests.test_distill import BILSTM, setup_task, write_config
from textdistill.cli import app

runner = CliRunner()
WALKTHROUGH = Path(__file__).parent.parent / "docs" / "api.md"


def test_import_is_light_and_names_are_listed() -> None:
    code = "import sys, textdistill as td; print('torch' in sys.modules, sorted(td.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("False")  # torch loads on first use of the API, not on import
    for name in ("teach", "distill", "evaluate", "export", "load", "bench", "ConfigError"):
        assert name in out and callable(getattr(td, name))
    assert "overrides" in td.distill.__doc__ and "Args:" in td.teach.__doc__
    with pytest.raises(AttributeError):
        td.nothing  # noqa: B018


def test_distill_from_a_dict_gives_the_clis_student(tmp_path: Path) -> None:
    data, teacher = setup_task(tmp_path)
    config = write_config(tmp_path, data, teacher, BILSTM, {"name": "hinton"}, "movie-sentiment")
    result = runner.invoke(app, ["distill", str(config), "train.max_steps=4", "out=" + str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    import yaml

    as_dict = yaml.safe_load(config.read_text())
    metrics = td.distill({**as_dict, "out": str(tmp_path / "api")}, overrides=["train.max_steps=4"])
    assert metrics["steps"] == 4 and metrics["method"] == "hinton"
    cli, api = (load_file(str(tmp_path / k / "student" / "model.safetensors")) for k in ("cli", "api"))
    assert cli.keys() == api.keys() and all(torch.equal(cli[k], api[k]) for k in cli)
    answers = td.load(tmp_path / "api").predict(["a good film", "a bad film"])
    assert len(answers) == 2 and all(set(a["probabilities"]) == {"negative", "positive"} for a in answers)


def test_errors_are_the_clis(tmp_path: Path) -> None:
    with pytest.raises(td.ConfigError, match=r"2 problem\(s\)") as err:
        td.distill({"task": "movie-sentiment", "student": {"kind": "lstm"}, "method": {"name": "hinton"}})
    assert "teacher: required" in str(err.value)
    with pytest.raises(td.TextdistillError, match="give a task"):
        td.teach({"out": str(tmp_path / "t")})
    with pytest.raises(td.TextdistillError, match="takes a config"):
        td.distill(42)  # type: ignore[arg-type]
    with pytest.raises(td.ConfigError, match="no such config file"):
        td.distill(tmp_path / "missing.yaml")
    assert not (tmp_path / "t").exists()


@pytest.mark.integration
def test_the_walkthrough_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/api.md's code blocks, in order, in one namespace, on the real offline assets."""
    import os

    home = os.environ.get("TEXTDISTILL_REAL_HOME") or str(Path.home() / ".cache" / "textdistill")
    monkeypatch.setenv("TEXTDISTILL_HOME", home)
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", WALKTHROUGH.read_text(), flags=re.S)
    assert len(blocks) >= 4
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(WALKTHROUGH), "exec"), namespace)
    assert namespace["student"]["retention"] is not None and namespace["teacher"]["best"]
    assert (
        "2 problem(s)" in namespace["problems"]
        and "'lstm'" in namespace["problems"]
        and "alpha" in namespace["problems"]
    )
    assert (tmp_path / "runs" / "api-student" / "onnx" / "model.int8.onnx").exists()
    answers = namespace["answers"]
    assert [set(a["probabilities"]) for a in answers] == [{"negative", "positive"}] * 2
    assert namespace["result"]["baseline"]["kind"] == "tfidf-lr"
    # the teacher's file taught the teacher's student: the same scores on the same examples
    assert namespace["from_file"]["best"] == namespace["student"]["best"]
    assert namespace["from_file"]["teacher"]["predictions"]


def test_teach_on_own_files_then_distill_and_serve(tmp_path: Path, tiny_bert: Path) -> None:
    from tests.conftest import write_jsonl
    from tests.test_teach import toy_rows

    files = {
        split: str(write_jsonl(tmp_path / f"{split}.jsonl", toy_rows(n)))
        for split, n in (("train", 40), ("dev", 12))
    }
    metrics = td.teach(
        {"task": "toy", "model": str(tiny_bert), "out": str(tmp_path / "teacher"), "files": files},
        overrides=["max_steps=3"],
    )
    assert metrics["steps"] == 3 and set(metrics["best"]) >= {"dev/accuracy"}
    student = {"kind": "bilstm", "embedding": "random", "embed_dim": 8, "hidden": 8, "fc": 8}
    config = {
        "task": "toy", "teacher": str(tmp_path / "teacher"), "out": str(tmp_path / "student"), "files": files,
        "student": student, "method": {"name": "hinton"}, "train": {"max_steps": 3},
    }  # fmt: skip
    assert td.distill(config)["steps"] == 3
    assert td.evaluate(tmp_path / "student")["quality"].keys() >= {"dev/accuracy"}
    assert td.export(tmp_path / "student")["files"] == {"onnx": "model.onnx"}
    (answer,) = td.load(tmp_path / "student", backend="onnx").predict(["good great film"])
    assert set(answer["probabilities"]) == {"neg", "pos"}


def test_the_callers_config_is_left_as_it_was_and_options_are_checked(tmp_path: Path) -> None:
    data, teacher = setup_task(tmp_path)
    import yaml

    config = yaml.safe_load(
        write_config(tmp_path, data, teacher, BILSTM, {"name": "hinton"}, "movie-sentiment").read_text()
    )
    before = yaml.safe_dump(config)
    td.distill(config, overrides=["train.max_steps=2", "train.seed=3"])
    assert yaml.safe_dump(config) == before  # an override does not leak into the next call
    from textdistill.config import validate

    with pytest.raises(td.TextdistillError, match="overrides go with a dict"):
        td.distill(validate(config), overrides=["train.max_steps=2"])
    with pytest.raises(td.TextdistillError, match="not both"):
        td.teach({"task": "x", "data": str(tmp_path), "files": {"train": "a.csv", "dev": "b.csv"}})
    with pytest.raises(td.ConfigError, match="check_examples"):
        td.export(tmp_path / "run", check_examples=0)
    with pytest.raises(td.ConfigError, match="backend"):
        td.load(tmp_path / "run", backend="tensorrt")
    assert {"teach", "distill", "load"} <= set(dir(td))


def test_teach_reports_to_tensorboard_and_reporting_keys_never_block_reuse(
    tmp_path: Path, tiny_bert: Path
) -> None:
    from tests.conftest import write_jsonl
    from tests.test_teach import toy_rows
    from textdistill.recipes.common import changed_keys

    files = {
        s: str(write_jsonl(tmp_path / f"{s}.jsonl", toy_rows(n))) for s, n in (("train", 24), ("dev", 8))
    }
    config = {
        "task": "toy", "model": str(tiny_bert), "out": str(tmp_path / "t"), "files": files, "max_steps": 2,
        "report_to": ["tensorboard"],
    }  # fmt: skip
    td.teach(config)
    assert list((tmp_path / "t" / "tensorboard").glob("events.out.tfevents.*"))
    flags = ["teach", "--train", files["train"], "--dev", files["dev"], "--model", str(tiny_bert),
             "--max-steps", "2", "--out", str(tmp_path / "cli"), "--report-to", "tensorboard"]  # fmt: skip
    result = runner.invoke(app, flags)  # the command line's flag: the same curves
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "cli" / "tensorboard").glob("events.out.tfevents.*"))
    saved, now = {"train": {"epochs": 1}}, {"train": {"epochs": 1, "report_to": ["tensorboard"]}}
    assert changed_keys(saved, now) == [] and changed_keys(saved, {"train": {"epochs": 2}}) == [
        "train.epochs"
    ]
