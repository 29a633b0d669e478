"""The typed configuration of every command, loaded from YAML or mapped from the command line's
flags, and validated before any compute: ``distill`` (:class:`DistillConfig`, or
:class:`MultiTaskConfig` for a config with ``tasks``), ``teach`` (:class:`TeachConfig`) and
``general-distill`` (:class:`GeneralConfig`).

Unknown keys are rejected with the valid ones named; every problem is reported at once, with the
value that was given (``method.temperature: must be greater than 0, got 0``). ``key=value``
overrides from the command line use dotted keys (``train.epochs=1``) and YAML values.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from textdistill.data.windows import Reading
from textdistill.errors import TENSORBOARD_MISSING, TextdistillError

Model = TypeVar("Model", bound=BaseModel)


class ConfigError(TextdistillError):
    """A configuration that does not validate; the message lists every problem."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReadingConfig(Strict):
    """How a text longer than the model's ``max_length`` is read (:mod:`textdistill.data.windows`):
    ``truncate`` (its first tokens), ``head_tail`` (the first ``head`` and the last ones) or
    ``windows`` (all of it: windows every ``stride`` tokens, their outputs combined by ``combine``).
    ``fine_tune``: a teacher trains on every window (``windows``) or each text's first (``first``)."""

    mode: Literal["truncate", "head_tail", "windows"] = "truncate"
    stride: Annotated[int, Field(ge=1)] | None = None  # windows: None = three quarters of a window
    combine: Literal["mean", "max", "first"] = "mean"
    head: Annotated[int, Field(ge=0)] | None = None  # head_tail: None = a quarter of max_length
    fine_tune: Literal["windows", "first"] = "windows"

    def reading(self) -> Reading:
        return Reading(**self.model_dump())


class BiLSTMStudentConfig(Strict):
    """Tang et al. 2019's student: word embeddings, one BiLSTM layer, FC + ReLU, classifier.

    ``embedding``: GloVe word vectors (``glove-6b-50d``), random word vectors, or ``teacher``: the
    teacher's own sub-word tokens with static vectors distilled from it by model2vec, reduced to
    ``embed_dim`` dimensions (:mod:`textdistill.teachers.static`)."""

    kind: Literal["bilstm"]
    embedding: Literal["glove-6b-50d", "random", "teacher"] = "glove-6b-50d"
    embed_dim: Annotated[int, Field(gt=0)] = 50
    hidden: Annotated[int, Field(gt=0)] = 150
    fc: Annotated[int, Field(gt=0)] = 200
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.1
    min_freq: Annotated[int, Field(ge=1)] = 1
    max_vocab: Annotated[int, Field(gt=0)] | None = None
    max_length: Annotated[int, Field(ge=8)] | None = None  # words it reads; None: train.max_length

    @model_validator(mode="after")
    def _embedding_width(self) -> BiLSTMStudentConfig:
        check_embedding_width(self.embedding, self.embed_dim)
        return self


def check_embedding_width(embedding: str, embed_dim: int) -> None:
    """Word vectors of a fixed width need ``embed_dim`` to be it (``teacher`` vectors are reduced
    to any width up to the teacher's, checked when the teacher is read)."""
    widths = {"glove-6b-50d": 50}
    if embedding in widths and embed_dim != widths[embedding]:
        raise ValueError(
            f"embed_dim {embed_dim} does not match {embedding}'s {widths[embedding]} "
            "dimensions: set embed_dim to it, or embedding: random or teacher"
        )


class CNNStudentConfig(Strict):
    """Kim (2014)'s convolutional student: embeddings (the BiLSTM's choices), convolutions of each
    width in ``widths`` max-pooled over time, FC + ReLU, classifier (:mod:`textdistill.models.cnn`)."""

    kind: Literal["cnn"]
    embedding: Literal["glove-6b-50d", "random", "teacher"] = "teacher"
    embed_dim: Annotated[int, Field(gt=0)] = 256
    widths: tuple[Annotated[int, Field(gt=0)], ...] = (3, 4, 5)
    filters: Annotated[int, Field(gt=0)] = 100
    fc: Annotated[int, Field(gt=0)] = 200
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.5
    min_freq: Annotated[int, Field(ge=1)] = 1
    max_vocab: Annotated[int, Field(gt=0)] | None = None
    max_length: Annotated[int, Field(ge=8)] | None = None  # words it reads; None: train.max_length

    @model_validator(mode="after")
    def _embedding_width(self) -> CNNStudentConfig:
        check_embedding_width(self.embedding, self.embed_dim)
        if not self.widths:
            raise ValueError("widths needs at least one convolution width")
        return self


class DANStudentConfig(Strict):
    """A deep averaging network (Iyyer et al. 2015): embeddings (the BiLSTM's choices) pooled
    without order (``pooling``: mean, max, or both: Shen et al. 2018's SWEM-concat), FC + ReLU,
    classifier, with word dropout while training (:mod:`textdistill.models.dan`). It reads a
    document of thousands of tokens at almost the cost of a short one: give it ``max_length``."""

    kind: Literal["dan"]
    embedding: Literal["glove-6b-50d", "random", "teacher"] = "teacher"
    embed_dim: Annotated[int, Field(gt=0)] = 256
    pooling: Literal["mean", "max", "mean_max"] = "mean_max"
    fc: Annotated[int, Field(gt=0)] = 200
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.5
    word_dropout: Annotated[float, Field(ge=0, lt=1)] = 0.3
    min_freq: Annotated[int, Field(ge=1)] = 1
    max_vocab: Annotated[int, Field(gt=0)] | None = None
    max_length: Annotated[int, Field(ge=8)] | None = None  # words it reads; None: train.max_length

    @model_validator(mode="after")
    def _embedding_width(self) -> DANStudentConfig:
        check_embedding_width(self.embedding, self.embed_dim)
        return self


WordStudentConfig = BiLSTMStudentConfig | CNNStudentConfig | DANStudentConfig  # word-level students


class TransformerStudentConfig(Strict):
    """A BERT-style encoder of any size on the teacher's tokenizer (TinyBERT-4 size by default)."""

    kind: Literal["transformer"]
    layers: Annotated[int, Field(gt=0)] = 4
    hidden: Annotated[int, Field(gt=0)] = 312
    heads: Annotated[int, Field(gt=0)] = 12
    intermediate: Annotated[int, Field(gt=0)] = 1200
    init_from_teacher: list[Annotated[int, Field(ge=0)]] | None = None
    init_from: str | None = None  # a general student's folder (textdistill general-distill)
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.1

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> TransformerStudentConfig:
        if self.hidden % self.heads:
            raise ValueError(
                f"hidden {self.hidden} must be a multiple of heads {self.heads} "
                "(each head gets hidden / heads)"
            )
        return self

    @model_validator(mode="after")
    def _one_init(self) -> TransformerStudentConfig:
        if self.init_from is not None and self.init_from_teacher is not None:
            raise ValueError(
                "give init_from (a general student) or init_from_teacher (teacher layers), not both"
            )
        return self


class HardMethodConfig(Strict):
    name: Literal["hard"]


class HintonMethodConfig(Strict):
    name: Literal["hinton"]
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.5
    temperature: Annotated[float, Field(gt=0)] = 2.0
    scale_t2: bool = True


class HintonCosineMethodConfig(HintonMethodConfig):
    """Hinton KD plus a cosine term between the BiLSTM's or CNN's text vector (projected) and the
    teacher's mean-pooled last layer (:mod:`textdistill.methods.hinton_cos`)."""

    name: Literal["hinton_cos"]  # type: ignore[assignment]
    cosine: Annotated[float, Field(ge=0)] = 1.0


class TangMethodConfig(Strict):
    name: Literal["tang"]
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.5


Weights = tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(ge=0)], Annotated[float, Field(ge=0)]]


class LRCBertMethodConfig(Strict):
    """LRC-BERT (Fu et al. 2021); ``intermediate`` swaps COS-NCE for a baseline (see
    :mod:`textdistill.methods.lrc_bert`). Weights are (intermediate, soft, hard)."""

    name: Literal["lrc_bert"]
    intermediate: Literal["cos_nce", "hidden_mse", "attention_mse", "none"] = "cos_nce"
    pooling: Literal["mean", "cls", "token"] = "mean"
    negatives: Annotated[int, Field(ge=1)] = 32
    temperature: Annotated[float, Field(gt=0)] = 1.1
    two_stage: bool = True
    stage1_fraction: Annotated[float, Field(ge=0, le=1)] = 0.8
    stage1_weights: Weights = (1.0, 0.0, 0.0)
    weights: Weights = (1.0, 1.0, 3.0)
    perturbation: Annotated[float, Field(ge=0)] = 1.0
    seed: int = 0


StudentConfig = Annotated[
    BiLSTMStudentConfig | CNNStudentConfig | DANStudentConfig | TransformerStudentConfig,
    Field(discriminator="kind"),
]
MethodConfig = Annotated[
    HardMethodConfig | HintonMethodConfig | HintonCosineMethodConfig | TangMethodConfig | LRCBertMethodConfig,
    Field(discriminator="name"),
]


def check_report_to(report_to: tuple[str, ...]) -> None:
    """``report_to`` names only what is installed (TensorBoard is an optional extra)."""
    import importlib.util

    if "tensorboard" in report_to and importlib.util.find_spec("tensorboard") is None:
        raise ValueError(TENSORBOARD_MISSING)


class TrainSection(Strict):
    epochs: Annotated[float, Field(gt=0)] = 3.0
    batch_size: Annotated[int, Field(gt=0)] = 32
    lr: Annotated[float, Field(gt=0)] | None = None  # None: 1e-3 for a BiLSTM, 1e-4 for a transformer
    weight_decay: Annotated[float, Field(ge=0)] = 0.01
    warmup_ratio: Annotated[float, Field(ge=0, le=1)] = 0.1
    max_grad_norm: Annotated[float, Field(ge=0)] = 1.0
    eval_every: Annotated[int, Field(ge=0)] = 0
    max_steps: Annotated[int, Field(gt=0)] | None = None
    seed: int = 42
    max_length: Annotated[int, Field(ge=8)] = 128
    max_train_examples: Annotated[int, Field(gt=0)] | None = None
    max_eval_examples: Annotated[int, Field(gt=0)] | None = None
    # training batches of like-length texts; None: a transformer's are, a BiLSTM's or CNN's are not
    # (true for one reading long texts whole: a BiLSTM batch costs its longest text's steps)
    group_by_length: bool | None = None
    # scale and faults (see textdistill.train.trainer): batch_size is the effective batch of one
    # optimizer step over all processes and accumulated micro-batches
    grad_accumulation: Annotated[int, Field(ge=1)] = 1
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: the GPU when there is one
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # auto: bf16 on a GPU that has it, else fp32
    checkpoint_every: Annotated[int, Field(ge=0)] = (
        0  # steps between resumable checkpoints; 0 = each evaluation
    )
    report_to: tuple[Literal["tensorboard"], ...] = ()  # beside log.jsonl; tensorboard: <out>/tensorboard

    @model_validator(mode="after")
    def _tensorboard_installed(self) -> TrainSection:
        check_report_to(self.report_to)
        return self

    @model_validator(mode="after")
    def _micro_batches(self) -> TrainSection:
        if self.batch_size % self.grad_accumulation:
            raise ValueError(
                f"batch_size {self.batch_size} must be a multiple of "
                f"grad_accumulation {self.grad_accumulation}"
            )
        return self


class AugmentSection(Strict):
    """A transfer set grown from the training set (Tang et al. 2019, Algorithm 1; the defaults are
    the paper's): ``rounds`` augmented copies per example, labelled by the teacher only."""

    rounds: Annotated[int, Field(ge=1)] = 20
    p_mask: Annotated[float, Field(ge=0, le=1)] = 0.1
    p_pos: Annotated[float, Field(ge=0, le=1)] = 0.1
    p_ng: Annotated[float, Field(ge=0, le=1)] = 0.25
    max_ngram: Annotated[int, Field(ge=1)] = 5
    seed: int = 0
    tagger: str = "en-core-web-sm"  # an asset name, a spaCy model folder, or "none" (no POS replacement)

    @model_validator(mode="after")
    def _probabilities(self) -> AugmentSection:
        if self.p_mask + self.p_pos > 1:
            raise ValueError(f"p_mask + p_pos must be at most 1, got {self.p_mask + self.p_pos:g}")
        return self


class FilesSection(Strict):
    """The user's own CSV / TSV / JSONL files instead of a named task (what ``textdistill teach
    --train --dev --test --columns --labels --regression`` takes)."""

    train: str
    dev: str
    test: str | None = None
    columns: dict[Literal["text", "text_pair", "label", "id"], str | int] | None = None
    labels: list[str] | None = None  # class names in order, or VALUE=NAME for each (0=ham, 1=spam)
    regression: bool = False
    metric: (
        Literal["accuracy", "macro_f1", "f1", "pearson", "spearman", "micro_f1", "subset_accuracy"] | None
    ) = None  # picks the best checkpoint
    positive: str | None = None  # the class binary F1 is computed for (default: the second label)
    bad_rows: Literal["strict", "skip"] = "strict"  # skip: drop bad rows (counted, lines named) and go on
    multiline: bool = False  # quoted CSV fields may hold line breaks (else a record is one line)
    multi_label: bool = False  # a text carries any number of labels (a JSON list, or label_separator)
    label_separator: str | None = None  # multi-label, in a text column: "|" for "sports|politics"

    @model_validator(mode="after")
    def _multi_label(self) -> FilesSection:
        if self.multi_label and self.regression:
            raise ValueError("a task is multi_label or a regression, not both")
        if self.label_separator is not None and not self.multi_label:
            raise ValueError("label_separator splits the labels of a multi-label task: set multi_label: true")
        if self.label_separator == "":
            raise ValueError("label_separator is empty: give the text between two labels (| or ;)")
        return self


class PredictionsTeacherConfig(Strict):
    """A teacher given as its predictions (:mod:`textdistill.teachers.predictions`): a JSONL file
    of ``text`` with ``probs``, ``logits`` or ``score`` per text, written by any model. No teacher
    model is loaded; ``tokenizer`` (a model folder or asset name, such as ``minilm-l6``) gives the
    sub-word tokens a transformer student or ``embedding: teacher`` reads."""

    predictions: str
    tokenizer: str | None = None


class DistillConfig(Strict):
    """One distillation run: a task, a teacher folder (from ``textdistill teach``), a student,
    a method and the training settings.

    The data is the named ``task`` (``data``: the GLUE folder, for GLUE tasks) or the user's
    ``files`` (``task`` then only names it). A transfer set is optional: ``augment`` grows one from
    the training set, ``transfer`` names a JSONL of unlabelled texts; the teacher labels both."""

    task: str
    teacher: str | PredictionsTeacherConfig
    student: StudentConfig
    method: MethodConfig
    data: str | None = None
    files: FilesSection | None = None
    out: str = "runs/distill"
    train: TrainSection = TrainSection()
    augment: AugmentSection | None = None
    transfer: str | None = None
    reading: ReadingConfig = ReadingConfig()  # the student's (a word-level student's max_length is its own)
    teacher_reading: ReadingConfig | None = None  # None: as the teacher was made to read (its manifest)
    # tokens the teacher reads a text (or a window) for its soft targets; None: the length it was
    # taught at (its manifest) for a method that takes its logits only, else train.max_length
    teacher_max_length: Annotated[int, Field(ge=2)] | None = None

    @model_validator(mode="after")
    def _layers_need_one_window(self) -> DistillConfig:
        if self.method.name == "lrc_bert" and self.reading.mode == "windows":
            raise ValueError(
                "lrc_bert matches the teacher's layers text by text: a student over windows has many "
                "inputs per text (use hinton with reading: windows, or lrc_bert with a cut)"
            )
        return self

    @model_validator(mode="after")
    def _word_students_read_whole(self) -> DistillConfig:
        if self.reading.mode == "windows" and self.student.kind != "transformer":
            raise ValueError(
                f"reading: windows is for a transformer student; a {self.student.kind} reads a long text "
                "whole: give student.max_length (say 2048 words) and keep reading: truncate or head_tail"
            )
        return self

    def student_length(self) -> int:
        """How far the student reads: a word-level student's own ``max_length``, else ``train``'s."""
        return getattr(self.student, "max_length", None) or self.train.max_length

    @model_validator(mode="after")
    def _one_data_source(self) -> DistillConfig:
        if self.files is not None and self.data is not None:
            raise ValueError(
                "give either data (a GLUE folder for a named task) or files (your own), not both"
            )
        return self

    @model_validator(mode="after")
    def _layer_methods_fit_the_student(self) -> DistillConfig:
        if self.method.name == "lrc_bert" and self.student.kind != "transformer":
            raise ValueError(
                "lrc_bert distils intermediate layers: it needs a transformer student, not a "
                f"{self.student.kind} (for a BiLSTM, CNN or DAN, hinton_cos matches its text vector)"
            )
        if self.method.name == "hinton_cos" and self.student.kind == "transformer":
            raise ValueError(
                "hinton_cos matches the text vector of a BiLSTM, CNN or DAN student; a transformer "
                "student matches the teacher layer by layer with lrc_bert"
            )
        return self

    @model_validator(mode="after")
    def _predictions_fit(self) -> DistillConfig:
        if not isinstance(self.teacher, PredictionsTeacherConfig):
            return self
        if self.method.name in ("lrc_bert", "hinton_cos"):
            raise ValueError(
                f"{self.method.name} reads the teacher's layers, and teacher.predictions gives only its "
                "outputs: use hinton or tang (or a teacher model)"
            )
        s = self.student
        if isinstance(s, TransformerStudentConfig) and s.init_from_teacher is not None:
            raise ValueError(
                "student.init_from_teacher copies teacher layers, and teacher.predictions has none: "
                "drop it (a random student) or give init_from (a general student)"
            )
        own = isinstance(s, TransformerStudentConfig) and s.init_from is not None  # its tokenizer with it
        needs_tokens = (isinstance(s, TransformerStudentConfig) and not own) or getattr(
            s, "embedding", ""
        ) == "teacher"
        if needs_tokens and self.teacher.tokenizer is None:
            what = (
                "a transformer student" if isinstance(s, TransformerStudentConfig) else "embedding: teacher"
            )
            raise ValueError(
                f"{what} reads sub-word tokens, and teacher.predictions has no tokenizer: give "
                "teacher.tokenizer (a model folder or asset name, e.g. minilm-l6), or a word-level student "
                "(embedding: glove-6b-50d or random)"
            )
        return self

    @model_validator(mode="after")
    def _transfer_needs_teacher(self) -> DistillConfig:
        if (self.augment is not None or self.transfer is not None) and self.method.name == "hard":
            raise ValueError(
                "a transfer set (augment or transfer) has no labels, only teacher targets: "
                "use a distillation method (hinton or tang), not hard"
            )
        return self


class TeachConfig(Strict):
    """``textdistill teach``: fine-tune ``model`` on ``task`` into the teacher folder ``out``
    (``data``: the GLUE folder of a GLUE task). The command line's flags map onto these keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    task: str
    model: str = "minilm-l6"
    out: str = "runs/teacher"
    data: str | None = None
    epochs: Annotated[float, Field(gt=0)] = 3.0
    batch_size: Annotated[int, Field(gt=0)] = 32
    lr: Annotated[float, Field(ge=0)] = 5e-5
    weight_decay: Annotated[float, Field(ge=0)] = 0.01
    warmup_ratio: Annotated[float, Field(ge=0, le=1)] = 0.1
    max_length: Annotated[int, Field(ge=8)] = 128
    dropout: Annotated[float, Field(ge=0, lt=1)] | None = None
    seed: int = 42
    eval_every: Annotated[int, Field(ge=0)] = 0
    max_steps: Annotated[int, Field(gt=0)] | None = None
    max_train_examples: Annotated[int, Field(gt=0)] | None = None
    max_eval_examples: Annotated[int, Field(gt=0)] | None = None
    eval_batch_size: Annotated[int, Field(gt=0)] = 64
    group_by_length: bool = True
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: the GPU when there is one
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # auto: bf16 on a GPU that has it
    checkpoint_every: Annotated[int, Field(ge=0)] = 0  # steps between resumable checkpoints; 0 = each eval
    grad_accumulation: Annotated[int, Field(ge=1)] = 1  # micro-batches per step (batch_size is the step's)
    report_to: tuple[Literal["tensorboard"], ...] = ()  # beside log.jsonl; tensorboard: <out>/tensorboard
    reading: ReadingConfig = ReadingConfig()  # texts longer than max_length: cut, head + tail, or windows

    @model_validator(mode="after")
    def _tensorboard_installed(self) -> TeachConfig:
        check_report_to(self.report_to)
        return self

    @model_validator(mode="after")
    def _micro_batches(self) -> TeachConfig:
        if self.batch_size % self.grad_accumulation:
            raise ValueError(
                f"batch_size {self.batch_size} must be a multiple of grad_accumulation "
                f"{self.grad_accumulation}"
            )
        return self

    def record(self) -> dict[str, Any]:
        """The configuration as the manifest keeps it (plain JSON types)."""
        return self.model_dump()


class GeneralConfig(Strict):
    """``textdistill general-distill``: a fresh ``layers`` x ``hidden`` student learns ``teacher``'s
    layers (COS-NCE) on the training texts of ``tasks`` and ``files`` (never those of ``exclude``)."""

    teacher: str = "minilm-l6"
    out: str = "runs/general"
    tasks: list[str] = []
    files: list[str] = []
    exclude: list[str] = []
    max_texts: Annotated[int, Field(ge=4)] | None = None
    held_out: Annotated[int, Field(ge=2)] = 500
    layers: Annotated[int, Field(gt=0)] = 4
    hidden: Annotated[int, Field(gt=0)] = 312
    heads: Annotated[int, Field(gt=0)] = 12
    intermediate: Annotated[int, Field(gt=0)] = 1200
    pooling: Literal["mean", "cls"] = "mean"
    negatives: Annotated[int, Field(ge=1)] = 32
    perturbation: Annotated[float, Field(ge=0)] = 0.0
    epochs: Annotated[float, Field(gt=0)] = 1.0
    batch_size: Annotated[int, Field(ge=2)] = 32
    lr: Annotated[float, Field(ge=0)] = 1e-4
    max_length: Annotated[int, Field(ge=8)] = 128
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    grad_accumulation: Annotated[int, Field(ge=1)] = 1
    report_to: tuple[Literal["tensorboard"], ...] = ()  # beside log.jsonl; tensorboard: <out>/tensorboard

    @model_validator(mode="after")
    def _tensorboard_installed(self) -> GeneralConfig:
        check_report_to(self.report_to)
        return self

    @model_validator(mode="after")
    def _shapes(self) -> GeneralConfig:
        problems = []
        if self.hidden % self.heads:
            problems.append(f"hidden {self.hidden} must be a multiple of heads {self.heads}")
        if self.batch_size % self.grad_accumulation:
            problems.append(
                f"batch_size {self.batch_size} must be a multiple of grad_accumulation "
                f"{self.grad_accumulation}"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class RunConfig(Strict):
    """``textdistill run``, the main job: a built-in ``task`` (``data``: its GLUE folder) or the
    user's ``files``; a ``teacher`` encoder to fine-tune, or ``teacher_folder``, a teacher
    fine-tuned already. The command line's flags map onto these keys."""

    task: str | None = None
    data: str | None = None
    files: FilesSection | None = None
    teacher: str = "minilm-l6"
    teacher_folder: str | None = None
    out: str = "runs/main"
    quick: bool = False
    seed: int = 42
    long: bool = False  # long documents: teacher and transformer over windows, the BiLSTM reads them whole

    @model_validator(mode="after")
    def _one_data_source(self) -> RunConfig:
        if self.files is not None and self.data is not None:
            raise ValueError(
                "give either data (a GLUE folder for a named task) or files (your own), not both"
            )
        return self


class ServeConfig(Strict):
    """``evaluate``, ``export``, ``predict`` and ``bench`` on a run folder (``task``: one task of a
    multi-task run). Each command reads the keys it uses; their flags map onto them."""

    folders: Annotated[list[str], Field(min_length=1)]
    task: str | None = None
    format: Literal["onnx"] = "onnx"
    int8: bool = False
    check_examples: Annotated[int, Field(gt=0)] | None = None
    backend: Literal["torch", "onnx", "onnx-int8"] = "torch"
    truncate: bool = False
    reading: ReadingConfig | None = None  # None: the run's own (its manifest)
    batch_sizes: Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=1)] = [1, 8, 32, 128]
    examples: Annotated[int, Field(ge=8)] = 512
    out: str | None = None


# ------------------------------------------------------------------------------- loading, errors
def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the field at ``loc`` (walking tagged unions by their tag)."""
    current: type[BaseModel] | None = model
    parts = list(loc)
    while parts and current is not None:
        field = current.model_fields.get(str(parts.pop(0)))
        if field is None:
            return current
        options = _model_options(field.annotation)
        if not options:
            return current
        if len(options) > 1 and parts:
            tag = str(parts.pop(0))
            options = [m for m in options if tag in typing.get_args(m.model_fields[_tag_of(m)].annotation)]
        current = options[0] if options else None
        if not parts:
            return current
    return current


def _tag_of(model: type[BaseModel]) -> str:
    return "kind" if "kind" in model.model_fields else "name"


def _model_options(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is Annotated:
        return _model_options(args[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for a in args for m in _model_options(a)]
    return []


def _describe(err: dict[str, Any], schema: type[BaseModel]) -> str:
    loc = tuple(err["loc"])
    where = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] == "extra_forbidden":  # the valid keys of the schema in use (single- or multi-task)
        owner = _model_at(schema, loc[:-1]) if len(loc) > 1 else schema
        valid = ", ".join(owner.model_fields) if owner else "?"
        return f"{where}: unknown key; valid keys here: {valid}"
    if err["type"] == "missing":
        return f"{where}: required, missing"
    given = err.get("input")
    msg = err["msg"][0].lower() + err["msg"][1:]
    if err["type"] == "union_tag_invalid":
        return f"{where}: {msg}"
    if err["type"] == "value_error":  # a check across fields (model_validator): the message says it all
        return f"{where}: {msg.removeprefix('value error, ')}"
    return f"{where}: {msg}, got {given!r}"


class MultiTaskEntry(Strict):
    """One task of a multi-task run: a named task (``data``: its GLUE folder or a folder in our
    layout) or the user's ``files``, and optionally its teacher (a teacher or an ensemble folder);
    without one the task trains on its labels alone. ``alpha`` and ``temperature`` override the
    run's for this task."""

    task: str
    data: str | None = None
    files: FilesSection | None = None  # the user's own files for this task (task then names it)
    teacher: str | None = None
    alpha: Annotated[float, Field(ge=0, le=1)] | None = None
    temperature: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _one_data_source(self) -> MultiTaskEntry:
        if self.files is not None and self.data is not None:
            raise ValueError("give either data (a folder for a named task) or files (your own), not both")
        return self

    @model_validator(mode="after")
    def _weights_need_a_teacher(self) -> MultiTaskEntry:
        given = [k for k in ("alpha", "temperature") if getattr(self, k) is not None]
        if given and self.teacher is None:
            raise ValueError(
                f"{' and '.join(given)} weigh the teacher's soft targets: give this task a teacher"
            )
        return self


class MultiTaskConfig(Strict):
    """A multi-task run (MT-DNN-KD): a shared encoder with a head per task, one task's mini-batch
    per step (sampled by size with ``sampling_temperature``), tasks with a teacher trained on
    ``alpha * hard + (1 - alpha) * T^2 * KL`` against it (Hinton KD at ``temperature``), the others
    on their labels. ``encoder``: a Hugging Face encoder (asset, folder) whose tokenizer every task
    uses; with ``student`` a fresh small transformer of those sizes (the encoder's vocabulary)."""

    tasks: Annotated[list[MultiTaskEntry], Field(min_length=1)]
    encoder: str = "minilm-l6"
    student: TransformerStudentConfig | None = None
    sampling_temperature: Annotated[float, Field(ge=1)] = 1.0
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.5
    temperature: Annotated[float, Field(gt=0)] = 1.0
    out: str = "runs/multitask"
    train: TrainSection = TrainSection()

    @model_validator(mode="after")
    def _distinct_tasks(self) -> MultiTaskConfig:
        names = [t.task for t in self.tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"each task may appear once; got {names}")
        return self


def validate(data: dict[str, Any], source: str = "config") -> DistillConfig | MultiTaskConfig:
    """Validate a distill config (a multi-task run when it has ``tasks``); raise
    :class:`ConfigError` listing every problem."""
    return check(MultiTaskConfig if "tasks" in data else DistillConfig, data, source)


def check(schema: type[Model], data: dict[str, Any], source: str = "config") -> Model:
    """Validate ``data`` against any command's ``schema``; one :class:`ConfigError` lists every
    problem, with the keys of that schema."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        problems = "\n".join(f"  {_describe(e, schema)}" for e in exc.errors())
        raise ConfigError(f"{source}: {exc.error_count()} problem(s)\n{problems}") from None


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b=value`` overrides (values parsed as YAML) to a nested dict, in place."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not KEY=VALUE (for example train.epochs=1)")
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            if not isinstance(node.setdefault(part, {}), dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
            node = node[part]
        node[leaf] = yaml.safe_load(raw)
    return data


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML config file as a mapping (not validated yet)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no such config file: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:  # one line: where, and what
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        what = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}{where}: not valid YAML: {what}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def load_config(path: str | Path, overrides: list[str] | None = None) -> DistillConfig | MultiTaskConfig:
    """Read a YAML config, apply overrides, validate."""
    return validate(apply_overrides(read_yaml(path), overrides or []), str(path))


def settings(
    flags: dict[str, Any], given: set[str], path: str | Path | None, overrides: list[str] | None
) -> dict[str, Any]:
    """A command's settings from its layers, later ones winning: the schema's defaults, the YAML
    file ``path``, the flags the user ``given`` on the command line (all ``flags`` when there is no
    file), then ``KEY=VALUE`` ``overrides``. Validation is the caller's (:func:`check`)."""
    data = read_yaml(path) if path is not None else {}
    data.update({k: v for k, v in flags.items() if path is None or k in given})
    return apply_overrides(data, overrides or [])
