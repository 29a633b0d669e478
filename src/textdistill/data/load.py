"""Load a whole task: its spec and its splits, from an offline asset, a GLUE folder or user files."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from textdistill.data.readers import (
    Columns,
    Skipped,
    infer_label_set,
    infer_labels,
    read_table,
    read_table_report,
)
from textdistill.data.tasks import OFFLINE_TASKS, Example, TaskSpec, get_task
from textdistill.errors import TextdistillError


@dataclass
class TaskData:
    """A task's spec and its splits.

    ``eval_splits`` are the labelled dev splits (``dev``, or MNLI's ``dev_matched`` and
    ``dev_mismatched``) evaluated during training; the first one picks the best checkpoint.
    ``labelled_splits`` adds labelled test splits, evaluated once at the end.
    """

    spec: TaskSpec
    splits: dict[str, list[Example]]
    source: str = ""
    eval_splits: list[str] = field(default_factory=list)
    skipped: dict[str, Skipped] = field(default_factory=dict)  # bad rows dropped, by split (bad_rows=skip)

    def __post_init__(self) -> None:
        if "train" not in self.splits:
            raise TextdistillError(f"task {self.spec.name!r} has no train split")
        if not self.eval_splits:
            self.eval_splits = [s for s in self.labelled_splits if s.startswith("dev")]
        if not self.eval_splits:
            raise TextdistillError(f"task {self.spec.name!r} has no labelled dev split")

    @property
    def labelled_splits(self) -> list[str]:
        return [s for s, ex in self.splits.items() if s != "train" and ex and ex[0].label is not None]


SUBSET_SEED = 0


def subsample(examples: list[Example], n: int | None, seed: int = SUBSET_SEED) -> list[Example]:
    """A seeded random ``n`` of ``examples`` (all of them when ``n`` is None or not smaller).

    Runs pass no seed: their subsets do not depend on the training seed, so runs with different
    seeds (and the teacher) are scored on the same examples and share teacher-cache entries.
    """
    return examples if n is None or n >= len(examples) else random.Random(seed).sample(examples, n)


def load_task(name: str, data: str | Path | None = None) -> TaskData:
    """A named task. Offline tasks are fetched on first use; GLUE tasks read ``data`` (the GLUE
    root or the task's folder, in the official layout)."""
    spec = get_task(name)
    if spec.name in OFFLINE_TASKS and data is None:
        from textdistill.assets.fetch import fetch

        folder = fetch(spec.name)
        check_asset_labels(folder, spec)
        splits = {s: read_table(folder / f"{s}.jsonl", spec) for s in ("train", "dev", "test")}
        return TaskData(spec, splits, source=str(folder))
    if spec.name in OFFLINE_TASKS:
        splits = {
            s: read_table(Path(data) / f"{s}.jsonl", spec)
            for s in ("train", "dev", "test")
            if (Path(data) / f"{s}.jsonl").exists()
        }
        return TaskData(spec, splits, source=str(data))
    if data is None:
        raise TextdistillError(
            f"GLUE task {name!r} needs --data: the folder of the GLUE download (official layout); "
            "GLUE is not in any offline package"
        )
    from textdistill.data.glue import GLUE_TASKS, read_glue

    glue = GLUE_TASKS[spec.name]
    root = Path(data) / glue.folder if (Path(data) / glue.folder).is_dir() else Path(data)
    # train and dev must be there (read_glue names what is missing); test files are optional
    wanted = [s for s in glue.files if not s.startswith("test") or (root / glue.files[s]).is_file()]
    splits = {s: read_glue(spec.name, data, s) for s in wanted}
    return TaskData(spec, splits, source=str(root))


def check_asset_labels(folder: Path, spec: TaskSpec) -> None:
    """Refuse an asset whose converter found other labels than the task names (a multi-label
    asset records them in order in its ``manifest.json``: ``labels_in_order``)."""
    import json

    manifest = folder / "manifest.json"
    found = json.loads(manifest.read_text()).get("labels_in_order") if manifest.exists() else None
    if found is not None and tuple(found) != spec.labels:
        raise TextdistillError(
            f"asset {folder}: its {len(found)} labels are not the task {spec.name!r}'s "
            f"{len(spec.labels or ())}: convert it again (textdistill assets verify {spec.name} --repair) "
            "or update textdistill"
        )


def load_files(
    train: str | Path,
    dev: str | Path,
    test: str | Path | None = None,
    columns: Columns | None = None,
    labels: tuple[str, ...] | None = None,
    regression: bool = False,
    name: str = "custom",
    label_map: dict[str, str] | None = None,
    metric: str | None = None,
    positive: str | None = None,
    bad_rows: str = "strict",
    multiline: bool = False,
    multi_label: bool = False,
    label_separator: str | None = None,
) -> TaskData:
    """A user's own CSV / TSV / JSONL files with a column mapping; labels are read from the
    training file when not given. ``multi_label``: each text carries any number of labels, a JSON
    list or a text split on ``label_separator``. ``label_map`` maps the values in the files to class names;
    ``metric`` picks the best checkpoint (``accuracy``, ``macro_f1`` or ``f1`` of ``positive``).
    ``bad_rows="skip"`` drops bad rows (recorded in ``TaskData.skipped``) instead of stopping;
    ``multiline`` reads quoted CSV fields with line breaks. A training set of one class (or of one
    score) is refused before anything trains."""
    columns = columns or Columns()
    if label_separator is not None:
        columns = dataclasses.replace(columns, label_separator=label_separator)
    if multi_label and regression:
        raise TextdistillError("a task is multi-label or a regression, not both")
    if regression:
        spec_labels = None
    elif labels:
        spec_labels = tuple(labels)
    elif label_map:
        spec_labels = tuple(dict.fromkeys(label_map.values()))
    elif multi_label:
        spec_labels = infer_label_set(train, columns, multiline)
    else:
        spec_labels = infer_labels(train, multiline=multiline, columns=columns)
    spec = user_spec(
        name,
        spec_labels,
        columns.text_pair is not None,
        metric,
        positive,
        f"user files: {train}",
        multi_label,
    )
    files = {"train": train, "dev": dev, **({"test": test} if test is not None else {})}
    splits, skipped = {}, {}
    for split, path in files.items():
        splits[split], bad = read_table_report(path, spec, columns, label_map=label_map, bad_rows=bad_rows,
                                               multiline=multiline)  # fmt: skip
        if bad is not None:
            skipped[split] = bad
    check_training_targets(train, spec, splits["train"])
    return TaskData(spec, splits, source=str(Path(train).parent), skipped=skipped)


def check_training_targets(path: str | Path, spec: TaskSpec, examples: list[Example]) -> None:
    """Refuse a training set a model cannot learn from: one class only (classification) or one
    score only (regression); warn about classes with no training example."""
    from textdistill.errors import DataError

    if spec.multi_label:
        assert spec.labels is not None
        counts = np.sum([e.label for e in examples], axis=0) if examples else np.zeros(len(spec.labels))
        if not counts.any():
            raise DataError(path, [(None, "no training example carries any label: a classifier needs some")])
        absent = [name for name, n in zip(spec.labels, counts, strict=True) if n == 0]
        if absent:
            import warnings

            warnings.warn(
                f"{path}: no training example has the label {', '.join(map(repr, absent))}", stacklevel=2
            )
        return
    values = {e.label for e in examples}
    if spec.labels is None:
        if len(values) < 2:
            raise DataError(path, [(None, f"every training example has the score {values.pop()}: "
                                          "a regression needs scores that differ")])  # fmt: skip
        return
    present = [spec.labels[i] for i in sorted(values)]  # type: ignore[index]
    if len(present) < 2:
        raise DataError(
            path,
            [(None, f"every training example has the label {present[0]!r}: a classifier needs examples of "
                    f"at least two classes (the task's labels: {', '.join(spec.labels)})")],
        )  # fmt: skip
    absent = [name for name in spec.labels if name not in present]
    if absent:
        import warnings

        warnings.warn(
            f"{path}: no training example has the label {', '.join(map(repr, absent))}", stacklevel=2
        )


METRIC_CHOICES = ("accuracy", "macro_f1", "f1")
MULTI_LABEL_METRICS = ("micro_f1", "macro_f1", "subset_accuracy")


def user_spec(
    name: str,
    labels: tuple[str, ...] | None,
    is_pair: bool,
    metric: str | None = None,
    positive: str | None = None,
    description: str = "",
    multi_label: bool = False,
) -> TaskSpec:
    """The spec of a user's task: its labels in order, the metric that picks the best checkpoint
    first (``accuracy`` by default; ``macro_f1``; ``f1`` of the ``positive`` class, binary only;
    for a multi-label task ``micro_f1`` by default, ``macro_f1`` or ``subset_accuracy``)."""
    if multi_label:
        if not labels or len(labels) < 2:
            raise TextdistillError(f"a multi-label task needs at least two labels, got {list(labels or [])}")
        if metric is not None and metric not in MULTI_LABEL_METRICS:
            raise TextdistillError(
                f"metric {metric!r}: a multi-label task is scored by {', '.join(MULTI_LABEL_METRICS)}"
            )
        if positive is not None:
            raise TextdistillError("positive names the class of a binary F1; a multi-label task has none")
        first = metric or "micro_f1"
        ml_metrics = (first, *[m for m in MULTI_LABEL_METRICS if m != first])
        return TaskSpec(name, labels, ml_metrics, is_pair=is_pair, description=description, multi_label=True)
    if labels is None:
        if metric not in (None, "pearson", "spearman") or positive is not None:
            raise TextdistillError(
                "a regression task is scored by pearson or spearman; --positive has no meaning"
            )
        metrics: tuple[str, ...] = (
            ("pearson", "spearman") if metric != "spearman" else ("spearman", "pearson")
        )
        return TaskSpec(name, None, metrics, is_pair=is_pair, description=description)
    if len(labels) < 2:
        raise TextdistillError(f"a classification task needs at least two classes, got {list(labels)}")
    if metric is not None and metric not in METRIC_CHOICES:
        raise TextdistillError(f"unknown metric {metric!r}; choose one of {', '.join(METRIC_CHOICES)}")
    if positive is not None and positive not in labels:
        raise TextdistillError(f"--positive {positive!r} is not one of the labels {list(labels)}")
    binary = len(labels) == 2
    if (metric == "f1" or positive is not None) and not binary:
        raise TextdistillError(
            f"f1 of a positive class is for two classes; this task has {len(labels)}: use macro_f1"
        )
    others = ["accuracy", "f1" if binary else "macro_f1"]
    first = metric or "accuracy"
    metrics = (first, *[m for m in others if m != first])
    return TaskSpec(name, labels, metrics, is_pair=is_pair, description=description, positive=positive)


def load_hf(
    source: str | Path,
    splits: tuple[str, ...] = ("train", "validation"),
    columns: Columns | None = None,
    labels: tuple[str, ...] | None = None,
    regression: bool = False,
    name: str = "custom",
) -> TaskData:
    """A Hugging Face ``datasets`` dataset on this machine (a ``save_to_disk`` folder or a cached
    name); ``splits`` name its train, dev and (optionally) test splits, in that order. Class names
    come from a ``ClassLabel`` feature, else from the training split's values."""
    from textdistill.data.readers import hf_split, read_hf_dataset

    if not 2 <= len(splits) <= 3:
        raise TextdistillError(f"give the train and dev splits (and optionally test), got {list(splits)}")
    columns = columns or Columns()
    label_col = columns.label or "label"
    spec_labels = None
    if not regression:
        train = hf_split(source, splits[0])
        feature = train.features.get(label_col)
        if feature is None:
            raise TextdistillError(
                f"{source}[{splits[0]}] has no column {label_col!r}; columns: {', '.join(train.column_names)}"
            )
        spec_labels = labels or tuple(
            getattr(feature, "names", None) or sorted({str(v) for v in train[label_col]})
        )
    metrics = (
        ("pearson", "spearman")
        if regression
        else ("accuracy", "f1")
        if len(spec_labels) == 2
        else ("accuracy", "macro_f1")
    )
    spec = TaskSpec(
        name,
        spec_labels,
        metrics,
        is_pair=columns.text_pair is not None,
        description=f"Hugging Face dataset {source}",
    )
    data = {
        ours: read_hf_dataset(source, theirs, spec, columns)
        for ours, theirs in zip(("train", "dev", "test"), splits, strict=False)
    }
    check_training_targets(f"{source}[{splits[0]}]", spec, data["train"])
    return TaskData(spec, data, source=str(source))
