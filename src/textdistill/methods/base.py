"""What a distillation method is: a small object that turns a batch, the student's output and the
teacher's output into a loss and its unweighted terms. It owns its schedule (a method may weigh
its terms by ``step``); it never runs a model and never owns a loop.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

import torch
from torch import Tensor, nn

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


class MethodHooks:
    """The optional parts of a method, with the defaults of a logits-only method. A method that
    reads the models' inner layers (LRC-BERT) overrides them; the trainer calls them on every
    method, so none is found by duck typing.

    * ``uses_layers``: ``setup`` must be called with the student's and teacher's sizes;
    * ``teacher_features``: what the teacher must provide beyond logits (``"mean"``/``"cls"``:
      pooled layers, cached; ``"live"``: the teacher runs every step; ``None``: logits only);
    * ``needs_logits``: the method regresses the teacher's logits themselves (Tang's MSE), so an
      ensemble teacher must give its members' mean logits, not the log of their mean
      probabilities (what a distribution-matching method such as Hinton's KD takes);
    * ``perturbation``: size of the gradient perturbation of the embeddings (0 = none);
    * ``unused_parameters``: some steps leave parameters without a gradient (LRC-BERT's first
      stage never reaches the classifier), so data-parallel training must look for them;
    * ``model_kwargs()``: extra outputs the student must return;
    * ``setup(...)``: the modules the method trains beside the student (projections);
    * ``generators()``: RNGs of the method that a resumable checkpoint must carry, by name.
    """

    uses_layers: ClassVar[bool] = False
    teacher_features: ClassVar[str | None] = None
    needs_logits: ClassVar[bool] = False
    perturbation: ClassVar[float] = 0.0
    unused_parameters: ClassVar[bool] = False

    def model_kwargs(self) -> dict[str, bool]:
        return {}

    def setup(
        self,
        student_layers: int,
        student_hidden: int,
        teacher_layers: int,
        teacher_hidden: int,
        bank: Tensor | None = None,
    ) -> nn.Module | None:
        return None

    def generators(self) -> dict[str, torch.Generator]:
        return {}
