"""Fine-tune a Hugging Face encoder on a task: the teacher.

The output folder is a Hugging Face model folder (``config.json``, ``model.safetensors``, the
tokenizer) holding the best checkpoint by the primary dev metric, plus ``metrics.json`` (dev and
test quality of that checkpoint, every evaluation, times), ``teach_config.json`` (the resolved
configuration), ``task.json`` (the task spec), ``log.jsonl`` (every logged step) and
``run.json`` (the manifest: kind ``teacher``, task, data, state; :mod:`textdistill.artifacts`).
It runs in the recipe skeleton (:class:`textdistill.recipes.common.RunFolder`): a locked folder,
``--resume`` from ``checkpoint.pt``, a killed or interrupted run never passes for a finished one.

``teach_ensemble`` trains several such teachers into ``OUT/member-i`` and writes the ensemble
folder (kind ``ensemble``; :mod:`textdistill.teachers.ensemble` combines their outputs).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from textdistill.artifacts import DataSource, data_record, load_source, read_manifest
from textdistill.config import TeachConfig
from textdistill.data.encode import EncodedDataset, make_loader
from textdistill.data.load import TaskData, subsample
from textdistill.data.windows import TRUNCATE
from textdistill.errors import TextdistillError
from textdistill.evaluation.quality import score_splits
from textdistill.losses import hard_loss
from textdistill.models.teacher import HFClassifier, load_tokenizer
from textdistill.recipes.common import RunFolder, changed_keys
from textdistill.runtime import set_seed, set_threads
from textdistill.train.checkpoint import files_into
from textdistill.train.distributed import Dist, teardown
from textdistill.train.distributed import setup as setup_dist
from textdistill.train.trainer import Checkpointing, TrainConfig, resolve_precision, train


def teach(
    cfg: TeachConfig, task: TaskData | None = None, source: DataSource | None = None, resume: bool = False
) -> dict:
    """Fine-tune ``cfg.model`` and write the teacher folder ``cfg.out``; returns the metrics.

    The data is ``task`` read from ``source`` (what the manifest records, so that later commands
    read the same examples with the same labels), or the built-in task ``cfg.task``. ``resume``
    continues an unfinished run from its checkpoint, on the same config and data."""
    if task is not None and source is None:
        raise TextdistillError("teach(task=...) needs the data's source too (a DataSource), for the manifest")
    source = source or DataSource("task", task=cfg.task, data=cfg.data)
    task = task or load_source(source)
    dist = setup_dist(cfg.device)  # under torchrun (teach --nproc N): every rank
    try:
        if cfg.batch_size % (cfg.grad_accumulation * dist.world):
            raise TextdistillError(
                f"--batch-size {cfg.batch_size} must split evenly over {dist.world} processes x "
                f"{cfg.grad_accumulation} accumulated micro-batches"
            )
        command = f"textdistill teach ... --out {cfg.out}"
        with RunFolder(cfg.out, "teacher", cfg.record(), resume, dist.main, command) as run:
            return _teach(cfg, task, source, run, dist)
    finally:
        teardown(dist)


def _teach(cfg: TeachConfig, task: TaskData, source: DataSource, run: RunFolder, dist: Dist) -> dict:
    set_seed(cfg.seed)
    threads = set_threads(max(1, (os.cpu_count() or 1) // dist.local_world))
    spec = task.spec
    out = Path(cfg.out)
    tokenizer = load_tokenizer(cfg.model)
    device = dist.device
    model = HFClassifier.from_pretrained(cfg.model, spec, cfg.dropout).to(device)
    if dist.main:
        tokenizer.save_pretrained(out)
        (out / "task.json").write_text(json.dumps(spec.to_dict(), indent=2) + "\n")
        (out / "teach_config.json").write_text(json.dumps(cfg.record(), indent=2) + "\n")

    # never longer than the model's position table (a tiny model may have fewer than 128)
    max_length = min(cfg.max_length, tokenizer.model_max_length, model.model.config.max_position_embeddings)
    run.record_data(source, task, max_length)
    run.update(model=cfg.model)
    train_examples = subsample(task.splits["train"], cfg.max_train_examples)
    if spec.multi_label:  # each label's sigmoid starts at its frequency (a resumed run loads its own)
        from textdistill.models.bundle import start_at_label_prior

        start_at_label_prior(model, train_examples, spec.num_labels)
    reading = cfg.reading.reading()
    # fine_tune: first trains on each text's first window (a plain cut) and scores over windows
    train_reading = TRUNCATE if reading.windowed and reading.fine_tune == "first" else reading
    train_set = EncodedDataset(train_examples, tokenizer, max_length, train_reading)
    train_loader = make_loader(
        train_set,
        tokenizer,
        cfg.batch_size,
        shuffle=True,
        seed=cfg.seed,
        group_by_length=cfg.group_by_length,
        rank=dist.rank,
        world=dist.world,
        accumulation=cfg.grad_accumulation,
    )
    labelled = task.labelled_splits
    eval_data, encoded = {}, {"train": train_set}
    for split in labelled:
        examples = subsample(task.splits[split], cfg.max_eval_examples)
        encoded[split] = dataset = EncodedDataset(examples, tokenizer, max_length, reading)
        eval_data[split] = (
            make_loader(dataset, tokenizer, cfg.eval_batch_size),
            np.array([e.label for e in examples]),
        )
    run.record_reading(reading, encoded)

    def step_fn(m: nn.Module, batch: dict[str, Tensor], step: int) -> tuple[Tensor, dict[str, float]]:
        loss = hard_loss(m(**{k: batch[k] for k in m.input_names if k in batch}).logits, batch["labels"])
        return loss, {"hard": loss.item()}

    def evaluate(m: nn.Module, splits: list[str]) -> dict[str, float]:
        return score_splits(m, spec, eval_data, splits)

    def save_best(m: nn.Module) -> None:  # a full disk mid-save keeps the previous best whole
        with files_into(out) as staging:
            m.save(staging)

    primary = f"{task.eval_splits[0]}/{spec.primary_metric}"
    result = train(
        model,
        train_loader,
        step_fn,
        lambda m: evaluate(m, task.eval_splits),
        save_best,
        primary,
        TrainConfig(
            cfg.epochs,
            cfg.lr,
            cfg.weight_decay,
            cfg.warmup_ratio,
            eval_every=cfg.eval_every,
            max_steps=cfg.max_steps,
            grad_accumulation=cfg.grad_accumulation,
            precision=resolve_precision(cfg.precision, device),
            checkpoint_every=cfg.checkpoint_every,
            report_to=cfg.report_to,
        ),
        out / "log.jsonl",
        checkpointing=Checkpointing(out / "checkpoint.pt", run.resume),
        dist=dist,
        progress=run.progress,
    )
    if not dist.main:
        return {}

    best_model = HFClassifier.from_pretrained(str(out)).to(device)
    started = time.perf_counter()
    final = evaluate(best_model, labelled)
    eval_seconds = time.perf_counter() - started
    if spec.multi_label:  # chosen on dev, served with the model (predict, export, evaluate read it)
        run.update(threshold=final["threshold"])
    n_eval = sum(len(eval_data[s][1]) for s in labelled)
    metrics = {
        "task": spec.name,
        "model": cfg.model,
        "primary_metric": primary,
        "positive_label": spec.positive_label,
        "best": final,
        "best_step": result.best_step,
        "steps": result.steps,
        "resumed_from": result.resumed_from,
        "train_examples": len(train_examples),
        "train_seconds": round(result.train_seconds, 1),
        "train_examples_per_second": round(
            result.steps * cfg.batch_size / max(result.train_seconds, 1e-9), 1
        ),
        "eval_examples_per_second": round(n_eval / eval_seconds, 1),
        "processes": dist.world,
        "device": str(device),
        "parameters": best_model.num_parameters,
        "history": result.history,
        "seed": cfg.seed,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "torch_threads": threads,
            "torch": torch.__version__,
        },
    }
    return run.finish(metrics)


def reusable(out: Path, cfg: TeachConfig) -> bool:
    """Whether ``out`` holds a finished teacher made with ``cfg`` (the folder it was first written
    to aside, so a copied folder is reused too; a key added since then counts at its default)."""
    try:
        manifest = read_manifest(out)
        saved = TeachConfig.model_validate(manifest.get("config") or {}).record()
    except (TextdistillError, ValueError):
        return False
    drop = lambda c: {k: v for k, v in c.items() if k != "out"}  # noqa: E731
    return manifest.get("state") == "finished" and not changed_keys(drop(saved), drop(cfg.record()))


def teach_or_reuse(cfg: TeachConfig, task: TaskData | None = None, source: DataSource | None = None) -> dict:
    """Reuse the finished teacher in ``cfg.out`` when it was trained with this configuration on the
    same data; else teach it."""
    out = Path(cfg.out)
    if reusable(out, cfg):
        source = source or DataSource("task", task=cfg.task, data=cfg.data)
        task = task or load_source(source)
        recorded = read_manifest(out).get("data") or {}
        same = (
            recorded.get("source") == source.to_dict()
            and recorded.get("splits") == data_record(source, task)["splits"]
        )
        if same:  # the same files, and the same examples in them
            return json.loads((out / "metrics.json").read_text())
    return teach(cfg, task, source)


def teach_ensemble(
    cfg: TeachConfig,
    task: TaskData | None,
    size: int,
    keep: int,
    dropouts: tuple[float, ...],
    mode: str = "probs",
    source: DataSource | None = None,
) -> dict:
    """Train ``size`` teachers (seed ``cfg.seed + i``, dropout ``dropouts[i % len]``) into
    ``cfg.out/member-i``, keep the best ``keep`` by the primary dev metric, write the ensemble."""
    from textdistill.data.encode import EncodedDataset, make_loader
    from textdistill.evaluation.metrics import score_outputs
    from textdistill.models.teacher import predict_logits
    from textdistill.teachers.ensemble import COMBINE, ENSEMBLE_FILE, combine

    if not 1 <= keep <= size:
        raise TextdistillError(f"--keep must be between 1 and --ensemble ({size}); got {keep}")
    if mode not in COMBINE:
        raise TextdistillError(f"unknown ensemble combine {mode!r}; choose one of {', '.join(COMBINE)}")
    source = source or DataSource("task", task=cfg.task, data=cfg.data)
    task = task or load_source(source)
    out = Path(cfg.out)
    config = {**cfg.record(), "ensemble": size, "keep": keep, "dropouts": list(dropouts), "combine": mode}
    with RunFolder(
        out, "ensemble", config, command=f"textdistill teach --ensemble {size} --out {out}"
    ) as run:
        run.record_data(source, task, cfg.max_length)
        members = []
        for i in range(size):
            member = cfg.model_copy(
                update={
                    "out": str(out / f"member-{i + 1}"),
                    "seed": cfg.seed + i,
                    "dropout": dropouts[i % len(dropouts)],
                }
            )
            metrics = teach_or_reuse(member, task, source)
            primary = metrics["primary_metric"]
            members.append(
                {"member": f"member-{i + 1}", "seed": member.seed, "dropout": member.dropout,
                 "primary_metric": primary, "dev": metrics["best"][primary], "best": metrics["best"]}
            )  # fmt: skip
        ranked = sorted(members, key=lambda m: -m["dev"])  # every metric here is higher-is-better
        kept = [m["member"] for m in ranked[:keep]]
        first = out / kept[0]
        for name in ("config.json", "task.json"):
            shutil.copy(first / name, out / name)
        tokenizer = load_tokenizer(str(first))
        tokenizer.save_pretrained(out)
        spec = task.spec
        scored = {}
        for split in task.labelled_splits:
            examples = subsample(task.splits[split], cfg.max_eval_examples)
            dataset = EncodedDataset(examples, tokenizer, cfg.max_length, cfg.reading.reading())
            loader = make_loader(dataset, tokenizer, cfg.eval_batch_size)
            outputs = [
                predict_logits(HFClassifier.from_pretrained(str(out / name)), loader, spec.multi_label)
                for name in kept
            ]
            scored[split] = (
                combine(outputs, mode, spec.multi_label).numpy(),
                np.array([e.label for e in examples]),
            )
        quality = score_outputs(spec, scored)  # a multi-label ensemble: at a threshold chosen on dev
        record = {"members": kept, "combine": mode, "all": members}
        (out / ENSEMBLE_FILE).write_text(json.dumps(record, indent=2) + "\n")
        run.update(
            members=kept, combine=mode, **({"threshold": quality["threshold"]} if spec.multi_label else {})
        )
        metrics = {"task": spec.name, "ensemble": True, "primary_metric": members[0]["primary_metric"],
                   "best": quality, "members": members, "kept": kept, "combine": mode}  # fmt: skip
        return run.finish(metrics)
