"""The fault suite: bad files met through the CLI, each asserting the exit code and the message.

Each case is a tiny file made here. A user's error exits 2 with one ``error:`` line naming the
file and line; nothing is dropped silently (``--bad-rows skip`` drops rows only when asked, and
says which, in the console, the log and the run manifest).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import write_jsonl
from tests.test_teach import toy_rows
from textdistill.cli import app
from textdistill.data.readers import Columns, infer_labels, read_table, read_texts
from textdistill.data.spec import Example, TaskSpec
from textdistill.errors import DataError

runner = CliRunner()
SENTIMENT = TaskSpec("sentiment", ("neg", "pos"), ("accuracy",))


def flat(text: str) -> str:
    return " ".join(text.split())


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


def teach(tmp_path: Path, model: Path, train: Path, dev: Path, *extra: str):
    args = ["teach", "--model", str(model), "--out", str(tmp_path / "out"), "--train", str(train)]
    args += ["--dev", str(dev), "--batch-size", "8", "--max-steps", "1", *extra]
    return runner.invoke(app, args)


def failed(result, *fragments: str) -> str:
    """The flattened output of a command that must have failed with a user's error (exit 2)."""
    out = flat(result.output)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in out, out
    return out


@pytest.fixture
def dev(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "dev.jsonl", toy_rows(8))


# ------------------------------------------------------------------------------------ quoting
STRAY = 'text,label\n"a bad film,neg\nvery good plot,pos\nawful acting,neg\nfine work,pos\nno,neg\n'


def test_a_stray_quote_in_a_csv_costs_its_line_not_the_next_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "stray.csv", STRAY)
    with pytest.raises(DataError) as err:
        read_table(path, SENTIMENT)
    assert err.value.problems == [
        (
            2,
            "a quote opened on this line is not closed on it (a stray quote?); if fields hold line "
            "breaks, pass --multiline (files: multiline: true)",
        )
    ]
    with pytest.warns(UserWarning, match=r"stray.csv: skipped 1 bad row\(s\) \(lines 2\)"):
        examples = read_table(path, SENTIMENT, bad_rows="skip")
    assert [e.text for e in examples] == ["very good plot", "awful acting", "fine work", "no"]


def test_quotes_in_a_tsv_are_literal_as_in_glue(tmp_path: Path) -> None:
    path = write(tmp_path / "stray.tsv", STRAY.replace(",", "\t"))
    examples = read_table(path, SENTIMENT)
    assert len(examples) == 5 and examples[0] == Example('"a bad film', None, 0)


def test_multiline_reads_quoted_line_breaks_and_names_an_unclosed_quote(tmp_path: Path) -> None:
    path = write(tmp_path / "multi.csv", 'text,label\n"two\nlines",pos\nplain,neg\n')
    assert read_table(path, SENTIMENT, multiline=True) == [
        Example("two\nlines", None, 1),
        Example("plain", None, 0),
    ]
    with pytest.raises(DataError) as err:
        read_table(path, SENTIMENT)
    assert err.value.problems[0][0] == 2 and "runs from this line to line 3" in err.value.problems[0][1]
    write(path, 'text,label\nplain,neg\n"never closed,pos\nmore,neg\n')
    with pytest.raises(DataError) as err:
        read_table(path, SENTIMENT, multiline=True)
    assert err.value.problems == [
        (3, "a quote opened on line 3 is never closed: reading cannot go on past it")
    ]


def test_a_quote_closed_mid_field_is_broken_quoting(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.csv", 'text,label\n"ab"c,pos\nfine,neg\n')
    with pytest.raises(DataError) as err:
        read_table(path, SENTIMENT)
    assert err.value.problems[0][0] == 2 and err.value.problems[0][1].startswith("broken quoting (")


def test_a_field_longer_than_the_csv_module_limit_is_read(tmp_path: Path) -> None:
    long = "word " * 40_000  # 200,000 characters; the csv module's default limit is 131,072
    path = write(tmp_path / "long.csv", f'text,label\n"{long}",pos\nshort,neg\n')
    assert read_table(path, SENTIMENT)[0].text == long.strip()
    assert read_table(path.with_suffix(".csv"), SENTIMENT, multiline=True)[0].text == long.strip()


# ------------------------------------------------------------------------------------ headers
def test_a_column_named_twice_is_refused(tmp_path: Path, tiny_bert: Path, dev: Path) -> None:
    train = write(tmp_path / "train.csv", "text,label,text\na,pos,b\nc,neg,d\n")
    failed(
        teach(tmp_path, tiny_bert, train, dev),
        f"{train}:1: the header names column 'text' twice (columns 1 and 3)",
    )


def test_a_header_read_as_data_is_refused_when_columns_are_positions(
    tmp_path: Path, tiny_bert: Path, dev: Path
) -> None:
    rows = "".join(f"text {i}\t{'pos' if i % 2 else 'neg'}\n" for i in range(6))
    train = write(tmp_path / "train.tsv", "sentence\tlabel\n" + rows)
    failed(
        teach(tmp_path, tiny_bert, train, dev, "--columns", "text=0,label=1"),
        f"{train}:1: this line looks like a header: its label 'label' appears on no other line",
    )
    assert infer_labels(write(tmp_path / "plain.tsv", rows), 1) == ("neg", "pos")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "nolabel.csv",
            "text,y\na,pos\n",
            "nolabel.csv:1: no column 'label' in the header (columns: 'text', 'y')",
        ),
        ("header.csv", "text,label\n", "header.csv: the file has a header line and no examples"),
        (
            "commas.tsv",
            "text,label\na,pos\n",
            "the file looks comma-separated: name it commas.csv",
        ),
        ("data.xlsx", "text,label\n", "data.xlsx: unknown file type '.xlsx'; use .csv, .tsv or .jsonl"),
    ],
    ids=["missing-column", "header-only", "csv-in-tsv", "unknown-suffix"],
)
def test_files_the_reader_cannot_use_say_why(
    tmp_path: Path, tiny_bert: Path, dev: Path, name: str, text: str, message: str
) -> None:
    train = write(tmp_path / name, text)
    out = failed(teach(tmp_path, tiny_bert, train, dev), message)
    assert "no values in label column" not in out


# ------------------------------------------------------------------------------------ labels
def test_a_class_given_twice_in_labels_is_refused(tmp_path: Path, tiny_bert: Path, dev: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", toy_rows(8))
    failed(teach(tmp_path, tiny_bert, train, dev, "--labels", "neg,pos,neg"), "a class is named twice")
    failed(teach(tmp_path, tiny_bert, train, dev, "--labels", "0=neg,0=pos"), "a value is given twice")


def test_booleans_are_not_regression_scores(tmp_path: Path, tiny_bert: Path) -> None:
    rows = [{"text": "good", "label": 1.5}, {"text": "bad", "label": True}, {"text": "ok", "label": 0}]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    failed(
        teach(tmp_path, tiny_bert, train, train, "--regression"),
        f"{train}:2: label true in column 'label' is a boolean, not a score",
    )


def test_a_training_set_of_one_class_is_refused_before_training(
    tmp_path: Path, tiny_bert: Path, dev: Path
) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", [r for r in toy_rows(8) if r["label"] == "pos"])
    failed(
        teach(tmp_path, tiny_bert, train, dev, "--labels", "neg,pos"),
        f"{train}: every training example has the label 'pos': a classifier needs examples of at least "
        "two classes",
    )
    assert not (tmp_path / "out" / "log.jsonl").exists()  # refused before any step
    scores = write_jsonl(tmp_path / "scores.jsonl", [{"text": "a", "label": 2.0}, {"text": "b", "label": 2}])
    failed(
        teach(tmp_path, tiny_bert, scores, scores, "--regression"),
        "every training example has the score 2.0",
    )


# ------------------------------------------------------------------------------------ JSONL
def test_one_jsonl_reader_keeps_unicode_line_separators_inside_strings(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    odd = "one\u2028two\x0cthree\x85four"
    path.write_text(f'{{"text": "{odd}", "label": "pos"}}\n{{"text": "b", "label": "neg"}}\n')
    assert read_table(path, SENTIMENT)[0].text == odd
    assert [e.text for _, e, _ in read_texts(path)] == [odd, "b"]


def test_a_transfer_file_with_undecodable_bytes_names_file_and_line(tmp_path: Path) -> None:
    from textdistill.data.augment import TransferSet

    path = tmp_path / "transfer.jsonl"
    path.write_bytes(b'{"text": "fine"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(DataError) as err:
        TransferSet.load(path)
    assert err.value.problems[0][0] == 2 and "cannot be decoded as utf-8" in err.value.problems[0][1]
    path.write_text('{"text": "fine", "source": 3}\n{"text": "a\u2028b", "text_pair": "c"}\n')
    loaded = TransferSet.load(path)
    assert loaded.examples == [Example("fine"), Example("a\u2028b", "c")] and loaded.sources == [3, -1]


# ------------------------------------------------------------------------------------ skip
def test_bad_rows_skip_drops_them_and_says_so_everywhere(tmp_path: Path, tiny_bert: Path, dev: Path) -> None:
    good = toy_rows(12)
    lines = ["text,label"] + [f"{r['text']},{r['label']}" for r in good]
    lines.insert(3, ",pos")  # line 4: empty text
    lines.insert(6, '"never closed,neg')  # line 7: a stray quote
    train = write(tmp_path / "train.csv", "\n".join(lines) + "\n")
    failed(teach(tmp_path, tiny_bert, train, dev), f"{train}:4: empty text in column 'text'", f"{train}:7:")
    result = teach(tmp_path, tiny_bert, train, dev, "--bad-rows", "skip")
    assert result.exit_code == 0, result.output
    assert f"{train}: skipped 2 bad row(s) (lines 4, 7); first: line 4: empty text" in flat(result.output)
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    train_split = manifest["data"]["splits"]["train"]
    assert train_split["examples"] == 12 and train_split["skipped"]["rows"] == 2
    assert train_split["skipped"]["lines"] == [4, 7] and manifest["data"]["source"]["bad_rows"] == "skip"
    logged = [json.loads(x) for x in (tmp_path / "out" / "log.jsonl").read_text().splitlines()]
    assert [x["skipped"]["rows"] for x in logged if x["type"] == "data"] == [2]
    # the folder reads its data again the same way (evaluate opens it through the manifest)
    again = runner.invoke(app, ["evaluate", str(tmp_path / "out")])
    assert again.exit_code == 0, again.output
    bad = failed(teach(tmp_path, tiny_bert, train, dev, "--bad-rows", "sometimes"), "bad_rows")
    assert "'strict' or 'skip'" in bad


def test_every_row_bad_is_an_error_even_with_skip(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.csv", "text,label\n,pos\n,neg\n")
    with pytest.raises(DataError) as err:
        read_table(path, SENTIMENT, bad_rows="skip")
    assert "every row is bad" in str(err.value)


def test_columns_by_position_and_skip_on_a_headerless_file(tmp_path: Path) -> None:
    path = write(tmp_path / "plain.tsv", "a\tpos\nb\tmaybe\nc\tneg\n")
    with pytest.warns(UserWarning, match="line 2: unknown label 'maybe'"):
        examples = read_table(path, SENTIMENT, Columns(text=0, label=1), bad_rows="skip")
    assert examples == [Example("a", None, 1), Example("c", None, 0)]


# ------------------------------------------------------------------------------------ found in review
def test_a_stray_quote_that_closes_lines_later_costs_only_the_lines_with_quotes(tmp_path: Path) -> None:
    text = 'text,label\na,pos\n"stray quote movie,pos\nplain one,neg\nplain two,pos\nawful",neg\nb,neg\n'
    path = write(tmp_path / "late.csv", text)
    with pytest.raises(DataError) as err:
        read_table(path, SENTIMENT)
    assert [line for line, _ in err.value.problems] == [3, 6]
    assert (
        "runs from this line to line 6" in err.value.problems[0][1]
        and "stray quote" in err.value.problems[0][1]
    )
    with pytest.warns(UserWarning, match=r"skipped 2 bad row\(s\) \(lines 3, 6\)"):
        kept = read_table(path, SENTIMENT, bad_rows="skip")
    assert [e.text for e in kept] == ["a", "plain one", "plain two", "b"]


def test_a_header_beside_a_rare_class_is_named_by_position(tmp_path: Path) -> None:
    rows = "".join(f"text {i} here,{'pos' if i % 2 else 'neg'}\n" for i in range(8))
    path = write(tmp_path / "hdr.csv", "review,sentiment\n" + rows + "a neutral take,neutral\n")
    # not surely a header (a one-word first example of a rare class looks the same): a warning
    with pytest.warns(UserWarning, match=r"hdr.csv:1: this line may be a header \(its label 'sentiment'"):
        infer_labels(path, columns=Columns(text=0, label=1))
    beside = write(tmp_path / "hdr2.csv", "review,sentiment\n" + rows)  # classes seen twice or more: refused
    with pytest.raises(DataError, match="this line looks like a header"):
        infer_labels(beside, columns=Columns(text=0, label=1))


def test_labels_that_look_like_typos_are_warned_about(tmp_path: Path) -> None:
    rows = "".join(f"t{i},{'positive' if i % 2 else 'negative'}\n" for i in range(8))
    path = write(tmp_path / "typo.csv", "text,label\n" + rows + "x,meh\ny,Positive\nz,Positive\n")
    with pytest.warns(UserWarning) as seen:
        labels = infer_labels(path)
    messages = " | ".join(str(w.message) for w in seen)
    assert "the label 'meh' (line 10) appears once" in messages
    assert "differ only in case are different classes: Positive / positive" in messages
    assert labels == ("Positive", "meh", "negative", "positive")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "no examples in the file (it is empty)"),
        ("array.jsonl", b'[{"text": "a", "label": "pos"}]\n', "expected a JSON object, got list"),
        ("utf16.csv", "text,label\na,pos\n".encode("utf-16"), "the file is UTF-16"),
    ],
    ids=["empty", "json-array", "utf-16"],
)
def test_unreadable_training_files_say_why(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        infer_labels(path)


def test_a_folder_and_old_mac_line_ends(tmp_path: Path) -> None:
    from textdistill.errors import TextdistillError

    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(TextdistillError, match="is a folder, not a file"):
        read_table(tmp_path / "dir.csv", SENTIMENT)
    path = write(tmp_path / "mac.csv", "text,label\ra,pos\rb,neg\r")
    assert [e.text for e in read_table(path, SENTIMENT)] == ["a", "b"]


def test_null_and_object_labels_are_named(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "odd.jsonl", [{"text": "a", "label": None}, {"text": "b", "label": {"a": 1}}]
    )
    with pytest.raises(DataError) as err:
        read_table(path, SENTIMENT)
    assert err.value.problems == [
        (1, "no label in column 'label' (null)"),
        (2, "the label in column 'label' is an object, not a class or a score"),
    ]


def test_run_reads_the_students_files_as_the_teachers(tmp_path: Path) -> None:
    from textdistill.artifacts import DataSource
    from textdistill.config import validate
    from textdistill.data.load import user_spec
    from textdistill.run import data_section

    source = DataSource("files", train=str(tmp_path / "t.csv"), dev=str(tmp_path / "d.csv"), bad_rows="skip",
                        multiline=True)  # fmt: skip
    files = data_section(user_spec("mine", ("neg", "pos"), False), source)["files"]
    assert files["bad_rows"] == "skip" and files["multiline"] is True
    cfg = validate({"task": "mine", "files": files, "teacher": "t", "student": {"kind": "bilstm"},
                    "method": {"name": "hinton"}})  # fmt: skip
    assert cfg.files is not None and cfg.files.bad_rows == "skip" and cfg.files.multiline


def test_general_distill_reads_csv_files_by_their_text_column(tmp_path: Path) -> None:
    from textdistill.recipes.general import _file_texts

    good = write(tmp_path / "dev.csv", 'text,label\n"one, two",pos\nthree,neg\n')
    assert _file_texts(str(good)) == ["one, two", "three"]
    other = write(tmp_path / "other.csv", "review,label\nfour,pos\n")
    with pytest.raises(DataError, match="no column 'text' in the header"):
        _file_texts(str(other))
    plain = write(tmp_path / "plain.txt", "five\n\nsix\n")
    assert _file_texts(str(plain)) == ["five", "six"]


def test_texts_from_csv_or_jsonl_and_nothing_else(tmp_path: Path) -> None:
    from textdistill.errors import TextdistillError

    csv_file = write(tmp_path / "in.csv", 'text,text_pair\n"a, b",c\n,d\n')
    with pytest.raises(DataError) as err:
        read_texts(csv_file)
    assert err.value.problems == [(3, "empty text in column 'text'")]
    write(csv_file, 'text,text_pair\n"a, b",c\n')
    assert [(n, e) for n, e, _ in read_texts(csv_file)] == [(2, Example("a, b", "c"))]
    with pytest.raises(TextdistillError, match=r"unknown file type '\.xlsx'"):
        read_texts(write(tmp_path / "in.xlsx", "x"))


def test_evaluate_warns_when_the_data_changed_since_the_run(tmp_path: Path, tiny_bert: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", toy_rows(16))
    dev = write_jsonl(tmp_path / "dev.jsonl", toy_rows(8))
    assert teach(tmp_path, tiny_bert, train, dev).exit_code == 0
    assert "changed since the run" not in flat(runner.invoke(app, ["evaluate", str(tmp_path / "out")]).output)
    write_jsonl(dev, toy_rows(9))
    result = runner.invoke(app, ["evaluate", str(tmp_path / "out")])
    assert result.exit_code == 0
    assert "the dev data changed since the run was made (9 examples now, 8 recorded)" in flat(result.output)


def test_a_quoted_empty_line_is_a_row_and_scores_are_plain_numbers(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", 'text,label\na,pos\n""\n\n   \nb,neg\n')
    with pytest.raises(DataError) as err:
        read_table(path, SENTIMENT)
    assert err.value.problems == [(3, "1 fields where the header has 2")]
    scores = write(tmp_path / "s.tsv", "text\tlabel\na\t1_000\nb\t\uff11\uff12\nc\t 3.5 \nd\t-2e1\n")
    with pytest.raises(DataError) as err:
        read_table(scores, TaskSpec("s", None, ("pearson",)))
    assert [line for line, _ in err.value.problems] == [2, 3]
