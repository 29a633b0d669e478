"""LRC-BERT (Fu et al., "LRC-BERT: Latent-representation Contrastive Knowledge Distillation for
Natural Language Understanding", AAAI 2021), and the intermediate-layer baselines it is judged by.

``loss = a * intermediate + b * soft + c * hard`` where

* ``intermediate`` is summed over the student's layers, student layer ``i`` matched to teacher
  layer ``floor(i * n / m)`` (:func:`~textdistill.models.features.layer_map`) through a learned
  linear projection ``W_i`` (student hidden -> teacher hidden; one per layer): COS-NCE
  (:func:`~textdistill.losses.cos_nce`, the paper's), hidden-state MSE (TinyBERT / BERT-PKD
  style, same projection and mapping), attention MSE (TinyBERT), or none;
* ``soft`` = KL between the teacher's and the student's distributions softened by ``temperature``
  (1.1, the paper's; no ``T^2`` factor, which would be 1.21 there), MSE to the teacher's
  prediction for regression; ``hard`` = cross-entropy (MSE) on gold labels;
* ``(a, b, c)`` follow the two-stage schedule: ``stage1_weights`` (1:0:0, the intermediate layers
  alone) for the first ``stage1_fraction`` (80%) of the steps, then ``weights`` (1:1:3). Without an
  intermediate loss, or with ``two_stage: false``, ``weights`` hold from the first step.

Gradient perturbation (``perturbation`` > 0) is applied by the training step
(:func:`textdistill.train.perturbation.perturbed_step`), not here: a method never runs a model.

Choices the paper leaves open, made here and documented:

* Pooling of the token dimension: the paper writes ``g`` between layer outputs without saying how
  an ``(L, H)`` matrix becomes a vector. ``mean`` (masked mean of the tokens) is the default: it
  lets negatives come from a memory bank of cached teacher features of the whole training set.
  ``cls`` is the other cached choice; ``token`` compares whole padded token matrices (flattened),
  needs the teacher live and takes negatives from the batch only.
* Negatives: ``negatives`` = K per example; the other examples of the batch first, then rows drawn
  uniformly from the memory bank (never the example itself), so K does not depend on the batch
  size. The same K examples serve every layer.
* COS-NCE is averaged over negatives, summed over layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import Tensor, nn

from textdistill.errors import TextdistillError
from textdistill.losses import attention_mse, cos_nce, hidden_mse, kd_kl, regression_kd_mse
from textdistill.methods.base import MethodHooks
from textdistill.methods.hard import hard_term, is_regression, require_teacher
from textdistill.models.features import POOLINGS, layer_map, pool
from textdistill.models.outputs import ModelOutput

INTERMEDIATE = ("cos_nce", "hidden_mse", "attention_mse", "none")


@dataclass
class LRCBert(MethodHooks):
    """LRC-BERT's loss and schedule; ``intermediate`` swaps COS-NCE for a baseline or removes it.

    Call :meth:`setup` once the student and the teacher are known: it builds the projections (an
    ``nn.Module`` to train with the student) and takes the memory bank. Terms logged (unweighted):
    the intermediate loss under its name, ``kl``/``mse`` and ``hard`` when their weight is not 0,
    and the schedule: ``stage``, ``w_inter``, ``w_soft``, ``w_hard``.
    """

    intermediate: str = "cos_nce"
    pooling: str = "mean"
    negatives: int = 32
    temperature: float = 1.1
    two_stage: bool = True
    stage1_fraction: float = 0.8
    stage1_weights: tuple[float, float, float] = (1.0, 0.0, 0.0)
    weights: tuple[float, float, float] = (1.0, 1.0, 3.0)
    perturbation: float = 1.0
    seed: int = 0

    name: ClassVar[str] = "lrc_bert"
    needs_teacher: ClassVar[bool] = True
    uses_layers: ClassVar[bool] = True
    unused_parameters: ClassVar[bool] = True

    projections: nn.ModuleList | None = field(default=None, init=False, repr=False)
    mapping: list[int] = field(default_factory=list, init=False, repr=False)
    bank: Tensor | None = field(default=None, init=False, repr=False)
    generator: torch.Generator | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        problems = []
        if self.intermediate not in INTERMEDIATE:
            problems.append(
                f"intermediate must be one of {', '.join(INTERMEDIATE)}; got {self.intermediate!r}"
            )
        if self.pooling not in POOLINGS:
            problems.append(f"pooling must be one of {', '.join(POOLINGS)}; got {self.pooling!r}")
        if self.negatives < 1:
            problems.append(f"negatives must be >= 1; got {self.negatives}")
        if not self.temperature > 0:
            problems.append(f"temperature must be > 0; got {self.temperature}")
        if not 0.0 <= self.stage1_fraction <= 1.0:
            problems.append(f"stage1_fraction must be in [0, 1]; got {self.stage1_fraction}")
        if self.perturbation < 0:
            problems.append(f"perturbation must be >= 0; got {self.perturbation}")
        for name in ("stage1_weights", "weights"):
            value = tuple(getattr(self, name))
            if len(value) != 3 or min(value) < 0:
                problems.append(f"{name} must be three weights >= 0 (intermediate, soft, hard); got {value}")
        if problems:
            raise TextdistillError(f"{self.name}: " + "; ".join(problems))

    # --------------------------------------------------------------------------- what it needs
    @property
    def teacher_features(self) -> str | None:
        """What the teacher must provide beyond logits: a pooling to cache (``mean``/``cls``),
        ``"live"`` (token states or attention maps: the teacher runs every step), or ``None``."""
        if self.intermediate == "none":
            return None
        if self.intermediate == "attention_mse" or self.pooling == "token":
            return "live"
        return self.pooling

    def model_kwargs(self) -> dict[str, bool]:
        """Extra outputs the student (and a live teacher) must return."""
        return {
            "output_hidden_states": True,
            "output_attentions": self.intermediate == "attention_mse",
        }

    def setup(
        self,
        student_layers: int,
        student_hidden: int,
        teacher_layers: int,
        teacher_hidden: int,
        bank: Tensor | None = None,
    ) -> nn.Module:
        """Build the per-layer projections and keep the memory bank ``(N, teacher_layers, H_t)``
        (the cached teacher features of the training set); returns the module to train."""
        self.mapping = layer_map(student_layers, teacher_layers)
        self.projections = nn.ModuleList(nn.Linear(student_hidden, teacher_hidden) for _ in self.mapping)
        self.bank = bank
        self.generator = torch.Generator().manual_seed(self.seed)
        return self.projections

    def generators(self) -> dict[str, torch.Generator]:
        """The sampler of memory-bank negatives (its state goes into resumable checkpoints)."""
        return {} if self.generator is None else {"negatives": self.generator}

    # --------------------------------------------------------------------------------- schedule
    def weights_at(self, step: int, total_steps: int) -> tuple[int, tuple[float, float, float]]:
        """``(stage, (a, b, c))`` for ``step`` (0-based) of ``total_steps``."""
        if self.two_stage and self.intermediate != "none" and step < self.stage1_fraction * total_steps:
            return 1, tuple(self.stage1_weights)
        return 2, tuple(self.weights)

    # ------------------------------------------------------------------------------------- loss
    def loss(
        self,
        batch: dict[str, Tensor],
        student: ModelOutput,
        teacher: ModelOutput | None,
        step: int,
        total_steps: int,
    ) -> tuple[Tensor, dict[str, float]]:
        t_logits = require_teacher(self.name, teacher)
        stage, (a, b, c) = self.weights_at(step, total_steps)
        terms: dict[str, float] = {"stage": stage, "w_inter": a, "w_soft": b, "w_hard": c}
        s = student.logits
        total = s.flatten()[:0].sum()  # 0 in the graph
        if a > 0 and self.intermediate != "none":
            inter = self.intermediate_loss(batch, student, teacher)
            total = total + a * inter
            terms[self.intermediate] = inter.item()
        if b > 0:
            name, soft = (
                ("mse", regression_kd_mse(s, t_logits))
                if is_regression(s)
                else ("kl", kd_kl(s, t_logits, self.temperature, scale_t2=False))
            )
            total = total + b * soft
            terms[name] = soft.item()
        if c > 0:
            hard = hard_term(batch, s)
            total = total + c * hard
            terms["hard"] = hard.item()
        return total, terms

    def intermediate_loss(
        self, batch: dict[str, Tensor], student: ModelOutput, teacher: ModelOutput
    ) -> Tensor:
        """The intermediate loss summed over the mapped layers."""
        if self.projections is None:
            raise TextdistillError(f"{self.name}: call setup() before computing the loss")
        if student.hidden_states is None:
            raise TextdistillError(f"{self.name}: the student must return hidden states")
        mask = batch["attention_mask"]
        total = student.logits.flatten()[:0].sum()
        negatives = self._negative_rows(batch) if self.intermediate == "cos_nce" else None
        for j, t_layer in enumerate(self.mapping):
            if self.intermediate == "attention_mse":
                if student.attentions is None or teacher.attentions is None:
                    raise TextdistillError(f"{self.name}: attention_mse needs attentions from both models")
                s_att, t_att = student.attentions[j], teacher.attentions[t_layer - 1].detach()
                if s_att.shape[1] != t_att.shape[1]:
                    raise TextdistillError(
                        f"attention_mse needs as many heads in the student as in the teacher; got "
                        f"{s_att.shape[1]} and {t_att.shape[1]}"
                    )
                total = total + attention_mse(s_att, t_att, mask)
                continue
            z_s = self.projections[j](student.hidden_states[j + 1])  # (B, L, H_t)
            t_tokens = None
            if teacher.layer_features is not None:
                z_t = teacher.layer_features[:, t_layer - 1].detach()  # (B, H_t)
            else:
                if teacher.hidden_states is None:
                    raise TextdistillError(f"{self.name}: the teacher provided no layer features")
                t_tokens = teacher.hidden_states[t_layer].detach()  # (B, L, H_t)
                z_t = pool(t_tokens, mask, self.pooling)
            if self.intermediate == "hidden_mse":
                if self.pooling == "token" and t_tokens is not None:
                    total = total + hidden_mse(z_s, t_tokens, mask)
                else:
                    total = total + hidden_mse(pool(z_s, mask, self.pooling), z_t)
                continue
            if "global_index" in batch and self.bank is not None:  # the batches of every process
                z_pool = self.bank[batch["global_index"].cpu(), t_layer - 1].to(z_t)  # (G, H_t)
            else:
                z_pool = z_t
            total = total + cos_nce(
                pool(z_s, mask, self.pooling), z_t, self._negatives(z_pool, negatives, t_layer)
            )
        return total

    def _negative_rows(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        """For each row: ``K`` negatives as (in-batch positions ``(B, K1)``, bank rows ``(B, K2)``).

        In-batch positions index the batch, or, in data-parallel training (the batch has
        ``global_index`` ``(G,)``: the rows of every process's batch, and ``global_position``
        ``(B,)``: where this process's rows sit in it), the global batch: K does not shrink with
        the number of processes."""
        index = batch["index"].cpu()
        n = index.shape[0]
        if "global_index" in batch and self.bank is not None:
            size, position = batch["global_index"].shape[0], batch["global_position"].cpu()
        else:
            size, position = n, torch.arange(n)
        k_batch = min(self.negatives, size - 1)
        # row i takes the rows after it, i+1, i+2, ... (mod size): every other row once, none twice
        offsets = torch.arange(1, k_batch + 1)
        in_batch = (position.unsqueeze(1) + offsets.unsqueeze(0)) % size  # (B, K1)
        k_bank = self.negatives - k_batch if self.pooling != "token" else 0
        if k_bank == 0 or self.bank is None:
            return in_batch, None
        drawn = torch.randint(0, self.bank.shape[0] - 1, (n, k_bank), generator=self.generator)
        drawn = drawn + (drawn >= index.unsqueeze(1)).long()  # skip the example itself
        return in_batch, drawn

    def _negatives(self, z_pool: Tensor, rows: tuple[Tensor, Tensor | None], t_layer: int) -> Tensor:
        """``(B, K, H_t)`` negatives of one teacher layer; ``z_pool`` ``(B or G, H_t)``: the
        teacher features of the batch (or of the global batch) that in-batch positions index."""
        in_batch, bank_rows = rows
        parts = [z_pool[in_batch.to(z_pool.device)]]  # (B, K1, H_t)
        if bank_rows is not None:
            parts.append(self.bank[bank_rows, t_layer - 1].to(z_pool))  # (B, K2, H_t)
        return torch.cat(parts, dim=1)
