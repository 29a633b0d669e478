"""Teacher ensembles (MT-DNN-KD, Liu et al. 2019): several teachers that differ in seed and dropout,
the best ``keep`` by dev metric, their averaged class probabilities as the soft targets.

``textdistill teach --ensemble N`` writes ``OUT/member-1 .. member-N`` (each a normal teacher
folder) and, in ``OUT`` itself, ``ensemble.json`` (the kept members, how to combine them, every
member's dev metric), ``task.json``, ``metrics.json`` (the ensemble's quality on every labelled
split), the members' ``config.json`` and tokenizer (so a student can be sized and tokenised from
``OUT``). ``OUT`` then stands wherever a teacher folder does: ``teacher: OUT`` in a distillation
config; the teacher cache computes and stores each member's logits and combines them.

Combining (``combine``): ``probs`` (default, the paper's) averages the members' softmax
probabilities and returns their log, so that ``softmax(log p) = p``: the soft targets at T = 1 are
the averaged probabilities exactly (at another temperature, the averaged distribution sharpened or
flattened as one distribution); ``logits`` averages the logits. Regression always averages the
predictions.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from textdistill.errors import TextdistillError

if TYPE_CHECKING:
    from textdistill.data.load import TaskData
    from textdistill.train.teach import TeachConfig

ENSEMBLE_FILE = "ensemble.json"
COMBINE = ("probs", "logits")


def is_ensemble(folder: str | Path) -> bool:
    return (Path(folder) / ENSEMBLE_FILE).exists()


def read_ensemble(folder: str | Path) -> tuple[list[Path], str]:
    """The kept members' folders and the combine mode of an ensemble folder."""
    record = json.loads((Path(folder) / ENSEMBLE_FILE).read_text())
    members = [Path(folder) / name for name in record["members"]]
    missing = [str(m) for m in members if not (m / "config.json").exists()]
    if missing:
        raise TextdistillError(f"ensemble {folder}: member folders missing: {', '.join(missing)}")
    return members, record.get("combine", "probs")


def combine(outputs: list[Tensor], mode: str = "probs") -> Tensor:
    """Members' outputs, each ``(N, C)``, into the ensemble's ``(N, C)``: the log of the mean
    softmax (``probs``), the mean logits (``logits``), or for regression (``C == 1``) the mean."""
    if mode not in COMBINE:
        raise TextdistillError(f"unknown ensemble combine {mode!r}; choose one of {', '.join(COMBINE)}")
    if not outputs:
        raise TextdistillError("an ensemble needs at least one member")
    stacked = torch.stack([o.float() for o in outputs])  # (K, N, C)
    if stacked.shape[-1] == 1 or mode == "logits":
        return stacked.mean(0)
    return stacked.softmax(-1).mean(0).clamp_min(1e-12).log()


def teach_ensemble(
    cfg: TeachConfig,
    task: TaskData | None,
    size: int,
    keep: int,
    dropouts: tuple[float, ...],
    mode: str = "probs",
) -> dict:
    """Train ``size`` teachers (seed ``cfg.seed + i``, dropout ``dropouts[i % len]``) into
    ``cfg.out/member-i``, keep the best ``keep`` by the primary dev metric, write the ensemble."""
    from textdistill.data.encode import EncodedDataset, make_loader
    from textdistill.data.load import subsample
    from textdistill.evaluate.metrics import compute_metrics
    from textdistill.models.teacher import HFClassifier, load_tokenizer, predict_logits
    from textdistill.train.teach import teach_or_reuse

    if not 1 <= keep <= size:
        raise TextdistillError(f"--keep must be between 1 and --ensemble ({size}); got {keep}")
    if mode not in COMBINE:
        raise TextdistillError(f"unknown ensemble combine {mode!r}; choose one of {', '.join(COMBINE)}")
    if task is None:
        from textdistill.data.load import load_task

        task = load_task(cfg.task, cfg.data)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    members = []
    for i in range(size):
        member = replace(
            cfg, out=str(out / f"member-{i + 1}"), seed=cfg.seed + i, dropout=dropouts[i % len(dropouts)]
        )
        metrics = teach_or_reuse(member, task)
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
    max_length = cfg.max_length
    quality: dict[str, float] = {}
    for split in task.labelled_splits:
        examples = subsample(task.splits[split], cfg.max_eval_examples)
        loader = make_loader(EncodedDataset(examples, tokenizer, max_length), tokenizer, cfg.eval_batch_size)
        outputs = [predict_logits(HFClassifier.from_pretrained(str(out / name)), loader) for name in kept]
        scores = compute_metrics(spec, combine(outputs, mode).numpy(), np.array([e.label for e in examples]))
        quality.update({f"{split}/{k}": v for k, v in scores.items()})
    record = {"members": kept, "combine": mode, "all": members}
    (out / ENSEMBLE_FILE).write_text(json.dumps(record, indent=2) + "\n")
    metrics = {"task": spec.name, "ensemble": True, "primary_metric": members[0]["primary_metric"],
               "best": quality, "members": members, "kept": kept, "combine": mode}  # fmt: skip
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
