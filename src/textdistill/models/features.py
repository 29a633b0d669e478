"""From a layer's token states to the representation an intermediate-layer loss compares.

:func:`layer_map` pairs student layers with teacher layers (the uniform mapping of TinyBERT and
LRC-BERT); :func:`pool` reduces a layer's ``(B, L, H)`` token states to one row per example.
"""

from __future__ import annotations

from torch import Tensor

POOLINGS = ("mean", "cls", "token")


def layer_map(student_layers: int, teacher_layers: int) -> list[int]:
    """The teacher layer (1-based, as ``hidden_states`` indexes it) for student layers ``1..m``.

    Student layer ``i`` reads teacher layer ``floor(i * n / m)`` (``n`` teacher, ``m`` student
    layers), so the last student layer always meets the last teacher layer; when ``n / m`` is a
    whole number this is exactly the paper's ``i * n / m``. A 4-layer student of a 6-layer teacher
    gets ``[1, 3, 4, 6]``.
    """
    if not 0 < student_layers <= teacher_layers:
        raise ValueError(
            f"the layer mapping needs 1 <= student layers <= teacher layers; got {student_layers} "
            f"student and {teacher_layers} teacher layers"
        )
    return [i * teacher_layers // student_layers for i in range(1, student_layers + 1)]


def pool(hidden: Tensor, mask: Tensor, pooling: str) -> Tensor:
    """One representation per example from token states.

    Args:
        hidden: ``(B, L, H)`` a layer's output.
        mask: ``(B, L)``, 1 on real tokens, 0 on padding.
        pooling: ``"mean"`` (average of the real tokens), ``"cls"`` (the first token), or
            ``"token"`` (every token: the ``(L, H)`` matrix flattened, padding set to 0).

    Returns:
        ``(B, H)`` for ``mean`` and ``cls``; ``(B, L * H)`` for ``token``.
    """
    m = mask.to(hidden.dtype).unsqueeze(-1)  # (B, L, 1)
    if pooling == "mean":
        return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "token":
        return (hidden * m).flatten(1)
    raise ValueError(f"unknown pooling {pooling!r}; valid: {', '.join(POOLINGS)}")
