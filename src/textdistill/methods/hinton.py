"""Hinton et al. (2015) knowledge distillation: hard labels plus temperature-softened KL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from textdistill.errors import TextdistillError
from textdistill.losses import kd_kl, regression_kd_mse, sigmoid_kd
from textdistill.methods.base import MethodHooks
from textdistill.methods.hard import check_alpha, hard_term, is_regression, require_teacher
from textdistill.models.outputs import ModelOutput


@dataclass(frozen=True)
class Hinton(MethodHooks):
    """``loss = alpha * hard + (1 - alpha) * soft``.

    * classification: ``soft = T^2 * KL(softmax(t/T) || softmax(s/T))`` (``kd_kl``; the ``T^2``
      only when ``scale_t2``), term name ``"kl"``;
    * multi-label (``multi_label``): the same per label, on its sigmoid (``sigmoid_kd``: a sigmoid
      is a two-class softmax, so the temperature and ``T^2`` apply unchanged), term name ``"kl"``;
    * regression (logits one column wide, see :mod:`textdistill.methods.hard`): a softmax over one
      value is constant, so ``soft = MSE(s, t)`` to the teacher's prediction
      (``regression_kd_mse``), term name ``"mse"``; ``temperature`` is unused.

    ``hard`` is the gold-label loss over the labelled rows; it is 0 for a batch without labels, so
    such a batch trains on ``(1 - alpha) * soft`` only (the weights are fixed, not renormalised).
    Terms: ``{"hard": ..., "kl" or "mse": ...}``, each as its loss function returns it (the ``kl``
    term includes ``T^2``), so ``loss == alpha * hard + (1 - alpha) * soft`` exactly.

    Defaults and sources:

    * ``temperature=2.0``: the DistilBERT distillation script's default (``--temperature 2.0`` in
      huggingface ``examples/research_projects/distillation/train.py``; Sanh et al. 2019,
      arXiv:1910.01108). Hinton et al. use T from 1 to 20 and report intermediate T working best
      for small students.
    * ``alpha=0.5``: equal weights, the usual default of Trainer-based BERT distillation recipes
      (and that script's ``--alpha_ce 0.5`` weight on the KD term). Hinton et al. (2015, section
      2) found a "considerably lower weight" on the hard term best, i.e. ``alpha < 0.5``: worth
      sweeping.
    * ``scale_t2=True``: Hinton et al. (2015, section 2) multiply the soft term by ``T^2`` so its
      gradients keep their size when T changes.

    Reference: Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network",
    arXiv:1503.02531.
    """

    alpha: float = 0.5
    temperature: float = 2.0
    scale_t2: bool = True
    multi_label: bool = False  # the task's (set by the recipe): per-label sigmoids, not one softmax

    name: ClassVar[str] = "hinton"
    needs_teacher: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_alpha(self.name, self.alpha)
        if not self.temperature > 0:
            raise TextdistillError(f"{self.name}: temperature must be > 0; got {self.temperature}")

    def loss(
        self,
        batch: dict[str, Tensor],
        student: ModelOutput,
        teacher: ModelOutput | None,
        step: int,
        total_steps: int,
    ) -> tuple[Tensor, dict[str, float]]:
        s = student.logits
        t = require_teacher(self.name, teacher)
        hard = hard_term(batch, s)
        if is_regression(s):
            soft_name, soft = "mse", regression_kd_mse(s, t)
        elif self.multi_label:
            soft_name, soft = "kl", sigmoid_kd(s, t, self.temperature, self.scale_t2)
        else:
            soft_name, soft = "kl", kd_kl(s, t, self.temperature, self.scale_t2)
        loss = self.alpha * hard + (1.0 - self.alpha) * soft
        return loss, {"hard": hard.item(), soft_name: soft.item()}
