"""Errors a user can act on. The CLI prints them without a traceback."""

from __future__ import annotations

from pathlib import Path


class TextdistillError(Exception):
    """Base class: anything the user caused and can fix (bad file, bad option, missing asset)."""


class DataError(TextdistillError):
    """A problem in an input file, located by file and line (1-based, as an editor shows it).

    Several problems can be reported at once: ``problems`` holds ``(line, message)`` pairs.
    """

    def __init__(self, path: str | Path, problems: list[tuple[int | None, str]], more: int = 0) -> None:
        self.path = str(path)
        self.problems = problems
        self.more = more
        lines = [
            f"{self.path}" + (f":{line}" if line is not None else "") + f": {msg}" for line, msg in problems
        ]
        if more:
            lines.append(f"... and {more} more problem(s) in {self.path}")
        super().__init__("\n".join(lines))


class AssetError(TextdistillError):
    """An asset could not be fetched, verified or converted."""


TENSORBOARD_MISSING = (
    "report_to tensorboard needs the tensorboard package: pip install 'textdistill[tensorboard]'"
)
