"""``hinton_cos``: Hinton KD plus a cosine term between a BiLSTM's or CNN's text vector and the
teacher's pooled last layer (the loss, the method's sum, training through the CLI, refusals)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from typer.testing import CliRunner

from tests.test_distill import TINY_TRANSFORMER, setup_task, write_config
from textdistill.cli import app
from textdistill.errors import TextdistillError
from textdistill.losses import cosine_distance
from textdistill.methods import Hinton, HintonCosine, get_method
from textdistill.models.bilstm import BiLSTMStudent
from textdistill.models.bundle import load_student
from textdistill.models.cnn import CNNStudent
from textdistill.models.dan import DANStudent
from textdistill.models.outputs import ModelOutput
from textdistill.paths import home

runner = CliRunner()
BILSTM = {"kind": "bilstm", "embedding": "random", "embed_dim": 8, "hidden": 8, "fc": 6}
CNN = {"kind": "cnn", "embedding": "random", "embed_dim": 8, "widths": [2, 3], "filters": 4, "fc": 6}


def test_cosine_distance_values_and_shapes() -> None:
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    y = torch.tensor([[5.0, 0.0], [0.0, -1.0], [-4.0, 3.0]])  # same way, opposite, orthogonal
    assert cosine_distance(x, y).item() == pytest.approx((0.0 + 2.0 + 1.0) / 3)
    assert cosine_distance(x, 7 * x).item() == pytest.approx(0.0, abs=1e-7)  # norms do not count
    with pytest.raises(ValueError):
        cosine_distance(x, y[:2])
    with pytest.raises(ValueError):
        cosine_distance(x.unsqueeze(0), y.unsqueeze(0))


def test_the_loss_is_hintons_plus_the_weighted_cosine_term() -> None:
    gen = torch.Generator().manual_seed(0)
    s, t = torch.randn(4, 3, generator=gen), torch.randn(4, 3, generator=gen)
    s_vec, t_vec = (
        torch.randn(4, 1, 5, generator=gen),
        torch.randn(4, 6, 7, generator=gen),
    )  # (B, 1, F), (B, layers, H)
    batch = {"labels": torch.tensor([0, 2, 1, 2])}
    method = HintonCosine(alpha=0.3, temperature=2.0, cosine=0.7)
    projection = method.setup(1, 5, 6, 7)
    assert isinstance(projection, torch.nn.Linear) and projection.weight.shape == (7, 5)
    loss, terms = method.loss(
        batch, ModelOutput(s, layer_features=s_vec), ModelOutput(t, layer_features=t_vec), 0, 10
    )
    kd, kd_terms = Hinton(alpha=0.3, temperature=2.0).loss(batch, ModelOutput(s), ModelOutput(t), 0, 10)
    by_hand = 1 - torch.nn.functional.cosine_similarity(projection(s_vec[:, 0]), t_vec[:, -1], dim=-1).mean()
    assert terms["cos"] == pytest.approx(by_hand.item(), rel=1e-6)
    assert {k: terms[k] for k in kd_terms} == pytest.approx(kd_terms)
    assert loss.item() == pytest.approx(kd.item() + 0.7 * by_hand.item(), rel=1e-6)
    loss.backward()  # the projection learns from the cosine term
    assert projection.weight.grad is not None and projection.weight.grad.abs().sum() > 0


def test_bad_parameters_and_a_missing_setup_are_named() -> None:
    with pytest.raises(TextdistillError, match="cosine must be >= 0"):
        get_method("hinton_cos", cosine=-1.0)
    with pytest.raises(TextdistillError, match="alpha"):
        get_method("hinton_cos", alpha=2.0)
    out = ModelOutput(torch.zeros(2, 2), layer_features=torch.zeros(2, 1, 3))
    with pytest.raises(TextdistillError, match="call setup"):
        HintonCosine().loss({"labels": torch.tensor([0, 1])}, out, out, 0, 1)


@pytest.mark.parametrize(
    "cls,kwargs",
    [(BiLSTMStudent, {"hidden": 8}), (CNNStudent, {"widths": (2, 3), "filters": 4}), (DANStudent, {})],
)
@pytest.mark.parametrize("pair", [False, True])
def test_word_students_give_the_vector_their_classifier_reads(cls, kwargs: dict, pair: bool) -> None:
    torch.manual_seed(0)
    model = cls(30, 3, embed_dim=8, fc=6, pair=pair, **kwargs).eval()
    ids, lengths = torch.randint(1, 30, (2, 5)), torch.tensor([5, 3])
    extra = {"word_ids_b": ids.flip(1), "word_lengths_b": lengths} if pair else {}
    out = model(ids, lengths, output_features=True, **extra)
    assert out.layer_features.shape == (2, 1, 6)
    torch.testing.assert_close(model.classifier(out.layer_features[:, 0]), out.logits)  # eval: no dropout
    assert model(ids, lengths, **extra).layer_features is None


@pytest.mark.parametrize("student", [BILSTM, CNN], ids=["bilstm", "cnn"])
@pytest.mark.parametrize("task", ["movie-sentiment", "movie-dialog"], ids=["single", "pairs"])
def test_distill_with_hinton_cos_through_the_cli(tmp_path: Path, student: dict, task: str) -> None:
    data, teacher = setup_task(tmp_path, task)
    method = {"name": "hinton_cos", "cosine": 2.0}
    config = write_config(tmp_path, data, teacher, student, method, task)
    result = runner.invoke(app, ["distill", str(config), "train.max_steps=6"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    train = [r for r in log if r.get("type") == "train"]
    assert train and {"hard", "kl", "cos"} <= set(train[0]) and 0 <= train[0]["cos"] <= 2
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["method"] == "hinton_cos"
    entry = home() / "teacher_cache" / f"{metrics['teacher']['cache']['fingerprint']}.safetensors"
    with safe_open(str(entry), "pt") as cached:  # the teacher's pooled layers were cached with its logits
        assert set(cached.keys()) == {"logits", "features"}
    saved = load_student(run / "student")  # the student alone: the projection is not saved with it
    fresh = {"bilstm": BiLSTMStudent, "cnn": CNNStudent}[student["kind"]](
        **type(saved.model).kwargs(saved.model.config)
    )
    assert saved.model.state_dict().keys() == fresh.state_dict().keys()
    assert math.isfinite(metrics["best"]["dev/accuracy"])


def test_hinton_cos_on_a_regression_task(tmp_path: Path) -> None:
    data, teacher = setup_task(tmp_path, "movie-score")
    config = write_config(tmp_path, data, teacher, BILSTM, {"name": "hinton_cos"}, "movie-score")
    result = runner.invoke(app, ["distill", str(config), "train.max_steps=4"])
    assert result.exit_code == 0, result.output
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    train = [r for r in log if r.get("type") == "train"]
    assert {"hard", "mse", "cos"} <= set(train[0])  # the soft term of a regression task is Hinton's MSE


def test_hinton_cos_with_a_transformer_student_is_refused_before_any_work(tmp_path: Path) -> None:
    data, teacher = setup_task(tmp_path)
    config = write_config(
        tmp_path, data, teacher, TINY_TRANSFORMER, {"name": "hinton_cos"}, "movie-sentiment"
    )
    result = runner.invoke(app, ["distill", str(config)])
    assert (
        result.exit_code == 2
        and "hinton_cos matches the text vector of a BiLSTM, CNN or DAN" in result.output
    )
    assert not (tmp_path / "run").exists()
