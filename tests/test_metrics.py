"""Metrics agree with scikit-learn / SciPy on random inputs, and task metric sets are right."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from textdistill.data.tasks import get_task
from textdistill.evaluation.metrics import accuracy, compute_metrics, f1, macro_f1, mcc, pearson, spearman


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(200, 3))
    labels = rng.integers(0, 3, size=200)
    pred = logits.argmax(-1)
    assert accuracy(logits, labels) == pytest.approx(skm.accuracy_score(labels, pred))
    assert macro_f1(logits, labels) == pytest.approx(skm.f1_score(labels, pred, average="macro"))
    assert mcc(logits, labels) == pytest.approx(skm.matthews_corrcoef(labels, pred))
    binary = rng.integers(0, 2, size=200)
    blogits = rng.normal(size=(200, 2))
    assert f1(blogits, binary) == pytest.approx(skm.f1_score(binary, blogits.argmax(-1)))


@pytest.mark.parametrize("seed", [0, 1])
def test_correlations_match_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.normal(size=100)
    p = y + rng.normal(scale=0.5, size=100)
    assert pearson(p[:, None], y) == pytest.approx(stats.pearsonr(p, y)[0])
    assert spearman(p, y) == pytest.approx(stats.spearmanr(p, y)[0])


def test_known_values_by_hand() -> None:
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])  # predicts 1, 0, 1, 0
    labels = np.array([1, 1, 0, 0])
    assert accuracy(logits, labels) == 0.5
    assert f1(logits, labels) == 0.5  # precision 1/2, recall 1/2
    assert mcc(logits, labels) == 0.0
    assert pearson(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])) == pytest.approx(1.0)
    assert spearman(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])) == pytest.approx(-1.0)


def test_constant_predictions_give_zero_correlation() -> None:
    assert pearson(np.zeros(5), np.arange(5.0)) == 0.0
    assert spearman(np.zeros(5), np.arange(5.0)) == 0.0


def test_glue_metric_choices() -> None:
    assert get_task("cola").metrics[0] == "mcc"
    assert get_task("mrpc").metrics == ("f1", "accuracy")
    assert get_task("stsb").metrics == ("pearson", "spearman") and get_task("stsb").is_regression
    assert get_task("qqp").metrics == ("accuracy", "f1")
    assert get_task("sms-spam").primary_metric == "f1"
    out = compute_metrics(get_task("mrpc"), np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([1, 1]))
    assert list(out) == ["f1", "accuracy"] and out["accuracy"] == 0.5


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="3 predictions for 2 labels"):
        compute_metrics(get_task("sst2"), np.zeros((3, 2)), np.zeros(2))
