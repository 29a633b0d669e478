"""textdistill: distil fine-tuned BERT-style text models into small, fast students.

The Python API (:mod:`textdistill.api`, loaded on first use so that ``import textdistill`` stays
light): ``teach``, ``distill``, ``evaluate``, ``export``, ``load`` and ``bench``, the commands of
the command line with the same keys, and the errors they raise (``ConfigError``,
``TextdistillError``); ``docs/api.md`` walks through them.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = [
    "ConfigError", "Predictor", "TextdistillError", "__version__", "bench", "distill", "evaluate", "export",
    "load", "predict", "teach",
]  # fmt: skip


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def __getattr__(name: str) -> Any:
    if name in __all__:
        from textdistill import api

        return getattr(api, name)
    raise AttributeError(f"module 'textdistill' has no attribute {name!r}")
