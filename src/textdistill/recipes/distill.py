"""Distil a teacher into a student: the recipe behind ``textdistill distill``.

The teacher runs once over the training texts (through the teacher cache); every epoch after
that reads its logits by example index. The student is a BiLSTM on words or a small transformer
on the teacher's tokens; the method turns (batch, student output, teacher output) into a loss;
the one loop in :mod:`textdistill.train.trainer` does the rest.

Run folder: ``student/`` (the best checkpoint: ``model.safetensors`` + config, vocabulary or
tokenizer), ``metrics.json``, ``config.yaml`` (the resolved configuration), ``log.jsonl``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from textdistill.artifacts import TeacherRef, recorded_length, recorded_reading
from textdistill.config import CNNStudentConfig, DANStudentConfig, DistillConfig, WordStudentConfig
from textdistill.data.encode import TokenVocab, WordVocab
from textdistill.data.spec import Example, TaskSpec
from textdistill.data.windows import TRUNCATE, Reading
from textdistill.errors import TextdistillError
from textdistill.evaluation.quality import score_splits
from textdistill.methods import Method, for_task
from textdistill.models.bundle import WORD_KINDS, Student, load_student, start_at_label_prior
from textdistill.models.teacher import local_folder
from textdistill.recipes.common import RunFolder, distributed_run, plan_tasks
from textdistill.runtime import set_seed
from textdistill.teachers.cache import TeacherOutputs, position_limit, teacher_outputs
from textdistill.teachers.ensemble import combine_for, is_ensemble, read_ensemble
from textdistill.train.checkpoint import atomic_folder, recover_folder
from textdistill.train.distributed import Dist, main_first
from textdistill.train.step import DistillStep
from textdistill.train.trainer import Checkpointing, TrainConfig, resolve_precision, train


def build_student(
    cfg: DistillConfig, spec: TaskSpec, train_examples: list[Example], teacher: Path | None = None
) -> Student:
    """The configured student, sized for the task; a BiLSTM's or CNN's word vocabulary comes from
    ``train_examples`` (with ``embedding: teacher``, the teacher's tokens). ``teacher``: the folder
    whose tokenizer the student reads (by default the config's teacher; for a teacher given as
    predictions, its ``tokenizer``)."""
    s = cfg.student
    if teacher is None and isinstance(cfg.teacher, str):
        teacher = local_folder(cfg.teacher)
    if isinstance(s, WordStudentConfig):
        vocab, table = embedding_table(s, train_examples, teacher, cfg.train.seed)
        shape = {"pair": spec.is_pair, "pretrained": table, "padding_idx": vocab.pad_id}
        if isinstance(s, CNNStudentConfig):
            from textdistill.models.cnn import CNNStudent

            model: nn.Module = CNNStudent(
                len(vocab), spec.num_labels, s.embed_dim, tuple(s.widths), s.filters, s.fc, s.dropout, **shape
            )
        elif isinstance(s, DANStudentConfig):
            from textdistill.models.dan import DANStudent

            model = DANStudent(
                len(vocab), spec.num_labels, s.embed_dim, s.fc, s.dropout, s.word_dropout, s.pooling, **shape
            )
        else:
            from textdistill.models.bilstm import BiLSTMStudent

            model = BiLSTMStudent(
                len(vocab), spec.num_labels, s.embed_dim, s.hidden, s.fc, s.dropout, **shape
            )
        return Student(
            model, s.kind, vocab=vocab, max_length=cfg.student_length(), reading=cfg.reading.reading()
        )
    from textdistill.models.transformer import build_transformer_student
    from textdistill.models.weights import read_tokenizer

    assert teacher is not None, "a transformer student needs a tokenizer (the config checks it)"
    if s.init_from_teacher is not None and is_ensemble(teacher):
        raise TextdistillError(
            f"student.init_from_teacher: {cfg.teacher} is an ensemble, and copying layers needs one "
            "teacher: drop init_from_teacher (a random student) or distil from one member folder"
        )
    if s.init_from is not None:
        model = general_student(s.init_from, spec, s.layers, s.hidden, s.heads, s.intermediate, s.dropout)
    else:
        model = build_transformer_student(
            str(teacher), spec, s.layers, s.hidden, s.heads, s.intermediate, s.init_from_teacher, s.dropout
        )
    tokenizer = read_tokenizer(teacher)
    max_length = min(cfg.train.max_length, model.model.config.max_position_embeddings)
    return Student(
        model, "transformer", tokenizer=tokenizer, max_length=max_length, reading=cfg.reading.reading()
    )


def embedding_table(
    s: WordStudentConfig, train_examples: list[Example], teacher: Path | None, seed: int
) -> tuple[WordVocab | TokenVocab, Tensor | None]:
    """A word-level student's vocabulary and its first embedding table ``(len(vocab), embed_dim)``:
    the teacher's tokens and their static vectors (``embedding: teacher``), or the training words
    with GloVe vectors (``None``: random, for ``embedding: random``)."""
    if s.embedding == "teacher":
        from textdistill.teachers.static import static_source, static_vectors

        assert teacher is not None, "embedding: teacher needs a tokenizer (the config checks it)"
        return static_vectors(static_source(teacher), s.embed_dim)
    texts = [t for e in train_examples for t in (e.text, e.text_pair) if t is not None]
    vocab = WordVocab.build(texts, min_freq=s.min_freq, max_size=s.max_vocab)
    if s.embedding == "random":
        return vocab, None
    from textdistill.assets.fetch import fetch
    from textdistill.models.bilstm import glove_matrix

    table, _coverage = glove_matrix(vocab, fetch(s.embedding), seed=seed)
    if table.shape[1] != s.embed_dim:
        raise TextdistillError(
            f"student.embed_dim is {s.embed_dim} but {s.embedding} has {table.shape[1]} dimensions"
        )
    return vocab, table


def student_layers(student: Student) -> tuple[int, int]:
    """``(layers, width)`` of what a layer-reading method matches in ``student``: a transformer's
    layers (``lrc_bert``), or the one text vector of a BiLSTM, CNN or DAN (``hinton_cos``: its FC layer;
    the config pairs each method with its students)."""
    if student.kind in WORD_KINDS:
        return 1, student.model.config["fc"]
    return student.model.model.config.num_hidden_layers, student.model.model.config.hidden_size


def general_student(
    folder: str, spec: TaskSpec, layers: int, hidden: int, heads: int, intermediate: int, dropout: float
) -> nn.Module:
    """A student that starts from a general (task-agnostic) student's encoder, with a new head;
    its sizes must be the configured ones."""
    from transformers import AutoConfig

    from textdistill.models.teacher import HFClassifier

    path = Path(folder)
    if not (path / "config.json").exists():
        raise TextdistillError(
            f"student.init_from: {folder} is not a student folder (make one with textdistill general-distill)"
        )
    c = AutoConfig.from_pretrained(path)
    have = (c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size)
    if have != (layers, hidden, heads, intermediate):
        raise TextdistillError(
            f"student.init_from: {folder} has layers/hidden/heads/intermediate {have}, the config asks for "
            f"{(layers, hidden, heads, intermediate)}; set the student's sizes to the general student's"
        )
    return HFClassifier.from_pretrained(str(path), spec, dropout=dropout)


def transfer_examples(
    cfg: DistillConfig, spec: TaskSpec, train_examples: list[Example]
) -> tuple[list[Example], dict]:
    """The unlabelled transfer set of a run: augmented copies of ``train_examples`` (``augment``)
    and the texts of a ``transfer`` file; with what was done (statistics, file, counts)."""
    from textdistill.data.augment import AugmentParams, TransferSet, cached_transfer_set

    examples: list[Example] = []
    info: dict = {}
    if cfg.augment is not None:
        params = AugmentParams(**cfg.augment.model_dump(exclude={"tagger"}))
        grown = cached_transfer_set(train_examples, params, cfg.augment.tagger)
        examples += grown.examples
        info["augment"] = grown.stats
    if cfg.transfer is not None:
        given = TransferSet.load(cfg.transfer)
        examples += given.examples
        info["file"] = {"path": cfg.transfer, "examples": len(given.examples)}
    paired = {e.text_pair is not None for e in examples}
    if examples and paired != {spec.is_pair}:
        raise TextdistillError(
            f"the transfer set must {'' if spec.is_pair else 'not '}have a text_pair on every row: "
            f"the task {spec.name!r} is {'a pair' if spec.is_pair else 'a single-sentence'} task"
        )
    assert all(e.label is None for e in examples)  # the teacher labels them, never the gold data
    info["examples"] = len(examples)
    return examples, info


def distill(cfg: DistillConfig, resume: bool = False) -> dict:
    """Run one distillation and write its folder; returns the metrics (``{}`` on ranks other than
    0 of a data-parallel run). ``resume``: continue from ``<out>/checkpoint.pt`` (same config,
    same data)."""
    return distributed_run(cfg, "student", resume, lambda run, dist: _distill(cfg, run, dist))


def _distill(cfg: DistillConfig, run: RunFolder, dist: Dist) -> dict:
    seed = set_seed(cfg.train.seed)
    threads = torch.get_num_threads()
    # the one task of the run: the data with the user's labels, the teacher (folder, asset or hub
    # name) checked against them, the examples it trains on and is scored on
    with main_first(dist):  # rank 0 fetches assets (data, a hub teacher) first; the others read them
        [plan] = plan_tasks(
            [(cfg.task, cfg.data, cfg.files, cfg.teacher)],
            cfg.train.max_train_examples,
            cfg.train.max_eval_examples,
        )
    task, spec, teacher_ref = plan.task, plan.spec, plan.teacher
    teacher_dir = teacher_ref.folder
    method = for_task(cfg.method.name, cfg.method.model_dump(exclude={"name"}), spec.multi_label)
    if method.uses_layers and teacher_ref.members:
        raise TextdistillError(
            f"{cfg.method.name} reads the teacher's layers, and {teacher_dir} is an ensemble: use a "
            "logits method (hinton, tang) or one member folder"
        )
    if method.uses_layers and teacher_ref.order is not None:
        raise TextdistillError(
            f"{cfg.method.name} reads the teacher's layers and logits in the task's label order; "
            f"teacher {teacher_dir} orders them {list(teacher_ref.labels or [])}: use hinton or tang"
        )
    probs_only = teacher_ref.predictions is not None and teacher_ref.predictions.kind == "probs"
    if probs_only and method.needs_logits and not spec.multi_label:  # multi-label: logit(p) is exact
        raise TextdistillError(
            f"{cfg.method.name} regresses the teacher's logits, and {teacher_dir} gives probabilities "
            "(their logs differ from the logits by a shift per row): give logits in the file, or use hinton"
        )
    base = teacher_ref.student_base  # the tokenizer a transformer student or embedding: teacher reads
    if teacher_ref.predictions is not None and getattr(cfg.student, "init_from", None):
        base = Path(cfg.student.init_from)  # a general student reads its own tokens
    out = Path(cfg.out)
    accum = cfg.train.grad_accumulation
    run.record_tasks([plan], cfg.student_length())
    t_reading = teacher_reading(cfg, teacher_ref)
    t_length = teacher_length(cfg, teacher_ref, bool(method.teacher_features) or method.uses_layers)
    run.update(teacher_reading=t_reading.record(), teacher_max_length=t_length)
    if run.resume and dist.main:
        recover_folder(out / "student")

    train_examples = plan.train
    teacher = None
    features = method.teacher_features
    cached = features if features in ("mean", "cls") else None
    combine = ensemble_targets(method, teacher_dir, spec, run, dist)

    def outputs_of(examples: list[Example], what: str) -> TeacherOutputs:
        return teacher_outputs(teacher_ref.source, examples, t_length, features=cached,
                               device=dist.device, combine=combine, what=what, reading=t_reading)  # fmt: skip

    with main_first(dist):  # rank 0 fills the caches (transfer set, teacher outputs); the others read them
        if isinstance(cfg.student, WordStudentConfig) and cfg.student.embedding == "teacher":
            from textdistill.teachers.static import static_source, static_vectors

            static_vectors(static_source(base), cfg.student.embed_dim)  # cached for build_student
        transfer, transfer_info = transfer_examples(cfg, spec, train_examples)
        if method.needs_teacher and teacher_ref.predictions is not None:  # every text lacking, at once
            grown = (transfer_info.get("augment") or {}).get("path")
            hint = f"; the augmented texts are in {grown}: predict them there" if grown else ""
            parts = {"training texts": train_examples, "transfer-set texts": transfer}
            teacher_ref.predictions.require(parts, hint)
        if method.needs_teacher:
            started = time.perf_counter()
            teacher = outputs_of(train_examples, "training texts")
            if transfer:  # cached on its own: the labelled part is shared with runs without a transfer set
                teacher = teacher.concat(outputs_of(transfer, "transfer-set texts"))
            teacher = teacher.reorder(teacher_ref.order)
            teacher_seconds = time.perf_counter() - started
    set_seed(seed)  # again: the student must not depend on whether the teacher ran or came from the cache
    student = build_student(cfg, spec, train_examples + transfer, base)
    if spec.multi_label:  # each label's sigmoid starts at its frequency among the labelled rows
        start_at_label_prior(student.model, train_examples, spec.num_labels)
    lr = cfg.train.lr or (1e-3 if student.kind in WORD_KINDS else 1e-4)
    trainable, live_teacher = student.model, None
    if method.uses_layers:  # intermediate layers: projections to train, the bank, maybe a live teacher
        from transformers import AutoConfig

        from textdistill.models.teacher import HFClassifier

        t_cfg = AutoConfig.from_pretrained(teacher_dir)
        extra = method.setup(*student_layers(student), t_cfg.num_hidden_layers,
                             t_cfg.hidden_size, teacher.features)  # fmt: skip
        trainable = nn.ModuleDict({"student": student.model, "method": extra})
        if features == "live":
            live_teacher = HFClassifier.from_pretrained(str(teacher_dir)).eval().to(dist.device)
            for p in live_teacher.parameters():
                p.requires_grad_(False)
    trainable.to(dist.device)
    model_kwargs = method.model_kwargs()
    train_loader = student.loader(
        train_examples + transfer,
        cfg.train.batch_size,
        shuffle=True,
        seed=seed,
        rank=dist.rank,
        world=dist.world,
        accumulation=accum,
        group_by_length=cfg.train.group_by_length,
    )
    eval_examples = plan.evals
    evals = {s: (student.loader(ex, 64), labels_of(ex)) for s, ex in eval_examples.items()}
    encoded = {"train": train_loader.dataset, **{s: loader.dataset for s, (loader, _) in evals.items()}}
    run.record_reading(
        student.reading, encoded, "words" if isinstance(student.vocab, WordVocab) else "tokens"
    )
    total_steps = cfg.train.max_steps or int(np.ceil(cfg.train.epochs * len(train_loader) / accum))
    if not run.resume:
        run.progress(0, total_steps)

    step_fn = DistillStep(
        {None: student.model}, method, total_steps, dist.device,
        teachers={None: teacher} if teacher is not None else {}, model_kwargs=model_kwargs,
        perturbation=method.perturbation, live_teacher=live_teacher, dist=dist,
    )  # fmt: skip

    def evaluate(model: nn.Module, splits: list[str]) -> dict[str, float]:
        return score_splits(model, spec, evals, splits)

    def save(_trained: nn.Module) -> None:
        with atomic_folder(out / "student") as folder:
            student.save(folder)

    def describe(batch: dict[str, Tensor]) -> str:
        rows = batch["index"].tolist()
        first = (train_examples + transfer)[rows[0]]
        return f"training rows {rows} (the first: {first.text[:80]!r}, label {first.label!r})"

    primary = f"{task.eval_splits[0]}/{spec.primary_metric}"
    result = train(
        trainable,
        train_loader,
        step_fn,
        lambda _m: evaluate(student.model, task.eval_splits),
        save,
        primary,
        TrainConfig(
            cfg.train.epochs,
            lr,
            cfg.train.weight_decay,
            cfg.train.warmup_ratio,
            cfg.train.max_grad_norm,
            cfg.train.eval_every,
            cfg.train.max_steps,
            grad_accumulation=cfg.train.grad_accumulation,
            precision=resolve_precision(cfg.train.precision, dist.device),
            checkpoint_every=cfg.train.checkpoint_every,
            report_to=cfg.train.report_to,
        ),
        out / "log.jsonl",
        checkpointing=Checkpointing(out / "checkpoint.pt", run.resume, method.generators()),
        dist=dist,
        describe_batch=describe,
        find_unused_parameters=method.unused_parameters,
        progress=run.progress,
    )
    if not dist.main:
        return {}
    best = load_student(out / "student", student.max_length, student.reading)
    best.model.to(dist.device)
    final = evaluate(best.model, task.labelled_splits)
    if spec.multi_label:  # chosen on dev, served with the model (predict, export, evaluate read it)
        run.update(threshold=final["threshold"])
    # the teacher scored on exactly the examples the student was scored on (through the cache)
    teacher_best = teacher_scores(teacher_ref, spec, eval_examples, t_length, dist.device, t_reading)
    metrics = {
        "task": spec.name,
        "student": cfg.student.kind,
        "method": cfg.method.name,
        "primary_metric": primary,
        "best": final,
        "teacher": {
            "folder": str(teacher_dir),
            "predictions": teacher_ref.predictions is not None,
            "best": teacher_best,
            "scored_on": "the student's evaluation examples",
            "label_order": teacher_ref.order,
            "combine": combine or (read_ensemble(teacher_dir)[1] if teacher_ref.members else None),
            "cache": None
            if teacher is None
            else {
                "fingerprint": teacher.fingerprint,
                "hit": teacher.from_cache,
                "seconds": round(teacher_seconds, 1),
            },
        },
        "retention": retention(final.get(primary), teacher_best.get(primary)),
        "positive_label": spec.positive_label,
        "best_step": result.best_step,
        "steps": result.steps,
        "resumed_from": result.resumed_from,
        "train_examples": len(train_examples),
        "transfer": transfer_info if transfer else None,
        "train_seconds": round(result.train_seconds, 1),
        "parameters": sum(p.numel() for p in student.model.parameters()),
        "lr": lr,
        "seed": seed,
        "threads": threads,
        "processes": dist.world,
        "device": str(dist.device),
        "history": result.history,
    }
    return run.finish(metrics)


def ensemble_targets(
    method: Method, teacher_dir: Path, spec: TaskSpec, run: RunFolder, dist: Dist
) -> str | None:
    """The combine that ``method``'s targets need from an ensemble teacher (``None``: its own).
    A method that regresses logits gets the members' mean logits from a ``probs`` ensemble (its
    own targets are log-probabilities); rank 0 says so in one line and records it in the manifest."""
    combine = combine_for(teacher_dir, method.needs_logits, spec.is_regression, spec.multi_label)
    if combine is not None and dist.main:
        print(
            f"{method.name} regresses logits: the ensemble teacher's targets are its members' mean logits "
            "(its combine 'probs' gives log-probabilities)",
            file=sys.stderr,
            flush=True,
        )
        run.update(teacher_combine=combine)
    return combine


def retention(student: float | None, teacher: float | None) -> float | None:
    """The student's score over the teacher's (both on the same examples); ``None`` if undefined."""
    if student is None or teacher is None or teacher <= 0:
        return None
    return round(student / teacher, 4)


def labels_of(examples: list[Example]) -> np.ndarray:
    return np.array([e.label for e in examples])


def teacher_reading(cfg: DistillConfig, teacher: TeacherRef) -> Reading:
    """How the teacher reads long texts for its soft targets: ``cfg.teacher_reading``, else as it
    was made to read (its manifest's ``reading``; a predictions file or a folder from elsewhere: a cut)."""
    if cfg.teacher_reading is not None:
        return cfg.teacher_reading.reading()
    if teacher.predictions is not None:
        return TRUNCATE
    return recorded_reading(teacher.folder)


def teacher_length(cfg: DistillConfig, teacher: TeacherRef, per_token: bool) -> int:
    """How many tokens the teacher reads a text (over windows: a window) for its soft targets:
    ``cfg.teacher_max_length``; else, for a method that takes the teacher's logits only (not
    ``per_token``: features or layers of the student's tokens), the length
    it was taught at (its manifest: a teacher taught on windows of 512 makes its targets over
    windows of 512 for a student that reads 128); else ``train.max_length`` (a predictions file
    or a folder from elsewhere has no recorded length). Never past the teacher's position table: the
    length recorded is the length read."""
    if cfg.teacher_max_length is not None:
        length = cfg.teacher_max_length
    else:
        taught = None if per_token or teacher.predictions is not None else recorded_length(teacher.folder)
        length = taught or cfg.train.max_length
    return length if teacher.predictions is not None else min(length, position_limit(teacher.folder))


def teacher_scores(
    teacher: TeacherRef,
    spec: TaskSpec,
    splits: dict[str, list[Example]],
    max_length: int,
    device: object,
    reading: Reading = TRUNCATE,
) -> dict[str, float]:
    """The teacher's metrics on each split's examples (its outputs through the teacher cache, in
    the task's label order), keyed like the student's (``dev/accuracy``). A teacher given as
    predictions is scored on the splits its file covers whole (none, when it holds only the
    training texts)."""
    from textdistill.evaluation.metrics import score_outputs

    outputs = {}
    for split, examples in splits.items():
        if teacher.predictions is not None and teacher.predictions.missing(examples):
            continue
        got = teacher_outputs(
            teacher.source, examples, max_length, device=device, what=f"{split} texts", reading=reading
        )
        got = got.reorder(teacher.order)
        outputs[split] = (got.logits.numpy(), labels_of(examples))
    threshold = None  # a multi-label teacher's: chosen on dev, or, without dev, the one it recorded
    if spec.multi_label and splits and next(iter(splits)) not in outputs:
        threshold = (teacher.metrics.get("best") or {}).get("threshold", 0.5)
    return score_outputs(spec, outputs, threshold)
