"""Task-agnostic ("general") distillation: a fresh transformer student learns the teacher's
intermediate layers on unlabelled text, before any task (LRC-BERT's first stage, done on
Wikipedia in the paper, on the offline datasets' training texts here).

The corpus: every text (both sides of pairs) of the chosen tasks' training splits and of the
user's files, minus any text that also occurs in a dev or test split of those tasks or in an
``exclude`` file, deduplicated, shuffled with the seed, capped at ``max_texts``; a slice is held
out to pick the best checkpoint. The loss is COS-NCE alone (intermediate layers only, mean-pooled
by default), negatives from the batch and from the bank of the teacher's cached features. The
result, ``<out>/student``, is what ``student.init_from`` takes in a distillation config.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path

import torch
from torch import Tensor, nn

from textdistill.artifacts import model_fingerprint
from textdistill.config import GeneralConfig
from textdistill.data.spec import Example, TaskSpec
from textdistill.errors import TextdistillError
from textdistill.methods.lrc_bert import LRCBert
from textdistill.recipes.common import RunFolder
from textdistill.runtime import set_seed, set_threads
from textdistill.teachers.cache import teacher_outputs
from textdistill.train.checkpoint import atomic_folder, recover_folder
from textdistill.train.distributed import Dist, main_first, teardown
from textdistill.train.distributed import setup as setup_dist
from textdistill.train.step import DistillStep
from textdistill.train.trainer import Checkpointing, TrainConfig, resolve_precision, to_device, train

HEADLESS = TaskSpec("general", ("a", "b"), ("accuracy",), description="no task: the head is unused")


def _file_texts(path: str) -> list[str]:
    """Texts of a JSONL file (``text`` and ``text_pair`` fields), of a CSV / TSV file (its ``text``
    and, when it has one, ``text_pair`` column; the header must have them) or of any other file (a
    line each)."""
    from textdistill.data.readers import read_text, read_texts

    if Path(path).suffix.lower() in (".jsonl", ".json", ".csv", ".tsv"):
        return [t for _, e, _ in read_texts(path) for t in (e.text, e.text_pair) if t]
    return [line.strip() for line in read_text(path).split("\n") if line.strip()]


def build_corpus(cfg: GeneralConfig) -> tuple[list[str], dict]:
    """The shuffled, deduplicated training texts and a record of where they came from."""
    from textdistill.data.load import load_task

    sources: dict[str, int] = {}
    texts: list[str] = []
    banned: set[str] = {t for f in cfg.exclude for t in _file_texts(f)}
    for name in cfg.tasks:
        task = load_task(name)
        train = [t for e in task.splits["train"] for t in (e.text, e.text_pair) if t]
        sources[f"task:{name}"] = len(train)
        texts += train
        banned |= {
            t
            for split, rows in task.splits.items()
            if split != "train"
            for e in rows
            for t in (e.text, e.text_pair)
            if t
        }
    for f in cfg.files:
        found = _file_texts(f)
        sources[f"file:{f}"] = len(found)
        texts += found
    unique = list(dict.fromkeys(t.strip() for t in texts if t.strip()))
    kept = [t for t in unique if t not in banned]
    removed = len(unique) - len(kept)
    if len(kept) < 4:
        raise TextdistillError(f"general distillation needs text: only {len(kept)} usable text(s) found")
    random.Random(cfg.seed).shuffle(kept)
    if cfg.max_texts is not None:
        kept = kept[: cfg.max_texts]
    record = {
        "sources": sources,
        "unique": len(unique),
        "removed_as_dev_or_test": removed,
        "total": len(kept),
    }
    return kept, record


def general_distill(cfg: GeneralConfig, resume: bool = False) -> dict:
    """Distil the teacher's layers into a fresh student; writes ``<out>/student`` and
    ``<out>/general.json``; returns that record. ``resume`` continues from ``checkpoint.pt``."""
    dist = setup_dist(cfg.device)  # under torchrun (general-distill --nproc N): every rank
    try:
        if cfg.batch_size % (cfg.grad_accumulation * dist.world):
            raise TextdistillError(
                f"--batch-size {cfg.batch_size} must split evenly over {dist.world} processes x "
                f"{cfg.grad_accumulation} accumulated micro-batches"
            )
        command = f"textdistill general-distill --out {cfg.out}"
        with RunFolder(cfg.out, "general", cfg.model_dump(), resume, dist.main, command) as run:
            return _general(cfg, run, dist)
    finally:
        teardown(dist)


def _general(cfg: GeneralConfig, run: RunFolder, dist: Dist) -> dict:
    from transformers import AutoConfig

    from textdistill.data.encode import EncodedDataset, make_loader
    from textdistill.models.teacher import resolve_model
    from textdistill.models.transformer import build_transformer_student
    from textdistill.models.weights import read_tokenizer

    seed = set_seed(cfg.seed)
    set_threads(max(1, (os.cpu_count() or 1) // dist.local_world))
    device = dist.device
    out = Path(cfg.out)
    if run.resume and dist.main:
        recover_folder(out / "student")
    with main_first(dist):  # rank 0 fetches the corpus's tasks and the teacher first; the others read them
        texts, corpus = build_corpus(cfg)
        teacher_dir = resolve_model(cfg.teacher)
    n_held = min(cfg.held_out, max(2, len(texts) // 20))
    held = [Example(t) for t in texts[:n_held]]
    train_examples = [Example(t) for t in texts[n_held:]]
    corpus.update(train=len(train_examples), held_out=len(held))

    run.update(
        teachers=[{"folder": str(teacher_dir), "fingerprint": model_fingerprint(teacher_dir)}],
        texts=corpus, max_length=cfg.max_length,
    )  # fmt: skip
    started = time.perf_counter()
    with main_first(dist):  # rank 0 fills the teacher cache; the others read it
        teacher = teacher_outputs(
            teacher_dir, train_examples, cfg.max_length, features=cfg.pooling, device=device
        )
        held_teacher = teacher_outputs(teacher_dir, held, cfg.max_length, features=cfg.pooling, device=device)
    teacher_seconds = time.perf_counter() - started

    set_seed(seed)
    student = build_transformer_student(
        teacher_dir, HEADLESS, cfg.layers, cfg.hidden, cfg.heads, cfg.intermediate
    )
    tokenizer = read_tokenizer(teacher_dir)
    t_cfg = AutoConfig.from_pretrained(teacher_dir)
    max_length = min(cfg.max_length, student.model.config.max_position_embeddings)

    def make_method(negatives: int, bank: Tensor | None) -> LRCBert:
        method = LRCBert(
            pooling=cfg.pooling,
            negatives=negatives,
            stage1_fraction=1.0,
            perturbation=cfg.perturbation,
            seed=seed,
        )
        method.setup(cfg.layers, cfg.hidden, t_cfg.num_hidden_layers, t_cfg.hidden_size, bank)
        return method

    method = make_method(cfg.negatives, teacher.features)
    scorer = make_method(10**6, None)  # held out: every other row of the batch, no random bank draws
    scorer.projections = method.projections
    loader = make_loader(
        EncodedDataset(train_examples, tokenizer, max_length),
        tokenizer,
        cfg.batch_size,
        shuffle=True,
        seed=seed,
        rank=dist.rank,
        world=dist.world,
        accumulation=cfg.grad_accumulation,
    )
    held_loader = make_loader(EncodedDataset(held, tokenizer, max_length), tokenizer, 64)
    total_steps = math.ceil(cfg.epochs * len(loader) / cfg.grad_accumulation)
    trainable = nn.ModuleDict({"student": student, "projections": method.projections}).to(device)
    step_fn = DistillStep(
        {None: student}, method, total_steps, device, teachers={None: teacher},
        model_kwargs=method.model_kwargs(), perturbation=cfg.perturbation, dist=dist,
    )  # fmt: skip

    @torch.no_grad()
    def evaluate(_trained: nn.Module) -> dict[str, float]:
        student.eval()
        losses, sizes = [], []
        for batch in held_loader:
            batch = to_device(batch, device)
            if len(batch["index"]) < 2:  # no negative for a lone row
                continue
            inputs = {k: batch[k] for k in student.input_names if k in batch}
            output = student(**inputs, output_hidden_states=True)
            target = held_teacher.lookup(batch["index"].cpu()).to(device)
            losses.append(scorer.intermediate_loss(batch, output, target).item())
            sizes.append(len(batch["index"]))
        return {"held_out/cos_nce": sum(v * n for v, n in zip(losses, sizes, strict=True)) / sum(sizes)}

    def save(_trained: nn.Module) -> None:  # swapped in whole: a failed save keeps the previous student
        with atomic_folder(out / "student") as folder:
            student.save(folder)
            tokenizer.save_pretrained(folder)

    result = train(
        trainable,
        loader,
        step_fn,
        evaluate,
        save,
        "held_out/cos_nce",
        TrainConfig(
            cfg.epochs,
            cfg.lr,
            eval_every=max(1, total_steps // 4),
            grad_accumulation=cfg.grad_accumulation,
            precision=resolve_precision(cfg.precision, device),
            report_to=cfg.report_to,
        ),
        out / "log.jsonl",
        higher_is_better=False,
        checkpointing=Checkpointing(out / "checkpoint.pt", run.resume, method.generators()),
        dist=dist,
        progress=run.progress,
    )
    if not dist.main:
        return {}
    record = {
        "config": cfg.model_dump(),
        "teacher_folder": str(teacher_dir),
        "texts": corpus,
        "layer_map": method.mapping,
        "steps": result.steps,
        "best_step": result.best_step,
        "best_held_out_cos_nce": result.best_metric,
        "teacher_seconds": round(teacher_seconds, 1),
        "teacher_cache_hit": teacher.from_cache,
        "train_seconds": round(result.train_seconds, 1),
        "parameters": student.num_parameters,
        "device": str(device),
        "processes": dist.world,
        "history": result.history,
    }
    record = run.finish(record)
    (out / "general.json").write_text(json.dumps(record, indent=2) + "\n")
    return record
