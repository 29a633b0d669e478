"""MT-DNN-KD (Liu et al. 2019, "Improving Multi-Task Deep Neural Networks via Knowledge
Distillation for Natural Language Understanding"): multi-task training in which each task learns
from its own teacher (an ensemble's averaged probabilities, by Hinton KD) or, without one, from its
labels alone.

:class:`MTDNNKD` is a method like the others: it routes each batch by ``batch["task"]`` (one
task's rows per batch) to that task's method (:class:`~textdistill.methods.hinton.Hinton` or
:class:`~textdistill.methods.hard.Hard`) and names the terms per task (``trec6/kl``). Which rows and
which head are the recipe's concern; the loss is this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from torch import Tensor

from textdistill.methods.base import Method, MethodHooks
from textdistill.models.outputs import ModelOutput


@dataclass(frozen=True)
class MTDNNKD(MethodHooks):
    """One method per task, by task name; a batch carries its task's name in ``batch["task"]``."""

    per_task: dict[str, Method] = field(default_factory=dict)
    name: ClassVar[str] = "mtdnn_kd"

    @property
    def needs_teacher(self) -> bool:
        return any(m.needs_teacher for m in self.per_task.values())

    def loss(
        self,
        batch: dict[str, Tensor],
        student: ModelOutput,
        teacher: ModelOutput | None,
        step: int,
        total_steps: int,
    ) -> tuple[Tensor, dict[str, float]]:
        """The loss of the batch's task's method; terms keyed ``"<task>/<term>"``.

        ``student.logits`` are that task's head's ``(B, C_task)``; ``teacher`` is that task's
        teacher output (``None`` for a task without a teacher)."""
        task = batch["task"]
        loss, terms = self.per_task[task].loss(batch, student, teacher, step, total_steps)
        return loss, {f"{task}/{k}": v for k, v in terms.items()}
