"""``embedding: teacher``: a BiLSTM on the teacher's own sub-word tokens, started from static
vectors that model2vec distils from the teacher; through distill, export, predict and bench."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tests.test_deploy import json_lines
from tests.test_distill import setup_task, write_config
from textdistill.cli import app
from textdistill.data.encode import MASK_WORD, TokenVocab, load_vocab
from textdistill.teachers.static import static_vectors

runner = CliRunner()
STATIC = {"kind": "bilstm", "embedding": "teacher", "embed_dim": 16, "hidden": 8, "fc": 8}


def exports_and_predicts(run: Path) -> None:
    """``export --int8`` of a movie-sentiment run round-trips, and ``predict`` answers on every backend."""
    export = runner.invoke(app, ["export", str(run), "--int8"])
    assert export.exit_code == 0, export.output
    check = json.loads((run / "onnx" / "export.json").read_text())["check"]
    assert check["onnx"]["max_abs_logit_diff"] < 1e-4 and check["onnx"]["same_prediction"] == 1.0
    for backend in ("torch", "onnx", "onnx-int8"):
        out = runner.invoke(app, ["predict", str(run), "a good film", "--backend", backend])
        assert out.exit_code == 0, out.output
        assert set(json_lines(out.output)[-1]["probabilities"]) == {"positive", "negative"}


def test_static_vectors_are_the_teachers_tokens_and_are_cached(tiny_bert: Path, isolated_home: Path) -> None:
    vocab, table = static_vectors(tiny_bert, 16)
    assert isinstance(vocab, TokenVocab) and table.shape == (len(vocab), 16) and table.dtype == torch.float32
    ids = vocab.encode(f"a good {MASK_WORD} film")
    assert vocab.mask_id in ids and len(ids) >= 4 and max(ids) < len(vocab)
    assert vocab.encode("   ") == [vocab.unk_id]
    torch.testing.assert_close(table[vocab.mask_id], table[:-1].mean(0))  # the mask row starts at the mean
    (entry,) = (isolated_home / "static_vectors").glob("*.safetensors")
    again_vocab, again = static_vectors(tiny_bert, 16)  # read back, not computed
    assert torch.equal(again, table) and again_vocab.encode("a good film") == vocab.encode("a good film")
    entry.write_bytes(entry.read_bytes()[:200])
    with pytest.warns(UserWarning, match=f"static vectors: {entry} is damaged"):
        _, rebuilt = static_vectors(tiny_bert, 16)
    torch.testing.assert_close(rebuilt, table)


def test_static_vectors_wider_than_the_teacher_are_refused(tiny_bert: Path) -> None:
    from textdistill.errors import TextdistillError

    with pytest.raises(TextdistillError, match="wider than the teacher's 32 dimensions"):
        static_vectors(tiny_bert, 64)


def test_a_bilstm_on_teacher_tokens_distils_exports_and_predicts(tmp_path: Path) -> None:
    data, teacher = setup_task(tmp_path)
    config = write_config(tmp_path, data, teacher, STATIC, {"name": "hinton"}, "movie-sentiment")
    result = runner.invoke(app, ["distill", str(config), "train.max_steps=3"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    vocab = load_vocab(run / "student" / "vocab.json")
    assert isinstance(vocab, TokenVocab) and len(vocab) > 50
    exports_and_predicts(run)
    evaluated = runner.invoke(app, ["evaluate", str(run)])
    assert evaluated.exit_code == 0, evaluated.output
    bench = runner.invoke(app, ["bench", str(run), "--batch-sizes", "1,4", "--examples", "16"])
    assert bench.exit_code == 0, bench.output
