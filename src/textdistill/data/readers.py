"""Readers: CSV / TSV / JSONL files with a column mapping, and Hugging Face ``datasets``.

Every reader turns rows into :class:`~textdistill.data.tasks.Example` through one validator,
:class:`RowParser`, so every format reports bad input the same way: a :class:`DataError` naming
the file, the line and the problem (missing column, empty text, unknown label, non-numeric
regression label, undecodable bytes). Problems are collected over the whole file and reported
together; nothing is dropped silently.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textdistill.data.spec import Example, TaskSpec
from textdistill.errors import DataError, TextdistillError

MAX_REPORTED = 20  # problems listed in one error; the rest are counted


@dataclass(frozen=True)
class Columns:
    """Which column holds what. Names for files with a header, 0-based indices for files without.

    ``label=None`` reads the file as unlabelled (every ``Example.label`` is ``None``).
    """

    text: str | int = "text"
    text_pair: str | int | None = None
    label: str | int | None = "label"

    @classmethod
    def parse(cls, spec: str) -> Columns:
        """Parse ``"text=sentence,text_pair=question,label=y"`` (the CLI form)."""
        fields: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, sep, value = part.partition("=")
            if not sep or key not in ("text", "text_pair", "label"):
                raise TextdistillError(
                    f"bad column mapping {part!r}: expected text=COL, text_pair=COL or label=COL"
                )
            fields[key] = int(value) if value.isdigit() else value
        return cls(**fields)


class RowParser:
    """Validates rows of one file into examples and collects the problems."""

    def __init__(
        self, path: str | Path, spec: TaskSpec, columns: Columns, label_map: dict[str, str] | None = None
    ) -> None:
        self.path, self.spec, self.columns = Path(path), spec, columns
        self.label_map = label_map  # the value written in the file -> the class name
        self.problems: list[tuple[int | None, str]] = []
        self.n_problems = 0
        if spec.is_pair and columns.text_pair is None:
            raise TextdistillError(f"task {spec.name!r} is a sentence-pair task: give a text_pair column")

    def problem(self, line: int | None, message: str) -> None:
        self.n_problems += 1
        if len(self.problems) < MAX_REPORTED:
            self.problems.append((line, message))

    def parse(self, row: dict[Any, Any] | list[str] | BadRow, line: int) -> Example | None:
        """One row (a dict keyed by column name, or a list indexed by position) to an example."""
        if isinstance(row, BadRow):
            self.problem(line, row.message)
            return None
        text = self._text(row, self.columns.text, line)
        pair = self._text(row, self.columns.text_pair, line) if self.columns.text_pair is not None else None
        label = self._label(row, line) if self.columns.label is not None else None
        if text is None or (self.columns.text_pair is not None and pair is None) or label is _BAD:
            return None
        return Example(text, pair, label)

    def finish(self) -> None:
        """Raise one :class:`DataError` listing every problem seen, if any."""
        if self.n_problems:
            raise DataError(self.path, self.problems, more=self.n_problems - len(self.problems))

    def _get(self, row: dict[Any, Any] | list[str], column: str | int, line: int) -> Any:
        try:
            return row[column]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            if isinstance(row, dict):
                have = ", ".join(map(str, row.keys()))
                self.problem(line, f"missing column {column!r} (columns here: {have})")
            else:
                self.problem(line, f"missing column {column} (the row has {len(row)} fields)")
            return _BAD

    def _text(self, row: dict[Any, Any] | list[str], column: str | int, line: int) -> str | None:
        value = self._get(row, column, line)
        if value is _BAD:
            return None
        if value is None or not isinstance(value, str) or not value.strip():
            what = (
                "empty" if value is None or (isinstance(value, str) and not value.strip()) else "not a string"
            )
            self.problem(line, f"{what} text in column {column!r}")
            return None
        return value.strip()

    def _label(self, row: dict[Any, Any] | list[str], line: int) -> int | float | object:
        column = self.columns.label
        assert column is not None
        value = self._get(row, column, line)
        if value is _BAD:
            return _BAD
        if self.spec.is_regression:
            try:
                score = float(value)
            except (TypeError, ValueError):
                self.problem(line, f"non-numeric label {value!r} in column {column!r} of a regression task")
                return _BAD
            if not math.isfinite(score):
                self.problem(line, f"label {value!r} in column {column!r} is not a finite number")
                return _BAD
            return score
        name = _label_name(value)
        if self.label_map is not None:
            if name not in self.label_map:
                written = ", ".join(f"{k} ({v})" for k, v in self.label_map.items())
                self.problem(line, f"unknown label {name!r} in column {column!r}; expected one of {written}")
                return _BAD
            name = self.label_map[name]
        try:
            return self.spec.label_index(name)
        except KeyError:
            expected = list(self.spec.labels or [])
            self.problem(line, f"unknown label {name!r} in column {column!r}; expected one of {expected}")
            return _BAD


_BAD = object()  # marks a value that was reported as a problem


def _label_name(value: Any) -> str:
    """The class name a label value stands for: JSON ``true`` / ``1.0`` name the class ``"1"``."""
    if isinstance(value, bool) or (isinstance(value, float) and value.is_integer()):
        value = int(value)
    return str(value).strip()


@dataclass(frozen=True)
class BadRow:
    """A row that could not be split into the expected fields (reported by the parser)."""

    message: str


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """The whole file as text; undecodable bytes raise a :class:`DataError` with their line.

    A leading byte-order mark (Excel's CSVs, MRPC's train/dev files) is dropped.
    """
    path = Path(path)
    if not path.is_file():
        raise TextdistillError(f"no such file: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(
            path,
            [
                (
                    line,
                    f"bytes {raw[err.start : err.end]!r} cannot be decoded as {encoding} ({err.reason}); "
                    f"pass the file's encoding",
                )
            ],
        ) from None
    return text.removeprefix("\ufeff")  # a byte-order mark would end up in the first column name


def iter_delimited(
    path: str | Path,
    delimiter: str,
    header: bool = True,
    quoting: int = csv.QUOTE_MINIMAL,
    encoding: str = "utf-8",
) -> Iterator[tuple[int, dict[str, str] | list[str] | BadRow]]:
    """Yield ``(line, row)`` from a CSV/TSV file: dicts when it has a header, lists otherwise.

    ``line`` is the 1-based line where the record starts. A row with more or fewer fields than
    the header is yielded as a :class:`BadRow`, so the parser reports it with the others.
    """
    text = read_text(path, encoding)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    names: list[str] | None = None
    start = 1
    for fields in reader:
        line, start = start, reader.line_num + 1
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank line
        if header and names is None:
            names = [f.strip() for f in fields]
            continue
        if names is None:
            yield line, fields
        elif len(fields) != len(names):
            yield line, BadRow(f"{len(fields)} fields where the header has {len(names)}")
        else:
            yield line, dict(zip(names, fields, strict=True))


def iter_jsonl(path: str | Path, encoding: str = "utf-8") -> Iterator[tuple[int, dict[str, Any] | BadRow]]:
    """Yield ``(line, object)`` from a JSON-lines file.

    A line that is not a JSON object is yielded as a :class:`BadRow`, so the parser reports it
    with the other problems of the file.
    """
    # split on "\n" only: str.splitlines() also breaks at U+2028, \x0c, ... inside JSON strings
    for i, line in enumerate(read_text(path, encoding).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            yield i, BadRow(f"invalid JSON ({err.msg} at column {err.colno})")
            continue
        if not isinstance(obj, dict):
            yield i, BadRow(f"expected a JSON object, got {type(obj).__name__}")
            continue
        yield i, obj


def parse_rows(
    rows: Iterable[tuple[int, Any]],
    path: str | Path,
    spec: TaskSpec,
    columns: Columns,
    label_map: dict[str, str] | None = None,
) -> list[Example]:
    """Validate every row; raise one error listing all problems, else return the examples."""
    parser = RowParser(path, spec, columns, label_map)
    out = [ex for line, row in rows if (ex := parser.parse(row, line)) is not None]
    parser.finish()
    if not out:
        raise DataError(path, [(None, "no examples in the file")])
    return out


def read_table(
    path: str | Path,
    spec: TaskSpec,
    columns: Columns | None = None,
    encoding: str = "utf-8",
    label_map: dict[str, str] | None = None,
) -> list[Example]:
    """Read a ``.csv``, ``.tsv`` or ``.jsonl`` file (chosen by suffix) with a column mapping.

    The default mapping is our own layout: ``text``, ``text_pair`` (pair tasks), ``label``.
    ``label_map`` maps the label values written in the file to class names (``{"0": "ham"}``).
    """
    path = Path(path)
    if columns is None:
        columns = Columns(text_pair="text_pair" if spec.is_pair else None)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        rows: Iterable[tuple[int, Any]] = iter_jsonl(path, encoding)
    elif suffix in (".csv", ".tsv", ".txt"):
        delimiter = "," if suffix == ".csv" else "\t"
        rows = iter_delimited(path, delimiter, header=not isinstance(columns.text, int), encoding=encoding)
    else:
        raise TextdistillError(f"{path}: unknown file type {suffix!r}; use .csv, .tsv or .jsonl")
    return parse_rows(rows, path, spec, columns, label_map)


def parse_labels(value: str) -> tuple[tuple[str, ...], dict[str, str] | None]:
    """``--labels``: class names in order (``neg,pos``), or the values the files hold with a name
    each (``0=ham,1=spam``); returns the names and the value -> name map (``None`` for plain names)."""
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts:
        raise TextdistillError("--labels needs at least two class names, e.g. neg,pos or 0=ham,1=spam")
    mapped = ["=" in p for p in parts]
    if any(mapped) and not all(mapped):
        raise TextdistillError(f"--labels {value!r}: give every class as VALUE=NAME, or none of them")
    pairs = (
        [tuple(x.strip() for x in p.split("=", 1)) for p in parts] if all(mapped) else [(p, p) for p in parts]
    )
    names = tuple(name for _, name in pairs)
    written = [v for v, _ in pairs]
    problems = []
    if len(set(names)) != len(names):
        problems.append(f"a class is named twice ({', '.join(names)})")
    if len(set(written)) != len(written):
        problems.append(f"a value is given twice ({', '.join(written)})")
    if len(names) < 2:
        problems.append("a classification task needs at least two classes")
    if problems:
        raise TextdistillError(f"--labels {value!r}: " + "; ".join(problems))
    return names, (dict(pairs) if all(mapped) else None)


def infer_labels(path: str | Path, column: str | int = "label", encoding: str = "utf-8") -> tuple[str, ...]:
    """The sorted set of label values in a training file (for a user's own classification task)."""
    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".json"):
        rows: Iterable[tuple[int, Any]] = iter_jsonl(path, encoding)
    else:
        delim = "," if path.suffix.lower() == ".csv" else "\t"
        rows = iter_delimited(path, delim, header=not isinstance(column, int), encoding=encoding)
    values = {_label_name(row[column]) for _, row in rows if _has(row, column) and row[column] is not None}
    values.discard("")  # a missing label is not a class (read_table reports it)
    if not values:
        raise DataError(path, [(None, f"no values in label column {column!r}")])
    return tuple(
        sorted(
            values, key=lambda v: (not v.lstrip("-").isdigit(), int(v) if v.lstrip("-").isdigit() else 0, v)
        )
    )


def _has(row: dict[Any, Any] | list[str] | BadRow, column: str | int) -> bool:
    if isinstance(row, BadRow):
        return False
    return column in row if isinstance(row, dict) else isinstance(column, int) and column < len(row)


def read_hf_dataset(
    source: str | Path, split: str, spec: TaskSpec, columns: Columns | None = None
) -> list[Example]:
    """Read one split of a Hugging Face ``datasets`` dataset available on this machine.

    ``source`` is a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``, or
    a dataset name for ``datasets.load_dataset``: read from the local ``datasets`` cache, or from
    the hub when the machine has the internet (set ``HF_DATASETS_OFFLINE=1`` to forbid that).
    Class labels stored as ``ClassLabel`` integers are mapped through their names.
    """
    columns = columns or Columns(text_pair="text_pair" if spec.is_pair else None)
    ds = hf_split(source, split)
    label_feature = ds.features.get(columns.label) if columns.label is not None else None
    names = getattr(label_feature, "names", None)

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        for i, row in enumerate(ds, start=1):
            if names is not None and isinstance(row.get(columns.label), int) and row[columns.label] >= 0:
                row = {**row, columns.label: names[row[columns.label]]}
            yield i, row

    return parse_rows(rows(), f"{source}[{split}]", spec, columns)


def hf_split(source: str | Path, split: str) -> Any:
    """One split (a ``datasets.Dataset``) of a saved folder or a named dataset (see
    :func:`read_hf_dataset`)."""
    try:
        import datasets
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise TextdistillError("reading a Hugging Face dataset needs `pip install datasets`") from err
    if Path(source).exists():
        loaded = datasets.load_from_disk(str(source))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise TextdistillError(f"{source}: no split {split!r}; splits: {', '.join(loaded)}")
            ds = loaded[split]
        elif split != "train":
            raise TextdistillError(f"{source} holds a single dataset; ask for split 'train'")
        else:
            ds = loaded
    else:
        ds = datasets.load_dataset(str(source), split=split)
    return ds
