"""A teacher given as its predictions: a JSONL file of soft targets written by any model.

Any model can teach a student without textdistill ever loading it: a large language model asked to
label the texts, a classifier in another framework, a hosted API. Its outputs go in a JSON-lines
file, one object per text, matched to the training (and transfer) examples by their ``id`` (where
the data gives ids: a JSONL row's ``id``, or ``columns.id``) or else by their text:

- ``id``, or ``text`` (and ``text_pair`` in a pair task) as in the data files, or both;
- ``logits``: ``{label: value}`` for every class of the task, used as they are; or
- ``probs``: ``{label: probability}``, non-negative and summing to 1 (within ``1e-3``; in a
  multi-label task each label's own probability in [0, 1], read as its logit ``log(p / (1 - p))``); or
- ``score``: a number, for a regression task.

Other keys (``label``, ``id``, anything) are ignored, so the output of ``textdistill predict RUN
--file texts.jsonl --out preds.jsonl`` (``text``, ``label`` or a multi-label task's ``labels``,
``probs``, ``logits``) is such a file.
Rows with both ``logits`` and ``probs`` use the logits.

Probabilities become logits as ``log p`` (``p`` clamped at :data:`MIN_PROB` so that a 0 stays
finite). For the soft targets of Hinton et al. (2015) this loses nothing at any temperature:
``softmax(log p / T)`` is ``p ** (1 / T)`` renormalised, and equals ``softmax(z / T)`` for the
logits ``z`` that gave ``p``, since a softmax does not change when every logit of a row moves by
the same amount (``log p = z - logsumexp(z)``). A method that regresses the logits themselves
(``tang``: their mean squared error) sees that shift, so it needs a file of ``logits``. In a
multi-label task each label's probability is its own: its logit ``log(p / (1 - p))`` is exact.

The file is checked whole before any training, every problem named with its line: JSON, texts,
label names against the task's (any order; the values are put in the task's), probabilities, and
one text given two different predictions. :meth:`Predictions.outputs` then refuses a set of
examples that the file does not cover, naming the texts without a prediction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from textdistill.artifacts import TeacherRef, file_sha256
from textdistill.data.readers import UNLABELLED, Columns, RowParser, iter_jsonl, json_type
from textdistill.data.spec import Example, TaskSpec
from textdistill.errors import TextdistillError

MIN_PROB = 1e-7  # a probability of 0 is read as this (its log, -16.1, stays finite)
SUM_TOLERANCE = 1e-3  # how far a row's probabilities may sum from 1 (rounded outputs of other tools)
SAME_TOLERANCE = 1e-4  # two rows of one text whose values differ by more disagree
SHOWN = 5  # texts named when some have no prediction

Key = tuple[str, str | None]


@dataclass
class Predictions:
    """A checked predictions file, its values in the task's label order.

    Attributes:
        path: the file.
        sha256: of its bytes: the teacher's fingerprint, in the run manifest and the cache key.
        kind: ``logits`` (every row gives them), ``probs`` (some rows give only probabilities;
            their values are ``log p``) or ``score`` (regression).
        labels: the task's class names, the order of the columns (``None``: regression).
        file_labels: the class names in the order the file's first row gives them.
        table: ``(text, text_pair)`` -> ``(C,)`` float32 logits in the task's order.
    """

    path: Path
    sha256: str
    kind: str
    labels: tuple[str, ...] | None
    file_labels: tuple[str, ...] | None
    table: dict[Key, np.ndarray] = field(repr=False)
    multi_label: bool = False
    ids: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # by the rows' "id"

    @property
    def num_outputs(self) -> int:
        return 1 if self.labels is None else len(self.labels)

    def find(self, e: Example) -> np.ndarray | None:
        """The row of an example: by its ``id`` when the data and the file give one, else by its
        text (and pair); ``None`` when the file has neither."""
        if e.id is not None and e.id in self.ids:
            return self.ids[e.id]
        return self.table.get((e.text, e.text_pair))

    def missing(self, examples: Sequence[Example]) -> list[Example]:
        """The examples the file has no row for, in order."""
        return [e for e in examples if self.find(e) is None]

    def require(self, parts: dict[str, Sequence[Example]], hint: str = "") -> None:
        """Refuse examples without a prediction: one :class:`TextdistillError` that counts them in
        each part (``{"training texts": [...], "transfer-set texts": [...]}``), names the first and
        ends with ``hint`` (where the texts to predict are, say)."""
        said = []
        for what, examples in parts.items():
            missing = self.missing(examples)
            if missing:
                shown = "; ".join(repr(_short(e)) for e in missing[:SHOWN])
                more = f" and {len(missing) - SHOWN:,} more" if len(missing) > SHOWN else ""
                said.append(f"{len(missing):,} of {len(examples):,} {what} have no prediction: {shown}{more}")
        if said:
            raise TextdistillError(
                f"teacher predictions {self.path}: {'; '.join(said)}. Add them to the file (a row with "
                f"their text and its probs, logits or score), or leave them out of the data{hint}"
            )

    def outputs(self, examples: Sequence[Example], what: str = "examples") -> np.ndarray:
        """``(N, C)`` float32 logits (``(N, 1)`` scores) for ``examples``, row ``i`` for example
        ``i``; examples without a prediction are refused (:meth:`require`; ``what`` says which
        they are: ``training texts``)."""
        self.require({what: examples})
        if not examples:
            return np.zeros((0, self.num_outputs), dtype=np.float32)
        return np.stack([self.find(e) for e in examples])  # type: ignore[arg-type]


def _short(e: Example, width: int = 60) -> str:
    text = e.text if e.text_pair is None else f"{e.text} || {e.text_pair}"
    text = text if len(text) <= width else text[: width - 3] + "..."
    return text if e.id is None else f"id {e.id}: {text}"


def read_predictions(path: str | Path, spec: TaskSpec) -> Predictions:
    """Read and check a predictions file against ``spec`` (see the module docstring); every
    problem of the file at once, each with its line."""
    path = Path(path)
    if not path.is_file():
        raise TextdistillError(f"teacher predictions {path}: no such file")
    if path.suffix.lower() not in (".jsonl", ".json"):
        raise TextdistillError(
            f"teacher predictions {path}: give a JSON-lines file (.jsonl), one object per text with its "
            "text and probs, logits or score"
        )
    columns = Columns(text="text", text_pair="text_pair" if spec.is_pair else None, label=None)
    pair_spec = UNLABELLED if not spec.is_pair else TaskSpec("texts", None, ("pearson",), is_pair=True)
    parser = RowParser(path, pair_spec, columns)
    reading = _Reading(spec, parser)
    for line, row in iter_jsonl(path):
        if isinstance(row, dict) and "text" not in row and "id" in row:  # matched by id alone
            ident = row["id"]
            if isinstance(ident, bool) or not isinstance(ident, str | int) or not str(ident).strip():
                parser.problem(line, f"the id is {json_type(ident)}, not a string or number (and no text)")
                continue
            reading.row(line, None, row, str(ident).strip())
            continue
        example = parser.parse(row, line)
        if example is None:
            continue
        if not spec.is_pair and row.get("text_pair") is not None:
            parser.problem(line, f"has a text_pair, and the task {spec.name!r} reads one text")
            continue
        reading.row(line, (example.text, example.text_pair), row, example.id)
    if not parser.n_problems and not reading.table and not reading.ids:
        parser.problem(None, "no predictions in the file")
    parser.finish()
    kind = "score" if spec.labels is None else "logits" if reading.all_logits else "probs"
    return Predictions(
        path, file_sha256(path), kind, spec.labels, reading.file_labels, reading.table, spec.multi_label,
        reading.ids,
    )  # fmt: skip


class _Reading:
    """The state of reading one file: the rows so far, the file's label names, the problems."""

    def __init__(self, spec: TaskSpec, parser: RowParser) -> None:
        self.spec, self.parser = spec, parser
        self.table: dict[Key, np.ndarray] = {}
        self.ids: dict[str, np.ndarray] = {}
        self.first_line: dict[Key, int] = {}
        self.first_id_line: dict[str, int] = {}
        self.file_labels: tuple[str, ...] | None = None
        self.all_logits = True

    def row(self, line: int, key: Key | None, row: dict[str, Any], ident: str | None = None) -> None:
        """Keep a row's values under its text (``key``) and its ``id``; one text or id given two
        different predictions is a problem of the later line."""
        values = self.values(line, row)
        if values is None:
            return
        for table, first, name, what in ((self.table, self.first_line, key, "the text"),
                                         (self.ids, self.first_id_line, ident, "the id")):  # fmt: skip
            if name is None:
                continue
            if name in table:
                if (
                    np.abs(self.probabilities(table[name]) - self.probabilities(values)).max()
                    > SAME_TOLERANCE
                ):
                    self.parser.problem(line, f"gives other predictions for {what} of line {first[name]}")
                continue
            table[name], first[name] = values, line

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """What a row predicts, to compare two rows of one text: the softmax of its logits (a
        probs row and a logits row agree when they say the same), each sigmoid for a multi-label
        task, a score as it is."""
        z = logits.astype(np.float64)
        if self.spec.labels is None:
            return z
        if self.spec.multi_label:
            return 1 / (1 + np.exp(-z))
        e = np.exp(z - z.max())
        return e / e.sum()

    def values(self, line: int, row: dict[str, Any]) -> np.ndarray | None:
        """The row's logits in the task's order ``(C,)`` (``(1,)``: a score), or ``None`` after
        naming its problem."""
        if self.spec.labels is None:
            score = row.get("score")
            if not _number(score):
                got = "no score" if score is None else f"score is {json_type(score)} {score!r}"
                self.parser.problem(line, f"{got}: a regression task needs a finite number per text")
                return None
            return np.array([score], dtype=np.float32)
        if "logits" in row:
            return self.by_label(line, row["logits"], "logits")
        if "probs" in row:
            self.all_logits = False
            probs = self.by_label(line, row["probs"], "probs")
            if probs is None:
                return None
            if self.spec.multi_label:  # one independent probability per label: its logit
                if (probs < 0).any() or (probs > 1).any():
                    self.parser.problem(
                        line, "probs must each be in [0, 1] (a multi-label task: one per label)"
                    )
                    return None
                p = np.clip(probs.astype(np.float64), MIN_PROB, 1 - MIN_PROB)
                return np.log(p / (1 - p)).astype(np.float32)
            if (probs < 0).any() or (probs > 1).any() or abs(float(probs.sum()) - 1) > SUM_TOLERANCE:
                self.parser.problem(
                    line, f"probs must be in [0, 1] and sum to 1 (single-label), got sum {probs.sum():.4g}"
                )
                return None
            return np.log(np.maximum(probs, MIN_PROB)).astype(np.float32)
        what = "score, which is for a regression task" if "score" in row else "no probs or logits"
        self.parser.problem(line, f"{what}: give probs or logits, keyed by label ({_names(self.spec)})")
        return None

    def by_label(self, line: int, given: Any, key: str) -> np.ndarray | None:
        """``given`` (``{label: number}``) as a ``(C,)`` array in the task's label order."""
        assert self.spec.labels is not None
        if not isinstance(given, dict):
            self.parser.problem(
                line,
                f"{key} is {json_type(given)}: give an object keyed by label name ({_names(self.spec)}), "
                "so that the labels are checked against the task's",
            )
            return None
        names = tuple(str(k) for k in given)
        if self.file_labels is None:
            self.file_labels = names
        if set(names) != set(self.spec.labels):
            extra = sorted(set(names) - set(self.spec.labels))
            lacking = sorted(set(self.spec.labels) - set(names))
            said = "; ".join(
                part
                for part in (
                    f"labels not in the task: {extra}" if extra else "",
                    f"no value for {lacking}" if lacking else "",
                )
                if part
            )
            self.parser.problem(
                line,
                f"{key} has labels {list(names)}, the task {self.spec.name!r} has "
                f"{_names(self.spec)} ({said})",
            )
            return None
        bad = [str(k) for k, v in given.items() if not _number(v)]
        if bad:
            self.parser.problem(line, f"{key} of {bad} is not a finite number")
            return None
        return np.array([given[name] for name in self.spec.labels], dtype=np.float32)


def prediction_rows(
    spec: TaskSpec, examples: Sequence[Example], logits: np.ndarray, threshold: float = 0.5
) -> list[dict[str, Any]]:
    """The lines of a predictions file for ``examples`` and a model's ``logits`` ``(N, C)``:
    ``text`` (``text_pair``), then ``label``, ``probs`` and ``logits`` keyed by label (``score`` for
    a regression; a multi-label task's ``labels`` at or above ``threshold`` and each label's sigmoid
    as ``probs``). Logits are written as the float32 values they are, so reading the file back
    gives the same numbers to the bit."""
    rows = []
    for e, row in zip(examples, np.asarray(logits, dtype=np.float32), strict=True):
        line: dict[str, Any] = {"text": e.text} if e.id is None else {"id": e.id, "text": e.text}
        if e.text_pair is not None:
            line["text_pair"] = e.text_pair
        if spec.labels is None:
            line["score"] = float(row[0])
        elif spec.multi_label:
            p = 1.0 / (1.0 + np.exp(-row.astype(np.float64)))
            line["labels"] = [n for n, v in zip(spec.labels, p, strict=True) if v >= threshold]
            line["probs"] = {name: float(v) for name, v in zip(spec.labels, p, strict=True)}
            line["logits"] = {name: float(v) for name, v in zip(spec.labels, row, strict=True)}
        else:
            z = row.astype(np.float64)
            p = np.exp(z - z.max())
            p /= p.sum()
            line["label"] = spec.labels[int(row.argmax())]
            line["probs"] = {name: float(v) for name, v in zip(spec.labels, p, strict=True)}
            line["logits"] = {name: float(v) for name, v in zip(spec.labels, row, strict=True)}
        rows.append(line)
    return rows


def predictions_teacher(path: str | Path, tokenizer: str | None, spec: TaskSpec) -> TeacherRef:
    """The teacher of a distill config's ``teacher: {predictions: FILE, tokenizer: MODEL}``,
    its file read and checked against ``spec`` (the tokenizer's folder fetched when an asset)."""
    from textdistill.models.teacher import local_folder

    predictions = read_predictions(path, spec)
    tokens = None if tokenizer is None else local_folder(tokenizer).resolve()
    return TeacherRef(
        predictions.path.resolve(), predictions.sha256, predictions.labels,
        predictions=predictions, tokens=tokens,
    )  # fmt: skip


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _names(spec: TaskSpec) -> str:
    return ", ".join(spec.labels or ())
