"""The hard-label baseline, and the label handling that every method shares.

Conventions for the batch (see :class:`textdistill.methods.base.Method`):

* ``batch["labels"]``: ``(B,)``, long class indices or float scores; absent when no row of the
  batch is labelled (an unlabelled transfer-set batch).
* ``batch["label_mask"]`` (optional): ``(B,)`` bool, ``True`` where the row has a gold label, for
  batches that mix labelled and unlabelled rows. Labels of unmasked rows are never read.

Regression rule (one rule, used by every method): a task is regression exactly when the student's
logits are one column wide, ``student.logits.shape[-1] == 1``. The width is always there, while
labels may be absent; labels, when present, must agree (float for width 1, integer otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from textdistill.errors import TextdistillError
from textdistill.losses import hard_loss
from textdistill.methods.base import MethodHooks
from textdistill.models.outputs import ModelOutput

LABELS = "labels"
LABEL_MASK = "label_mask"


def is_regression(logits: Tensor) -> bool:
    """``True`` when ``logits`` is ``(B, 1)``: the task predicts one score per row."""
    return logits.shape[-1] == 1


def hard_term(batch: dict[str, Tensor], logits: Tensor) -> Tensor:
    """The gold-label loss of ``logits`` on ``batch`` (cross-entropy, MSE for regression, per-label
    binary cross-entropy for multi-label targets ``(B, C)``).

    Mean over the labelled rows (``label_mask`` when given, else all rows); ``0`` with a
    ``grad_fn`` when the batch has no ``labels`` or no labelled row.
    """
    labels = batch.get(LABELS)
    if labels is None:
        return logits.flatten()[:0].sum()  # exact 0 that is still part of the graph
    if labels.dim() == 2:  # multi-label: (B, C) targets, one per logit
        if labels.shape != logits.shape:
            raise TextdistillError(
                f"multi-label targets of shape {tuple(labels.shape)} do not fit logits {tuple(logits.shape)}"
            )
        return hard_loss(logits, labels, batch.get(LABEL_MASK))
    regression = is_regression(logits)
    if regression != labels.is_floating_point():
        kind = "float scores" if regression else "integer class indices"
        raise TextdistillError(
            f"labels of dtype {labels.dtype} do not fit logits of shape {tuple(logits.shape)}: "
            f"a {'1-column (regression)' if regression else 'classification'} model needs {kind}"
        )
    return hard_loss(logits, labels, batch.get(LABEL_MASK))


def require_teacher(method: str, teacher: ModelOutput | None) -> Tensor:
    """The teacher's logits, detached (no gradient ever flows into the teacher)."""
    if teacher is None:
        raise TextdistillError(f"method {method!r} distils from a teacher, but got no teacher outputs")
    return teacher.logits.detach()


def check_alpha(method: str, alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise TextdistillError(f"{method}: alpha must be in [0, 1]; got {alpha}")


@dataclass(frozen=True)
class Hard(MethodHooks):
    """The student trained alone on gold labels: the no-distillation baseline.

    ``loss = hard`` (cross-entropy, or MSE for regression; mean over labelled rows).
    Terms: ``{"hard": ...}``. A batch without ``labels`` is an error: this method has nothing to
    learn from it (use a distillation method for unlabelled transfer sets).
    """

    name: ClassVar[str] = "hard"
    needs_teacher: ClassVar[bool] = False

    def loss(
        self,
        batch: dict[str, Tensor],
        student: ModelOutput,
        teacher: ModelOutput | None,
        step: int,
        total_steps: int,
    ) -> tuple[Tensor, dict[str, float]]:
        if LABELS not in batch:
            raise TextdistillError("method 'hard' needs labelled rows, but the batch has no 'labels'")
        hard = hard_term(batch, student.logits)
        return hard, {"hard": hard.item()}
