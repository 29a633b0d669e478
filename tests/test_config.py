"""Typed run configuration: every shipped config validates; bad ones are reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from textdistill.config import ConfigError, DistillConfig, MultiTaskConfig, load_config, validate

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))
GOOD = {
    "task": "movie-sentiment",
    "teacher": "t",
    "student": {"kind": "bilstm"},
    "method": {"name": "hinton"},
}


def test_there_are_shipped_configs() -> None:
    assert len(CONFIGS) >= 5


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_validates(path: Path) -> None:
    cfg = load_config(path)
    if isinstance(cfg, MultiTaskConfig):  # every task a known one
        from textdistill.data.tasks import OFFLINE_TASKS

        assert all(t.task in OFFLINE_TASKS for t in cfg.tasks) and len(cfg.tasks) >= 2
        return
    assert isinstance(cfg, DistillConfig)
    # a named offline task, or the user's own files
    from textdistill.data.tasks import OFFLINE_TASKS

    assert cfg.task in OFFLINE_TASKS or (cfg.files is not None and cfg.files.columns)


def test_defaults_and_overrides(tmp_path: Path) -> None:
    cfg = validate(GOOD)
    assert cfg.method.temperature == 2.0 and cfg.student.hidden == 150 and cfg.train.lr is None
    path = tmp_path / "c.yaml"
    path.write_text("task: trec6\nteacher: t\nstudent: {kind: transformer}\nmethod: {name: tang}\n")
    cfg = load_config(path, ["train.epochs=1", "method.alpha=0.25", "student.init_from_teacher=[0, 2]"])
    assert cfg.train.epochs == 1.0 and cfg.method.alpha == 0.25 and cfg.student.init_from_teacher == [0, 2]


def test_every_problem_is_reported_at_once_with_values_and_valid_keys() -> None:
    bad = {
        **GOOD,
        "student": {"kind": "bilstm", "hiddden": 3, "dropout": 2},
        "method": {"name": "hinton", "temperature": 0},
        "train": {"epochs": 0, "foo": 1},
        "bar": 2,
    }
    with pytest.raises(ConfigError) as err:
        validate(bad, "run.yaml")
    text = str(err.value)
    assert text.startswith("run.yaml: 6 problem(s)")
    assert "temperature: input should be greater than 0, got 0" in text
    assert "epochs: input should be greater than 0, got 0" in text
    assert "dropout: input should be less than 1, got 2" in text
    assert "hiddden: unknown key; valid keys here: kind, embedding, embed_dim, hidden, fc" in text
    assert "train.foo: unknown key; valid keys here: epochs, batch_size, lr" in text
    assert "bar: unknown key; valid keys here: task, teacher, student, method" in text


def test_missing_and_unknown_kinds() -> None:
    with pytest.raises(ConfigError) as err:
        validate({"task": "x", "student": {"kind": "lstm"}, "method": {"name": "nope"}})
    text = str(err.value)
    assert "teacher: required, missing" in text
    assert "'bilstm', 'cnn', 'dan', 'transformer'" in text
    assert "'hard', 'hinton', 'hinton_cos', 'tang'" in text


@pytest.mark.parametrize(
    ("content", "overrides", "message"),
    [
        ("task: [unclosed", [], "not valid YAML"),
        ("- a list", [], "top level must be a mapping"),
        ("task: x", ["epochs"], "is not KEY=VALUE"),
        ("task: x\ntrain: 3", ["train.epochs=1"], "train is not a section"),
    ],
)
def test_file_and_override_errors(tmp_path: Path, content: str, overrides: list[str], message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_config(path, overrides)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config("does/not/exist.yaml")


def test_student_shapes_are_checked_before_any_compute() -> None:
    from textdistill.config import ConfigError, validate

    base = {"task": "trec6", "teacher": "t", "method": {"name": "hard"}}
    with pytest.raises(ConfigError) as err:
        validate({**base, "student": {"kind": "transformer", "hidden": 100, "heads": 12}})
    assert "hidden 100 must be a multiple of heads 12" in str(err.value)
    with pytest.raises(ConfigError) as err:
        validate({**base, "student": {"kind": "bilstm", "embed_dim": 300}})
    assert "embed_dim 300 does not match glove-6b-50d's 50 dimensions" in str(err.value)
    assert validate({**base, "student": {"kind": "bilstm", "embedding": "random", "embed_dim": 300}})


def test_a_multitask_configs_errors_name_multitask_keys() -> None:
    from textdistill.config import ConfigError, validate

    with pytest.raises(ConfigError) as err:
        validate({"tasks": [{"task": "trec6"}], "teacher": "t"})
    message = str(err.value)
    assert "teacher: unknown key; valid keys here: tasks, encoder, student" in message
    assert "method" not in message
