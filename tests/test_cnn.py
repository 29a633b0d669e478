"""The pooled students, Kim (2014)'s CNN and the deep averaging network (Iyyer et al. 2015): shapes,
padding that never changes a prediction, save and load, and distill -> export (int8 too) ->
predict through the CLI, on words and on the teacher's tokens; the DAN's word dropout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tests.test_distill import setup_task, write_config
from tests.test_static_vectors import exports_and_predicts
from textdistill.cli import app
from textdistill.models.bundle import load_student
from textdistill.models.cnn import CNNStudent
from textdistill.models.dan import DANStudent

runner = CliRunner()


POOLED = {
    "cnn": lambda **kw: CNNStudent(30, 3, embed_dim=6, widths=(2, 3), filters=4, fc=5, **kw),
    **{
        f"dan-{pooling}": lambda pooling=pooling, **kw: DANStudent(
            30, 3, embed_dim=6, fc=5, pooling=pooling, **kw
        )
        for pooling in ("mean", "max", "mean_max")
    },
}


@pytest.mark.parametrize("kind", sorted(POOLED))
@pytest.mark.parametrize("pair", [False, True])
def test_padding_and_batch_mates_do_not_change_a_prediction(pair: bool, kind: str) -> None:
    torch.manual_seed(0)
    model = POOLED[kind](pair=pair).eval()
    lengths = torch.tensor([5, 1, 3])
    ids = torch.randint(1, 30, (3, 7))  # padded to 7 with real-looking ids: they must not count
    extra = (ids.flip(0), torch.tensor([2, 7, 4])) if pair else ()
    together = model(ids, lengths, *extra).logits
    assert together.shape == (3, 3)
    for i in range(3):
        n = int(lengths[i])
        alone_extra = (extra[0][i : i + 1, : int(extra[1][i])], extra[1][i : i + 1]) if pair else ()
        alone = model(ids[i : i + 1, :n], lengths[i : i + 1], *alone_extra).logits
        torch.testing.assert_close(alone, together[i : i + 1], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kind", ["cnn", "dan-max"])
def test_save_and_load_round_trip(tmp_path: Path, kind: str) -> None:
    model = POOLED[kind]().eval()
    model.save(tmp_path)
    back = type(model).load(tmp_path).eval()
    ids, lengths = torch.randint(1, 30, (2, 5)), torch.tensor([5, 2])
    torch.testing.assert_close(back(ids, lengths).logits, model(ids, lengths).logits)
    assert json.loads((tmp_path / "student_config.json").read_text())["arch"] == kind.split("-")[0]
    assert back.config == model.config


def test_word_dropout_leaves_tokens_out_only_while_training() -> None:
    torch.manual_seed(0)
    model = DANStudent(30, 2, embed_dim=6, fc=5, word_dropout=0.5, dropout=0.0, pooling="mean")
    ids, lengths = torch.randint(1, 30, (4, 9)), torch.tensor([9, 1, 5, 2])
    model.eval()
    assert torch.equal(model(ids, lengths).logits, model(ids, lengths).logits)
    model.train()
    runs = torch.stack([model(ids, lengths).logits for _ in range(8)])  # (8, 4, 2)
    assert runs[:, 0].std(dim=0).max() > 0  # nine tokens, half left out each time
    torch.testing.assert_close(runs[:, 1], runs[:1, 1].expand(8, 2))  # a one-token row keeps its token
    assert torch.isfinite(runs).all()
    with pytest.raises(ValueError, match="pooling"):
        DANStudent(30, 2, pooling="sum")


@pytest.mark.parametrize("embedding", ["random", "teacher"])
def test_a_cnn_distils_exports_and_predicts(tmp_path: Path, embedding: str) -> None:
    data, teacher = setup_task(tmp_path)
    student = {"kind": "cnn", "embedding": embedding, "embed_dim": 8, "widths": [2, 3], "filters": 4, "fc": 6}
    config = write_config(tmp_path, data, teacher, student, {"name": "hinton"}, "movie-sentiment")
    result = runner.invoke(app, ["distill", str(config), "train.max_steps=3"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    assert load_student(run / "student").kind == "cnn"
    exports_and_predicts(run)
    import onnx  # int8: the linear layers quantised, the convolutions kept fp32 (ConvInteger is slow)

    ops = {node.op_type for node in onnx.load(str(run / "onnx" / "model.int8.onnx")).graph.node}
    assert "Conv" in ops and "ConvInteger" not in ops and "MatMulInteger" in ops, ops
    assert "Conv" not in json.loads((run / "onnx" / "export.json").read_text())["int8_op_types"]


def test_a_dan_distils_exports_and_predicts(tmp_path: Path) -> None:
    data, teacher = setup_task(tmp_path)
    student = {"kind": "dan", "embedding": "teacher", "embed_dim": 8, "fc": 6, "max_length": 400}
    config = write_config(tmp_path, data, teacher, student, {"name": "hinton"}, "movie-sentiment")
    result = runner.invoke(app, ["distill", str(config), "train.max_steps=3"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    loaded = load_student(run / "student")
    assert loaded.kind == "dan" and loaded.model.config["pooling"] == "mean_max"
    exports_and_predicts(run)
