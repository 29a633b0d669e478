"""Tang et al. (2019): distil BERT into a small student by regressing the teacher's logits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from textdistill.losses import logit_mse, regression_kd_mse
from textdistill.methods.base import MethodHooks
from textdistill.methods.hard import check_alpha, hard_term, is_regression, require_teacher
from textdistill.models.outputs import ModelOutput


@dataclass(frozen=True)
class Tang(MethodHooks):
    """``loss = alpha * hard + (1 - alpha) * mse``.

    * classification: ``mse = mean_{b,c} (s - t)^2`` over the raw logits (``logit_mse``: no
      softmax, no temperature);
    * regression (logits one column wide, see :mod:`textdistill.methods.hard`): ``mse`` to the
      teacher's predicted score (``regression_kd_mse``).

    ``hard`` is the gold-label loss over the labelled rows, 0 for a batch without labels (fixed
    weights, not renormalised). Terms: ``{"hard": ..., "mse": ...}``, unweighted, so
    ``loss == alpha * hard + (1 - alpha) * mse`` exactly.

    Default ``alpha=0.5`` and its source: the paper writes the objective as
    ``alpha * L_CE + (1 - alpha) * L_distill`` (arXiv:1903.12136, section 3.2). The authors' code
    (castorini/d-bert, ``confs/base.json``: ``ce_lambda = 1``, ``distill_lambda = 1``, used as
    ``distill_lambda * MSE + ce_lambda * CE`` in ``dbert/distill/run/distill_birnn.py``) weighs
    the two terms equally, which is ``alpha = 0.5`` up to an overall factor of 2; for the
    regression task (STS-B, ``float_score``) that code uses the distillation MSE alone
    (``alpha = 0``). Their transfer set is mostly augmented, unlabelled text, for which the paper
    takes the teacher's argmax as the CE label; here unlabelled rows get no hard term instead.

    Reference: Tang, Lu, Liu, Mou, Vechtomova & Lin (2019), "Distilling Task-Specific Knowledge
    from BERT into Simple Neural Networks", arXiv:1903.12136.
    """

    alpha: float = 0.5

    name: ClassVar[str] = "tang"
    needs_teacher: ClassVar[bool] = True
    needs_logits: ClassVar[bool] = True  # an ensemble teacher gives its members' mean logits

    def __post_init__(self) -> None:
        check_alpha(self.name, self.alpha)

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
        mse = regression_kd_mse(s, t) if is_regression(s) else logit_mse(s, t)
        loss = self.alpha * hard + (1.0 - self.alpha) * mse
        return loss, {"hard": hard.item(), "mse": mse.item()}
