"""The classic baselines a user would build without us: TF-IDF features and a linear model, or
static embeddings and a linear model.

Word 1-2-grams and character 2-5-grams (within word boundaries), sublinear term frequencies,
then a logistic regression (classification, ``C = 4``) or a ridge regression (scores), from
scikit-learn, fitted on the task's labelled training split. A pair task gets one set of features
per side, side by side. It is scored and timed the way :func:`~textdistill.evaluation.run_eval.
evaluate_folder` scores a model: every metric on every labelled split, throughput at batch 32 and
latency at batch 1 on the dev texts (featurising included), so that a report can say whether
distillation paid for itself on this data.

The static-embedding baseline (``static-lr``) averages the static token vectors model2vec distils
from the teacher (:mod:`textdistill.teachers.static`: what model2vec's own classifier recipe
does) over each text's sub-word tokens, and fits the same linear models on them.
"""

from __future__ import annotations

import itertools
import json
import pickle
import platform
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from textdistill.data.spec import Example
from textdistill.evaluation.metrics import score_outputs
from textdistill.evaluation.speed import latency_ms, throughput

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from textdistill.data.load import TaskData

NAME = "tfidf-lr"
STATIC_NAME = "static-lr"
C = 4.0  # inverse regularisation of the logistic regression
STATIC_DIMS = 256  # the static vectors' width (model2vec's default)
MAX_FEATURES = 200_000  # per vectoriser: the largest vocabularies, so size stays bounded on big data


def pick(rows: Sequence[tuple[str, str | None]], index: int) -> list[str]:
    """One side (0: text, 1: text_pair) of ``(text, pair)`` rows."""
    return [r[index] or "" for r in rows]


def _side(index: int) -> Any:
    """A step that picks one side of the rows (a module-level function: the pipeline pickles)."""
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer(pick, kw_args={"index": index})


def _vectoriser() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=MAX_FEATURES)),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, max_features=MAX_FEATURES
                ),
            ),
        ]
    )


class MeanVectors:
    """A scikit-learn transformer: texts -> the mean of their tokens' static vectors ``(N, D)``."""

    def __init__(self, vocab: Any, table: np.ndarray) -> None:
        self.vocab, self.table = vocab, table

    def fit(self, texts: Sequence[str], labels: Any = None) -> MeanVectors:
        return self

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.table[self.vocab.encode(t)].mean(0) for t in texts])


def build(
    pair: bool, regression: bool, seed: int = 0, static: MeanVectors | None = None, multi_label: bool = False
) -> Pipeline:
    """The unfitted pipeline: rows are ``(text, text_pair)`` tuples (``text_pair`` ``None`` for a
    single-text task); TF-IDF features, or with ``static`` mean static vectors (standardised); a
    multi-label task gets one logistic regression per label (one-vs-rest)."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import StandardScaler

    def features() -> Any:
        return Pipeline([("mean", static), ("scale", StandardScaler())]) if static else _vectoriser()

    sides = [("text", Pipeline([("pick", _side(0)), ("features", features())]))]
    if pair:
        sides.append(("text_pair", Pipeline([("pick", _side(1)), ("features", features())])))
    model: Any = Ridge(alpha=1.0) if regression else LogisticRegression(C=C, max_iter=3000, random_state=seed)
    if multi_label:
        from sklearn.multiclass import OneVsRestClassifier

        model = OneVsRestClassifier(model)
    return Pipeline([("features", FeatureUnion(sides)), ("model", model)])


def rows_of(examples: Sequence[Example]) -> list[tuple[str, str | None]]:
    return [(e.text, e.text_pair) for e in examples]


def outputs(
    pipeline: Pipeline,
    examples: Sequence[Example],
    regression: bool,
    classes: int = 0,
    multi_label: bool = False,
) -> np.ndarray:
    """``(N, classes)`` class probabilities (a class no training example had gets 0: its column is
    kept, so column ``c`` is class ``c``), ``(N, 1)`` scores for regression, or a multi-label task's
    ``(N, C)`` per-label logits (thresholded on their sigmoids as a model's are)."""
    rows = rows_of(examples)
    if multi_label:
        logits = np.asarray(pipeline.decision_function(rows), dtype=np.float64).reshape(len(rows), -1)
        for c, estimator in enumerate(pipeline.named_steps["model"].estimators_):
            if hasattr(estimator, "y_"):  # a label constant in training (none carried it): never, or always
                logits[:, c] = 30.0 if float(np.ravel(estimator.y_)[0]) > 0.5 else -30.0
        return logits
    if regression:
        return np.asarray(pipeline.predict(rows), dtype=np.float64).reshape(-1, 1)
    seen = pipeline.predict_proba(rows)
    known = pipeline.named_steps["model"].classes_
    full = np.zeros((len(rows), max(classes, int(known.max()) + 1)))
    full[:, known] = seen
    return full


def evaluate_baseline(
    task_data: TaskData, speed_examples: int = 320, seed: int = 0, teacher: str | Path | None = None
) -> dict:
    """Fit a baseline on ``task_data``'s training split and score it like a model folder: the
    keys of :func:`~textdistill.evaluation.run_eval.evaluate_folder` (``kind`` ``tfidf-lr``, or
    ``static-lr`` on the static vectors of ``teacher``; no folder), plus ``fit_seconds``."""
    from textdistill.evaluation.run_eval import scored

    spec = task_data.spec
    regression = spec.labels is None
    train = task_data.splits["train"]
    static = None
    if teacher is not None:
        from textdistill.teachers.static import static_source, static_vectors

        source = static_source(Path(teacher))  # an ensemble's first member
        hidden = json.loads((source / "config.json").read_text()).get("hidden_size") or STATIC_DIMS
        vocab, table = static_vectors(source, min(STATIC_DIMS, int(hidden)))
        static = MeanVectors(vocab, table.numpy())
    multi = spec.multi_label
    pipeline = build(spec.is_pair, regression, seed, static, multi)
    started = time.perf_counter()
    with (
        warnings.catch_warnings()
    ):  # a label no training text carries: OvR says so (outputs() never predicts it)
        warnings.filterwarnings("ignore", message="Label .* is present in all training examples")
        warnings.filterwarnings("ignore", message="Label not .* is present in all training examples")
        pipeline.fit(rows_of(train), np.array([e.label for e in train]))
    fit_seconds = time.perf_counter() - started
    quality = score_outputs(spec, {
        split: (outputs(pipeline, task_data.splits[split], regression, spec.num_labels, multi),
                np.array([e.label for e in task_data.splits[split]]))
        for split in task_data.labelled_splits
    })  # fmt: skip
    sample = task_data.splits[task_data.eval_splits[0]][:speed_examples]
    speed = measure_baseline(pipeline, sample, regression, classes=spec.num_labels, multi_label=multi)
    model = pipeline.named_steps["model"]
    fitted = getattr(model, "estimators_", [model])  # one-vs-rest: one regression per label
    weights = sum(np.size(getattr(m, "coef_", 0)) + np.size(getattr(m, "intercept_", 0)) for m in fitted)
    parameters = int(weights + (static.table.size if static else 0))
    return {
        "folder": None,
        "kind": NAME if static is None else STATIC_NAME,
        **scored(task_data, quality),
        "state": "finished",
        "parameters": parameters,
        "size_mb": round(len(pickle.dumps(pipeline)) / 1e6, 2),
        **{k: round(v, 2) for k, v in speed.items()},
        "speed_examples": len(sample),
        "fit_seconds": round(fit_seconds, 2),
        "train_examples": len(train),
        "machine": {"processor": platform.processor() or platform.machine()},
    }


def measure_baseline(
    pipeline: Pipeline,
    examples: Sequence[Example],
    regression: bool,
    limit: int = 200,
    classes: int = 0,
    multi_label: bool = False,
) -> dict[str, float]:
    """Throughput at batch 32 and latency at batch 1 (featurising and predicting), as
    :func:`textdistill.evaluation.speed.measure` times a model."""

    def run(batch: dict) -> object:
        return outputs(pipeline, batch["examples"], regression, classes, multi_label)

    def batches(size: int) -> list[dict]:
        return [
            {"index": list(range(i, min(i + size, len(examples)))), "examples": examples[i : i + size]}
            for i in range(0, len(examples), size)
        ]

    lat = latency_ms(run, list(itertools.islice(batches(1), limit)))
    return {
        "throughput_bs32": throughput(run, batches(32)),
        "latency_p50_ms": lat["p50"],
        "latency_p90_ms": lat["p90"],
    }
