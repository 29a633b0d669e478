"""LRC-BERT: COS-NCE, the layer mapping and projections, negatives, the two-stage schedule,
gradient perturbation, cached layer features, and ``distill`` end to end with every variant."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import make_tiny_bert, write_jsonl
from tests.test_distill import setup_task, write_config
from textdistill.cli import app
from textdistill.errors import TextdistillError
from textdistill.losses import angular_distance, attention_mse, cos_nce, hidden_mse
from textdistill.methods import get_method
from textdistill.methods.lrc_bert import LRCBert
from textdistill.models.features import layer_map, pool
from textdistill.models.outputs import ModelOutput
from textdistill.train.perturbation import perturbation, perturbed_step

runner = CliRunner()
STUDENT = {"kind": "transformer", "layers": 2, "hidden": 16, "heads": 4, "intermediate": 24}


# ------------------------------------------------------------------------------------- losses
def test_angular_distance_range_and_values() -> None:
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    y = torch.tensor([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]])
    assert angular_distance(x, y).tolist() == pytest.approx([0.0, 1.0, 2.0])


def test_cos_nce_equals_a_hand_computation() -> None:
    s = torch.tensor([[1.0, 0.0]])
    t = torch.tensor([[1.0, 1.0]])  # cos 1/sqrt(2): g = 1 - 0.7071
    n = torch.tensor([[[0.0, 1.0], [-1.0, 0.0]]])  # g = 1 and g = 2
    g_pos = 1 - 1 / math.sqrt(2)
    expected = ((2 - (1 - g_pos)) + (2 - (2 - g_pos))) / 2
    assert cos_nce(s, t, n).item() == pytest.approx(expected, abs=1e-6)


def test_cos_nce_student_equal_to_teacher_scores_lower_than_random() -> None:
    torch.manual_seed(0)
    teacher = torch.randn(8, 32)
    negatives = torch.stack([teacher[(torch.arange(8) + k) % 8] for k in range(1, 8)], dim=1)  # (8, 7, 32)
    same = cos_nce(teacher.clone(), teacher, negatives)
    random = cos_nce(torch.randn(8, 32), teacher, negatives)
    assert same < random
    assert same.item() == pytest.approx((2 - angular_distance(negatives, teacher.unsqueeze(1))).mean().item())


def test_cos_nce_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="negatives must be"):
        cos_nce(torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(2, 4))


def test_hidden_and_attention_mse_leave_padding_out() -> None:
    s, t = torch.zeros(1, 3, 2), torch.ones(1, 3, 2)
    t[0, 2] = 100.0  # padding: must not count
    mask = torch.tensor([[1, 1, 0]])
    assert hidden_mse(s, t, mask).item() == pytest.approx(1.0)
    att_s, att_t = torch.zeros(1, 2, 3, 3), torch.full((1, 2, 3, 3), 0.5)
    att_t[..., 2] = 9.0
    assert attention_mse(att_s, att_t, mask).item() == pytest.approx(0.25)


# ------------------------------------------------------------------- mapping, pooling, projection
def test_layer_map() -> None:
    assert layer_map(4, 12) == [3, 6, 9, 12]
    assert layer_map(4, 6) == [1, 3, 4, 6]
    assert layer_map(2, 6) == [3, 6]
    with pytest.raises(ValueError, match="student layers"):
        layer_map(7, 6)


def test_pool() -> None:
    h = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [50.0, 50.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert pool(h, mask, "mean").tolist() == [[2.0, 3.0]]
    assert pool(h, mask, "cls").tolist() == [[1.0, 2.0]]
    assert pool(h, mask, "token").tolist() == [[1.0, 2.0, 3.0, 4.0, 0.0, 0.0]]


def test_projection_shapes_for_mismatched_sizes() -> None:
    method = LRCBert(negatives=3)
    modules = method.setup(student_layers=4, student_hidden=312, teacher_layers=6, teacher_hidden=384)
    assert method.mapping == [1, 3, 4, 6]
    assert [tuple(p.weight.shape) for p in modules] == [(384, 312)] * 4
    batch = {"attention_mask": torch.ones(5, 7, dtype=torch.long), "index": torch.arange(5)}
    student = ModelOutput(
        logits=torch.zeros(5, 2), hidden_states=tuple(torch.randn(5, 7, 312) for _ in range(5))
    )
    teacher = ModelOutput(logits=torch.zeros(5, 2), layer_features=torch.randn(5, 6, 384))
    loss = method.intermediate_loss(batch, student, teacher)
    assert loss.dim() == 0 and loss.requires_grad
    loss.backward()
    assert all(p.weight.grad is not None for p in modules)


def test_negatives_come_from_the_batch_then_the_bank_never_the_example_itself() -> None:
    bank = torch.arange(20.0).view(20, 1, 1).expand(20, 2, 3).contiguous()  # row i holds the value i
    method = LRCBert(negatives=6, seed=1)
    method.setup(2, 4, 2, 3, bank=bank)
    index = torch.tensor([3, 7, 11])
    rows = method._negative_rows({"index": index})
    assert rows[0].shape == (3, 2) and rows[1].shape == (3, 4)
    z_t = bank[index, 0]  # (3, 3)
    negatives = method._negatives(z_t, rows, t_layer=1)  # (3, 6, 3)
    assert negatives.shape == (3, 6, 3)
    for b in range(3):
        values = negatives[b, :, 0].tolist()
        assert float(index[b]) not in values  # never the row itself
        assert sorted(values[:2]) == sorted(float(i) for i in index.tolist() if i != index[b])


def test_negatives_in_data_parallel_training_come_from_every_process_batch() -> None:
    """Rank 1 of 2 holds rows 11, 13 of the global batch [3, 7, 11, 13]: its in-batch negatives
    are the other three rows of the global batch, rank 0's included, so K does not shrink."""
    bank = torch.arange(20.0).view(20, 1, 1).expand(20, 2, 3).contiguous()
    method = LRCBert(negatives=5, seed=1)
    method.setup(2, 4, 2, 3, bank=bank)
    batch = {
        "index": torch.tensor([11, 13]),
        "global_index": torch.tensor([3, 7, 11, 13]),
        "global_position": torch.tensor([2, 3]),
    }
    in_batch, drawn = method._negative_rows(batch)
    assert in_batch.shape == (2, 3) and drawn.shape == (2, 2)
    negatives = method._negatives(bank[batch["global_index"], 0], (in_batch, drawn), t_layer=1)
    for b, own in enumerate((11.0, 13.0)):
        values = negatives[b, :, 0].tolist()
        assert sorted(values[:3]) == sorted({3.0, 7.0, 11.0, 13.0} - {own})
        assert own not in values


# ---------------------------------------------------------------------------------- schedule
def test_schedule_switches_at_the_configured_step() -> None:
    method = LRCBert(stage1_fraction=0.8)
    stages = [method.weights_at(step, 10) for step in range(10)]
    assert stages[:8] == [(1, (1.0, 0.0, 0.0))] * 8
    assert stages[8:] == [(2, (1.0, 1.0, 3.0))] * 2
    assert LRCBert(two_stage=False).weights_at(0, 10) == (2, (1.0, 1.0, 3.0))
    assert LRCBert(intermediate="none").weights_at(0, 10) == (2, (1.0, 1.0, 3.0))


def test_loss_weights_follow_the_stage_and_are_logged() -> None:
    method = LRCBert(negatives=2)
    method.setup(1, 4, 1, 4)
    batch = {
        "attention_mask": torch.ones(3, 2, dtype=torch.long),
        "index": torch.arange(3),
        "labels": torch.tensor([0, 1, 0]),
    }
    student = ModelOutput(
        logits=torch.randn(3, 2), hidden_states=(torch.randn(3, 2, 4), torch.randn(3, 2, 4))
    )
    teacher = ModelOutput(logits=torch.randn(3, 2), layer_features=torch.randn(3, 1, 4))
    loss1, terms1 = method.loss(batch, student, teacher, step=0, total_steps=10)
    assert set(terms1) == {"stage", "w_inter", "w_soft", "w_hard", "cos_nce"}
    assert loss1.item() == pytest.approx(terms1["cos_nce"])
    loss2, terms2 = method.loss(batch, student, teacher, step=9, total_steps=10)
    assert terms2["stage"] == 2 and {"kl", "hard"} <= set(terms2)
    assert loss2.item() == pytest.approx(terms2["cos_nce"] + terms2["kl"] + 3 * terms2["hard"], rel=1e-5)


def test_bad_parameters_are_all_reported() -> None:
    with pytest.raises(TextdistillError) as err:
        get_method("lrc_bert", intermediate="nope", negatives=0, stage1_fraction=2.0)
    assert "intermediate" in str(err.value) and "negatives" in str(err.value) and "stage1" in str(err.value)
    with pytest.raises(TextdistillError, match="takes"):
        get_method("lrc_bert", bank=1)  # runtime state is not a parameter


# ------------------------------------------------------------------------ gradient perturbation
def test_perturbation_has_the_configured_size_per_example() -> None:
    g = torch.randn(3, 4, 5)
    delta = perturbation(g, 0.5)
    assert delta.flatten(1).norm(dim=1).tolist() == pytest.approx([0.5] * 3, abs=1e-6)
    assert torch.allclose(
        delta / delta.flatten(1).norm(dim=1).view(-1, 1, 1), g / g.flatten(1).norm(dim=1).view(-1, 1, 1)
    )


def test_perturbation_moves_embeddings_along_the_gradient_and_leaves_parameters_alone(
    tiny_bert: Path,
) -> None:
    from textdistill.models.teacher import HFClassifier

    torch.manual_seed(0)
    model = HFClassifier.from_pretrained(str(tiny_bert)).eval()  # eval: no dropout, passes comparable
    inputs = {"input_ids": torch.randint(5, 40, (2, 6)), "attention_mask": torch.ones(2, 6, dtype=torch.long)}
    labels = torch.tensor([0, 1])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    seen: list[ModelOutput] = []

    def loss_fn(out: ModelOutput) -> tuple[torch.Tensor, dict[str, float]]:
        seen.append(out)
        return torch.nn.functional.cross_entropy(out.logits, labels), {}

    loss, terms = perturbed_step(model, inputs, loss_fn, epsilon=0.3)
    assert all(p.grad is None for p in model.parameters())  # the first pass left no gradient behind
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    clean, perturbed = seen
    (g,) = torch.autograd.grad(loss_fn(model(**inputs, output_hidden_states=True))[0], seen[-1].embeddings)
    moved = perturbed.embeddings - clean.embeddings
    assert torch.allclose(moved, perturbation(g, 0.3), atol=1e-5)
    assert terms["loss_clean"] == pytest.approx(
        torch.nn.functional.cross_entropy(clean.logits, labels).item()
    )
    # the loss that updates the parameters is the one on the perturbed embeddings
    loss.backward()
    direct = model(**inputs, output_hidden_states=True, embedding_delta=perturbation(g, 0.3))
    assert loss.item() == pytest.approx(
        torch.nn.functional.cross_entropy(direct.logits, labels).item(), abs=1e-5
    )
    assert loss.item() > terms["loss_clean"]  # a step up the gradient raises the loss


# --------------------------------------------------------------------- teacher cache, end to end
def test_cached_layer_features_equal_live_ones(tiny_bert: Path) -> None:
    from transformers import AutoTokenizer

    from textdistill.data.encode import EncodedDataset, make_loader
    from textdistill.data.tasks import Example
    from textdistill.models.teacher import HFClassifier
    from textdistill.teachers.cache import teacher_outputs

    examples = [Example(t) for t in ("a good film", "the plot was bad and the acting awful", "not very good")]
    first = teacher_outputs(tiny_bert, examples, features="mean")
    again = teacher_outputs(tiny_bert, examples, features="mean")
    assert not first.from_cache and again.from_cache and torch.equal(first.features, again.features)
    assert teacher_outputs(tiny_bert, examples).features is None  # a logits-only entry is another key
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    model = HFClassifier.from_pretrained(str(tiny_bert)).eval()
    loader = make_loader(EncodedDataset(examples, tokenizer, 128), tokenizer, 1)
    for i, batch in enumerate(loader):
        with torch.no_grad():
            out = model(batch["input_ids"], batch["attention_mask"], output_hidden_states=True)
        live = torch.stack([pool(h, batch["attention_mask"], "mean")[0] for h in out.hidden_states[1:]])
        assert torch.allclose(again.features[i], live, atol=1e-5)


@pytest.mark.parametrize(
    "method",
    [
        {"name": "lrc_bert", "negatives": 4},
        {"name": "lrc_bert", "intermediate": "hidden_mse", "perturbation": 0},
        {"name": "lrc_bert", "intermediate": "attention_mse", "two_stage": False},
        {"name": "lrc_bert", "pooling": "token", "negatives": 3},
        {"name": "lrc_bert", "intermediate": "none"},
    ],
    ids=["full", "hidden-mse", "attention-mse", "token", "no-intermediate"],
)
def test_distill_every_variant_through_the_cli(tmp_path: Path, method: dict) -> None:
    data, teacher = setup_task(tmp_path)
    config = write_config(tmp_path, data, teacher, STUDENT, method, "movie-sentiment")
    result = runner.invoke(app, ["distill", str(config), "train.max_steps=5"])
    assert result.exit_code == 0, result.output
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    train_rows = [r for r in log if r["type"] == "train"]
    assert train_rows and {"stage", "w_inter", "w_soft", "w_hard"} <= set(train_rows[-1])
    inter = method.get("intermediate", "cos_nce")
    if inter != "none":
        assert inter in train_rows[0]
    assert ("loss_clean" in train_rows[0]) == (method.get("perturbation", 1.0) > 0)
    saved = json.loads((tmp_path / "run" / "student" / "config.json").read_text())
    assert saved["num_hidden_layers"] == 2  # only the student is saved, not the projections


def test_lrc_bert_with_a_bilstm_is_refused(tmp_path: Path) -> None:
    data, teacher = setup_task(tmp_path)
    bilstm = {"kind": "bilstm", "embedding": "random", "embed_dim": 8, "hidden": 8, "fc": 8}
    config = write_config(tmp_path, data, teacher, bilstm, {"name": "lrc_bert"}, "movie-sentiment")
    result = runner.invoke(app, ["distill", str(config)])
    assert result.exit_code == 2 and "needs a transformer student" in result.output


def test_general_distillation_then_task_distillation_from_it(tmp_path: Path) -> None:
    data, teacher = setup_task(tmp_path)
    torch.manual_seed(0)  # the random encoder: its features set how far below chance a student gets
    encoder = make_tiny_bert(tmp_path / "encoder")
    general = tmp_path / "general"
    words = "the a film movie good bad great awful not very plot acting".split()
    texts = [" ".join(words[(i * 7 + j) % len(words)] for j in range(3 + i % 5)) + f" {i}" for i in range(60)]
    write_jsonl(tmp_path / "corpus.jsonl", [{"text": t} for t in texts])
    (tmp_path / "dev.txt").write_text(texts[0] + "\n" + texts[1] + "\n")
    result = runner.invoke(
        app,
        [
            "general-distill",
            "--teacher", str(encoder),
            "--files", str(tmp_path / "corpus.jsonl"),
            "--exclude", str(tmp_path / "dev.txt"),
            "--layers", "2", "--hidden", "16", "--heads", "4", "--intermediate", "24",
            "--epochs", "6", "--lr", "1e-3", "--batch-size", "8", "--negatives", "4",
            "--out", str(general), "--report-to", "tensorboard",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert list((general / "tensorboard").glob("events.out.tfevents.*"))  # the curves beside log.jsonl
    report = json.loads((general / "general.json").read_text())
    assert report["texts"]["train"] + report["texts"]["held_out"] == report["texts"]["total"] == 58
    assert report["texts"]["removed_as_dev_or_test"] == 2
    assert report["steps"] == 42 and report["best_held_out_cos_nce"] < 4.0
    assert (general / "student" / "model.safetensors").exists()
    student = {**STUDENT, "init_from": str(general / "student")}
    config = write_config(tmp_path / "task", data, teacher, student, {"name": "lrc_bert"}, "movie-sentiment")
    result = runner.invoke(app, ["distill", str(config), "train.max_steps=3"])
    assert result.exit_code == 0, result.output
    wrong = {**student, "hidden": 32, "heads": 4}
    config = write_config(tmp_path / "wrong", data, teacher, wrong, {"name": "lrc_bert"}, "movie-sentiment")
    result = runner.invoke(app, ["distill", str(config), "train.max_steps=3"])
    assert result.exit_code == 2 and "general student" in result.output
