"""Quality metrics, computed from model outputs and gold labels.

Thin wrappers over scikit-learn and SciPy (tests compare against them): a metric takes the
``(N, C)`` logits (``(N,)`` or ``(N, 1)`` predictions for regression) and the ``(N,)`` labels and
returns a float. Binary F1 is the F1 of the task's positive class (``TaskSpec.positive``; by
default class 1: GLUE's convention for MRPC and QQP, the spam class for sms-spam).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats
from sklearn import metrics as skm

from textdistill.data.spec import TaskSpec


def _classes(logits: np.ndarray) -> np.ndarray:
    return np.asarray(logits).argmax(axis=-1)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(skm.accuracy_score(labels, _classes(logits)))


def f1(logits: np.ndarray, labels: np.ndarray, positive: int = 1) -> float:
    """F1 of class ``positive`` (binary tasks)."""
    return float(
        skm.f1_score(labels, _classes(logits), pos_label=positive, average="binary", zero_division=0)
    )


def macro_f1(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(skm.f1_score(labels, _classes(logits), average="macro", zero_division=0))


def mcc(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(skm.matthews_corrcoef(labels, _classes(logits)))


def _scores(predictions: np.ndarray) -> np.ndarray:
    return np.asarray(predictions, dtype=np.float64).reshape(len(predictions), -1)[:, 0]


def pearson(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Pearson's r; 0.0 when either side is constant (r is undefined there)."""
    x, y = _scores(predictions), np.asarray(labels, dtype=np.float64)
    return 0.0 if x.std() == 0 or y.std() == 0 else float(stats.pearsonr(x, y)[0])


def spearman(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Spearman's rho; 0.0 when either side is constant."""
    x, y = _scores(predictions), np.asarray(labels, dtype=np.float64)
    return 0.0 if x.std() == 0 or y.std() == 0 else float(stats.spearmanr(x, y)[0])


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy,
    "f1": f1,
    "macro_f1": macro_f1,
    "mcc": mcc,
    "pearson": pearson,
    "spearman": spearman,
}


def compute_metrics(spec: TaskSpec, outputs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Every metric of the task (the first is the primary one), keyed by name.

    Args:
        outputs: ``(N, num_labels)`` logits or probabilities; ``(N, 1)`` or ``(N,)`` for regression.
        labels: ``(N,)`` class indices or scores.
    """
    if len(outputs) != len(labels):
        raise ValueError(f"{len(outputs)} predictions for {len(labels)} labels")
    out = {}
    for name in spec.metrics:
        if name == "f1":
            out[name] = f1(outputs, labels, spec.positive_index)
        else:
            out[name] = METRICS[name](outputs, labels)
    return out
