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


# ------------------------------------------------------------------------------------- multi-label
# A multi-label model gives one logit per label; a text carries every label whose sigmoid reaches
# the decision threshold, chosen on dev (choose_threshold) and stored with the model.
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05 ... 0.95
DEFAULT_THRESHOLD = 0.5


def label_sets(logits: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """``(N, C)`` bool: the labels whose sigmoid is at least ``threshold``."""
    z = np.asarray(logits, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-z)) >= threshold


def micro_f1(logits: np.ndarray, labels: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> float:
    """F1 over every (text, label) decision pooled: frequent labels weigh more."""
    return float(skm.f1_score(np.asarray(labels) > 0.5, label_sets(logits, threshold), average="micro",
                              zero_division=0))  # fmt: skip


def multi_label_macro_f1(
    logits: np.ndarray, labels: np.ndarray, threshold: float = DEFAULT_THRESHOLD
) -> float:
    """The mean of the per-label F1s: every label weighs the same, rare ones included."""
    return float(skm.f1_score(np.asarray(labels) > 0.5, label_sets(logits, threshold), average="macro",
                              zero_division=0))  # fmt: skip


def subset_accuracy(logits: np.ndarray, labels: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> float:
    """The share of texts whose label set is predicted exactly."""
    return float(skm.accuracy_score(np.asarray(labels) > 0.5, label_sets(logits, threshold)))


MULTI_LABEL: dict[str, Callable[..., float]] = {
    "micro_f1": micro_f1, "macro_f1": multi_label_macro_f1, "subset_accuracy": subset_accuracy,
}  # fmt: skip


def per_label_f1(
    spec: TaskSpec, logits: np.ndarray, labels: np.ndarray, threshold: float = DEFAULT_THRESHOLD
) -> dict[str, float]:
    """F1 of each label of a multi-label task, by name."""
    scores = skm.f1_score(
        np.asarray(labels) > 0.5, label_sets(logits, threshold), average=None, zero_division=0
    )
    return {name: round(float(v), 4) for name, v in zip(spec.labels or (), scores, strict=True)}


def choose_threshold(spec: TaskSpec, logits: np.ndarray, labels: np.ndarray) -> float:
    """The decision threshold of :data:`THRESHOLDS` that maximises the task's primary metric on
    ``logits`` (a dev split's); ties go to the one nearest 0.5."""
    metric = MULTI_LABEL[spec.primary_metric]
    scored = [(metric(logits, labels, t), -abs(t - DEFAULT_THRESHOLD), t) for t in THRESHOLDS]
    return max(scored)[2]


def score_outputs(
    spec: TaskSpec, splits: dict[str, tuple[np.ndarray, np.ndarray]], threshold: float | None = None
) -> dict[str, float]:
    """Every metric of the task on each split's ``(outputs, labels)``, keyed ``"<split>/<metric>"``.
    A multi-label task is scored at ``threshold``, by default the one :func:`choose_threshold`
    picks on the first split (the dev split: the others are scored at the dev choice), and the
    result holds it as ``"threshold"``."""
    out: dict[str, float] = {}
    if spec.multi_label and threshold is None and splits:
        threshold = choose_threshold(spec, *next(iter(splits.values())))
    for split, (outputs, labels) in splits.items():
        scores = compute_metrics(spec, outputs, labels, threshold)
        out.update({f"{split}/{name}": value for name, value in scores.items()})
    if spec.multi_label and splits:
        out["threshold"] = float(threshold)
    return out


def compute_metrics(
    spec: TaskSpec, outputs: np.ndarray, labels: np.ndarray, threshold: float | None = None
) -> dict[str, float]:
    """Every metric of the task (the first is the primary one), keyed by name.

    Args:
        outputs: ``(N, num_labels)`` logits or probabilities; ``(N, 1)`` or ``(N,)`` for regression;
            ``(N, C)`` logits for a multi-label task.
        labels: ``(N,)`` class indices or scores; ``(N, C)`` 0 / 1 for a multi-label task.
        threshold: a multi-label task's decision threshold on the sigmoids (0.5 when ``None``).
    """
    if len(outputs) != len(labels):
        raise ValueError(f"{len(outputs)} predictions for {len(labels)} labels")
    if spec.multi_label:
        t = DEFAULT_THRESHOLD if threshold is None else threshold
        return {name: MULTI_LABEL[name](outputs, labels, t) for name in spec.metrics}
    out = {}
    for name in spec.metrics:
        if name == "f1":
            out[name] = f1(outputs, labels, spec.positive_index)
        else:
            out[name] = METRICS[name](outputs, labels)
    return out
