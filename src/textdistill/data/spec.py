"""What a task is, apart from where its files lie: :class:`Example` and :class:`TaskSpec`.

The bottom of the data layer: readers, GLUE, the offline tasks and every model import from here,
and this module imports nothing of textdistill.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Example:
    """One input: a text, an optional second text, and a label.

    ``label`` is a class index (classification), a float (regression), a tuple of 0.0 / 1.0 per
    class (multi-label: ``1.0`` for each label the text carries, in the task's label order) or
    ``None`` (unlabelled, for example a GLUE test file). ``id``: the row's identifier when the data
    gives one (a row's ``id`` field, or the column ``columns.id``), which a teacher's predictions
    file may match rows by; it is no part of what the example is (equality and fingerprints
    leave it out).
    """

    text: str
    text_pair: str | None = None
    label: int | float | tuple[float, ...] | None = None
    id: str | None = field(default=None, compare=False)  # equal examples may have other ids


@dataclass(frozen=True)
class TaskSpec:
    """What a task is.

    Attributes:
        name: short name (``sst2``, ``movie-sentiment``).
        labels: class names in index order, or ``None`` for a regression task.
        metrics: metric names (see :mod:`textdistill.evaluation.metrics`); the first is the one
            used to pick the best checkpoint.
        is_pair: whether each example has a ``text_pair``.
        positive: the class whose F1 ``f1`` reports, for a binary task (``None``: the second
            label, GLUE's convention); every report names it.
        multi_label: a text carries any number of the labels (one sigmoid per label, a decision
            threshold chosen on dev), not exactly one.
    """

    name: str
    labels: tuple[str, ...] | None
    metrics: tuple[str, ...]
    is_pair: bool = False
    description: str = ""
    positive: str | None = None
    multi_label: bool = False

    @property
    def positive_index(self) -> int:
        """Index of the class binary F1 is computed for (``positive``, else class 1)."""
        if self.labels is None or self.positive is None:
            return 1
        return self.labels.index(self.positive)

    @property
    def positive_label(self) -> str | None:
        """Name of the class binary F1 refers to (``None`` for regression or more than 2 classes)."""
        if self.labels is None or len(self.labels) != 2 or self.multi_label:
            return None
        return self.labels[self.positive_index]

    @property
    def is_regression(self) -> bool:
        return self.labels is None

    @property
    def problem_type(self) -> str:
        """The task in Hugging Face's words (``config.json``'s ``problem_type``)."""
        if self.labels is None:
            return "regression"
        return "multi_label_classification" if self.multi_label else "single_label_classification"

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
            "positive": self.positive,
            **({"multi_label": True} if self.multi_label else {}),
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
            positive=d.get("positive"),
            multi_label=bool(d.get("multi_label", False)),
        )
