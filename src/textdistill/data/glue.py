"""The nine GLUE tasks, read from the official file layouts of the GLUE download.

Every file is tab-separated with literal quotes (read with ``csv.QUOTE_NONE``). One folder per
task, named as in the download (``glue_data/SST-2/train.tsv``)::

    CoLA   train/dev: no header; source, label, original_label ("*" or empty), sentence
           test:      index, sentence
    SST-2  train/dev: sentence, label                      test: index, sentence
    MRPC   train/dev: Quality, #1 ID, #2 ID, #1 String, #2 String
                      (the header keeps the UTF-8 BOM of msr_paraphrase_train.txt)
           test:      index, #1 ID, #2 ID, #1 String, #2 String
    STS-B  train/dev: index, genre, filename, year, old_index, source1, source2,
                      sentence1, sentence2, score (a float in [0, 5])
           test:      the same without score
    QQP    train/dev: id, qid1, qid2, question1, question2, is_duplicate
           test:      id, question1, question2
    MNLI   train:     index, promptID, pairID, genre, sentence1_binary_parse,
                      sentence2_binary_parse, sentence1_parse, sentence2_parse,
                      sentence1, sentence2, label1, gold_label
           dev_matched / dev_mismatched: the same with label1 .. label5, then gold_label
           test_matched / test_mismatched: index .. sentence2 (no labels)
    QNLI   train/dev: index, question, sentence, label    test: index, question, sentence
    RTE    train/dev: index, sentence1, sentence2, label  test: index, sentence1, sentence2
    WNLI   as RTE, with labels 0 / 1

Labels are kept as they appear in the files. MNLI's class order is entailment, neutral,
contradiction (the order of the Hugging Face ``glue`` dataset).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from textdistill.data.readers import Columns, iter_delimited, parse_rows
from textdistill.data.spec import Example, TaskSpec
from textdistill.errors import TextdistillError

_SPLITS = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}
_MNLI_SPLITS = {
    "train": "train.tsv",
    "dev_matched": "dev_matched.tsv",
    "dev_mismatched": "dev_mismatched.tsv",
    "test_matched": "test_matched.tsv",
    "test_mismatched": "test_mismatched.tsv",
}


@dataclass(frozen=True)
class GlueTask:
    """A GLUE task and where its data lies in the official download.

    Attributes:
        spec: what the task is (labels as they appear in the files).
        folder: the task's folder in the download (``SST-2``).
        files: split name to file name (``train``, ``dev``, ``test``; MNLI has ``dev_matched``,
            ``dev_mismatched``, ``test_matched`` and ``test_mismatched`` instead of dev/test).
        header: whether the labelled (train/dev) files have a header; test files always do.
        columns: the columns of the labelled files (0-based indices where there is no header).
        test_columns: the columns of the test files (``label=None``).
    """

    spec: TaskSpec
    folder: str
    files: dict[str, str]
    header: bool
    columns: Columns
    test_columns: Columns


def _pair(a: str, b: str, label: str) -> tuple[Columns, Columns]:
    return Columns(text=a, text_pair=b, label=label), Columns(text=a, text_pair=b, label=None)


def _task(
    name: str,
    folder: str,
    labels: tuple[str, ...] | None,
    metrics: tuple[str, ...],
    description: str,
    columns: tuple[Columns, Columns],
    header: bool = True,
    files: dict[str, str] = _SPLITS,
) -> GlueTask:
    spec = TaskSpec(name, labels, metrics, is_pair=columns[0].text_pair is not None, description=description)
    return GlueTask(spec, folder, dict(files), header, columns[0], columns[1])


GLUE_TASKS: dict[str, GlueTask] = {
    t.spec.name: t
    for t in [
        _task(
            "cola",
            "CoLA",
            ("0", "1"),
            ("mcc",),
            "Corpus of Linguistic Acceptability: is the sentence grammatical? (1 = acceptable)",
            (Columns(text=3, label=1), Columns(text="sentence", label=None)),
            header=False,
        ),
        _task(
            "sst2",
            "SST-2",
            ("0", "1"),
            ("accuracy",),
            "Stanford Sentiment Treebank, binary sentence sentiment (1 = positive).",
            (Columns(text="sentence", label="label"), Columns(text="sentence", label=None)),
        ),
        _task(
            "mrpc",
            "MRPC",
            ("0", "1"),
            ("f1", "accuracy"),
            "Microsoft Research Paraphrase Corpus: are the two sentences paraphrases? (1 = yes)",
            _pair("#1 String", "#2 String", "Quality"),
        ),
        _task(
            "stsb",
            "STS-B",
            None,
            ("pearson", "spearman"),
            "Semantic Textual Similarity Benchmark: similarity score of a sentence pair, 0 to 5.",
            _pair("sentence1", "sentence2", "score"),
        ),
        _task(
            "qqp",
            "QQP",
            ("0", "1"),
            ("accuracy", "f1"),
            "Quora Question Pairs: do the two questions ask the same thing? (1 = duplicate)",
            _pair("question1", "question2", "is_duplicate"),
        ),
        _task(
            "mnli",
            "MNLI",
            ("entailment", "neutral", "contradiction"),
            ("accuracy",),
            "Multi-Genre NLI: does the premise entail, contradict or neither the hypothesis?",
            _pair("sentence1", "sentence2", "gold_label"),
            files=_MNLI_SPLITS,
        ),
        _task(
            "qnli",
            "QNLI",
            ("entailment", "not_entailment"),
            ("accuracy",),
            "Question NLI (from SQuAD): does the sentence answer the question?",
            _pair("question", "sentence", "label"),
        ),
        _task(
            "rte",
            "RTE",
            ("entailment", "not_entailment"),
            ("accuracy",),
            "Recognizing Textual Entailment: does sentence1 entail sentence2?",
            _pair("sentence1", "sentence2", "label"),
        ),
        _task(
            "wnli",
            "WNLI",
            ("0", "1"),
            ("accuracy",),
            "Winograd NLI: is sentence2 (a pronoun resolved) entailed by sentence1? (1 = yes)",
            _pair("sentence1", "sentence2", "label"),
        ),
    ]
}


def glue_file(task: str, folder: str | Path, split: str) -> Path:
    """The path of one split's file; ``folder`` is the task folder or the GLUE root above it."""
    glue = _glue_task(task)
    if split not in glue.files:
        raise TextdistillError(
            f"GLUE task {glue.spec.name!r} has no split {split!r}; splits: {', '.join(glue.files)}"
        )
    folder = Path(folder)
    task_dir = folder / glue.folder if (folder / glue.folder).is_dir() else folder
    path = task_dir / glue.files[split]
    if not path.is_file():
        have = sorted(name for name in glue.files.values() if (task_dir / name).is_file())
        raise TextdistillError(
            f"no {glue.folder} {split} file {path}: give the GLUE root or its {glue.folder} folder, "
            f"which holds {', '.join(glue.files.values())}"
            + (f" (found only {', '.join(have)})" if have else "")
        )
    return path


def read_glue(task: str, folder: str | Path, split: str) -> list[Example]:
    """Read one split of a GLUE task from the official download (test splits are unlabelled)."""
    glue = _glue_task(task)
    path = glue_file(task, folder, split)
    test = split.startswith("test")
    rows = iter_delimited(path, "\t", header=test or glue.header, quoting=csv.QUOTE_NONE)
    return parse_rows(rows, path, glue.spec, glue.test_columns if test else glue.columns)[0]


def _glue_task(task: str) -> GlueTask:
    key = task.lower().replace("-", "")
    if key not in GLUE_TASKS:
        raise TextdistillError(f"unknown GLUE task {task!r}; GLUE tasks: {', '.join(GLUE_TASKS)}")
    return GLUE_TASKS[key]
