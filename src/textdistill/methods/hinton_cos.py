"""Hinton KD plus a cosine term on the text vector, for the students that are not transformers.

``loss = alpha * hard + (1 - alpha) * soft + cosine * (1 - cos(W s, t))`` where ``hard`` and
``soft`` are :class:`~textdistill.methods.hinton.Hinton`'s, ``s`` (B, F) is the student's
penultimate vector (the FC + ReLU output of a BiLSTM or CNN, the layer the classifier reads), ``W``
a linear projection F -> H (trained with the student and dropped after training) and ``t`` (B, H)
the teacher's last layer mean-pooled over its tokens, from the teacher cache. The cosine term is
DistilBERT's ``L_cos`` (Sanh et al. 2019, arXiv:1910.01108, section 2), which aligns the directions
of student and teacher hidden states; here it reaches a student of another architecture through
``W``, as FitNets' hints do (Romero et al. 2015, arXiv:1412.6550).

LRC-BERT (:mod:`textdistill.methods.lrc_bert`) does the layer-by-layer version of this for
transformer students; this method is for the BiLSTM and CNN, whose one text vector has no layer of
the teacher to match but the last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from torch import Tensor, nn

from textdistill.errors import TextdistillError
from textdistill.losses import cosine_distance
from textdistill.methods.base import MethodHooks
from textdistill.methods.hard import require_teacher
from textdistill.methods.hinton import Hinton
from textdistill.models.outputs import ModelOutput


@dataclass
class HintonCosine(MethodHooks):
    """Hinton's loss (``alpha``, ``temperature``, ``scale_t2`` as there) plus ``cosine`` times the
    cosine distance between the projected student vector and the teacher's pooled last layer.

    Call :meth:`setup` once the student and the teacher are known (it builds the projection, the
    module to train beside the student). Terms: Hinton's (``hard``, ``kl`` or ``mse``) and
    ``cos`` (unweighted, in [0, 2]).
    """

    alpha: float = 0.5
    temperature: float = 2.0
    scale_t2: bool = True
    cosine: float = 1.0
    multi_label: bool = False  # the task's (set by the recipe), as Hinton's

    name: ClassVar[str] = "hinton_cos"
    needs_teacher: ClassVar[bool] = True
    uses_layers: ClassVar[bool] = True
    teacher_features: ClassVar[str | None] = "mean"

    kd: Hinton = field(init=False, repr=False)
    projection: nn.Linear | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.kd = Hinton(
            self.alpha, self.temperature, self.scale_t2, self.multi_label
        )  # checks alpha and temperature
        if not self.cosine >= 0:
            raise TextdistillError(f"{self.name}: cosine must be >= 0; got {self.cosine}")

    def model_kwargs(self) -> dict[str, bool]:
        return {"output_features": True}

    def setup(
        self,
        student_layers: int,
        student_hidden: int,
        teacher_layers: int,
        teacher_hidden: int,
        bank: Tensor | None = None,
    ) -> nn.Module:
        """The projection from the student's vector (``student_hidden``) to the teacher's width."""
        self.projection = nn.Linear(student_hidden, teacher_hidden)
        return self.projection

    def loss(
        self,
        batch: dict[str, Tensor],
        student: ModelOutput,
        teacher: ModelOutput | None,
        step: int,
        total_steps: int,
    ) -> tuple[Tensor, dict[str, float]]:
        require_teacher(self.name, teacher)
        if self.projection is None:
            raise TextdistillError(f"{self.name}: call setup() before computing the loss")
        if student.layer_features is None or teacher.layer_features is None:
            raise TextdistillError(f"{self.name}: both models must give their pooled features")
        base, terms = self.kd.loss(batch, student, teacher, step, total_steps)
        s = self.projection(student.layer_features[:, -1])  # (B, H): the student's vector, projected
        cos = cosine_distance(s, teacher.layer_features[:, -1].detach())  # against the teacher's last layer
        return base + self.cosine * cos, {**terms, "cos": cos.item()}
