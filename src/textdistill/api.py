"""The Python API: the commands of the command line as functions, with the same names and the
same keys as their configs (``import textdistill as td``).

    import textdistill as td

    td.teach({"task": "movie-sentiment", "out": "runs/teacher"})
    td.distill({"task": "movie-sentiment", "teacher": "runs/teacher", "out": "runs/student",
                "student": {"kind": "bilstm", "embedding": "teacher", "embed_dim": 256},
                "method": {"name": "hinton"}})
    td.evaluate("runs/student")["quality"]
    td.export("runs/student", int8=True)
    td.load("runs/student", backend="onnx-int8").predict(["a good film"])

Every function validates what it is given before any compute, and raises the errors the command
line prints (:class:`~textdistill.errors.TextdistillError`, :class:`~textdistill.config.ConfigError`
listing every problem at once); each returns what the command writes (the metrics, the
evaluation, the export record) as a dict. A config is a dict, a YAML file, or a validated config.
The walkthrough: ``docs/api.md``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from textdistill.config import (
    ConfigError,
    DistillConfig,
    FilesSection,
    MultiTaskConfig,
    ServeConfig,
    TeachConfig,
    apply_overrides,
    check,
    read_yaml,
    validate,
)
from textdistill.deploy import Predictor
from textdistill.errors import TextdistillError

__all__ = [
    "ConfigError", "Predictor", "TextdistillError", "bench", "distill", "evaluate", "export", "load",
    "predict", "teach",
]  # fmt: skip

Config = Mapping[str, Any] | str | Path


def _as_dict(config: Config, overrides: list[str] | None, what: str) -> tuple[dict[str, Any], str]:
    """A config given as a mapping or a YAML path, with ``KEY=VALUE`` overrides applied, and a
    name for it in error messages."""
    if isinstance(config, str | Path):
        return apply_overrides(read_yaml(config), overrides or []), str(config)
    if not isinstance(config, Mapping):
        kind = type(config).__name__
        raise TextdistillError(f"{what} takes a config: a dict or a YAML file's path, got {kind}")
    return apply_overrides(copy.deepcopy(dict(config)), overrides or []), what  # the caller's dict unchanged


def _validated(config: object, overrides: list[str] | None, what: str) -> None:
    """A validated config is taken as it is: overrides would be lost silently, so they are refused."""
    if overrides:
        raise TextdistillError(
            f"{what}: overrides go with a dict or a YAML file; change a validated config with "
            "model_copy(update=...) or give it as a dict"
        )


def serve_options(**flags: Any) -> ServeConfig:
    """The options of evaluate, export, predict and bench as a validated :class:`ServeConfig`:
    every bad value named at once, before any model loads (the CLI's flags go through it too)."""
    return check(ServeConfig, flags, "options")


def teach(config: Config | TeachConfig, overrides: list[str] | None = None, resume: bool = False) -> dict:
    """Fine-tune a teacher, as ``textdistill teach`` does; returns its metrics (``metrics.json``).

    Args:
        config: the keys of ``textdistill teach`` (:class:`~textdistill.config.TeachConfig`:
            ``task``, ``model``, ``out``, ``epochs``, ``lr``, ...), plus ``files`` for your own
            data (the keys of a distill config's ``files`` section: ``train``, ``dev``, ``test``,
            ``columns``, ``labels``, ...), as a dict or a YAML file.
        overrides: ``KEY=VALUE`` strings applied over ``config`` (``["epochs=1"]``).
        resume: continue the unfinished teach in ``out``.

    An ensemble (``textdistill teach --ensemble N``) is the command line's for now.
    """
    from textdistill.recipes.common import config_source, config_task
    from textdistill.recipes.teach import teach as teach_recipe

    if isinstance(config, TeachConfig):  # a built-in task (own files come as a dict or YAML)
        _validated(config, overrides, "teach")
        data, where, files = config.model_dump(), "teach", None
    else:
        data, where = _as_dict(config, overrides, "teach")
        files = data.pop("files", None)
    if files is None and not data.get("task"):
        raise TextdistillError(f"{where}: give a task (see `textdistill tasks`) or files (your own data)")
    if files is not None and data.get("data"):
        raise TextdistillError(f"{where}: give files (your own) or data (a GLUE folder), not both")
    cfg = check(TeachConfig, {**data, "task": data.get("task") or "custom"}, where)
    section = check(FilesSection, files, f"{where}: files") if files is not None else None
    task_data = config_task(cfg.task, cfg.data, section)
    source = config_source(cfg.task, cfg.data, section)
    cfg = cfg.model_copy(update={"task": task_data.spec.name})
    return teach_recipe(cfg, task_data, source, resume=resume)


def distill(
    config: Config | DistillConfig | MultiTaskConfig, overrides: list[str] | None = None, resume: bool = False
) -> dict:
    """Distil a teacher into a student, as ``textdistill distill CONFIG`` does; returns the run's
    metrics (``metrics.json``).

    Args:
        config: a distill config (``task``, ``teacher``, ``student``, ``method``, ``out``,
            ``train``, ``files``, ``augment``, ...; ``tasks`` for a multi-task run: see
            ``docs/configuration.md``), as a dict, a YAML file or a validated config.
        overrides: ``KEY=VALUE`` strings applied over ``config`` (``["train.epochs=1"]``).
        resume: continue the killed run in the config's ``out`` folder.

    Data-parallel training (``--nproc``) is the command line's: it starts the processes.
    """
    from textdistill.recipes.distill import distill as distill_recipe
    from textdistill.recipes.multitask import multitask_distill

    if isinstance(config, DistillConfig | MultiTaskConfig):
        _validated(config, overrides, "distill")
        cfg = config
    else:
        cfg = validate(*_as_dict(config, overrides, "distill"))
    recipe = multitask_distill if isinstance(cfg, MultiTaskConfig) else distill_recipe
    return recipe(cfg, resume=resume)


def evaluate(
    run: str | Path, task: str | None = None, baseline: bool = False, reading: Mapping | None = None
) -> dict:
    """Quality on every labelled split, parameters, size and speed of a run or teacher folder, as
    ``textdistill evaluate`` measures them. With ``baseline``, ``result["baseline"]`` holds TF-IDF +
    logistic regression fitted and scored on the same data. ``task`` picks one task of a
    multi-task run. ``reading`` (``{"mode": "windows"}``, the keys of a config's ``reading``)
    scores the model reading long texts another way than its run did; the result then goes to
    ``evaluation-<mode>.json``."""
    from textdistill.evaluation.run_eval import evaluate_folder

    opts = serve_options(folders=[str(run)], task=task, reading=reading)
    result = evaluate_folder(run, task=task, reading=opts.reading.reading() if opts.reading else None)
    if baseline:
        from textdistill.artifacts import open_run
        from textdistill.evaluation.baseline import evaluate_baseline

        result["baseline"] = evaluate_baseline(open_run(run, task).task_data())
    return result


def export(
    run: str | Path, int8: bool = False, check_examples: int | None = None, task: str | None = None
) -> dict:
    """Export a run's student to ONNX (and int8 with ``int8``) into ``RUN/onnx`` (``RUN/onnx/TASK``
    for one task of a multi-task run), checked against PyTorch on ``check_examples`` dev examples
    (all by default), as ``textdistill export`` does; returns the record written to ``export.json``."""
    from textdistill.deploy import export_folder

    opts = serve_options(folders=[str(run)], int8=int8, check_examples=check_examples, task=task)
    return export_folder(run, int8=opts.int8, check_examples=opts.check_examples, task=opts.task)


def load(
    run: str | Path, backend: str = "torch", task: str | None = None, reading: Mapping | None = None
) -> Predictor:
    """A run's (or a teacher's) model ready to answer: ``load(run).predict(texts, pairs=None,
    truncate=False)`` gives one ``{"label", "probabilities"}`` (``{"score"}`` for regression) per
    text. ``backend``: ``torch``, ``onnx`` or ``onnx-int8`` (after :func:`export`). Long texts are
    read as the run read them, or as ``reading`` says (``{"mode": "windows"}``)."""
    opts = serve_options(folders=[str(run)], backend=backend, task=task, reading=reading)
    return Predictor.open(run, opts.backend, opts.task, opts.reading.reading() if opts.reading else None)


def predict(
    run: str | Path,
    texts: list[str] | None = None,
    pairs: list[str | None] | None = None,
    *,
    file: str | Path | None = None,
    out: str | Path | None = None,
    backend: str = "torch",
    truncate: bool = False,
    task: str | None = None,
    reading: Mapping | None = None,
) -> list[dict]:
    """Labels and probabilities (scores for regression) of a run's (or a teacher's) model for
    ``texts`` (and ``pairs``) or the texts of ``file`` (JSONL, CSV or TSV), as ``textdistill
    predict`` gives them: one ``{"label", "probabilities"}`` or ``{"score"}`` per text.

    ``out``: also write a predictions file, one line per text with ``text``, ``label`` (a
    multi-label task's ``labels``), ``probs`` and ``logits`` (``score``)
    (:func:`textdistill.teachers.predictions.prediction_rows`): what a distill config reads as
    ``teacher: {predictions: OUT}``. A teacher's file teaches what the teacher does; to the bit
    when it was predicted on the run's training texts in one call, in their order, at the run's
    ``max_length``, on the same device (then the batches are the teacher cache's).

    Long texts are read as the run read them (a windowed model reads them whole); a text longer
    than a cutting model reads is refused unless ``truncate``. ``reading`` reads them another way."""
    from textdistill.data.readers import read_texts
    from textdistill.diskio import write_atomic

    if (texts is None) == (file is None):
        raise TextdistillError("give texts or file (one of them)")
    where, ids = None, None
    if file is not None:
        if pairs is not None:
            raise TextdistillError("pairs go with texts; in a file give text_pair on each line")
        rows = read_texts(file)
        texts, pairs = [e.text for _, e, _ in rows], [e.text_pair for _, e, _ in rows]
        where, ids = [f"{file}:{n}" for n, _, _ in rows], [e.id for _, e, _ in rows]
    opts = serve_options(folders=[str(run)], backend=backend, truncate=truncate, task=task, reading=reading)
    predictor = Predictor.open(run, opts.backend, opts.task, opts.reading.reading() if opts.reading else None)
    examples = predictor.check(list(texts), pairs, opts.truncate, where)
    logits = predictor.logits(examples)
    if ids is not None:  # a file's ids go into the predictions file (a teacher file matched by id)
        import dataclasses

        examples = [dataclasses.replace(e, id=i) for e, i in zip(examples, ids, strict=True)]
    if out is not None:
        import json

        from textdistill.teachers.predictions import prediction_rows

        rows = prediction_rows(predictor.spec, examples, logits, predictor.threshold)
        lines = [json.dumps(r, ensure_ascii=False) for r in rows]
        write_atomic(Path(out), ("\n".join(lines) + "\n").encode())
    return predictor.answers(logits)


def bench(
    run: str | Path,
    batch_sizes: tuple[int, ...] | None = None,
    examples: int = 512,
    teacher: bool = True,
    task: str | None = None,
    reading: Mapping | None = None,
) -> list[dict]:
    """Serving speed of a run's student on every backend it has, and of its teacher, as
    ``textdistill bench`` measures it (throughput at each of ``batch_sizes``, by default 1, 8, 32
    and 128, on ``examples`` dev examples; latency at batch 1): one dict per (model, backend)."""
    from textdistill.serving import bench_folder

    sizes = {} if batch_sizes is None else {"batch_sizes": list(batch_sizes)}
    opts = serve_options(folders=[str(run)], examples=examples, task=task, reading=reading, **sizes)
    return bench_folder(
        run, tuple(opts.batch_sizes), opts.examples, teacher=teacher, task=opts.task,
        reading=opts.reading.reading() if opts.reading else None,
    )  # fmt: skip
