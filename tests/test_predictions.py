"""A teacher given as its predictions (``teacher: {predictions: FILE}``): the round trip through
``predict --out`` gives the teacher's own student to the last weight; files that do not fit the
data or the task are refused, naming what is wrong; transfer sets with no teacher model; regression;
evaluate, export and bench of such a run."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

import textdistill as td
from tests.conftest import WORDS, make_tiny_bert, write_jsonl
from tests.test_distill import BILSTM, TINY_TRANSFORMER
from textdistill.cli import app
from textdistill.data.tasks import get_task
from textdistill.errors import TextdistillError
from textdistill.teachers.predictions import read_predictions

runner = CliRunner()


def unique_rows(n: int, seed: int, regression: bool = False) -> list[dict]:
    """``n`` distinct texts (a file's rows match by text: duplicates would share one row)."""
    rng = random.Random(seed)
    rows, seen = [], set()
    while len(rows) < n:
        positive = len(rows) % 2 == 0
        text = " ".join(["good" if positive else "bad", *rng.choices(WORDS, k=rng.randint(2, 9))])
        if text in seen:
            continue
        seen.add(text)
        label = (3.0 if positive else -3.0) if regression else ("positive" if positive else "negative")
        rows.append({"text": text, "label": label})
    return rows


def setup(root: Path, regression: bool = False) -> tuple[Path, Path]:
    """Data in our layout with distinct texts, and a tiny teacher folder that names its task."""
    data = root / "data"
    for i, (split, n) in enumerate((("train", 40), ("dev", 16), ("test", 16))):
        write_jsonl(data / f"{split}.jsonl", unique_rows(n, seed=i, regression=regression))
    model = make_tiny_bert(root / "model", num_labels=1 if regression else 2)
    task = "movie-score" if regression else "movie-sentiment"
    teacher = root / "teacher"
    td.teach({"task": task, "data": str(data), "model": str(model), "out": str(teacher), "max_steps": 3})
    return data, teacher


def config(root: Path, data: Path, teacher: object, out: str, student: dict = BILSTM, **extra) -> dict:
    return {
        "task": extra.pop("task", "movie-sentiment"), "data": str(data), "teacher": teacher,
        "out": str(root / out), "student": student, "method": extra.pop("method", {"name": "hinton"}),
        "train": {"epochs": 1, "batch_size": 8, "max_steps": 4}, **extra,
    }  # fmt: skip


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "student" / "model.safetensors"))


def test_a_teachers_predictions_teach_what_the_teacher_does(tmp_path: Path) -> None:
    data, teacher = setup(tmp_path)
    preds = tmp_path / "preds.jsonl"
    for split in ("train", "dev", "test"):  # the CLI writes the file, one split after another
        part = tmp_path / f"{split}.preds.jsonl"
        result = runner.invoke(
            app, ["predict", str(teacher), "--file", str(data / f"{split}.jsonl"), "--out", str(part)]
        )
        assert result.exit_code == 0, result.output
        assert "predictions written" in result.output
        with preds.open("a") as f:
            f.write(part.read_text())
    line = json.loads(preds.read_text().splitlines()[0])
    assert set(line) == {"text", "label", "probs", "logits"} and set(line["logits"]) == {
        "negative",
        "positive",
    }
    assert abs(sum(line["probs"].values()) - 1) < 1e-6

    from_model = td.distill(config(tmp_path, data, str(teacher), "from-model"))
    from_file = td.distill(config(tmp_path, data, {"predictions": str(preds)}, "from-file"))
    a, b = weights(tmp_path / "from-model"), weights(tmp_path / "from-file")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # to the last weight
    assert from_file["best"] == from_model["best"]
    assert from_file["teacher"]["best"] == from_model["teacher"]["best"]  # the file covers dev and test
    assert from_file["teacher"]["predictions"] and from_file["retention"] == from_model["retention"]
    manifest = json.loads((tmp_path / "from-file" / "run.json").read_text())
    [record] = manifest["teachers"]
    assert record["predictions"] == str(preds.resolve()) and record["values"] == "logits"
    assert "folder" not in record and len(record["fingerprint"]) == 64

    # the file went through the teacher cache: a second run reads it back, an edited file is another teacher
    again = td.distill(config(tmp_path, data, {"predictions": str(preds)}, "again"))
    assert again["teacher"]["cache"]["hit"] and not from_file["teacher"]["cache"]["hit"]
    first = json.loads(preds.read_text().splitlines()[0])
    first["logits"] = {k: v + 0.5 for k, v in first["logits"].items()}  # the same soft targets, other logits
    preds.write_text(json.dumps(first) + "\n" + "\n".join(preds.read_text().splitlines()[1:]) + "\n")
    edited = td.distill(config(tmp_path, data, {"predictions": str(preds)}, "edited"))
    assert not edited["teacher"]["cache"]["hit"]
    assert edited["teacher"]["cache"]["fingerprint"] != from_file["teacher"]["cache"]["fingerprint"]

    # a run from a file has no teacher model: evaluate, export and bench serve the student alone
    run = tmp_path / "from-file"
    assert "dev" in str(td.evaluate(run)["quality"])
    assert td.export(run, int8=False, check_examples=8)["check"]["onnx"]["same_prediction"] == 1.0
    rows = td.bench(run, batch_sizes=(1, 8), examples=8)
    assert rows and not any(r["model"].startswith("teacher") for r in rows)


def test_probabilities_teach_hinton_as_logits_do_and_tang_is_refused(tmp_path: Path) -> None:
    data, teacher = setup(tmp_path)
    logits = tmp_path / "logits.jsonl"
    td.predict(teacher, file=data / "train.jsonl", out=logits)
    rows = [json.loads(line) for line in logits.read_text().splitlines()]
    probs = write_jsonl(tmp_path / "probs.jsonl", [{"text": r["text"], "probs": r["probs"]} for r in rows])
    a = td.distill(config(tmp_path, data, {"predictions": str(logits)}, "a"))
    b = td.distill(config(tmp_path, data, {"predictions": str(probs)}, "b"))
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.allclose(wa[k], wb[k], atol=1e-4) for k in wa)  # log p is z shifted per row
    assert a["teacher"]["best"] == b["teacher"]["best"] == {}  # the files hold the training texts only
    assert a["retention"] is None
    with pytest.raises(TextdistillError, match=r"tang regresses the teacher's logits.*give logits"):
        td.distill(config(tmp_path, data, {"predictions": str(probs)}, "c", method={"name": "tang"}))
    td.distill(config(tmp_path, data, {"predictions": str(logits)}, "d", method={"name": "tang"}))


def test_missing_texts_and_wrong_labels_are_refused_by_name(tmp_path: Path) -> None:
    data, teacher = setup(tmp_path)
    preds = tmp_path / "preds.jsonl"
    td.predict(teacher, file=data / "train.jsonl", out=preds)
    lines = preds.read_text().splitlines()
    gone = [json.loads(line)["text"] for line in lines[:7]]
    short = tmp_path / "short.jsonl"
    short.write_text("\n".join(lines[7:]) + "\n")
    with pytest.raises(TextdistillError) as err:
        td.distill(config(tmp_path, data, {"predictions": str(short)}, "short"))
    message = str(err.value)
    assert "7 of 40 training texts have no prediction" in message and "and 2 more" in message
    assert all(repr(t) in message for t in gone[:5])
    assert not (tmp_path / "short" / "student").exists()

    bad = [json.loads(line) for line in lines]
    bad[2]["logits"] = {"neg": 0.1, "positive": 0.2}  # a label the task lacks, one it has missing
    bad[4]["probs"] = {"negative": 0.7, "positive": 0.7}
    del bad[4]["logits"]
    bad[5] = {"text": bad[5]["text"], "probs": [0.5, 0.5]}
    bad[6] = {"text": bad[6]["text"], "score": 1.0}
    bad.append({**bad[0], "logits": {"negative": 9.0, "positive": -9.0}})  # the text of line 1 again
    wrong = write_jsonl(tmp_path / "wrong.jsonl", bad)
    with pytest.raises(TextdistillError) as err:
        td.distill(config(tmp_path, data, {"predictions": str(wrong)}, "wrong"))
    message = str(err.value)
    assert (
        "wrong.jsonl:3:" in message
        and "labels not in the task: ['neg']" in message
        and "no value for ['negative']" in message
    )
    assert "wrong.jsonl:5:" in message and "sum to 1" in message and "got sum 1.4" in message
    assert "wrong.jsonl:6:" in message and "probs is" in message and "keyed by label name" in message
    assert "wrong.jsonl:7:" in message and "score, which is for a regression task" in message
    assert "wrong.jsonl:41:" in message and "other predictions for the text of line 1" in message


def test_a_regression_teacher_file_and_a_transfer_set_with_no_teacher_model(tmp_path: Path) -> None:
    data, teacher = setup(tmp_path, regression=True)
    preds = tmp_path / "preds.jsonl"
    td.predict(teacher, file=data / "train.jsonl", out=preds, truncate=True)
    assert set(json.loads(preds.read_text().splitlines()[0])) == {"text", "score"}
    # the user grows a transfer set, has it labelled elsewhere (here: made-up scores), distils from the file
    transfer = write_jsonl(
        tmp_path / "transfer.jsonl", [{"text": r["text"] + " again"} for r in unique_rows(12, 9)]
    )
    scored = [{"text": json.loads(line)["text"], "score": 0.25} for line in transfer.read_text().splitlines()]
    both = tmp_path / "both.jsonl"
    both.write_text(preds.read_text() + "".join(json.dumps(r) + "\n" for r in scored[:10]))
    cfg = config(tmp_path, data, {"predictions": str(both)}, "r", task="movie-score", transfer=str(transfer),
                 method={"name": "tang"})  # fmt: skip
    with pytest.raises(TextdistillError, match="2 of 12 transfer-set texts have no prediction") as err:
        td.distill(cfg)
    assert "training texts" not in str(err.value)  # every part that lacks some is named, only those
    short = tmp_path / "short.jsonl"
    short.write_text("".join(both.read_text().splitlines(keepends=True)[3:]))
    with pytest.raises(TextdistillError, match=r"3 of 40 training texts .*; 2 of 12 transfer-set texts"):
        td.distill({**cfg, "teacher": {"predictions": str(short)}})
    both.write_text(both.read_text() + "".join(json.dumps(r) + "\n" for r in scored[10:]))
    metrics = td.distill(cfg)
    assert metrics["transfer"]["examples"] == 12 and "dev/pearson" in metrics["best"]
    # a transfer set grown in the run: the file lacks its texts, and the error says where they are
    grown = {**cfg, "transfer": None, "augment": {"rounds": 1, "tagger": "none"}, "out": str(tmp_path / "g")}
    with pytest.raises(
        TextdistillError, match=r"transfer-set texts have no prediction.*augmented texts are in"
    ):
        td.distill(grown)
    spec = get_task("movie-score")
    got = read_predictions(both, spec)
    assert got.kind == "score" and got.outputs([]).shape == (0, 1)
    with pytest.raises(TextdistillError, match="a regression task needs a finite number"):
        read_predictions(write_jsonl(tmp_path / "p.jsonl", [{"text": "a", "probs": {"x": 1.0}}]), spec)


def test_the_config_says_what_a_predictions_teacher_cannot_do(tmp_path: Path, tiny_bert: Path) -> None:
    data, teacher = setup(tmp_path)
    preds = tmp_path / "preds.jsonl"
    td.predict(teacher, file=data / "train.jsonl", out=preds)
    teacher_file = {"predictions": str(preds)}
    with pytest.raises(td.ConfigError, match="reads the teacher's layers"):
        td.distill(config(tmp_path, data, teacher_file, "x", method={"name": "hinton_cos"}))
    with pytest.raises(td.ConfigError, match=r"give teacher\.tokenizer"):
        td.distill(config(tmp_path, data, teacher_file, "x", student=TINY_TRANSFORMER))
    with pytest.raises(td.ConfigError, match="embedding: teacher reads sub-word tokens"):
        td.distill(config(tmp_path, data, teacher_file, "x", student={**BILSTM, "embedding": "teacher"}))
    with pytest.raises(td.ConfigError, match="init_from_teacher copies teacher layers"):
        student = {**TINY_TRANSFORMER, "init_from_teacher": [0]}
        td.distill(config(tmp_path, data, {**teacher_file, "tokenizer": str(teacher)}, "x", student=student))
    with pytest.raises(TextdistillError, match="no such file"):
        td.distill(config(tmp_path, data, {"predictions": str(tmp_path / "none.jsonl")}, "x"))
    # a transformer student on a tokenizer of its own: the teacher model is never loaded
    metrics = td.distill(config(tmp_path, data, {**teacher_file, "tokenizer": str(tiny_bert)}, "t",
                                student=TINY_TRANSFORMER))  # fmt: skip
    assert metrics["student"] == "transformer" and metrics["steps"] == 4
    tokenizer = json.loads((tmp_path / "t" / "run.json").read_text())["teachers"][0]["tokenizer"]
    assert tokenizer == str(tiny_bert.resolve())
    yaml.safe_dump(
        json.loads((tmp_path / "t" / "run.json").read_text())["config"]
    )  # the config is plain data
    assert np.isfinite(metrics["best"]["dev/accuracy"])


def test_rows_are_matched_by_id_where_the_data_gives_ids(tmp_path: Path) -> None:
    data, teacher = setup(tmp_path)
    for split in ("train", "dev", "test"):  # the data gives every row an id
        rows = [json.loads(x) for x in (data / f"{split}.jsonl").read_text().splitlines()]
        write_jsonl(data / f"{split}.jsonl", [{"id": f"{split}-{i}", **r} for i, r in enumerate(rows)])
    preds = tmp_path / "preds.jsonl"
    td.predict(teacher, file=data / "train.jsonl", out=preds)
    lines = [json.loads(x) for x in preds.read_text().splitlines()]
    assert lines[0]["id"] == "train-0"  # predict --out keeps the ids it was given
    by_id = write_jsonl(tmp_path / "ids.jsonl", by_id_rows(lines))
    a = td.distill(config(tmp_path, data, {"predictions": str(preds)}, "by-text"))
    b = td.distill(config(tmp_path, data, {"predictions": str(by_id)}, "by-id"))
    wa, wb = weights(tmp_path / "by-text"), weights(tmp_path / "by-id")
    assert all(torch.equal(wa[k], wb[k]) for k in wa) and a["best"] == b["best"]
    write_jsonl(tmp_path / "short.jsonl", by_id_rows(lines[1:]))
    with pytest.raises(TextdistillError, match=r"1 of 40 training texts have no prediction: 'id train-0: "):
        td.distill(config(tmp_path, data, {"predictions": str(tmp_path / "short.jsonl")}, "short"))
    twice = write_jsonl(
        tmp_path / "twice.jsonl",
        [*by_id_rows(lines), {"id": "train-0", "logits": {"negative": 9.0, "positive": -9.0}}],
    )
    with pytest.raises(
        TextdistillError, match=r"twice.jsonl:41: gives other predictions for the id of line 1"
    ):
        td.distill(config(tmp_path, data, {"predictions": str(twice)}, "twice"))


def by_id_rows(lines: list[dict]) -> list[dict]:
    return [{"id": r["id"], "logits": r["logits"]} for r in lines]
