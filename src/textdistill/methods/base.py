"""What a distillation method is: a small object that turns a batch, the student's output and the
teacher's output into a loss and its unweighted terms. It owns its schedule (a method may weigh
its terms by ``step``); it never runs a model and never owns a loop.
"""

from __future__ import annotations

from typing import Protocol

from torch import Tensor

from textdistill.models.outputs import ModelOutput


class Method(Protocol):
    name: str
    needs_teacher: bool  # False for the hard-label baseline

    def loss(
        self,
        batch: dict[str, Tensor],
        student: ModelOutput,
        teacher: ModelOutput | None,
        step: int,
        total_steps: int,
    ) -> tuple[Tensor, dict[str, float]]:
        """Return ``(loss, terms)``: the scalar to back-propagate and every term, unweighted.

        ``batch["labels"]`` is ``(B,)`` (long class indices, or float scores for regression) and
        may be absent for unlabelled transfer-set rows; ``student.logits`` and ``teacher.logits``
        are ``(B, C)`` (``(B, 1)`` for regression).
        """
        ...
