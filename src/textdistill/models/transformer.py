"""Small BERT-style transformer students, sized freely, reading the teacher's tokens.

:func:`build_transformer_student` makes a ``BertForSequenceClassification`` of any depth and width
whose embedding table matches the teacher's tokenizer (vocabulary size, padding id, positions and
token types come from the teacher), so one tokenised batch feeds both models. It comes back
wrapped in :class:`~textdistill.models.teacher.HFClassifier`, so it speaks the same
:class:`~textdistill.models.outputs.ModelOutput` contract as the teacher, hidden states included
(``output_hidden_states=True`` gives ``layers + 1`` tensors, index 0 the embedding output).

The defaults, 4 layers, hidden 312, 12 heads, intermediate 1200, are TinyBERT-4's student (Jiao et
al., 2020), also the student of LRC-BERT (Fu et al., 2021): about 14.35M parameters with a
30522-word BERT vocabulary and a 2-class head, of which 9.7M are the embeddings.

A student is initialised randomly (seed torch beforehand for a repeatable one) or, with
``init_from_teacher``, from the teacher's embeddings, pooler and a chosen subset of its layers (the
"skip-layer" initialisation of PKD and DistilBERT), which needs a BERT teacher of the same width.

A saved student (:meth:`HFClassifier.save`) is an ordinary Hugging Face folder with the student's
own ``config.json``: reload it with ``HFClassifier.from_pretrained(folder)``; there is no separate
loader.
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn
from transformers import (
    AutoConfig,
    BertConfig,
    BertForSequenceClassification,
    PretrainedConfig,
)

from textdistill.data.spec import TaskSpec
from textdistill.errors import TextdistillError
from textdistill.models.teacher import HFClassifier, load_encoder, resolve_model
from textdistill.models.weights import read_tokenizer

# Files whose presence says a folder holds a tokenizer (the teacher's; the student shares it).
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt")


def _teacher_pad_id(path: str, config: PretrainedConfig) -> int:
    """The padding id the teacher's tokenizer pads batches with (else the config's, else 0)."""
    folder = Path(path)
    if folder.is_dir() and any((folder / name).exists() for name in _TOKENIZER_FILES):
        pad = read_tokenizer(path).pad_token_id
        if pad is not None:
            return int(pad)
    pad = getattr(config, "pad_token_id", None)
    return int(pad) if pad is not None else 0


def _check_sizes(layers: int, hidden: int, heads: int, intermediate: int) -> None:
    if min(layers, hidden, heads, intermediate) < 1:
        raise TextdistillError(
            f"student sizes must be positive, got layers {layers}, hidden {hidden}, heads {heads}, "
            f"intermediate {intermediate}"
        )
    if hidden % heads:
        raise TextdistillError(f"student hidden {hidden} is not a multiple of its {heads} attention heads")


def _check_init(
    teacher_config: PretrainedConfig,
    layers: int,
    hidden: int,
    heads: int,
    intermediate: int,
    chosen: list[int],
) -> None:
    """Raise, saying everything that differs, unless the teacher's layers fit the student as they are."""
    model_type = getattr(teacher_config, "model_type", None)
    if model_type != "bert":
        raise TextdistillError(
            f"init_from_teacher needs a BERT-architecture teacher, got {model_type!r}; "
            "build the student without init_from_teacher (random initialisation)"
        )
    problems = []
    if len(chosen) != layers:
        problems.append(
            f"init_from_teacher lists {len(chosen)} teacher layer(s) {chosen} for a {layers}-layer student; "
            "it needs exactly one per student layer"
        )
    for what, theirs, ours in (
        ("hidden", teacher_config.hidden_size, hidden),
        ("heads", teacher_config.num_attention_heads, heads),
    ):
        if theirs != ours:
            problems.append(f"init_from_teacher needs {what} {theirs} like the teacher, got {ours}")
    if intermediate > teacher_config.intermediate_size:
        problems.append(
            f"init_from_teacher needs intermediate at most the teacher's {teacher_config.intermediate_size} "
            f"(a smaller one keeps the teacher's most important feed-forward units), got {intermediate}"
        )
    n_teacher = teacher_config.num_hidden_layers
    bad = [i for i in chosen if not 0 <= i < n_teacher]
    if bad:
        problems.append(
            f"init_from_teacher layer index(es) {bad} out of range: the teacher has {n_teacher} layers "
            f"(0..{n_teacher - 1})"
        )
    position = getattr(teacher_config, "position_embedding_type", "absolute")
    if position != "absolute":
        problems.append(f"init_from_teacher needs absolute position embeddings, the teacher has {position!r}")
    if problems:
        raise TextdistillError("; ".join(problems))


def build_transformer_student(
    teacher: str | Path,
    spec: TaskSpec,
    layers: int = 4,
    hidden: int = 312,
    heads: int = 12,
    intermediate: int = 1200,
    init_from_teacher: list[int] | None = None,
    dropout: float = 0.1,
) -> HFClassifier:
    """A BERT-style student for ``spec`` that reads the teacher's tokens.

    Args:
        teacher: the teacher's folder (as written by ``textdistill teach``, or an encoder folder) or
            an asset name. Its ``config.json`` gives the vocabulary size, maximum positions and
            token-type count (1 when the teacher has no token types, as MPNet); its tokenizer, when
            the folder has one, gives the padding id (else the config's).
        spec: the task; sizes the new head (``num_labels``, ``problem_type``, label names).
        layers, hidden, heads, intermediate: the student's depth, width, attention heads and
            feed-forward width. Defaults 4 / 312 / 12 / 1200: TinyBERT-4's student, also LRC-BERT's.
        init_from_teacher: ``None`` for a random student (BERT's initialisation: normal(0, 0.02)
            weights). A list of teacher layer indices, one per student layer, copies the teacher's
            embeddings, those layers (teacher layer ``init_from_teacher[j]`` -> student layer ``j``)
            and the pooler; the classification head is always new. Needs a BERT teacher with the
            student's hidden and heads sizes; the student then also takes the teacher's activation
            and layer-norm epsilon, so copied layers compute what they did. An ``intermediate``
            below the teacher's keeps, in each copied layer, the feed-forward units of largest
            magnitude (:func:`keep_units`), a structured pruning of the feed-forward block that
            makes each layer cheaper (the first and the largest part of a layer's cost).
        dropout: the dropout probability of the hidden states, the attention probabilities and the
            classifier (BERT's 0.1 by default).

    Raises:
        TextdistillError: impossible sizes, or an ``init_from_teacher`` the teacher cannot honour
            (the message says every difference, and the teacher's layer count for a bad index).
    """
    _check_sizes(layers, hidden, heads, intermediate)
    path = resolve_model(str(teacher))
    teacher_config = AutoConfig.from_pretrained(path)
    chosen = list(init_from_teacher) if init_from_teacher is not None else None
    if chosen is not None:
        _check_init(teacher_config, layers, hidden, heads, intermediate, chosen)

    labels: dict = {}
    if spec.labels is not None:
        labels["id2label"] = dict(enumerate(spec.labels))
        labels["label2id"] = {name: i for i, name in enumerate(spec.labels)}
    same_function = {}
    if chosen is not None:
        same_function = {
            "hidden_act": teacher_config.hidden_act,
            "layer_norm_eps": teacher_config.layer_norm_eps,
        }
    config = BertConfig(
        vocab_size=teacher_config.vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        max_position_embeddings=teacher_config.max_position_embeddings,
        type_vocab_size=getattr(teacher_config, "type_vocab_size", None) or 1,
        pad_token_id=_teacher_pad_id(path, teacher_config),
        num_labels=spec.num_labels,
        problem_type=spec.problem_type,
        **labels,
        **same_function,
    )
    model = BertForSequenceClassification._from_config(config, attn_implementation="eager")
    if chosen is not None:
        _copy_from_teacher(model, path, chosen)
    return HFClassifier(model)


def _copy_from_teacher(student: BertForSequenceClassification, path: str, chosen: list[int]) -> None:
    """Copy embeddings, the chosen layers and the pooler of the (checked) BERT teacher at ``path``."""
    source, missing = load_encoder(path, attn_implementation="eager")
    needed = ["embeddings.", *(f"encoder.layer.{i}." for i in sorted(set(chosen)))]
    absent = sorted(k for k in missing if k.startswith(tuple(needed)))
    if absent:
        raise TextdistillError(
            f"the teacher checkpoint in {path} lacks weights that init_from_teacher copies: "
            + ", ".join(absent[:5])
            + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
        )
    bert = student.bert
    bert.embeddings.load_state_dict(source.embeddings.state_dict())
    width = student.config.intermediate_size
    for j, i in enumerate(chosen):
        layer = source.encoder.layer[i]
        if width < layer.intermediate.dense.out_features:
            keep = keep_units(layer.intermediate.dense.weight, layer.output.dense.weight, width)
            narrow_feed_forward(layer, keep)
        bert.encoder.layer[j].load_state_dict(layer.state_dict())
    # A checkpoint without a pooler (a bare encoder saved without one) leaves the student's random.
    has_pooler = source.pooler is not None and not any(k.startswith("pooler.") for k in missing)
    if bert.pooler is not None and has_pooler:
        bert.pooler.load_state_dict(source.pooler.state_dict())


def keep_units(up: Tensor, down: Tensor, width: int) -> Tensor:
    """The ``width`` feed-forward units of a layer worth keeping, in their original order.

    Unit ``u`` reads ``up[u] . x`` (``up``: ``(I, H)``) and writes ``down[:, u]`` (``down``:
    ``(H, I)``); its score is ``||up[u]|| * ||down[:, u]||``, the size of the path through it (the
    magnitude criterion of structured pruning, as in Michel et al. 2019's head pruning or CoFi's
    ``hidden`` masks, without their data-driven importance). Returns ``(width,)`` sorted indices.
    """
    score = up.norm(dim=1) * down.norm(dim=0)  # (I,)
    return score.topk(width).indices.sort().values


def narrow_feed_forward(layer: nn.Module, keep: Tensor) -> None:
    """Cut a BERT layer's feed-forward block to the units ``keep`` (``(width,)`` indices), in place."""
    up, down = layer.intermediate.dense, layer.output.dense
    new_up = nn.Linear(up.in_features, len(keep))
    new_up.weight.data, new_up.bias.data = up.weight.data[keep].clone(), up.bias.data[keep].clone()
    new_down = nn.Linear(len(keep), down.out_features)
    new_down.weight.data, new_down.bias.data = down.weight.data[:, keep].clone(), down.bias.data.clone()
    layer.intermediate.dense, layer.output.dense = new_up, new_down
