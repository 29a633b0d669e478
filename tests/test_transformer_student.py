"""BERT-style students: sizes, the teacher's vocabulary, skip-layer initialisation, save and reload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, MPNetConfig

from tests.conftest import make_tiny_bert
from textdistill.data.tasks import TaskSpec
from textdistill.errors import TextdistillError
from textdistill.models.teacher import HFClassifier
from textdistill.models.transformer import build_transformer_student, keep_units

THREE = TaskSpec("three", ("a", "b", "c"), ("accuracy",))
TWO = TaskSpec("two", ("no", "yes"), ("accuracy",))
SCORE = TaskSpec("score", None, ("pearson",))
TINY = {"hidden": 32, "heads": 4, "intermediate": 37}  # make_tiny_bert's sizes


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 4-layer, hidden-32 BERT teacher folder with its tokenizer."""
    torch.manual_seed(0)
    return make_tiny_bert(tmp_path_factory.mktemp("teacher4"), num_labels=2, layers=4)


def batch(folder: Path) -> dict[str, torch.Tensor]:
    """Two texts of different lengths (so one row is padded), tokenised by the teacher's tokenizer."""
    tok = AutoTokenizer.from_pretrained(folder)
    enc = tok(
        ["the film was good", "what a bad plot and awful acting"],
        ["yes", "no it was not very great"],
        padding=True,
        return_tensors="pt",
    )
    assert (enc["attention_mask"] == 0).any()  # the test covers padding
    assert (enc["token_type_ids"] == 1).any()  # and the second segment
    return {k: enc[k] for k in HFClassifier.input_names}


def config_only_teacher(folder: Path, config) -> Path:
    """A teacher folder with only ``config.json`` (enough for a randomly initialised student)."""
    folder.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(folder)
    return folder


def bert_parameters(vocab: int, positions: int, types: int, layers: int, h: int, ff: int, labels: int) -> int:
    """BERT's parameter count by formula: embeddings + layers + pooler + classifier."""
    embeddings = (vocab + positions + types) * h + 2 * h  # three tables and a LayerNorm
    attention = 4 * (h * h + h) + 2 * h  # q, k, v, output projection and a LayerNorm
    feed_forward = (h * ff + ff) + (ff * h + h) + 2 * h  # up, down and a LayerNorm
    pooler = h * h + h
    classifier = h * labels + labels
    return embeddings + layers * (attention + feed_forward) + pooler + classifier


# ---------------------------------------------------------------------------------------- shapes
def test_sizes_differ_from_teacher_and_shapes_follow_the_student(teacher: Path) -> None:
    student = build_transformer_student(teacher, THREE, layers=3, hidden=24, heads=2, intermediate=50)
    student.eval()
    inputs = batch(teacher)
    b, length = inputs["input_ids"].shape
    out = student(**inputs, output_hidden_states=True, output_attentions=True)
    assert out.logits.shape == (b, 3)
    assert len(out.hidden_states) == 4  # embeddings + 3 layers
    assert all(h.shape == (b, length, 24) for h in out.hidden_states)
    assert out.embeddings is out.hidden_states[0]
    assert len(out.attentions) == 3
    assert all(a.shape == (b, 2, length, length) for a in out.attentions)
    # The student is not the teacher resized: it has its own sizes and a head for the task.
    config = student.model.config
    assert (config.num_hidden_layers, config.hidden_size, config.intermediate_size) == (3, 24, 50)
    assert config.id2label == {0: "a", 1: "b", 2: "c"}
    assert config.label2id == {"a": 0, "b": 1, "c": 2}
    assert config.problem_type == "single_label_classification"
    assert config._attn_implementation == "eager"
    assert student(**inputs).hidden_states is None


def test_regression_head_and_dropout(teacher: Path) -> None:
    student = build_transformer_student(
        teacher, SCORE, layers=1, hidden=16, heads=2, intermediate=20, dropout=0.3
    )
    inputs = batch(teacher)
    student.eval()
    assert student(**inputs).logits.shape == (2, 1)
    config = student.model.config
    assert config.problem_type == "regression"
    assert config.num_labels == 1
    assert config.hidden_dropout_prob == config.attention_probs_dropout_prob == 0.3
    student.train()  # dropout is live in training: two passes differ
    assert not torch.equal(student(**inputs).logits, student(**inputs).logits)


# ----------------------------------------------------------------------------- teacher's vocabulary
def test_vocabulary_positions_and_pad_follow_the_teacher(teacher: Path) -> None:
    tok = AutoTokenizer.from_pretrained(teacher)
    teacher_config = BertConfig.from_pretrained(teacher)
    config = build_transformer_student(
        teacher, TWO, layers=1, hidden=16, heads=2, intermediate=20
    ).model.config
    assert config.vocab_size == teacher_config.vocab_size == len(tok)
    assert config.pad_token_id == tok.pad_token_id
    assert config.max_position_embeddings == teacher_config.max_position_embeddings == 64
    assert config.type_vocab_size == teacher_config.type_vocab_size


def test_unusual_teacher_config_is_followed(tmp_path: Path) -> None:
    odd = BertConfig(vocab_size=101, max_position_embeddings=40, type_vocab_size=3, pad_token_id=7)
    student = build_transformer_student(
        config_only_teacher(tmp_path / "odd", odd), TWO, layers=1, hidden=16, heads=2
    )
    config = student.model.config
    assert (config.vocab_size, config.max_position_embeddings, config.type_vocab_size) == (101, 40, 3)
    assert config.pad_token_id == 7
    embeddings = student.model.bert.embeddings
    assert embeddings.word_embeddings.weight.shape == (101, 16)
    assert embeddings.word_embeddings.padding_idx == 7


def test_tokenizer_pad_id_wins_over_the_config(tmp_path: Path) -> None:
    folder = make_tiny_bert(tmp_path / "t")
    config = json.loads((folder / "config.json").read_text())
    config["pad_token_id"] = 5  # a config that disagrees with the tokenizer ([PAD] is id 0)
    (folder / "config.json").write_text(json.dumps(config))
    student = build_transformer_student(folder, TWO, layers=1, hidden=16, heads=2, intermediate=20)
    assert student.model.config.pad_token_id == AutoTokenizer.from_pretrained(folder).pad_token_id == 0


def test_mpnet_teacher_without_token_types(tmp_path: Path) -> None:
    folder = config_only_teacher(
        tmp_path / "mpnet", MPNetConfig(vocab_size=30527, max_position_embeddings=514)
    )
    config = build_transformer_student(
        folder, TWO, layers=1, hidden=16, heads=2, intermediate=20
    ).model.config
    assert (config.vocab_size, config.pad_token_id, config.max_position_embeddings) == (30527, 1, 514)
    assert config.type_vocab_size == 1


# ------------------------------------------------------------------------------- skip-layer init
def test_init_from_teacher_copies_embeddings_layers_and_pooler(teacher: Path) -> None:
    torch.manual_seed(1)
    student = build_transformer_student(teacher, THREE, layers=2, init_from_teacher=[0, 2], **TINY)
    source = BertForSequenceClassification.from_pretrained(teacher, attn_implementation="eager")
    s, t = student.model.bert.state_dict(), source.bert.state_dict()
    copied = {"embeddings.": "embeddings.", "pooler.": "pooler."}
    copied |= {f"encoder.layer.{j}.": f"encoder.layer.{i}." for j, i in enumerate([0, 2])}
    compared = 0
    for name, value in s.items():
        prefix = next(p for p in copied if name.startswith(p))
        assert torch.equal(value, t[copied[prefix] + name[len(prefix) :]]), name
        compared += 1
    assert compared == len(s)
    # A new head, sized for the task (the teacher's has 2 classes).
    assert student.model.classifier.weight.shape == (3, 32)
    assert not torch.equal(
        student.model.bert.encoder.layer[1].output.dense.weight, t["encoder.layer.1.output.dense.weight"]
    )


def test_init_from_teacher_computes_the_teachers_chosen_layers(teacher: Path) -> None:
    student = build_transformer_student(teacher, TWO, layers=2, init_from_teacher=[0, 2], **TINY)
    source = BertForSequenceClassification.from_pretrained(teacher, attn_implementation="eager")
    inputs = batch(teacher)
    student.eval()
    source.eval()
    full = source.bert(**inputs, output_hidden_states=True)
    # Hand-built reference: the teacher's own encoder with only its layers 0 and 2, in that order.
    source.bert.encoder.layer = torch.nn.ModuleList(
        [source.bert.encoder.layer[0], source.bert.encoder.layer[2]]
    )
    reference = source.bert(**inputs, output_hidden_states=True)
    ours = student.model.bert(**inputs, output_hidden_states=True)
    assert len(ours.hidden_states) == 3
    for mine, theirs in zip(ours.hidden_states, reference.hidden_states, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours.pooler_output, reference.pooler_output, rtol=0, atol=1e-6)
    # Through HFClassifier too, and the layer order matters: layer 2 is not the teacher's layer 1.
    hidden = student(**inputs, output_hidden_states=True).hidden_states
    torch.testing.assert_close(hidden[2], reference.hidden_states[2], rtol=0, atol=1e-6)
    torch.testing.assert_close(hidden[1], full.hidden_states[1], rtol=0, atol=1e-6)
    assert (hidden[2] - full.hidden_states[2]).abs().max() > 1e-3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"layers": 2, "hidden": 48, "heads": 4, "intermediate": 37},
            "needs hidden 32 like the teacher, got 48",
        ),
        (
            {"layers": 2, "hidden": 32, "heads": 8, "intermediate": 37},
            "needs heads 4 like the teacher, got 8",
        ),
        (
            {"layers": 2, "hidden": 32, "heads": 4, "intermediate": 64},
            "needs intermediate at most the teacher's 37",
        ),
        ({"layers": 3, **TINY}, "lists 2 teacher layer(s) [0, 2] for a 3-layer student"),
    ],
)
def test_init_from_teacher_mismatch_says_what_differs(teacher: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(TextdistillError) as err:
        build_transformer_student(teacher, TWO, init_from_teacher=[0, 2], **kwargs)
    assert message in str(err.value)


def test_init_from_teacher_reports_every_difference(teacher: Path) -> None:
    with pytest.raises(TextdistillError) as err:
        build_transformer_student(teacher, TWO, layers=4, hidden=312, heads=12, init_from_teacher=[0, 2])
    text = str(err.value)
    for part in ("lists 2 teacher layer(s)", "hidden 32", "heads 4", "intermediate at most the teacher's 37"):
        assert part in text


def test_keep_units_takes_the_largest_paths_in_order() -> None:
    up = torch.tensor([[1.0, 0.0], [3.0, 4.0], [0.1, 0.1], [0.0, 2.0]])  # (I=4, H=2): norms 1, 5, .14, 2
    down = torch.tensor([[1.0, 1.0, 9.0, 1.0], [0.0, 0.0, 0.0, 3.0]])  # (H=2, I=4): norms 1, 1, 9, 3.16
    # scores 1, 5, 1.27, 6.32: the two largest are units 1 and 3, returned in their original order
    assert keep_units(up, down, 2).tolist() == [1, 3]
    assert keep_units(up, down, 3).tolist() == [1, 2, 3]


def test_init_from_teacher_with_a_narrower_feed_forward_keeps_the_chosen_units(teacher: Path) -> None:
    """A student with intermediate 20 of the teacher's 37 computes the teacher's layer restricted to
    the 20 units of largest magnitude: checked against the teacher layer with the other units' up
    weights zeroed (GELU(0) = 0, so a zeroed unit adds nothing)."""
    student = build_transformer_student(teacher, TWO, layers=1, hidden=32, heads=4, intermediate=20,
                                        init_from_teacher=[2])  # fmt: skip
    source = BertForSequenceClassification.from_pretrained(teacher, attn_implementation="eager")
    layer = source.bert.encoder.layer[2]
    keep = keep_units(layer.intermediate.dense.weight, layer.output.dense.weight, 20)
    assert student.model.bert.encoder.layer[0].intermediate.dense.weight.shape == (20, 32)
    assert student.model.bert.encoder.layer[0].output.dense.weight.shape == (32, 20)
    dropped = torch.ones(37, dtype=torch.bool)
    dropped[keep] = False
    with torch.no_grad():
        layer.intermediate.dense.weight[dropped] = 0
        layer.intermediate.dense.bias[dropped] = 0
    source.bert.encoder.layer = torch.nn.ModuleList([layer])
    source.eval()
    student.eval()
    inputs = batch(teacher)
    ours = student.model.bert(**inputs).last_hidden_state
    theirs = source.bert(**inputs).last_hidden_state
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)
    # and it differs from the whole layer: the dropped units did contribute
    whole = BertForSequenceClassification.from_pretrained(teacher, attn_implementation="eager").eval()
    whole.bert.encoder.layer = torch.nn.ModuleList([whole.bert.encoder.layer[2]])
    assert (whole.bert(**inputs).last_hidden_state - ours).abs().max() > 1e-3


@pytest.mark.parametrize("index", [4, 7, -1])
def test_init_from_teacher_index_out_of_range_names_the_teachers_layers(teacher: Path, index: int) -> None:
    with pytest.raises(
        TextdistillError, match=rf"\[{index}\] out of range: the teacher has 4 layers \(0\.\.3\)"
    ):
        build_transformer_student(teacher, TWO, layers=2, init_from_teacher=[0, index], **TINY)


def test_init_from_teacher_needs_a_bert_teacher(tmp_path: Path) -> None:
    folder = config_only_teacher(
        tmp_path / "mpnet", MPNetConfig(hidden_size=32, num_attention_heads=4, intermediate_size=37)
    )
    with pytest.raises(TextdistillError, match="needs a BERT-architecture teacher, got 'mpnet'"):
        build_transformer_student(folder, TWO, layers=1, init_from_teacher=[0], **TINY)


def test_impossible_sizes_are_errors(teacher: Path) -> None:
    with pytest.raises(TextdistillError, match="hidden 30 is not a multiple of its 4 attention heads"):
        build_transformer_student(teacher, TWO, layers=1, hidden=30, heads=4)
    with pytest.raises(TextdistillError, match="must be positive"):
        build_transformer_student(teacher, TWO, layers=0)


# -------------------------------------------------------------------------------- size and saving
@pytest.mark.parametrize("spec", [TWO, THREE, SCORE])
def test_default_student_parameter_count_with_a_bert_vocabulary(tmp_path: Path, spec: TaskSpec) -> None:
    folder = config_only_teacher(tmp_path / "bert", BertConfig())  # vocab 30522, 512 positions, 2 types
    student = build_transformer_student(folder, spec)  # 4 layers, hidden 312, intermediate 1200
    expected = bert_parameters(30522, 512, 2, layers=4, h=312, ff=1200, labels=spec.num_labels)
    assert student.num_parameters == expected
    assert 14_300_000 < student.num_parameters < 14_400_000  # TinyBERT-4's ~14.4M (encoder + head)
    if spec is TWO:
        assert student.num_parameters == 14_350_874


def test_save_and_reload_give_identical_logits(teacher: Path, tmp_path: Path) -> None:
    student = build_transformer_student(teacher, THREE, layers=2, hidden=24, heads=2, intermediate=40)
    student.eval()
    inputs = batch(teacher)
    before = student(**inputs, output_hidden_states=True)
    student.save(tmp_path / "student")
    reloaded = HFClassifier.from_pretrained(str(tmp_path / "student"))
    reloaded.eval()
    after = reloaded(**inputs, output_hidden_states=True)
    assert torch.equal(before.logits, after.logits)
    assert all(torch.equal(a, b) for a, b in zip(before.hidden_states, after.hidden_states, strict=True))
    config = reloaded.model.config
    assert (config.num_hidden_layers, config.hidden_size, config.num_labels) == (2, 24, 3)
    assert config.id2label == {0: "a", 1: "b", 2: "c"}
    assert reloaded.num_parameters == student.num_parameters
