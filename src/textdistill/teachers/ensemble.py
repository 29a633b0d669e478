"""Teacher ensembles (MT-DNN-KD, Liu et al. 2019): several teachers that differ in seed and dropout,
the best ``keep`` by dev metric, their averaged class probabilities as the soft targets.

``textdistill teach --ensemble N`` (:func:`textdistill.recipes.teach.teach_ensemble`) writes
``OUT/member-1 .. member-N`` (each a normal teacher
folder) and, in ``OUT`` itself, ``ensemble.json`` (the kept members, how to combine them, every
member's dev metric), ``task.json``, ``metrics.json`` (the ensemble's quality on every labelled
split), the members' ``config.json`` and tokenizer (so a student can be sized and tokenised from
``OUT``). ``OUT`` then stands wherever a teacher folder does: ``teacher: OUT`` in a distillation
config; the teacher cache computes and stores each member's logits and combines them.

Combining (``combine``): ``probs`` (default, the paper's) averages the members' softmax
probabilities and returns their log, so that ``softmax(log p) = p``: the soft targets at T = 1 are
the averaged probabilities exactly (at another temperature, the averaged distribution sharpened or
flattened as one distribution); a multi-label ensemble averages each label's sigmoid and returns
its logit; ``logits`` averages the logits. Regression always averages the
predictions. A method that regresses logits (Tang's MSE, ``needs_logits``) gets the mean logits
from a ``probs`` ensemble (:func:`combine_for`): log-probabilities are not logits.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor

from textdistill.errors import TextdistillError

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


def combine(outputs: list[Tensor], mode: str = "probs", multi_label: bool = False) -> Tensor:
    """Members' outputs, each ``(N, C)``, into the ensemble's ``(N, C)``: the log of the mean
    softmax (``probs``), the mean logits (``logits``), or for regression (``C == 1``) the mean. A
    multi-label ensemble's ``probs`` are each label's mean sigmoid, returned as its logit
    ``log(p / (1 - p))`` (so that ``sigmoid`` of it is the mean probability)."""
    if mode not in COMBINE:
        raise TextdistillError(f"unknown ensemble combine {mode!r}; choose one of {', '.join(COMBINE)}")
    if not outputs:
        raise TextdistillError("an ensemble needs at least one member")
    stacked = torch.stack([o.float() for o in outputs])  # (K, N, C)
    if stacked.shape[-1] == 1 or mode == "logits":
        return stacked.mean(0)
    if multi_label:
        p = stacked.sigmoid().mean(0).clamp(1e-7, 1 - 1e-7)
        return (p / (1 - p)).log()
    return stacked.softmax(-1).mean(0).clamp_min(1e-12).log()


def combine_for(
    folder: str | Path, needs_logits: bool, regression: bool = False, multi_label: bool = False
) -> str | None:
    """How the soft targets of a method combine the teacher ``folder``'s members: ``"logits"`` for
    a method that regresses logits (``needs_logits``) from an ensemble whose own combine,
    ``probs``, gives log-probabilities; ``None`` (the teacher's own) otherwise: one teacher, a
    regression (the mean either way), a multi-label task (its ``probs`` combine gives logits
    already: each label's mean sigmoid as its logit), a method that matches distributions."""
    if not needs_logits or regression or multi_label or not is_ensemble(folder):
        return None
    _, mode = read_ensemble(folder)
    return "logits" if mode == "probs" else None
