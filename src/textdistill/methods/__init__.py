"""Distillation methods: small objects that turn a batch and model outputs into a loss.

``get_method("hinton", temperature=4.0)`` builds one by name; :data:`METHODS` lists them.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from textdistill.errors import TextdistillError
from textdistill.methods.base import Method
from textdistill.methods.hard import Hard
from textdistill.methods.hinton import Hinton
from textdistill.methods.hinton_cos import HintonCosine
from textdistill.methods.lrc_bert import LRCBert
from textdistill.methods.mtdnn_kd import MTDNNKD
from textdistill.methods.tang import Tang

METHODS: dict[str, type] = {
    "hard": Hard, "hinton": Hinton, "hinton_cos": HintonCosine, "tang": Tang, "lrc_bert": LRCBert,
}  # fmt: skip


MULTI_LABEL_METHODS = ("hard", "hinton", "hinton_cos", "tang")  # lrc_bert's targets are one softmax


def for_task(name: str, params: dict[str, Any], multi_label: bool) -> Method:
    """:func:`get_method` for a task: a multi-label task's methods learn per-label sigmoids (they
    get ``multi_label``); a method that cannot is refused."""
    if not multi_label:
        return get_method(name, **params)
    key = name.strip().lower()
    if key not in MULTI_LABEL_METHODS:
        raise TextdistillError(
            f"{name} matches one softmax over the classes; a multi-label task distils with "
            f"{', '.join(MULTI_LABEL_METHODS)}"
        )
    extra = {"multi_label": True} if key in ("hinton", "hinton_cos") else {}
    return get_method(key, **params, **extra)


def get_method(name: str, **params: Any) -> Method:
    """The method registered as ``name`` (case-insensitive), built with ``params``.

    Raises:
        TextdistillError: for an unknown name (the message lists the valid ones), an unknown
            parameter (the message lists the accepted ones), or a value the method rejects.
    """
    key = name.strip().lower()
    if key not in METHODS:
        raise TextdistillError(f"unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}")
    cls = METHODS[key]
    accepted = [f.name for f in fields(cls) if f.init]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise TextdistillError(
            f"method {key!r} has no parameter {', '.join(unknown)}; "
            f"it takes: {', '.join(accepted) if accepted else 'no parameters'}"
        )
    return cls(**params)


__all__ = [
    "METHODS",
    "MTDNNKD",
    "MULTI_LABEL_METHODS",
    "Hard",
    "Hinton",
    "HintonCosine",
    "LRCBert",
    "Method",
    "Tang",
    "for_task",
    "get_method",
]
