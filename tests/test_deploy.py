"""A deployable student: ONNX export round trips (BiLSTM and transformer, single sentences and
pairs, fp32 and int8), ``predict`` on both backends, clear answers to bad input, ``bench``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import write_jsonl
from tests.test_distill import BILSTM, TINY_TRANSFORMER, setup_task, write_config
from textdistill.cli import app
from textdistill.deploy import OnnxBiLSTM
from textdistill.models.bilstm import BiLSTMStudent

runner = CliRunner()


def distilled(root: Path, student: dict, task: str = "movie-sentiment") -> Path:
    data, teacher = setup_task(root, task)
    config = write_config(root, data, teacher, student, {"name": "hinton"}, task)
    result = runner.invoke(app, ["distill", str(config), "train.max_steps=3"])
    assert result.exit_code == 0, result.output
    return root / "run"


def json_lines(output: str) -> list[dict]:
    """The JSON answers of ``predict`` (the runner mixes in stderr: library warnings)."""
    return [json.loads(line[line.index('{"') :]) for line in output.splitlines() if '{"' in line]


def test_the_unpacked_bilstm_equals_the_packed_student() -> None:
    torch.manual_seed(0)
    student = BiLSTMStudent(50, 3, 8, 6, 10, pair=True).eval()
    ids, lengths = torch.randint(1, 50, (5, 9)), torch.tensor([9, 1, 4, 7, 2])
    ids_b, lengths_b = torch.randint(1, 50, (5, 6)), torch.tensor([3, 6, 1, 5, 2])
    for i, n in enumerate(lengths.tolist()):  # padding after each row, as the loader makes it
        ids[i, n:] = 0
    expected = student(ids, lengths, ids_b, lengths_b).logits
    got = OnnxBiLSTM(student)(ids, lengths, ids_b, lengths_b)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("student", [BILSTM, TINY_TRANSFORMER], ids=["bilstm", "transformer"])
@pytest.mark.parametrize("task", ["movie-sentiment", "movie-dialog"], ids=["single", "pair"])
def test_export_round_trip_and_predict_on_both_backends(tmp_path: Path, student: dict, task: str) -> None:
    run = distilled(tmp_path, student, task)
    result = runner.invoke(app, ["export", str(run), "--int8"])
    assert result.exit_code == 0, result.output
    record = json.loads((run / "onnx" / "export.json").read_text())
    check = record["check"]
    assert check["onnx"]["max_abs_logit_diff"] < 1e-4 and check["onnx"]["same_prediction"] == 1.0
    assert check["onnx"]["accuracy"] == check["torch"]["accuracy"]
    import onnx  # int8 weights (tiny models are too small for the file to shrink: the benchmark shows it)

    ops = {node.op_type for node in onnx.load(str(run / "onnx" / "model.int8.onnx")).graph.node}
    assert ops & {"MatMulInteger", "DynamicQuantizeLSTM", "DynamicQuantizeMatMul"}, ops
    assert (run / "onnx" / ("vocab.json" if student is BILSTM else "tokenizer.json")).exists()
    pair = ["--pair", "a bad film"] if task == "movie-dialog" else []
    answers = {}
    for backend in ("torch", "onnx", "onnx-int8"):
        out = runner.invoke(app, ["predict", str(run), "a good film", *pair, "--backend", backend])
        assert out.exit_code == 0, out.output
        answers[backend] = json_lines(out.output)[-1]
        assert abs(sum(answers[backend]["probabilities"].values()) - 1) < 1e-4
    assert answers["onnx"]["label"] == answers["torch"]["label"]
    for name, p in answers["torch"]["probabilities"].items():
        assert answers["onnx"]["probabilities"][name] == pytest.approx(p, abs=1e-4)
    # a batch from a file: one line per input, in order
    rows = [{"text": "a good film", **({"text_pair": "bad"} if pair else {})}] * 3
    write_jsonl(tmp_path / "in.jsonl", rows)
    out = runner.invoke(app, ["predict", str(run), "--file", str(tmp_path / "in.jsonl"), "--backend", "onnx"])
    assert out.exit_code == 0, out.output
    assert len(json_lines(out.output)) == 3


def test_regression_students_predict_scores(tmp_path: Path) -> None:
    run = distilled(tmp_path, BILSTM, "movie-score")
    assert runner.invoke(app, ["export", str(run)]).exit_code == 0
    for backend in ("torch", "onnx"):
        out = runner.invoke(app, ["predict", str(run), "a good film", "--backend", backend])
        assert out.exit_code == 0, out.output
        assert set(json_lines(out.output)[-1]) == {"score"}


def test_bad_input_to_predict_gets_clear_errors(tmp_path: Path) -> None:
    run = distilled(tmp_path / "single", TINY_TRANSFORMER)
    pair_run = distilled(tmp_path / "pair", BILSTM, "movie-dialog")
    long_text = " ".join(["film"] * 100)  # 100 tokens; the tiny model reads 64

    def error(*args: str) -> str:
        result = runner.invoke(app, ["predict", *args])
        assert result.exit_code == 2, result.output
        return " ".join(result.output.split())

    assert "the text is empty" in error(str(run), "   ")
    assert "compares two texts" in error(str(pair_run), "a good film")
    assert "reads one text, but a second one was given" in error(str(run), "good", "--pair", "bad")
    assert "102 tokens long; the model reads at most 64" in error(str(run), long_text)
    assert runner.invoke(app, ["predict", str(run), long_text, "--truncate"]).exit_code == 0
    assert "run `textdistill export" in error(str(run), "good", "--backend", "onnx")
    assert "backend: input should be 'torch', 'onnx' or 'onnx-int8', got 'tensorrt'" in error(
        str(run), "good", "--backend", "tensorrt"
    )
    assert "give a TEXT or --file" in error(str(run))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "good"}\nnot json\n{"txt": "x"}\n{"text": ""}\n{"text": ["a"]}\n')
    message = error(str(run), "--file", str(bad))
    assert f"{bad}:2: invalid JSON" in message and f"{bad}:3: missing column 'text'" in message
    assert f"{bad}:4: empty text" in message and f"{bad}:5: the text in column 'text' is a list" in message
    # line numbers are the file's, blank lines and all; a U+2028 inside a string is not a line end
    (tmp_path / "gaps.jsonl").write_text(f'{{"text": "good\u2028film"}}\n\n\n{{"text": "{long_text}"}}\n')
    assert f"{tmp_path / 'gaps.jsonl'}:4: the input is 102 tokens" in error(
        str(run), "--file", str(tmp_path / "gaps.jsonl")
    )
    (tmp_path / "latin1.jsonl").write_bytes(b'{"text": "caf\xe9"}\n')
    assert "latin1.jsonl:1: bytes b'\\xe9' cannot be decoded as utf-8" in error(
        str(run), "--file", str(tmp_path / "latin1.jsonl")
    )
    write_jsonl(tmp_path / "pair.jsonl", [{"text": "a good film", "text_pair": 3}])
    assert "pair.jsonl:1: text_pair is a number, not a string" in error(
        str(pair_run), "--file", str(tmp_path / "pair.jsonl")
    )


def test_bench_measures_every_backend_and_the_teacher(tmp_path: Path) -> None:
    run = distilled(tmp_path, TINY_TRANSFORMER)
    out = tmp_path / "bench"
    result = runner.invoke(
        app, ["bench", str(run), "--batch-sizes", "1,4", "--examples", "16", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(out.with_suffix(".json").read_text())
    assert [(r["model"], r["backend"]) for r in rows] == [
        ("transformer", "torch fp32"),
        ("transformer", "onnx fp32"),
        ("transformer", "onnx int8"),
        ("teacher", "torch fp32"),
    ]
    for r in rows:
        assert set(r["throughput"]) == {"1", "4"} and all(v > 0 for v in r["throughput"].values())
        assert r["latency_ms"]["p50"] <= r["latency_ms"]["p99"]
    assert out.with_suffix(".png").stat().st_size > 10_000


@pytest.mark.parametrize("student", [BILSTM, TINY_TRANSFORMER], ids=["bilstm", "transformer"])
def test_predictor_batches_by_length_and_answers_in_input_order(tmp_path: Path, student: dict) -> None:
    from textdistill.data.spec import Example
    from textdistill.deploy import Predictor

    predictor = Predictor.open(distilled(tmp_path, student))
    texts = ["a good film " * 9, "bad", "a dull and long film " * 5, "fine film", "good " * 20, "ok"]
    examples = [Example(t) for t in texts]
    alone = np.concatenate([predictor.logits([e]) for e in examples])  # one at a time: no padding at all
    orders: list[list[int]] = []
    by_length = predictor.student.by_length

    def spy(ex: list[Example], bs: int) -> tuple:
        order, batches = by_length(ex, bs)
        orders.append(order)
        return order, batches

    predictor.student.by_length = spy  # type: ignore[method-assign]
    together = predictor.logits(examples, batch_size=2)  # sorted: batches (ok, bad), (fine film, ...), ...
    lengths = [predictor.length(t, None) for t in texts]
    assert [lengths[i] for i in orders[0]] == sorted(lengths)  # fed shortest first (encoded length)
    assert orders[0] != list(range(len(texts)))  # the input was not in that order: a mix-up would show
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert len({tuple(row.round(5)) for row in alone}) > 1  # the rows differ, so an order mix-up shows
