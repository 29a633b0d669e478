"""Gradient perturbation of the embedding output (LRC-BERT, Fu et al. 2021).

One training step in two passes:

1. forward with the student's embedding output ``E`` ``(B, L, H)`` kept; the loss ``L``; its
   gradient ``G = dL/dE`` by ``torch.autograd.grad``, which leaves every parameter's ``.grad``
   untouched;
2. forward again from ``E + epsilon * G / ||G||`` (norm per example, over ``L x H``) and return
   that loss: the caller back-propagates it, so the parameters are updated by the loss on the
   perturbed embeddings only.

The paper adds the gradient to the embeddings without giving a norm or a size; scaling it to a
fixed length ``epsilon`` per example (as in Miyato et al.'s adversarial training for text) makes
the size a setting that means the same on every batch. Costs about two forward passes and one
extra backward to the embeddings.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from textdistill.models.outputs import ModelOutput

LossFn = Callable[[ModelOutput], tuple[Tensor, dict[str, float]]]


def perturbation(gradient: Tensor, epsilon: float) -> Tensor:
    """``epsilon * G / ||G||`` with the L2 norm per example; ``gradient``: ``(B, L, H)``."""
    norm = gradient.flatten(1).norm(dim=1).clamp_min(1e-12)  # (B,)
    return epsilon * gradient / norm.view(-1, *([1] * (gradient.dim() - 1)))


def perturbed_step(
    model: nn.Module, inputs: dict[str, Tensor], loss_fn: LossFn, epsilon: float
) -> tuple[Tensor, dict[str, float]]:
    """The loss on embeddings moved by ``epsilon`` along the loss gradient (see module doc).

    ``model`` takes ``inputs`` plus ``output_hidden_states`` and ``embedding_delta`` and returns a
    :class:`ModelOutput` with ``embeddings``; ``loss_fn`` turns an output into ``(loss, terms)``.
    Terms are those of the perturbed pass, plus ``loss_clean`` (the loss before perturbation).
    """
    inputs = {**inputs, "output_hidden_states": True}  # the embeddings come with the hidden states
    clean = model(**inputs)
    loss, _ = loss_fn(clean)
    (gradient,) = torch.autograd.grad(loss, clean.embeddings)
    delta = perturbation(gradient, epsilon).detach()
    perturbed = model(**inputs, embedding_delta=delta)
    loss_p, terms = loss_fn(perturbed)
    return loss_p, {**terms, "loss_clean": loss.item()}


def step_loss(
    model: nn.Module, inputs: dict[str, Tensor], loss_fn: LossFn, epsilon: float = 0.0
) -> tuple[Tensor, dict[str, float]]:
    """A training step's loss: on perturbed embeddings when ``epsilon`` > 0, else plain."""
    if epsilon > 0:
        return perturbed_step(model, inputs, loss_fn, epsilon)
    return loss_fn(model(**inputs))
