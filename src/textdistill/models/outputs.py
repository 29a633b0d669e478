"""The one output contract of every teacher and student."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class ModelOutput:
    """What a model returns.

    Attributes:
        logits: ``(B, C)`` class scores, or ``(B, 1)`` predictions for regression.
        hidden_states: when asked, one ``(B, L, H)`` tensor per layer; index 0 is the embedding
            output, index ``i`` the output of layer ``i``.
        attentions: when asked, one ``(B, heads, L, L)`` tensor per layer.
        embeddings: when asked, the ``(B, L, H)`` embedding output (the tensor that gradient
            perturbation differentiates against).
        layer_features: ``(B, n_layers, H)``, one pooled representation per layer (layers
            ``1..n``, see :func:`textdistill.models.features.pool`); what the teacher cache keeps
            for intermediate-layer methods instead of whole hidden states.
    """

    logits: Tensor
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None
    embeddings: Tensor | None = None
    layer_features: Tensor | None = None

    def to(self, device: str | torch.device) -> ModelOutput:
        """The same output with every tensor on ``device`` (cached teacher outputs live on the CPU)."""

        def move(x: Tensor | tuple[Tensor, ...] | None) -> Tensor | tuple[Tensor, ...] | None:
            if x is None:
                return None
            return tuple(t.to(device) for t in x) if isinstance(x, tuple) else x.to(device)

        return ModelOutput(
            move(self.logits),
            move(self.hidden_states),
            move(self.attentions),
            move(self.embeddings),
            move(self.layer_features),
        )
