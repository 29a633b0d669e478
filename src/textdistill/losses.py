"""Loss functions: pure, with shapes, reduction and scaling stated.

All losses return a scalar averaged over the batch.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def hard_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Loss against gold labels: cross-entropy for classes, MSE for regression.

    Args:
        logits: ``(B, C)`` class scores, or ``(B, 1)`` predictions for regression.
        labels: ``(B,)`` class indices (long) or ``(B,)`` scores (float).
    """
    if labels.is_floating_point():
        return F.mse_loss(logits.squeeze(-1), labels)
    return F.cross_entropy(logits, labels)
