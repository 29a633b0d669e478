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
import re
import sys
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textdistill.data.spec import Example, TaskSpec
from textdistill.errors import DataError, TextdistillError

MAX_REPORTED = 20  # problems listed in one error; the rest are counted
MAX_LINES = 10  # line numbers of skipped rows kept in a report and the run manifest
BAD_ROWS = ("strict", "skip")  # what a bad row does: stop the read (the default), or drop the row
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|infinity|nan)$", re.ASCII | re.I)
LOOKAHEAD = 50  # lines searched for the end of a quoted field that runs past its line
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # the csv module's 131,072 characters is no limit of ours


@dataclass(frozen=True)
class Columns:
    """Which column holds what. Names for files with a header, 0-based indices for files without.

    ``label=None`` reads the file as unlabelled (every ``Example.label`` is ``None``).
    ``label_separator``: in a multi-label task, what separates the labels of a text in a text
    column (``"|"`` in ``"sports|politics"``); a JSON list in a JSONL file needs none.
    """

    text: str | int = "text"
    text_pair: str | int | None = None
    label: str | int | None = "label"
    label_separator: str | None = None
    id: str | int | None = None  # a row identifier (a JSONL row's "id" is read without it)

    def __post_init__(self) -> None:
        named = (("text", self.text), ("text_pair", self.text_pair), ("label", self.label), ("id", self.id))
        given = {k: v for k, v in named if v is not None}
        kinds = {isinstance(v, int) for v in given.values()}
        if len(kinds) > 1:
            raise TextdistillError(
                f"columns {given}: give every column by name (a file with a header) or every one by "
                "position (a file without one), not both"
            )
        values = list(given.values())
        if len(set(values)) != len(values):
            raise TextdistillError(f"columns {given}: two of them name the same column")

    @classmethod
    def parse(cls, spec: str) -> Columns:
        """Parse ``"text=sentence,text_pair=question,label=y"`` (the CLI form)."""
        fields: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, sep, value = part.partition("=")
            if not sep or key not in ("text", "text_pair", "label", "id"):
                raise TextdistillError(
                    f"bad column mapping {part!r}: expected text=COL, text_pair=COL, label=COL or id=COL"
                )
            if key in fields:
                raise TextdistillError(f"column mapping {spec!r}: {key} is given twice")
            fields[key] = int(value) if value.isdigit() else value
        return cls(**fields)


class RowParser:
    """Validates rows of one file into examples and collects the problems."""

    def __init__(
        self,
        path: str | Path,
        spec: TaskSpec,
        columns: Columns,
        label_map: dict[str, str] | None = None,
        bad_rows: str = "strict",
    ) -> None:
        if bad_rows not in BAD_ROWS:
            raise TextdistillError(f"bad_rows {bad_rows!r}: choose one of {', '.join(BAD_ROWS)}")
        self.path, self.spec, self.columns = Path(path), spec, columns
        self.label_map = label_map  # the value written in the file -> the class name
        self.bad_rows = bad_rows
        self.problems: list[tuple[int | None, str]] = []
        self.n_problems = 0
        self.bad_lines: list[int] = []  # every line with a problem, in order
        self.first_line: int | None = None  # the first row's line (a header read as data is there)
        if spec.is_pair and columns.text_pair is None:
            raise TextdistillError(f"task {spec.name!r} is a sentence-pair task: give a text_pair column")

    def problem(self, line: int | None, message: str) -> None:
        self.n_problems += 1
        if line is not None and (not self.bad_lines or self.bad_lines[-1] != line):
            self.bad_lines.append(line)
        if len(self.problems) < MAX_REPORTED:
            self.problems.append((line, message))

    def parse(self, row: dict[Any, Any] | list[str] | BadRow, line: int) -> Example | None:
        """One row (a dict keyed by column name, or a list indexed by position) to an example."""
        if self.first_line is None:
            self.first_line = line
        if isinstance(row, BadRow):
            self.problem(line, row.message)
            return None
        text = self._text(row, self.columns.text, line)
        pair = self._text(row, self.columns.text_pair, line) if self.columns.text_pair is not None else None
        label = self._label(row, line) if self.columns.label is not None else None
        ident = self._id(row, line)
        if text is None or (self.columns.text_pair is not None and pair is None) or _BAD in (label, ident):
            return None
        return Example(text, pair, label, ident)  # type: ignore[arg-type]

    def _id(self, row: dict[Any, Any] | list[str], line: int) -> object:
        """The row's identifier: the ``id`` column when named (a problem when it is missing), else
        a JSON row's ``id`` when it is a string or a whole number (anything else is no id)."""
        if self.columns.id is not None:
            value = self._get(row, self.columns.id, line)
            if value is _BAD:
                return _BAD
        else:
            value = row.get("id") if isinstance(row, dict) else None
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if self.columns.id is not None:
            self.problem(
                line, f"the id in column {self.columns.id!r} is {json_type(value)}, not a string or number"
            )
            return _BAD
        return None

    def finish(self) -> Skipped | None:
        """Raise one :class:`DataError` listing every problem seen, if any; with ``bad_rows="skip"``
        return what was dropped instead (``None`` when nothing was)."""
        if not self.n_problems:
            return None
        if self.bad_rows == "strict":
            raise DataError(self.path, self.problems, more=self.n_problems - len(self.problems)) from None
        return Skipped(
            str(self.path), len(self.bad_lines), tuple(self.bad_lines[:MAX_LINES]), self.problems[0]
        )

    def _label_problem(self, line: int, message: str) -> None:
        """A label problem; on the first row of a file read by column positions it may be a header."""
        if line == self.first_line and isinstance(self.columns.label, int):
            message += (
                f" (is line {line} a header? columns given by position read the file without one: "
                "name the columns instead, e.g. text=sentence,label=label)"
            )
        self.problem(line, message)

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
        if value is None or (isinstance(value, str) and not value.strip()):
            self.problem(line, f"empty text in column {column!r}")
            return None
        if not isinstance(value, str):
            self.problem(line, f"the text in column {column!r} is {json_type(value)}, not a string")
            return None
        return value.strip()

    def _label(self, row: dict[Any, Any] | list[str], line: int) -> int | float | object:
        column = self.columns.label
        assert column is not None
        value = self._get(row, column, line)
        if value is _BAD:
            return _BAD
        if value is None:
            self.problem(line, f"no label in column {column!r} (null)")
            return _BAD
        if self.spec.multi_label:
            return self._label_set(value, column, line)
        nan = isinstance(value, float) and not math.isfinite(value) and not self.spec.is_regression
        if isinstance(value, dict | list) or nan:
            what = json_type(value) if isinstance(value, dict | list) else repr(value)
            self.problem(line, f"the label in column {column!r} is {what}, not a class or a score")
            return _BAD
        if self.spec.is_regression:
            if isinstance(value, bool):  # JSON true/false: float() would take them as 1.0 and 0.0
                self.problem(
                    line, f"label {json.dumps(value)} in column {column!r} is a boolean, not a score"
                )
                return _BAD
            try:
                if isinstance(value, str) and not NUMBER.match(value.strip()):
                    raise ValueError(value)  # float() also takes 1_000 and full-width digits
                score = float(value)
            except (TypeError, ValueError):
                self._label_problem(
                    line, f"non-numeric label {value!r} in column {column!r} of a regression task"
                )
                return _BAD
            if not math.isfinite(score):
                self.problem(line, f"label {value!r} in column {column!r} is not a finite number")
                return _BAD
            return score
        name = _label_name(value)
        if self.label_map is not None:
            if name not in self.label_map:
                written = ", ".join(f"{k} ({v})" for k, v in self.label_map.items())
                self._label_problem(
                    line, f"unknown label {name!r} in column {column!r}; expected one of {written}"
                )
                return _BAD
            name = self.label_map[name]
        try:
            return self.spec.label_index(name)
        except KeyError:
            expected = list(self.spec.labels or [])
            self._label_problem(
                line, f"unknown label {name!r} in column {column!r}; expected one of {expected}"
            )
            return _BAD

    def _label_set(self, value: Any, column: str | int, line: int) -> tuple[float, ...] | object:
        """A multi-label row's labels as ``(C,)`` 0.0 / 1.0 in the task's order (none is allowed)."""
        if multi_hot(value):
            self.problem(
                line,
                f"the labels in column {column!r} are {json.dumps(value)}, a 0/1 vector: give the names "
                "of the labels the text carries (a JSON list of names), not one number per label",
            )
            return _BAD
        names = split_labels(value, self.columns.label_separator)
        if names is None:
            self.problem(
                line,
                f"the labels in column {column!r} are {json_type(value)} {json.dumps(value)[:60]}: give a "
                "JSON list of label names (strings), or a text of names split by files.label_separator",
            )
            return _BAD
        if self.label_map is not None:
            names = [self.label_map.get(n, n) for n in names]
        assert self.spec.labels is not None
        unknown = [n for n in names if n not in self.spec.labels]
        if unknown:
            self._label_problem(
                line,
                f"unknown label(s) {unknown} in column {column!r}; expected any of {list(self.spec.labels)}",
            )
            return _BAD
        return tuple(1.0 if name in names else 0.0 for name in self.spec.labels)


def multi_hot(value: Any) -> bool:
    """Whether a label value is a list of two or more 0 / 1 numbers (a multi-hot vector, not names)."""
    return (
        isinstance(value, list)
        and len(value) > 1
        and all(isinstance(v, int | float) and not isinstance(v, bool) and v in (0, 1) for v in value)
    )


def split_labels(value: Any, separator: str | None) -> list[str] | None:
    """The label names of one multi-label value: a JSON list of names, or a text of names split on
    ``separator`` (the whole text is one name without one; an empty text is no label). ``None``
    when the value is neither (an object, a number list)."""
    if isinstance(value, list):
        if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
            return None
        return list(dict.fromkeys(_label_name(v) for v in value if _label_name(v)))
    if isinstance(value, dict | bool) or value is None:
        return None
    text = str(value).strip()
    parts = text.split(separator) if separator else [text]
    return list(dict.fromkeys(p.strip() for p in parts if p.strip()))


def infer_label_set(path: str | Path, columns: Columns, multiline: bool = False) -> tuple[str, ...]:
    """The sorted union of the label names in a multi-label training file."""
    names: set[str] = set()
    assert columns.label is not None
    for _line, row in table_rows(Path(path), columns, "utf-8", multiline):
        if isinstance(row, BadRow) or not _has(row, columns.label) or multi_hot(row[columns.label]):
            continue  # read_table reports it
        names.update(split_labels(row[columns.label], columns.label_separator) or ())
    if not names:
        raise DataError(path, [(None, f"no labels in column {columns.label!r} of any row")])
    return tuple(sorted(names))


_BAD = object()  # marks a value that was reported as a problem


def json_type(value: Any) -> str:
    """What a JSON value is, in JSON's words (``a number``, ``a list``, ``an object``, ...)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return {list: "a list", dict: "an object"}.get(type(value), f"a {type(value).__name__}")


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
    if path.is_dir():
        raise TextdistillError(f"{path} is a folder, not a file")
    if not path.is_file():
        where = "" if path.is_absolute() else f" (looked for {path.absolute()})"
        raise TextdistillError(f"no such file: {path}{where}")
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) and encoding.lower().replace("-", "") == "utf8":
        raise DataError(path, [(1, "the file is UTF-16 (its byte-order mark says so): save it as UTF-8")])
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
                    "save the file as UTF-8 (e.g. iconv -f LATIN1 -t UTF-8 FILE > NEW)",
                )
            ],
        ) from None
    if "\r" in text and "\n" not in text:  # old Mac line ends: lines end in CR alone
        text = text.replace("\r", "\n")
    return text.removeprefix("\ufeff")  # a byte-order mark would end up in the first column name


def iter_delimited(
    path: str | Path,
    delimiter: str,
    header: bool = True,
    quoting: int | None = None,
    encoding: str = "utf-8",
    multiline: bool = False,
    required: tuple[str, ...] = (),
) -> Iterator[tuple[int, dict[str, str] | list[str] | BadRow]]:
    """Yield ``(line, row)`` from a CSV/TSV file: dicts when it has a header, lists otherwise.

    ``line`` is the 1-based line where the record starts. Quotes: standard CSV quoting for a
    comma-separated file; literal for a tab-separated one, as in GLUE (``quoting`` overrides).
    Without ``multiline`` every record is one line, so a stray quote costs its own line only: a
    quote left open at the end of its line is a :class:`BadRow` (named as a field with line breaks
    when the record closes a few lines on, with the right number of fields), and the next line is
    read as the next record. ``multiline`` reads quoted fields across line ends (standard quoting,
    for TSV too). A row with more or fewer fields than the header is a :class:`BadRow`. Fields of
    any length are read. A header that names a column twice, or lacks a ``required`` one, raises.
    """
    path = Path(path)
    text = read_text(path, encoding)
    if quoting is None:
        quoting = csv.QUOTE_NONE if delimiter == "\t" and not multiline else csv.QUOTE_MINIMAL
    records = (
        _whole_records(path, text, delimiter, quoting)
        if multiline
        else _line_records(text, delimiter, quoting, header)
    )
    names: list[str] | None = None
    rows = 0
    for line, fields in records:
        if not isinstance(fields, BadRow) and not fields:
            continue  # blank line
        if header and names is None:
            if isinstance(fields, BadRow):
                raise DataError(path, [(line, f"cannot read the header: {fields.message}")])
            names = [f.strip() for f in fields]
            _check_header(path, line, names, delimiter, required)
            continue
        rows += 1
        if isinstance(fields, BadRow) or names is None:
            yield line, fields
        elif len(fields) != len(names):
            yield line, BadRow(f"{len(fields)} fields where the header has {len(names)}")
        else:
            yield line, dict(zip(names, fields, strict=True))
    if names is not None and not rows:
        raise DataError(path, [(None, "the file has a header line and no examples")])


def _check_header(path: Path, line: int, names: list[str], delimiter: str, required: tuple[str, ...]) -> None:
    """A header names each column once and has every ``required`` one (else a :class:`DataError`)."""
    seen: dict[str, int] = {}
    problems: list[tuple[int | None, str]] = []
    for i, name in enumerate(names, 1):
        if name in seen:
            problems.append((line, f"the header names column {name!r} twice (columns {seen[name]} and {i})"))
        seen.setdefault(name, i)
    missing = [c for c in required if c not in seen]
    if missing:
        have = ", ".join(repr(n) for n in names)
        message = f"no column {', '.join(map(repr, missing))} in the header (columns: {have})"
        other = {",": "\t", "\t": ","}[delimiter] if delimiter in ",\t" else None
        if len(names) == 1 and other and other in names[0]:
            kind = {"\t": "tab", ",": "comma"}
            suffix = {"\t": ".tsv", ",": ".csv"}
            message += f"; the file looks {kind[other]}-separated: name it {path.stem}{suffix[other]}"
        problems.append((line, message))
    if problems:
        raise DataError(path, problems)


class _LineQuoting(Exception):
    """A line whose quoting is not standard CSV (the message says how)."""


def _split_csv_line(line: str, delimiter: str) -> list[str]:
    """The fields of one CSV line with standard quoting (RFC 4180): a field that holds the
    delimiter or a quote is quoted whole, with quotes inside doubled. Raises :class:`_LineQuoting`
    for a quote left open at the end of the line, text after a closing quote, or a quote inside an
    unquoted field (a stray quote, or the tail of a field with a line break)."""
    fields, i, n = [], 0, len(line)
    while True:
        if i < n and line[i] == '"':  # a quoted field, to its closing quote
            value, i = [], i + 1
            while True:
                j = line.find('"', i)
                if j < 0:
                    raise _LineQuoting("open")
                value.append(line[i:j])
                if j + 1 < n and line[j + 1] == '"':  # a doubled quote is a quote
                    value.append('"')
                    i = j + 2
                    continue
                i = j + 1
                break
            if i < n and line[i] != delimiter:
                raise _LineQuoting(f"text after the closing quote of field {len(fields) + 1}")
            fields.append("".join(value))
        else:
            j = line.find(delimiter, i)
            value_ = line[i:] if j < 0 else line[i:j]
            if '"' in value_:
                raise _LineQuoting(f"a quote inside field {len(fields) + 1}, which is not quoted")
            fields.append(value_)
            i = n if j < 0 else j
        if i >= n:
            return fields
        i += 1  # past the delimiter
        if i == n:
            fields.append("")
            return fields


def _line_records(
    text: str, delimiter: str, quoting: int, header: bool
) -> Iterator[tuple[int, list[str] | BadRow]]:
    """One record per line (``\n`` or ``\r\n``; never U+2028 or a form feed inside a field).

    Each line is judged alone, so a stray quote costs its own line and never the next rows: with
    literal quotes (``QUOTE_NONE``, a TSV) a line is split at the delimiter; with standard quoting
    a line that breaks it is a :class:`BadRow` that says how (named as a field with a line break
    when a quote left open closes a few lines on)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [x.removesuffix("\r") for x in lines]
    width: int | None = None
    for i, line in enumerate(lines):
        if not line.strip():
            continue  # a blank line (a line holding "" is a row, with an empty field)
        if quoting == csv.QUOTE_NONE or '"' not in line:
            fields = line.split(delimiter)
        else:
            try:
                fields = _split_csv_line(line, delimiter)
            except _LineQuoting as err:
                yield i + 1, BadRow(_quoting_problem(str(err), lines, i, delimiter, width))
                continue
        if width is None and header and fields and any(f.strip() for f in fields):
            width = len(fields)
        yield i + 1, fields


MULTILINE_HINT = "pass --multiline (files: multiline: true)"


def _quoting_problem(what: str, lines: list[str], i: int, delimiter: str, width: int | None) -> str:
    """What to say about line ``i`` whose quoting broke (``what``: ``open`` or a description)."""
    if what != "open":
        return f"broken quoting ({what}): quote the whole field and double the quotes inside it"
    end = _closing_line(lines, i, delimiter, width)
    if end is None:
        return (
            "a quote opened on this line is not closed on it (a stray quote?); if fields hold line "
            f"breaks, {MULTILINE_HINT}"
        )
    return (
        f"a quoted field runs from this line to line {end + 1} (a line break inside a field?); if the "
        f"file has such fields, {MULTILINE_HINT}; else it is a stray quote"
    )


def _closing_line(lines: list[str], start: int, delimiter: str, width: int | None) -> int | None:
    """The line (0-based) where a record opened on ``lines[start]`` closes with ``width`` fields,
    within :data:`LOOKAHEAD` lines; ``None`` when it does not (a stray quote)."""
    chunk = "\n".join(lines[start : start + LOOKAHEAD])
    reader = csv.reader(io.StringIO(chunk, newline=""), delimiter=delimiter, strict=True)
    try:
        fields = next(reader)
    except (csv.Error, StopIteration):
        return None
    if width is not None and len(fields) != width:
        return None
    end = start + reader.line_num - 1
    return end if end > start else None


def _whole_records(
    path: Path, text: str, delimiter: str, quoting: int
) -> Iterator[tuple[int, list[str] | BadRow]]:
    """Records that may span lines (quoted fields with line breaks), with the line each starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting, strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            what = (
                f"a quote opened on line {start} is never closed"
                if "end of data" in str(err)
                else f"broken quoting ({err})"
            )
            raise DataError(path, [(start, f"{what}: reading cannot go on past it")]) from None
        line, start = start, reader.line_num + 1
        if fields and not (len(fields) == 1 and not fields[0].strip()):  # not a blank line
            yield line, fields


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
            obj = json.loads(line, strict=False)  # control characters (a form feed) inside strings too
        except json.JSONDecodeError as err:
            yield i, BadRow(f"invalid JSON ({err.msg} at column {err.colno})")
            continue
        if not isinstance(obj, dict):
            yield i, BadRow(f"expected a JSON object, got {type(obj).__name__}")
            continue
        yield i, obj


UNLABELLED = TaskSpec("texts", None, ("pearson",), description="unlabelled texts")


def read_texts(path: str | Path, encoding: str = "utf-8") -> list[tuple[int, Example, dict[str, Any]]]:
    """The unlabelled texts of a JSONL file (``text`` and, where a line has one, ``text_pair``) or
    of a CSV / TSV file (its ``text`` and, when the header has one, ``text_pair`` column).

    Returns ``(line, example, object)`` for each line (the object for any other fields, empty for
    a CSV); bad lines
    (not JSON, no text, a text or pair that is not a non-empty string, undecodable bytes) are
    reported together, each with its line, as in every other reader."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):  # by the header's text (and text_pair) columns
        reader: RowParser | None = None  # its columns come from the first row: read the file once
        found = []
        for n, row in iter_delimited(
            path, "," if suffix == ".csv" else "\t", encoding=encoding, required=("text",)
        ):
            if reader is None:
                pair = isinstance(row, dict) and "text_pair" in row
                columns = Columns(text="text", text_pair="text_pair" if pair else None, label=None)
                reader = RowParser(path, UNLABELLED, columns)
            if example := reader.parse(row, n):
                found.append((n, example, {}))
        if reader is not None:
            reader.finish()
        if not found:
            raise DataError(path, [(None, "no texts in the file")])
        return found
    if suffix not in (".jsonl", ".json"):
        raise TextdistillError(
            f"{path}: unknown file type {suffix!r}: give JSON lines (.jsonl: text and text_pair per line) "
            "or a .csv / .tsv with a text column"
        )
    parser = RowParser(path, UNLABELLED, Columns(text="text", label=None))
    out = []
    for line, row in iter_jsonl(path, encoding):
        example = parser.parse(row, line)
        if example is None:
            continue
        pair = row.get("text_pair")
        if pair is not None and not (isinstance(pair, str) and pair.strip()):
            what = "empty" if isinstance(pair, str) else f"{json_type(pair)}, not a string"
            parser.problem(line, f"text_pair is {what}")
            continue
        out.append((line, Example(example.text, pair.strip() if pair else None, id=example.id), row))
    parser.finish()
    if not out:
        raise DataError(path, [(None, "no texts in the file")])
    return out


def parse_rows(
    rows: Iterable[tuple[int, Any]],
    path: str | Path,
    spec: TaskSpec,
    columns: Columns,
    label_map: dict[str, str] | None = None,
    bad_rows: str = "strict",
) -> tuple[list[Example], Skipped | None]:
    """Validate every row: raise one error listing all problems (``bad_rows="strict"``), or drop
    the bad rows (``"skip"``) and say which; returns the examples and what was skipped."""
    parser = RowParser(path, spec, columns, label_map, bad_rows)
    out = [ex for line, row in rows if (ex := parser.parse(row, line)) is not None]
    skipped = parser.finish()
    if not out:
        what = f"every row is bad ({skipped.describe()})" if skipped else "no examples in the file"
        raise DataError(path, [(None, what)])
    if skipped is not None:
        warnings.warn(f"{skipped.describe()}", stacklevel=2)
    return out, skipped


@dataclass(frozen=True)
class Skipped:
    """The rows of one file that ``bad_rows="skip"`` dropped: how many, the first line numbers
    and the first problem (as ``(line, message)``)."""

    path: str
    count: int
    lines: tuple[int, ...]
    first: tuple[int | None, str]

    def describe(self) -> str:
        shown = ", ".join(map(str, self.lines)) + (", ..." if self.count > len(self.lines) else "")
        line, message = self.first
        return (
            f"{self.path}: skipped {self.count} bad row(s) (lines {shown}); first: "
            + (f"line {line}: " if line is not None else "")
            + message
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.count,
            "lines": list(self.lines),
            "first": f"line {self.first[0]}: {self.first[1]}",
        }


def table_rows(
    path: str | Path, columns: Columns | str | int, encoding: str = "utf-8", multiline: bool = False
) -> Iterable[tuple[int, Any]]:
    """The rows of a ``.csv``, ``.tsv`` / ``.txt`` or ``.jsonl`` / ``.json`` file (by suffix),
    with a header when the columns are named; a header must hold every named column (``columns``:
    the mapping, or the one column that is needed)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return iter_jsonl(path, encoding)
    if suffix not in (".csv", ".tsv", ".txt"):
        raise TextdistillError(f"{path}: unknown file type {suffix!r}; use .csv, .tsv or .jsonl")
    wanted = (columns.text, columns.text_pair, columns.label) if isinstance(columns, Columns) else (columns,)
    named = tuple(c for c in wanted if isinstance(c, str))
    header = not isinstance(wanted[0], int)
    delimiter = "," if suffix == ".csv" else "\t"
    return iter_delimited(
        path, delimiter, header=header, encoding=encoding, multiline=multiline, required=named
    )


def read_table(
    path: str | Path, spec: TaskSpec, columns: Columns | None = None, **options: Any
) -> list[Example]:
    """The examples of :func:`read_table_report` (its ``options``: ``encoding``, ``label_map``,
    ``bad_rows``, ``multiline``)."""
    return read_table_report(path, spec, columns, **options)[0]


def read_table_report(
    path: str | Path,
    spec: TaskSpec,
    columns: Columns | None = None,
    encoding: str = "utf-8",
    label_map: dict[str, str] | None = None,
    bad_rows: str = "strict",
    multiline: bool = False,
) -> tuple[list[Example], Skipped | None]:
    """Read a ``.csv``, ``.tsv`` or ``.jsonl`` file (chosen by suffix) with a column mapping; returns
    the examples and what ``bad_rows="skip"`` dropped (``None``: nothing).

    The default mapping is our own layout: ``text``, ``text_pair`` (pair tasks), ``label``.
    ``label_map`` maps the label values written in the file to class names (``{"0": "ham"}``).
    ``bad_rows="skip"`` drops bad rows with a warning instead of raising; ``multiline`` reads
    quoted CSV fields with line breaks.
    """
    if columns is None:
        columns = Columns(text_pair="text_pair" if spec.is_pair else None)
    rows = table_rows(path, columns, encoding, multiline)
    return parse_rows(rows, path, spec, columns, label_map, bad_rows)


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


def infer_labels(
    path: str | Path,
    column: str | int = "label",
    encoding: str = "utf-8",
    multiline: bool = False,
    columns: Columns | None = None,
) -> tuple[str, ...]:
    """The sorted set of label values in a training file (for a user's own classification task).

    Columns given by position read the file without a header; a first line whose label appears on
    no other line, in a file where every other label appears twice or more, is taken for a header
    read as data and refused (it would become a class of its own). ``columns`` (the whole mapping,
    whose ``label`` is then the column read) has a header checked for all its columns."""
    path = Path(path)
    if columns is not None and columns.label is not None:
        column = columns.label
    text_column = columns.text if columns is not None else None
    counts: Counter[str] = Counter()
    lines: dict[str, int] = {}
    first: tuple[int, str, Any] | None = None  # the first row: its line, label and text
    bad: list[tuple[int | None, str]] = []
    rows = 0
    for line, row in table_rows(path, columns or column, encoding, multiline):
        rows += 1
        if isinstance(row, BadRow):
            bad.append((line, row.message))
            continue
        value = row[column] if _has(row, column) else None
        if value is None or isinstance(value, dict | list) or (isinstance(value, float) and value != value):
            continue  # not a class: read_table reports it
        name = _label_name(value)
        if name:  # a missing label is not a class (read_table reports it)
            counts[name] += 1
            lines.setdefault(name, line)
            text = row[text_column] if text_column is not None and _has(row, text_column) else None
            first = first or (line, name, text)
    if not counts:
        if bad:  # the rows could not be read: say why, not that there are no labels
            raise DataError(path, bad[:MAX_REPORTED], more=max(0, len(bad) - MAX_REPORTED))
        what = (
            "no examples in the file (it is empty)"
            if not rows
            else f"every label in column {column!r} is empty"
        )
        raise DataError(path, [(None, what)])
    if isinstance(column, int) and first is not None and counts[first[1]] == 1 and len(counts) > 2:
        others = [n for v, n in counts.items() if v != first[1]]
        one_word = isinstance(first[2], str) and len(first[2].split()) == 1
        if min(others) < 2 and one_word:  # a rare class beside it: likely a header, but not surely
            warnings.warn(
                f"{path}:{first[0]}: this line may be a header (its label {first[1]!r} appears on no other "
                "line); columns given by position read it as an example",
                stacklevel=2,
            )
        elif min(others) >= 2:
            raise DataError(
                path,
                [
                    (
                        first[0],
                        f"this line looks like a header: its label {first[1]!r} appears on no other line; "
                        "columns given by position read the file without a header: name the columns "
                        "(e.g. text=sentence,label=label) or remove the line",
                    )
                ],
            )
    _warn_odd_labels(path, counts, lines)
    return tuple(
        sorted(
            counts, key=lambda v: (not v.lstrip("-").isdigit(), int(v) if v.lstrip("-").isdigit() else 0, v)
        )
    )


def _warn_odd_labels(path: Path, counts: Counter[str], lines: dict[str, int]) -> None:
    """A warning for labels that look like typos: classes seen on one line only, and names that
    differ only in case (``Positive`` beside ``positive``)."""
    if len(counts) > 2:
        once = [f"{v!r} (line {lines[v]})" for v, n in counts.items() if n == 1]
        if once and len(once) < len(counts):
            warnings.warn(
                f"{path}: the label {', '.join(once)} appears once: a class of its own, or a typo?",
                stacklevel=3,
            )
    by_case: dict[str, list[str]] = {}
    for v in counts:
        by_case.setdefault(v.casefold(), []).append(v)
    clash = [" / ".join(sorted(vs)) for vs in by_case.values() if len(vs) > 1]
    if clash:
        warnings.warn(f"{path}: labels that differ only in case are different classes: {'; '.join(clash)}",
                      stacklevel=3)  # fmt: skip


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

    return parse_rows(rows(), f"{source}[{split}]", spec, columns)[0]


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
