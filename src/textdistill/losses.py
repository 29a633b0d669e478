"""Loss functions: pure, with shapes, reduction and scaling stated.

All losses return a scalar averaged over the batch (``B`` rows). None of them detaches anything:
a caller that must not send gradient into a teacher passes detached teacher tensors (the methods
in :mod:`textdistill.methods` do).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def hard_loss(logits: Tensor, labels: Tensor, mask: Tensor | None = None) -> Tensor:
    """Loss against gold labels: cross-entropy for classes, MSE for regression.

    Args:
        logits: ``(B, C)`` class scores, or ``(B, 1)`` predictions for regression.
        labels: ``(B,)`` class indices (long) or ``(B,)`` scores (float). The dtype chooses the
            loss: floating-point labels mean regression.
        mask: optional ``(B,)`` boolean, ``True`` where the row has a label. Labels of unmasked
            rows are never read (they may hold anything: 0, -100, NaN).

    Returns:
        Scalar: the mean over the labelled rows of the per-row cross-entropy ``-log softmax(z)[y]``
        (classes) or squared error ``(z - y)^2`` (regression). Without ``mask`` every row counts,
        exactly as ``F.cross_entropy`` / ``F.mse_loss`` with their default mean reduction. When no
        row is labelled the result is ``0`` and still has a ``grad_fn`` (its gradient is zero), so
        a training step can back-propagate it unconditionally.

    No temperature and no scaling. Reference: the "hard target" objective of Hinton, Vinyals &
    Dean (2015), "Distilling the Knowledge in a Neural Network", arXiv:1503.02531.
    """
    if labels.dim() == 2:  # multi-label: (B, C) 0 / 1 targets
        return multi_label_bce(logits, labels, mask)
    regression = labels.is_floating_point()
    if mask is None:
        if regression:
            return F.mse_loss(logits.squeeze(-1), labels)
        return F.cross_entropy(logits, labels)

    mask = mask.to(device=logits.device, dtype=torch.bool)
    if mask.shape != labels.shape[:1] or labels.dim() != 1:
        raise ValueError(
            f"mask must be (B,) like labels; got mask {tuple(mask.shape)}, labels {tuple(labels.shape)}"
        )
    # Give unlabelled rows a harmless label so that no NaN / out-of-range index reaches the loss.
    safe = torch.where(mask, labels, torch.zeros_like(labels))
    if regression:
        per_row = (_as_column(logits, "logits") - safe) ** 2
    else:
        per_row = F.cross_entropy(logits, safe, reduction="none")
    kept = torch.where(mask, per_row, torch.zeros_like(per_row))
    return kept.sum() / mask.sum().clamp(min=1)


def multi_label_bce(logits: Tensor, targets: Tensor, mask: Tensor | None = None) -> Tensor:
    """Binary cross-entropy of each label's sigmoid against 0 / 1 (or soft) targets: the hard loss
    of a multi-label task, where a text carries any number of the ``C`` labels.

    ``mean_{b labelled} mean_c BCE(sigmoid(z[b, c]), y[b, c])``

    Args:
        logits: ``(B, C)``, one independent logit per label.
        targets: ``(B, C)`` float in [0, 1].
        mask: optional ``(B,)`` bool, ``True`` where the row has gold labels; other rows are never
            read.

    Returns:
        Scalar: mean over labels, then over the labelled rows (``F.binary_cross_entropy_with_logits``
        with its mean reduction when every row counts); ``0`` with a ``grad_fn`` when none does.
    """
    _check_same_shape(logits, targets, "logits", "targets")
    if mask is None:
        return F.binary_cross_entropy_with_logits(logits, targets)
    mask = mask.to(device=logits.device, dtype=torch.bool)
    safe = torch.where(mask[:, None], targets, torch.zeros_like(targets))
    per_row = F.binary_cross_entropy_with_logits(logits, safe, reduction="none").mean(dim=-1)
    kept = torch.where(mask, per_row, torch.zeros_like(per_row))
    return kept.sum() / mask.sum().clamp(min=1)


def sigmoid_kd(
    student_logits: Tensor, teacher_logits: Tensor, temperature: float, scale_t2: bool = True
) -> Tensor:
    """Knowledge distillation of a multi-label teacher: each label's softened sigmoid matched.

    ``T^2 * mean_b mean_c KL( Bernoulli(sigmoid(t[b, c] / T)) || Bernoulli(sigmoid(s[b, c] / T)) )``

    Each label of a multi-label model is a binary decision, and a sigmoid is the softmax of two
    classes whose logits are ``z`` and ``0``: ``sigmoid(z / T) = softmax([z, 0] / T)[0]``. So
    Hinton et al.'s softening applies to each label unchanged, and so does their ``T^2`` (the
    gradient w.r.t. ``s`` is ``T * (sigmoid(s / T) - sigmoid(t / T)) / (B C)`` with it, of a size
    that does not shrink as ``T`` grows). A label the teacher is unsure of (``t`` near 0) passes its
    doubt on; at a high ``T`` every target drifts to 0.5, so moderate temperatures (1 to 4) suit it.
    This per-label binary KD is the one used for multi-label distillation by e.g. Liu et al. (2018),
    "Multi-Label Image Classification via Knowledge Distillation from Weakly-Supervised Detection"
    (arXiv:1809.05884), as the natural extension of Hinton, Vinyals & Dean (2015), arXiv:1503.02531.

    Args:
        student_logits: ``(B, C)``.
        teacher_logits: ``(B, C)``.
        temperature: ``T > 0``, dividing both sides.
        scale_t2: multiply by ``T^2`` (default).

    Returns:
        Scalar ``>= 0`` (mean over labels and rows), ``0`` exactly when the softened sigmoids agree.
    """
    _check_same_shape(student_logits, teacher_logits, "student_logits", "teacher_logits")
    _check_temperature(temperature)
    s, t = student_logits / temperature, teacher_logits / temperature
    p = torch.sigmoid(t)
    # KL of two Bernoullis = BCE(s; p) - H(p): both from logits, stable for any size of logit
    kl = F.binary_cross_entropy_with_logits(s, p, reduction="none") - F.binary_cross_entropy_with_logits(
        t, p, reduction="none"
    )
    loss = kl.mean()
    return loss * (temperature**2) if scale_t2 else loss


def soft_cross_entropy(student_logits: Tensor, teacher_probs: Tensor, temperature: float = 1.0) -> Tensor:
    """Cross-entropy of the student's softened distribution against given teacher probabilities.

    ``mean_b  - sum_c  p[b, c] * log softmax(s[b] / T)[c]``

    Args:
        student_logits: ``(B, C)``.
        teacher_probs: ``(B, C)``, each row a distribution (non-negative, summing to 1), e.g. the
            average of several teachers' softened probabilities (an ensemble soft target). It is
            used as given: the temperature is applied to the student only.
        temperature: ``T > 0`` dividing the student logits.

    Returns:
        Scalar, batch mean (sum over classes, mean over rows). No mask. Not multiplied by ``T^2``:
        a caller mixing it with a hard loss at ``T != 1`` should scale it by ``T^2`` itself
        (Hinton et al. 2015, section 2). It equals ``KL(p || q_s) + H(p)`` with ``q_s`` the
        student's softened distribution, so its minimum is the teacher entropy, not 0.

    Reference: Hinton, Vinyals & Dean (2015), arXiv:1503.02531, the "soft target" objective.
    """
    _check_same_shape(student_logits, teacher_probs, "student_logits", "teacher_probs")
    _check_temperature(temperature)
    log_q = F.log_softmax(student_logits / temperature, dim=-1)
    return -(teacher_probs * log_q).sum(dim=-1).mean()


def kd_kl(
    student_logits: Tensor, teacher_logits: Tensor, temperature: float, scale_t2: bool = True
) -> Tensor:
    """Knowledge-distillation KL between temperature-softened teacher and student distributions.

    ``T^2 * mean_b KL( softmax(t[b] / T) || softmax(s[b] / T) )``

    Args:
        student_logits: ``(B, C)``.
        teacher_logits: ``(B, C)``.
        temperature: ``T > 0``, applied to both sides.
        scale_t2: multiply by ``T^2`` (default). The gradient of the softened KL w.r.t. the
            student logits is ``(q_s - p_t) / T`` per row, so it shrinks as ``1/T^2`` relative to
            a ``T = 1`` loss once the softened distributions are close; ``T^2`` keeps the soft
            term's gradient magnitude comparable across temperatures and against a hard loss
            (Hinton et al. 2015, section 2). With it, ``d loss / d s = T * (q_s - p_t) / B``.

    Returns:
        Scalar: sum over classes, mean over the batch (``reduction="batchmean"``, the
        mathematically correct KL mean; ``"mean"`` would also divide by ``C``). No mask. ``>= 0``,
        ``0`` exactly when both softened distributions agree.

    Reference: Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network",
    arXiv:1503.02531.
    """
    _check_same_shape(student_logits, teacher_logits, "student_logits", "teacher_logits")
    _check_temperature(temperature)
    log_q = F.log_softmax(student_logits / temperature, dim=-1)
    log_p = F.log_softmax(teacher_logits / temperature, dim=-1)
    kl = F.kl_div(log_q, log_p, log_target=True, reduction="batchmean")
    return kl * (temperature**2) if scale_t2 else kl


def logit_mse(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    """Mean squared error between student and teacher logits (no softmax, no temperature).

    ``mean_{b, c} (s[b, c] - t[b, c])^2``

    Args:
        student_logits: ``(B, C)``.
        teacher_logits: ``(B, C)``.

    Returns:
        Scalar, the mean over all ``B * C`` entries (``F.mse_loss`` default), i.e. the paper's
        per-row squared L2 distance ``||t - s||^2`` divided by ``C``, averaged over the batch.
        No mask, no scaling. The mean over classes is what the authors' code does
        (``nn.MSELoss()`` in castorini/d-bert ``dbert/distill/run/distill_birnn.py``).

    Reference: Tang, Lu, Liu, Mou, Vechtomova & Lin (2019), "Distilling Task-Specific Knowledge
    from BERT into Simple Neural Networks", arXiv:1903.12136, section 3.2 (the distillation
    objective on logits).
    """
    _check_same_shape(student_logits, teacher_logits, "student_logits", "teacher_logits")
    return F.mse_loss(student_logits, teacher_logits)


def regression_kd_mse(student_pred: Tensor, teacher_pred: Tensor) -> Tensor:
    """Mean squared error to the teacher's prediction, for regression tasks (e.g. STS-B).

    ``mean_b (s[b] - t[b])^2``

    Args:
        student_pred: ``(B, 1)`` or ``(B,)``.
        teacher_pred: ``(B, 1)`` or ``(B,)``; the two may differ in which of these shapes they
            have (both are flattened to ``(B,)`` first, so no ``(B, B)`` broadcast can happen).

    Returns:
        Scalar, mean over the batch. No mask, no scaling.

    Reference: the regression case of Tang et al. (2019), arXiv:1903.12136, where the teacher's
    predicted score is the distillation target (their code: ``float_score`` in
    ``distill_birnn.py``); it is logit MSE with one "logit".
    """
    s, t = _as_column(student_pred, "student_pred"), _as_column(teacher_pred, "teacher_pred")
    _check_same_shape(s, t, "student_pred", "teacher_pred")
    return F.mse_loss(s, t)


# ------------------------------------------------------------------ intermediate layers
def angular_distance(x: Tensor, y: Tensor, eps: float = 1e-8) -> Tensor:
    """``g(x, y) = 1 - cos(x, y)`` over the last dimension, in ``[0, 2]`` (Fu et al. 2021, eq. 5).

    ``x`` and ``y``: ``(..., D)``, broadcast against each other; returns ``(...)``.
    """
    return 1.0 - F.cosine_similarity(x, y, dim=-1, eps=eps)


def cos_nce(student: Tensor, teacher: Tensor, negatives: Tensor) -> Tensor:
    """COS-NCE, LRC-BERT's contrastive loss on one layer (Fu et al. 2021, "LRC-BERT", AAAI).

    For a student representation ``z_s``, its own teacher representation ``z_t`` and ``K`` teacher
    representations ``n_k`` of other examples, each negative contributes
    ``2 - (g(n_k, z_s) - g(z_t, z_s))`` with ``g`` the angular distance: low when the student is
    close to its teacher and far from the others. The paper sums over negatives; we average over
    them (and over the batch) so that the loss keeps its size, ``[0, 4]``, whatever ``K`` is.

    Args:
        student: ``(B, D)`` the student's (projected) representations.
        teacher: ``(B, D)`` the teacher's representations of the same examples.
        negatives: ``(B, K, D)`` for each row, ``K`` teacher representations of other examples.

    Returns:
        A scalar: the mean over ``B`` and ``K``.
    """
    if student.shape != teacher.shape or student.dim() != 2:
        raise ValueError(
            f"student {tuple(student.shape)} and teacher {tuple(teacher.shape)} must both be (B, D)"
        )
    if (
        negatives.dim() != 3
        or negatives.shape[0] != student.shape[0]
        or negatives.shape[2] != student.shape[1]
    ):
        raise ValueError(
            f"negatives must be (B, K, D) = ({student.shape[0]}, K, {student.shape[1]}); "
            f"got {tuple(negatives.shape)}"
        )
    positive = angular_distance(teacher, student)  # (B,)
    negative = angular_distance(negatives, student.unsqueeze(1))  # (B, K)
    return (2.0 - (negative - positive.unsqueeze(1))).mean()


def cosine_distance(student: Tensor, teacher: Tensor, eps: float = 1e-8) -> Tensor:
    """``1 - cos(student, teacher)`` averaged over the batch: DistilBERT's cosine embedding loss,
    which aligns the directions of the student's and the teacher's hidden states (Sanh et al. 2019,
    "DistilBERT", arXiv:1910.01108, section 2: ``L_cos``). In ``[0, 2]``; 0 when every pair points
    the same way, whatever their norms.

    Args:
        student: ``(B, D)`` the student's (projected) representations.
        teacher: ``(B, D)`` the teacher's representations of the same examples.

    Returns:
        A scalar: the mean over ``B``.
    """
    _check_same_shape(student, teacher, "student", "teacher")
    if student.dim() != 2:
        raise ValueError(f"student and teacher must be (B, D); got {tuple(student.shape)}")
    return (1.0 - F.cosine_similarity(student, teacher, dim=-1, eps=eps)).mean()


def hidden_mse(student: Tensor, teacher: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared error between (projected) student and teacher hidden states (TinyBERT's
    hidden-state loss, Jiao et al. 2020; BERT-PKD's on [CLS], Sun et al. 2019).

    Args:
        student, teacher: ``(B, D)`` pooled representations, or ``(B, L, D)`` token states.
        mask: ``(B, L)`` for token states: 1 on real tokens; padding is left out of the mean.

    Returns:
        A scalar: the mean over the (unmasked) elements.
    """
    _check_same_shape(student, teacher, "student", "teacher")
    if mask is None:
        return F.mse_loss(student, teacher)
    weight = mask.to(student.dtype).unsqueeze(-1)  # (B, L, 1)
    return ((student - teacher) ** 2 * weight).sum() / (weight.sum() * student.shape[-1]).clamp_min(1.0)


def attention_mse(student: Tensor, teacher: Tensor, mask: Tensor) -> Tensor:
    """Mean squared error between attention distributions (TinyBERT's attention loss, on the
    softmax probabilities that Hugging Face models return rather than TinyBERT's raw scores).

    Args:
        student, teacher: ``(B, heads, L, L)`` attention probabilities of one layer each (same
            number of heads).
        mask: ``(B, L)``, 1 on real tokens; rows and columns of padding are left out.

    Returns:
        A scalar: the mean over heads and over (query, key) pairs of real tokens.
    """
    _check_same_shape(student, teacher, "student attention", "teacher attention")
    m = mask.to(student.dtype)
    pairs = (m.unsqueeze(2) * m.unsqueeze(1)).unsqueeze(1)  # (B, 1, L, L)
    return ((student - teacher) ** 2 * pairs).sum() / (pairs.sum() * student.shape[1]).clamp_min(1.0)


# ---------------------------------------------------------------------------- helpers
def _as_column(pred: Tensor, name: str) -> Tensor:
    if pred.dim() == 2 and pred.shape[-1] == 1:
        return pred.squeeze(-1)
    if pred.dim() == 1:
        return pred
    raise ValueError(f"{name} must be (B, 1) or (B,); got {tuple(pred.shape)}")


def _check_same_shape(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} {tuple(a.shape)} and {name_b} {tuple(b.shape)} must have the same shape")


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
