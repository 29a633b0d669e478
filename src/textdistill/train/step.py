"""The one distillation step, for one task or several: what the trainer's ``step_fn`` is for
``distill``, a multi-task run and ``general-distill``.

A batch goes to the student of its task (``batch["task"]``; a single-task run has one student,
under ``None``), the teacher's output for its rows is read from the cache by ``batch["index"]``
(and, for a method that reads token-level layers, completed by a live teacher pass), and the
method turns (batch, student output, teacher output, step) into the loss and its terms, on
perturbed embeddings when the method asks for gradient perturbation. In a data-parallel run the
batch also carries the rows of every process (in-batch negatives over the global batch).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from textdistill.models.outputs import ModelOutput
from textdistill.train.distributed import Dist, global_rows
from textdistill.train.perturbation import step_loss

if TYPE_CHECKING:
    from textdistill.methods.base import Method
    from textdistill.teachers.cache import TeacherOutputs


@dataclass
class DistillStep:
    """``step(trained, batch, step) -> (loss, terms)`` for :func:`textdistill.train.trainer.train`.

    Attributes:
        students: the model each task's batches run (its ``forward(**inputs)`` returns a
            :class:`ModelOutput`; ``input_names`` says which batch keys it reads), by task name,
            ``None`` for the one task of a single-task run.
        teachers: the cached teacher outputs of each task that has a teacher, by the same keys.
        live_teacher: a teacher run on every batch for the hidden states and attentions a cache
            does not hold (``teacher_features == "live"``); ``None`` otherwise.
    """

    students: Mapping[str | None, nn.Module]
    method: Method
    total_steps: int
    device: torch.device
    teachers: Mapping[str | None, TeacherOutputs] = field(default_factory=dict)
    model_kwargs: dict[str, bool] = field(default_factory=dict)
    perturbation: float = 0.0
    live_teacher: nn.Module | None = None
    dist: Dist | None = None

    def __call__(
        self, _trained: nn.Module, batch: dict[str, Tensor], step: int
    ) -> tuple[Tensor, dict[str, float]]:
        task = batch.get("task")
        model = self.students[task]
        inputs = {k: batch[k] for k in model.input_names if k in batch}
        cached = self.teachers.get(task)
        target = cached.lookup(batch["index"].cpu()).to(self.device) if cached is not None else None
        if self.live_teacher is not None and target is not None:
            with torch.no_grad():
                live = self.live_teacher(**inputs, **self.model_kwargs)
            target.hidden_states, target.attentions = live.hidden_states, live.attentions
        if self.dist is not None and self.dist.active:  # the rows of every process's batch
            batch = {**batch, **global_rows(batch["index"], self.dist)}

        def loss_fn(output: ModelOutput) -> tuple[Tensor, dict[str, float]]:
            return self.method.loss(batch, output, target, step, self.total_steps)

        return step_loss(model, {**inputs, **self.model_kwargs}, loss_fn, self.perturbation)
