"""Readers: the nine GLUE tasks in their official layouts, user tables, HF datasets, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from textdistill.data.glue import GLUE_TASKS, glue_file, read_glue
from textdistill.data.readers import Columns, infer_labels, read_hf_dataset, read_table
from textdistill.data.tasks import Example, TaskSpec, get_task
from textdistill.errors import DataError, TextdistillError

FIXTURES = Path(__file__).parent / "fixtures"
GLUE = FIXTURES / "glue"
BAD = FIXTURES / "bad"

SENTIMENT = TaskSpec("sentiment", ("negative", "positive"), ("accuracy",))
SCORE = TaskSpec("score", None, ("pearson",))
NLI = TaskSpec("nli", ("entailment", "neutral", "contradiction"), ("accuracy",), is_pair=True)
BINARY = TaskSpec("binary", ("0", "1"), ("accuracy",))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


# --------------------------------------------------------------------------------------------
# GLUE: specs and the official layouts

MNLI_COLUMNS = (
    "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
    "sentence1_parse\tsentence2_parse\tsentence1\tsentence2"
)
STSB_COLUMNS = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2"

# The first line of every official file (None: no header). Guards the fixtures' layout.
OFFICIAL_HEADERS = {
    "CoLA/train.tsv": None,
    "CoLA/dev.tsv": None,
    "CoLA/test.tsv": "index\tsentence",
    "SST-2/train.tsv": "sentence\tlabel",
    "SST-2/dev.tsv": "sentence\tlabel",
    "SST-2/test.tsv": "index\tsentence",
    "MRPC/train.tsv": "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String",
    "MRPC/dev.tsv": "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String",
    "MRPC/test.tsv": "index\t#1 ID\t#2 ID\t#1 String\t#2 String",
    "STS-B/train.tsv": STSB_COLUMNS + "\tscore",
    "STS-B/dev.tsv": STSB_COLUMNS + "\tscore",
    "STS-B/test.tsv": STSB_COLUMNS,
    "QQP/train.tsv": "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate",
    "QQP/dev.tsv": "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate",
    "QQP/test.tsv": "id\tquestion1\tquestion2",
    "MNLI/train.tsv": MNLI_COLUMNS + "\tlabel1\tgold_label",
    "MNLI/dev_matched.tsv": MNLI_COLUMNS + "\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label",
    "MNLI/dev_mismatched.tsv": MNLI_COLUMNS + "\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label",
    "MNLI/test_matched.tsv": MNLI_COLUMNS,
    "MNLI/test_mismatched.tsv": MNLI_COLUMNS,
    "QNLI/train.tsv": "index\tquestion\tsentence\tlabel",
    "QNLI/dev.tsv": "index\tquestion\tsentence\tlabel",
    "QNLI/test.tsv": "index\tquestion\tsentence",
    "RTE/train.tsv": "index\tsentence1\tsentence2\tlabel",
    "RTE/dev.tsv": "index\tsentence1\tsentence2\tlabel",
    "RTE/test.tsv": "index\tsentence1\tsentence2",
    "WNLI/train.tsv": "index\tsentence1\tsentence2\tlabel",
    "WNLI/dev.tsv": "index\tsentence1\tsentence2\tlabel",
    "WNLI/test.tsv": "index\tsentence1\tsentence2",
}


def test_glue_task_table() -> None:
    assert list(GLUE_TASKS) == ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli"]
    got = {
        name: (t.folder, t.spec.labels, t.spec.metrics, t.spec.is_pair, t.header)
        for name, t in GLUE_TASKS.items()
    }
    assert got == {
        "cola": ("CoLA", ("0", "1"), ("mcc",), False, False),
        "sst2": ("SST-2", ("0", "1"), ("accuracy",), False, True),
        "mrpc": ("MRPC", ("0", "1"), ("f1", "accuracy"), True, True),
        "stsb": ("STS-B", None, ("pearson", "spearman"), True, True),
        "qqp": ("QQP", ("0", "1"), ("accuracy", "f1"), True, True),
        "mnli": ("MNLI", ("entailment", "neutral", "contradiction"), ("accuracy",), True, True),
        "qnli": ("QNLI", ("entailment", "not_entailment"), ("accuracy",), True, True),
        "rte": ("RTE", ("entailment", "not_entailment"), ("accuracy",), True, True),
        "wnli": ("WNLI", ("0", "1"), ("accuracy",), True, True),
    }
    known = {"accuracy", "f1", "macro_f1", "mcc", "pearson", "spearman"}
    assert all(set(t.spec.metrics) <= known for t in GLUE_TASKS.values())
    assert GLUE_TASKS["stsb"].spec.is_regression and GLUE_TASKS["stsb"].spec.num_labels == 1
    assert GLUE_TASKS["mnli"].spec.num_labels == 3


def test_glue_files_and_columns() -> None:
    standard = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}
    for name, task in GLUE_TASKS.items():
        if name != "mnli":
            assert task.files == standard, name
        assert task.test_columns.label is None, name
        assert task.test_columns.text_pair == task.columns.text_pair, name
    assert GLUE_TASKS["mnli"].files == {
        "train": "train.tsv",
        "dev_matched": "dev_matched.tsv",
        "dev_mismatched": "dev_mismatched.tsv",
        "test_matched": "test_matched.tsv",
        "test_mismatched": "test_mismatched.tsv",
    }
    assert GLUE_TASKS["cola"].columns == Columns(text=3, text_pair=None, label=1)
    assert GLUE_TASKS["cola"].test_columns == Columns(text="sentence", text_pair=None, label=None)
    assert GLUE_TASKS["mrpc"].columns == Columns("#1 String", "#2 String", "Quality")
    assert GLUE_TASKS["stsb"].columns == Columns("sentence1", "sentence2", "score")
    assert GLUE_TASKS["qqp"].columns == Columns("question1", "question2", "is_duplicate")
    assert GLUE_TASKS["mnli"].columns == Columns("sentence1", "sentence2", "gold_label")
    assert GLUE_TASKS["qnli"].columns == Columns("question", "sentence", "label")


def test_get_task_finds_glue_specs() -> None:
    assert get_task("SST-2") is GLUE_TASKS["sst2"].spec
    assert get_task("sts-b") is GLUE_TASKS["stsb"].spec
    assert get_task("MNLI").labels == ("entailment", "neutral", "contradiction")


@pytest.mark.parametrize("relpath", sorted(OFFICIAL_HEADERS))
def test_fixtures_have_the_official_headers(relpath: str) -> None:
    first = (GLUE / relpath).read_text(encoding="utf-8").split("\n", 1)[0]
    header = OFFICIAL_HEADERS[relpath]
    if header is None:  # CoLA train/dev: source, label, original_label, sentence
        fields = first.split("\t")
        assert len(fields) == 4 and fields[1] in ("0", "1") and fields[2] in ("", "*")
    else:
        assert first == header


# (task, split, expected labels: class indices, floats, or a count of unlabelled rows)
GLUE_CASES = [
    ("cola", "train", [1, 1, 0, 1, 0, 0]),
    ("cola", "dev", [1, 1, 1, 1, 0]),
    ("cola", "test", 4),
    ("sst2", "train", [0, 0, 1, 0, 0, 1]),
    ("sst2", "dev", [1, 0, 1, 0, 0]),
    ("sst2", "test", 4),
    ("mrpc", "train", [1, 0, 1, 0, 1]),
    ("mrpc", "dev", [1, 0, 0, 1]),
    ("mrpc", "test", 4),
    ("stsb", "train", [5.0, 3.8, 3.8, 2.6, 4.25, 0.0]),
    ("stsb", "dev", [5.0, 4.75, 5.0, 2.615]),
    ("stsb", "test", 4),
    ("qqp", "train", [0, 1, 0, 1, 0]),
    ("qqp", "dev", [0, 1, 0, 0]),
    ("qqp", "test", 4),
    ("mnli", "train", [1, 0, 0, 0, 1, 2]),
    ("mnli", "dev_matched", [1, 2, 0, 2]),
    ("mnli", "dev_mismatched", [2, 2, 0, 1]),
    ("mnli", "test_matched", 3),
    ("mnli", "test_mismatched", 3),
    ("qnli", "train", [1, 1, 0, 0]),
    ("qnli", "dev", [0, 1, 1, 0]),
    ("qnli", "test", 4),
    ("rte", "train", [1, 0, 0, 0]),
    ("rte", "dev", [1, 0, 1, 0]),
    ("rte", "test", 3),
    ("wnli", "train", [1, 1, 1, 0]),
    ("wnli", "dev", [0, 1, 0, 1]),
    ("wnli", "test", 3),
]


@pytest.mark.parametrize(("task", "split", "expected"), GLUE_CASES)
def test_read_glue_every_split(task: str, split: str, expected: list[float] | int) -> None:
    examples = read_glue(task, GLUE, split)
    spec = GLUE_TASKS[task].spec
    if isinstance(expected, int):
        assert len(examples) == expected
        assert [ex.label for ex in examples] == [None] * expected
    else:
        assert [ex.label for ex in examples] == expected
        kind = float if spec.is_regression else int
        assert all(type(ex.label) is kind for ex in examples)
    for ex in examples:
        assert ex.text and ex.text == ex.text.strip()
        if spec.is_pair:
            assert ex.text_pair and ex.text_pair == ex.text_pair.strip()
        else:
            assert ex.text_pair is None


def test_every_glue_split_has_a_case() -> None:
    cases = {(task, split) for task, split, _ in GLUE_CASES}
    assert cases == {(name, split) for name, t in GLUE_TASKS.items() for split in t.files}


def test_glue_texts_are_read_verbatim() -> None:
    cola = read_glue("cola", GLUE, "train")
    assert cola[2] == Example("They drank the pub.", None, 0)
    assert read_glue("cola", GLUE, "test")[1] == Example("The car honked its way down the road.")
    # literal quotes (QUOTE_NONE): a field may even start with one
    sst2 = read_glue("sst2", GLUE, "train")
    assert sst2[5] == Example('the film \'s " final " cut is a "director \'s cut" in name only', None, 1)
    mrpc_dev = read_glue("mrpc", GLUE, "dev")
    assert (
        mrpc_dev[0].text_pair == '" The foodservice pie business does not fit our long-term growth strategy .'
    )
    assert mrpc_dev[1].text.startswith("Magnarelli said Racicot")
    mrpc = read_glue("mrpc", GLUE, "train")
    assert mrpc[0].text == (
        'Amrozi accused his brother , whom he called " the witness " , '
        "of deliberately distorting his evidence ."
    )
    assert mrpc[0].text_pair.startswith('Referring to him as only " the witness "')
    assert read_glue("mrpc", GLUE, "test")[0].text.startswith("PCCW 's chief operating officer")
    assert read_glue("stsb", GLUE, "train")[5] == Example(
        '"Obama signs" budget deal', "Obama signs the budget deal into law", 0.0
    )
    assert read_glue("qqp", GLUE, "test")[2] == Example(
        "Why don't people simply 'Google' instead of asking questions on Quora?",
        "Why do people ask Quora questions instead of just searching google?",
    )
    assert read_glue("qnli", GLUE, "dev")[0] == Example(
        "What came into force after the new constitution was herald?",
        "As of that day, the new constitution heralding the Second Republic came into force.",
        0,
    )
    assert read_glue("rte", GLUE, "train")[0] == Example(
        "No Weapons of Mass Destruction Found in Iraq Yet.", "Weapons of Mass Destruction Found in Iraq.", 1
    )
    assert read_glue("wnli", GLUE, "test")[1].text_pair == "Horses ran away when the trains came in sight."


def test_mnli_reads_both_dev_and_test_files() -> None:
    matched = read_glue("mnli", GLUE, "dev_matched")
    mismatched = read_glue("mnli", GLUE, "dev_mismatched")
    # the label is gold_label, not label1: on mismatched row 2 label1 is "neutral", gold "entailment"
    assert matched[0] == Example(
        "The new rights are nice enough", "Everyone really likes the newest benefits", 1
    )
    assert mismatched[2] == Example(
        "We serve a classic Tuscan meal that includes a Florentine terrine "
        "made with dick and chicken livers.",
        "We serve a meal of Florentine terrine.",
        0,
    )
    assert not {ex.text for ex in matched} & {ex.text for ex in mismatched}
    test_m = read_glue("mnli", GLUE, "test_matched")
    test_mm = read_glue("mnli", GLUE, "test_mismatched")
    assert test_m[0].text.startswith("Hierbas, ans seco")
    assert test_mm[0] == Example(
        "What have you decided, what are you going to do?", "So what's your decision?"
    )
    train = read_glue("mnli", GLUE, "train")
    assert train[5].text == 'The "Old One" always comforted Ca\'daan, except today.'


def test_read_glue_accepts_root_or_task_folder_and_name_variants() -> None:
    from_root = read_glue("sst2", GLUE, "dev")
    assert read_glue("SST-2", GLUE / "SST-2", "dev") == from_root
    assert read_glue("sst-2", str(GLUE), "dev") == from_root
    assert read_glue("STS-B", GLUE / "STS-B", "test") == read_glue("stsb", GLUE, "test")
    assert glue_file("mnli", GLUE, "dev_mismatched") == GLUE / "MNLI" / "dev_mismatched.tsv"
    assert glue_file("cola", GLUE / "CoLA", "train") == GLUE / "CoLA" / "train.tsv"


def test_read_glue_unknown_task() -> None:
    with pytest.raises(TextdistillError) as err:
        read_glue("squad", GLUE, "train")
    assert str(err.value) == (
        "unknown GLUE task 'squad'; GLUE tasks: cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli"
    )


def test_read_glue_unknown_split_lists_the_splits() -> None:
    with pytest.raises(TextdistillError) as err:
        read_glue("mnli", GLUE, "dev")
    assert str(err.value) == (
        "GLUE task 'mnli' has no split 'dev'; splits: "
        "train, dev_matched, dev_mismatched, test_matched, test_mismatched"
    )
    with pytest.raises(TextdistillError, match=r"has no split 'validation'; splits: train, dev, test$"):
        read_glue("rte", GLUE, "validation")


def test_read_glue_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TextdistillError) as err:
        read_glue("qnli", tmp_path, "train")
    assert not isinstance(err.value, DataError)
    message = str(err.value)
    assert str(tmp_path / "train.tsv") in message
    assert "holds train.tsv, dev.tsv, test.tsv" in message
    assert "found only" not in message

    (tmp_path / "QNLI").mkdir()
    shutil.copy(GLUE / "QNLI" / "train.tsv", tmp_path / "QNLI" / "train.tsv")
    assert len(read_glue("qnli", tmp_path, "train")) == 4
    with pytest.raises(TextdistillError) as err:
        read_glue("qnli", tmp_path, "dev")
    assert str(tmp_path / "QNLI" / "dev.tsv") in str(err.value)
    assert str(err.value).endswith("(found only train.tsv)")


def test_glue_errors_name_file_and_line(tmp_path: Path) -> None:
    cola = tmp_path / "CoLA"
    cola.mkdir()
    rows = (GLUE / "CoLA" / "train.tsv").read_text(encoding="utf-8")
    write(cola / "train.tsv", rows + "gj04\t1\n" + "gj04\t2\t\tThe cat sat.\n")
    with pytest.raises(DataError) as err:
        read_glue("cola", tmp_path, "train")
    assert err.value.path == str(cola / "train.tsv")
    assert err.value.problems == [
        (7, "missing column 3 (the row has 2 fields)"),
        (8, "unknown label '2' in column 1; expected one of ['0', '1']"),
    ]

    stsb = tmp_path / "STS-B"
    stsb.mkdir()
    lines = (GLUE / "STS-B" / "dev.tsv").read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].rsplit("\t", 1)[0] + "\tabout 4"
    write(stsb / "dev.tsv", "\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        read_glue("stsb", tmp_path, "dev")
    assert str(err.value) == (
        f"{stsb / 'dev.tsv'}:4: non-numeric label 'about 4' in column 'score' of a regression task"
    )


# --------------------------------------------------------------------------------------------
# read_table with a user's column mapping


def test_read_table_csv_with_column_mapping(tmp_path: Path) -> None:
    path = write(
        tmp_path / "reviews.csv",
        'id,review,verdict\n1,"Great, really great.",positive\n2,Awful.,negative\n'
        '3,"Said ""meh"".",negative\n',
    )
    got = read_table(path, SENTIMENT, Columns(text="review", label="verdict"))
    assert got == [
        Example("Great, really great.", None, 1),
        Example("Awful.", None, 0),
        Example('Said "meh".', None, 0),
    ]


def test_read_table_default_columns_and_pairs(tmp_path: Path) -> None:
    path = write(tmp_path / "nli.tsv", "text\ttext_pair\tlabel\nA dog runs.\tAn animal moves.\tentailment\n")
    assert read_table(path, NLI) == [Example("A dog runs.", "An animal moves.", 0)]
    mapped = write(tmp_path / "mapped.tsv", "p\th\tgold\nIt rains.\tIt is dry.\tcontradiction\n")
    assert read_table(mapped, NLI, Columns(text="p", text_pair="h", label="gold")) == [
        Example("It rains.", "It is dry.", 2)
    ]
    with pytest.raises(TextdistillError, match="sentence-pair task: give a text_pair column"):
        read_table(mapped, NLI, Columns(text="p", label="gold"))


def test_read_table_headerless_tsv_with_integer_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "plain.tsv", "a1\t1\tThis one is fine.\na2\t0\tThis one is not.\n")
    columns = Columns.parse("text=2,label=1")
    assert columns == Columns(text=2, text_pair=None, label=1)
    assert read_table(path, BINARY, columns) == [
        Example("This one is fine.", None, 1),
        Example("This one is not.", None, 0),
    ]
    # the first line is data, not a header: an unknown label there is reported on line 1
    write(path, "a1\tyes\tThis one is fine.\n")
    with pytest.raises(DataError) as err:
        read_table(path, BINARY, columns)
    assert err.value.problems == [
        (
            1,
            "unknown label 'yes' in column 1; expected one of ['0', '1'] (is line 1 a header? columns "
            "given by position read the file without one: name the columns instead, e.g. "
            "text=sentence,label=label)",
        )
    ]


def test_columns_mixing_names_and_positions_or_naming_one_twice_are_refused() -> None:
    with pytest.raises(TextdistillError, match=r"give every column by name .* or every one by position"):
        Columns(text=2, label="label")
    with pytest.raises(TextdistillError, match="two of them name the same column"):
        Columns(text="review", label="review")
    with pytest.raises(TextdistillError, match="text is given twice"):
        Columns.parse("text=review,text=sentiment,label=sentiment")


def test_read_table_jsonl_with_mapping_and_json_label_types(tmp_path: Path) -> None:
    path = write(
        tmp_path / "data.jsonl",
        '{"body": "yes please", "spam": true}\n\n{"body": "no thanks", "spam": false}\n'
        '{"body": "maybe", "spam": 1.0}\n{"body": "never", "spam": 0}\n',
    )
    assert read_table(path, BINARY, Columns(text="body", label="spam")) == [
        Example("yes please", None, 1),
        Example("no thanks", None, 0),
        Example("maybe", None, 1),
        Example("never", None, 0),
    ]
    assert infer_labels(path, "spam") == ("0", "1")


def test_read_table_unlabelled_and_regression(tmp_path: Path) -> None:
    path = write(tmp_path / "scores.csv", "text,label\nGood.,3.5\nBad.,-2\n")
    assert read_table(path, SCORE) == [Example("Good.", None, 3.5), Example("Bad.", None, -2.0)]
    assert read_table(path, SCORE, Columns(label=None)) == [Example("Good."), Example("Bad.")]


def test_read_table_strips_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbftext,label\r\nFine.,positive\r\n")
    assert read_table(path, SENTIMENT) == [Example("Fine.", None, 1)]
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_bytes('\ufeff{"text": "Fine.", "label": "negative"}\n'.encode())
    assert read_table(jsonl, SENTIMENT) == [Example("Fine.", None, 0)]


def test_read_table_jsonl_line_numbers_ignore_unicode_line_separators(tmp_path: Path) -> None:
    path = write(
        tmp_path / "sep.jsonl",
        '{"text": "one\u2028two\x85three", "label": "positive"}\n{"text": "", "label": "negative"}\n',
    )
    with pytest.raises(DataError) as err:
        read_table(path, SENTIMENT)
    assert err.value.problems == [(2, "empty text in column 'text'")]
    write(path, '{"text": "one\u2028two", "label": "positive"}\n')
    assert read_table(path, SENTIMENT) == [Example("one\u2028two", None, 1)]


def test_read_table_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TextdistillError, match=r"unknown file type '\.parquet'"):
        read_table(tmp_path / "data.parquet", SENTIMENT)
    with pytest.raises(TextdistillError, match="no such file"):
        read_table(tmp_path / "absent.csv", SENTIMENT)


def test_read_table_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.csv", "text,label\n")
    with pytest.raises(DataError) as err:
        read_table(path, SENTIMENT)
    assert str(err.value) == f"{path}: the file has a header line and no examples"


# --------------------------------------------------------------------------------------------
# infer_labels


def test_infer_labels_sorts_names_and_numbers(tmp_path: Path) -> None:
    names = write(tmp_path / "names.csv", "text,label\na,positive\nb,negative\nc,neutral\nd,positive\n")
    assert infer_labels(names) == ("negative", "neutral", "positive")
    numbers = write(tmp_path / "numbers.tsv", "text\ty\na\t10\nb\t2\nc\t-1\nd\t0\ne\tother\n")
    assert infer_labels(numbers, "y") == ("-1", "0", "2", "10", "other")


def test_infer_labels_headerless_and_jsonl(tmp_path: Path) -> None:
    plain = write(tmp_path / "plain.tsv", "x\tHAM\nx\tSPAM\nx\tHAM\n")
    assert infer_labels(plain, 1) == ("HAM", "SPAM")
    jsonl = write(
        tmp_path / "d.jsonl", '{"label": " b "}\n{"label": "a"}\n{"text": "no label"}\n{"label": null}\n'
    )
    labels = infer_labels(jsonl)
    assert labels == ("a", "b")
    spec = TaskSpec("own", labels, ("accuracy",))
    rows = write(tmp_path / "rows.jsonl", '{"text": "x", "label": " b "}\n{"text": "y", "label": "a"}\n')
    assert [ex.label for ex in read_table(rows, spec)] == [1, 0]


def test_infer_labels_ignores_empty_values(tmp_path: Path) -> None:
    path = write(tmp_path / "gaps.csv", "text,label\na,yes\nb,\nc,no\n")
    assert infer_labels(path) == ("no", "yes")
    blank = write(tmp_path / "blank.csv", "text,label\na,\nb, \n")
    with pytest.raises(DataError) as err:
        infer_labels(blank)
    assert err.value.problems == [(None, "every label in column 'label' is empty")]


# --------------------------------------------------------------------------------------------
# read_hf_dataset


@pytest.fixture
def hf():  # the optional `datasets` package
    return pytest.importorskip("datasets")


def test_read_hf_dataset_maps_class_label_names(tmp_path: Path, hf) -> None:
    features = hf.Features(
        {"text": hf.Value("string"), "label": hf.ClassLabel(names=["positive", "negative"])}
    )
    ds = hf.Dataset.from_dict({"text": ["good", "bad", "great"], "label": [0, 1, 0]}, features=features)
    ds.save_to_disk(str(tmp_path / "single"))
    # ClassLabel 0 is "positive", which is index 1 in SENTIMENT: mapped through the names
    assert read_hf_dataset(tmp_path / "single", "train", SENTIMENT) == [
        Example("good", None, 1),
        Example("bad", None, 0),
        Example("great", None, 1),
    ]
    with pytest.raises(TextdistillError, match="holds a single dataset; ask for split 'train'"):
        read_hf_dataset(tmp_path / "single", "test", SENTIMENT)


def test_read_hf_dataset_dict_with_pairs(tmp_path: Path, hf) -> None:
    features = hf.Features(
        {
            "premise": hf.Value("string"),
            "hypothesis": hf.Value("string"),
            "label": hf.ClassLabel(names=["entailment", "neutral", "contradiction"]),
        }
    )
    dd = hf.DatasetDict(
        {
            "train": hf.Dataset.from_dict(
                {"premise": ["A dog runs."], "hypothesis": ["An animal moves."], "label": [0]},
                features=features,
            ),
            "validation": hf.Dataset.from_dict(
                {"premise": ["It rains.", "A man sings."], "hypothesis": ["It is dry.", "A man sleeps."]}
                | {"label": [2, 1]},
                features=features,
            ),
        }
    )
    dd.save_to_disk(str(tmp_path / "nli"))
    columns = Columns(text="premise", text_pair="hypothesis", label="label")
    assert read_hf_dataset(str(tmp_path / "nli"), "validation", NLI, columns) == [
        Example("It rains.", "It is dry.", 2),
        Example("A man sings.", "A man sleeps.", 1),
    ]
    assert read_hf_dataset(tmp_path / "nli", "train", NLI, columns) == [
        Example("A dog runs.", "An animal moves.", 0)
    ]
    with pytest.raises(TextdistillError) as err:
        read_hf_dataset(tmp_path / "nli", "test", NLI, columns)
    assert str(err.value) == f"{tmp_path / 'nli'}: no split 'test'; splits: train, validation"


def test_read_hf_dataset_regression_and_errors(tmp_path: Path, hf) -> None:
    ds = hf.Dataset.from_dict({"text": ["a", "  ", "c"], "label": [0.5, 1.0, float("nan")]})
    ds.save_to_disk(str(tmp_path / "scores"))
    with pytest.raises(DataError) as err:
        read_hf_dataset(tmp_path / "scores", "train", SCORE)
    assert err.value.path == f"{tmp_path / 'scores'}[train]"
    assert err.value.problems == [
        (2, "empty text in column 'text'"),
        (3, "label nan in column 'label' is not a finite number"),
    ]
    good = hf.Dataset.from_dict({"text": ["a", "b"], "label": [0.5, 4.0]})
    good.save_to_disk(str(tmp_path / "good"))
    assert read_hf_dataset(tmp_path / "good", "train", SCORE) == [
        Example("a", None, 0.5),
        Example("b", None, 4.0),
    ]


# --------------------------------------------------------------------------------------------
# malformed input: file, line and problem, all problems together


def test_tsv_missing_label_column() -> None:
    path = BAD / "missing_label.tsv"
    with pytest.raises(DataError) as err:
        read_table(path, SENTIMENT)
    assert err.value.path == str(path)
    problem = "no column 'label' in the header (columns: 'text', 'genre')"
    assert err.value.problems == [(1, problem)]
    assert str(err.value) == f"{path}:1: {problem}"


def test_csv_unknown_label_line_counts_multiline_records() -> None:
    path = BAD / "unknown_label.csv"
    with pytest.raises(DataError) as err:  # by default a record is one line: the one spanning two is named
        read_table(path, SENTIMENT)
    assert err.value.problems[0] == (
        3,
        "a quoted field runs from this line to line 4 (a line break inside a field?); if the file has such "
        "fields, pass --multiline (files: multiline: true); else it is a stray quote",
    )
    assert err.value.problems[1] == (
        4,
        "broken quoting (a quote inside field 1, which is not quoted): quote the whole field and double the "
        "quotes inside it",
    )
    assert [line for line, _ in err.value.problems] == [3, 4, 5, 7]
    with pytest.raises(DataError) as err:
        read_table(path, SENTIMENT, multiline=True)
    assert err.value.problems == [
        (5, "unknown label 'neutral' in column 'label'; expected one of ['negative', 'positive']"),
        (7, "unknown label 'Positive' in column 'label'; expected one of ['negative', 'positive']"),
    ]
    assert str(err.value).splitlines()[0] == (
        f"{path}:5: unknown label 'neutral' in column 'label'; expected one of ['negative', 'positive']"
    )


def test_jsonl_empty_text() -> None:
    path = BAD / "empty_text.jsonl"
    with pytest.raises(DataError) as err:
        read_table(path, SENTIMENT)
    assert err.value.path == str(path)
    assert err.value.problems == [
        (2, "empty text in column 'text'"),
        (4, "empty text in column 'text'"),
        (5, "empty text in column 'text'"),
        (6, "the text in column 'text' is a number, not a string"),
    ]


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.tsv"
    path.write_bytes(b"text\tlabel\nfine\tpositive\nalso fine\tnegative\ncaf\xe9 au lait\tpositive\n")
    with pytest.raises(DataError) as err:
        read_table(path, SENTIMENT)
    assert err.value.problems == [
        (
            4,
            "bytes b'\\xe9' cannot be decoded as utf-8 (invalid continuation byte); save the file as UTF-8 "
            "(e.g. iconv -f LATIN1 -t UTF-8 FILE > NEW)",
        )
    ]
    assert str(err.value).startswith(f"{path}:4: bytes b'\\xe9'")
    assert read_table(path, SENTIMENT, encoding="latin-1")[2] == Example("café au lait", None, 1)


def test_regression_non_numeric_label() -> None:
    path = BAD / "bad_score.tsv"
    with pytest.raises(DataError) as err:
        read_table(path, SCORE)
    assert err.value.problems == [
        (3, "non-numeric label 'n/a' in column 'label' of a regression task"),
        (5, "non-numeric label '' in column 'label' of a regression task"),
        (6, "label 'inf' in column 'label' is not a finite number"),
    ]


def test_wrong_number_of_fields() -> None:
    path = BAD / "wrong_fields.tsv"
    with pytest.raises(DataError) as err:
        read_table(path, SENTIMENT)
    assert err.value.problems == [
        (3, "3 fields where the header has 2"),
        (5, "1 fields where the header has 2"),
    ]


def test_invalid_json_lines_are_reported_with_the_other_problems() -> None:
    path = BAD / "invalid_json.jsonl"
    with pytest.raises(DataError) as err:
        read_table(path, SENTIMENT)
    problems = err.value.problems
    assert [line for line, _ in problems] == [2, 4, 5, 6]
    assert problems[0][1].startswith("invalid JSON (") and problems[0][1].endswith("at column 56)")
    assert problems[1] == (4, "expected a JSON object, got list")
    assert problems[2] == (5, "empty text in column 'text'")
    assert problems[3][1].startswith("invalid JSON (") and "at column" in problems[3][1]
    assert str(err.value).splitlines()[0].startswith(f"{path}:2: invalid JSON (")


def test_several_kinds_of_problems_in_one_file() -> None:
    path = BAD / "many_problems.tsv"
    with pytest.raises(DataError) as err:
        read_table(path, NLI, Columns(text="premise", text_pair="hypothesis", label="label"))
    assert err.value.more == 0
    assert err.value.problems == [
        (3, "empty text in column 'premise'"),
        (
            4,
            "unknown label 'contradicts' in column 'label'; expected one of "
            "['entailment', 'neutral', 'contradiction']",
        ),
        (5, "2 fields where the header has 3"),
        (6, "empty text in column 'hypothesis'"),
    ]
    assert len(str(err.value).splitlines()) == 4


def test_many_problems_are_capped_and_counted(tmp_path: Path) -> None:
    rows = "".join(f"row {i}\tmaybe\n" for i in range(25))
    path = write(tmp_path / "many.tsv", "text\tlabel\n" + rows)
    with pytest.raises(DataError) as err:
        read_table(path, SENTIMENT)
    assert len(err.value.problems) == 20
    assert err.value.more == 5
    assert err.value.problems[0][0] == 2 and err.value.problems[-1][0] == 21
    assert str(err.value).splitlines()[-1] == f"... and 5 more problem(s) in {path}"
