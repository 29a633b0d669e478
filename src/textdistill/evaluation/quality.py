"""Quality of a model on labelled splits: one function for training-time and final evaluation."""

from __future__ import annotations

import numpy as np
from torch import nn
from torch.utils.data import DataLoader

from textdistill.data.spec import TaskSpec
from textdistill.evaluation.metrics import compute_metrics
from textdistill.models.teacher import predict_logits

EvalSet = tuple[DataLoader, np.ndarray]  # an evaluation loader (dataset order) and its (N,) labels


def score_splits(
    model: nn.Module, spec: TaskSpec, evals: dict[str, EvalSet], splits: list[str]
) -> dict[str, float]:
    """Every metric of the task on each split, keyed ``"<split>/<metric>"`` (``dev/accuracy``)."""
    out: dict[str, float] = {}
    for split in splits:
        loader, labels = evals[split]
        scores = compute_metrics(spec, predict_logits(model, loader).numpy(), labels)
        out.update({f"{split}/{name}": value for name, value in scores.items()})
    return out
