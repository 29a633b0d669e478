"""The command line: help, assets commands, tasks, and teach on GLUE-layout folders."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from textdistill.cli import app

runner = CliRunner()
GLUE = Path(__file__).parent / "fixtures" / "glue"


def flat(text: str) -> str:
    return " ".join(text.split())


def test_help_lists_every_command() -> None:
    out = flat(runner.invoke(app, ["--help"]).output)
    for command in ("assets", "tasks", "teach", "run"):
        assert command in out
    out = flat(runner.invoke(app, ["assets", "--help"]).output)
    for command in ("list", "fetch", "verify", "path"):
        assert command in out


def test_assets_list_and_path_of_an_unfetched_asset() -> None:
    result = runner.invoke(app, ["assets", "list"])
    assert result.exit_code == 0
    assert "movie-dialog" in result.output and "mpnet-base" in result.output
    result = runner.invoke(app, ["assets", "path", "trec6"])
    assert result.exit_code == 2
    assert "not fetched yet: run `textdistill assets fetch trec6`" in flat(result.output)
    result = runner.invoke(app, ["assets", "fetch"])
    assert result.exit_code == 2 and "--all" in result.output
    result = runner.invoke(app, ["assets", "fetch", "nope"])
    assert result.exit_code == 2 and "unknown asset 'nope'" in result.output


def test_tasks_lists_glue_and_offline_tasks() -> None:
    out = runner.invoke(app, ["tasks"]).output
    for name in (
        "cola",
        "sst2",
        "mrpc",
        "stsb",
        "qqp",
        "mnli",
        "qnli",
        "rte",
        "wnli",
        "movie-sentiment",
        "vitaminc",
    ):
        assert name in out


def test_teach_on_glue_sst2_and_mnli_folders(tmp_path: Path, tiny_bert: Path) -> None:
    for task, expected in (
        ("sst2", {"dev/accuracy"}),
        ("mnli", {"dev_matched/accuracy", "dev_mismatched/accuracy"}),
    ):
        out = tmp_path / task
        result = runner.invoke(
            app,
            [
                "teach",
                "--task",
                task,
                "--data",
                str(GLUE),
                "--model",
                str(tiny_bert),
                "--out",
                str(out),
                "--max-steps",
                "1",
                "--batch-size",
                "4",
            ],
        )
        assert result.exit_code == 0, result.output
        metrics = json.loads((out / "metrics.json").read_text())
        assert set(metrics["best"]) == expected
        assert metrics["train_examples"] == 6


def test_teach_stsb_is_regression(tmp_path: Path, tiny_bert: Path) -> None:
    result = runner.invoke(
        app,
        [
            "teach",
            "--task",
            "stsb",
            "--data",
            str(GLUE / "STS-B"),
            "--model",
            str(tiny_bert),
            "--out",
            str(tmp_path / "o"),
            "--max-steps",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert set(json.loads((tmp_path / "o" / "metrics.json").read_text())["best"]) == {
        "dev/pearson",
        "dev/spearman",
    }


def test_glue_folder_without_the_task_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["teach", "--task", "rte", "--data", str(tmp_path)])
    assert result.exit_code == 2
    assert "RTE" in result.output and "train.tsv" in result.output


def test_teach_on_a_saved_hugging_face_dataset(tmp_path: Path, tiny_bert: Path) -> None:
    import datasets

    features = datasets.Features(
        {"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    rows = {"sentence": ["good film", "bad film", "great plot", "awful acting"], "label": [1, 0, 1, 0]}
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(rows, features=features),
            "validation": datasets.Dataset.from_dict(rows, features=features),
        }
    ).save_to_disk(str(tmp_path / "ds"))
    result = runner.invoke(
        app,
        [
            "teach",
            "--hf-dataset",
            str(tmp_path / "ds"),
            "--columns",
            "text=sentence,label=label",
            "--model",
            str(tiny_bert),
            "--out",
            str(tmp_path / "o"),
            "--max-steps",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "o" / "task.json").read_text())["labels"] == ["neg", "pos"]
    result = runner.invoke(
        app,
        [
            "teach",
            "--hf-dataset",
            str(tmp_path / "ds"),
            "--hf-splits",
            "train,test",
            "--columns",
            "text=sentence,label=label",
        ],
    )
    assert result.exit_code == 2 and "no split 'test'; splits: train, validation" in result.output
    result = runner.invoke(app, ["teach", "--hf-dataset", str(tmp_path / "ds")])  # default columns: no 'text'
    assert result.exit_code == 2
    assert (
        "ds[train]:1: missing column 'text' (columns here: sentence, label)" in result.output
    )  # brackets kept


def break_assets_list(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """``textdistill assets list`` raises ``error`` where it reads the assets' status."""
    import textdistill.assets.fetch as fetch

    def status() -> list:
        raise error

    monkeypatch.setattr(fetch, "status", status)


def test_an_unexpected_error_is_one_line_and_debug_shows_its_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    break_assets_list(monkeypatch, ValueError("no rows\nin the table"))
    result = runner.invoke(app, ["assets", "list"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.splitlines() == [
        "error: internal error: ValueError: no rows; in the table",
        "run again with --debug for the traceback, and report it",
    ]
    result = runner.invoke(app, ["--debug", "assets", "list"])
    assert isinstance(result.exception, ValueError) and result.exit_code == 1
    assert isinstance(runner.invoke(app, ["assets", "list"]).exception, SystemExit)  # that command only
    monkeypatch.setenv("TEXTDISTILL_DEBUG", "1")
    assert isinstance(runner.invoke(app, ["assets", "list"]).exception, ValueError)


SERIALIZING = "Error while serializing: I/O error: No space left on device (os error 28)"


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (PermissionError(errno.EACCES, "Permission denied", "/srv/x"), "error: /srv/x: permission denied"),
        (FileNotFoundError(errno.ENOENT, "No such file", "a.csv"), "error: a.csv: no such file"),
        (RuntimeError(SERIALIZING), f"error: no space left on device (RuntimeError: {SERIALIZING})"),
    ],
)
def test_an_os_error_is_one_line_naming_its_path(
    monkeypatch: pytest.MonkeyPatch, error: Exception, line: str
) -> None:
    break_assets_list(monkeypatch, error)
    result = runner.invoke(app, ["assets", "list"])
    assert result.exit_code == 2 and result.output.splitlines() == [line]


def test_debug_holds_in_every_process_of_nproc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from textdistill import cli
    from textdistill.train import distributed

    launched = []
    monkeypatch.setattr(distributed, "launch", lambda nproc, argv, env=None: launched.append(env) or 0)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    (tmp_path / "metrics.json").write_text("{}")
    for debug in (False, True):
        monkeypatch.setattr(cli.Settings, "debug", debug)
        cli.in_processes(2, lambda: ["distill", "run.yaml"], tmp_path / "metrics.json", dict)
    assert launched == [None, {"TEXTDISTILL_DEBUG": "1"}]
