"""Quality of a model on labelled splits: one function for training-time and final evaluation."""

from __future__ import annotations

import numpy as np
from torch import nn
from torch.utils.data import DataLoader

from textdistill.data.spec import TaskSpec
from textdistill.evaluation.metrics import score_outputs
from textdistill.models.teacher import predict_logits

EvalSet = tuple[DataLoader, np.ndarray]  # an evaluation loader (dataset order) and its (N,) labels


def score_splits(
    model: nn.Module,
    spec: TaskSpec,
    evals: dict[str, EvalSet],
    splits: list[str],
    threshold: float | None = None,
) -> dict[str, float]:
    """Every metric of the task on each split, keyed ``"<split>/<metric>"`` (``dev/accuracy``); a
    multi-label task at ``threshold``, or the one chosen on the first split, recorded as
    ``"threshold"`` (:func:`~textdistill.evaluation.metrics.score_outputs`)."""
    outputs = {s: (predict_logits(model, evals[s][0], spec.multi_label).numpy(), evals[s][1]) for s in splits}
    return score_outputs(spec, outputs, threshold)
