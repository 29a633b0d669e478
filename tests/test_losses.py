"""Loss functions: golden values worked out by hand with ``math``, and the properties they must keep."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from textdistill.losses import hard_loss, kd_kl, logit_mse, regression_kd_mse, soft_cross_entropy


def softmax(xs: list[float], temperature: float = 1.0) -> list[float]:
    """Plain-Python softmax of ``xs / T`` (independent of torch)."""
    e = [math.exp(x / temperature) for x in xs]
    z = sum(e)
    return [v / z for v in e]


def kl(p: list[float], q: list[float]) -> float:
    """KL(p || q) = sum_c p_c * log(p_c / q_c)."""
    return sum(pc * math.log(pc / qc) for pc, qc in zip(p, q, strict=True) if pc > 0)


def t(rows: list, **kw) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64, **kw)


# ------------------------------------------------------------------------------------------ hard_loss
def test_hard_loss_cross_entropy_golden() -> None:
    logits = t([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    labels = torch.tensor([2, 0])
    # row 0: -log(e^3 / (e^1 + e^2 + e^3)); row 1: -log(1/3) = log 3; batch mean.
    row0 = math.log(math.exp(1) + math.exp(2) + math.exp(3)) - 3.0
    row1 = math.log(3.0)
    assert hard_loss(logits, labels).item() == pytest.approx((row0 + row1) / 2, rel=1e-12)


def test_hard_loss_regression_golden() -> None:
    logits = t([[0.5], [2.0]])
    labels = t([1.0, 1.0])
    # ((0.5 - 1)^2 + (2 - 1)^2) / 2 = (0.25 + 1) / 2
    assert hard_loss(logits, labels).item() == pytest.approx(0.625, rel=1e-12)


def test_hard_loss_mask_averages_labelled_rows_only() -> None:
    logits = t([[1.0, 2.0, 3.0], [5.0, -5.0, 0.0], [0.0, 0.0, 0.0]])
    labels = torch.tensor([2, -100, 1])  # row 1 is unlabelled: its "label" is junk
    mask = torch.tensor([True, False, True])
    row0 = math.log(math.exp(1) + math.exp(2) + math.exp(3)) - 3.0
    row2 = math.log(3.0)
    assert hard_loss(logits, labels, mask).item() == pytest.approx((row0 + row2) / 2, rel=1e-12)


def test_hard_loss_mask_ignores_out_of_range_and_nan_labels() -> None:
    logits = t([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    out = hard_loss(logits, torch.tensor([0, 99]), torch.tensor([True, False]))
    assert out.item() == pytest.approx(math.log(math.exp(1) + math.exp(2)) - 1.0, rel=1e-12)
    out.backward()
    assert torch.equal(logits.grad[1], torch.zeros(2, dtype=torch.float64))  # no gradient from row 1

    preds = t([[0.5], [7.0]], requires_grad=True)
    out = hard_loss(preds, t([1.0, float("nan")]), torch.tensor([True, False]))
    assert out.item() == pytest.approx(0.25, rel=1e-12)  # (0.5 - 1)^2 over the one labelled row
    out.backward()
    assert torch.isfinite(preds.grad).all()
    assert preds.grad[1].item() == 0.0


def test_hard_loss_fully_masked_is_zero_with_grad() -> None:
    for logits, labels in [
        (t([[1.0, 2.0], [3.0, 4.0]], requires_grad=True), torch.tensor([0, 1])),
        (t([[1.0], [2.0]], requires_grad=True), t([float("nan"), 3.0])),
    ]:
        out = hard_loss(logits, labels, torch.zeros(2, dtype=torch.bool))
        assert out.item() == 0.0
        assert out.grad_fn is not None
        out.backward()
        assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_hard_loss_all_true_mask_equals_unmasked_call() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 4, generator=gen)
    labels = torch.randint(0, 4, (5,), generator=gen)
    full = hard_loss(logits, labels)
    assert full.item() == pytest.approx(F.cross_entropy(logits, labels).item())
    assert hard_loss(logits, labels, torch.ones(5, dtype=torch.bool)).item() == pytest.approx(full.item())
    scores = torch.randn(5, generator=gen)
    preds = torch.randn(5, 1, generator=gen)
    assert hard_loss(preds, scores, torch.ones(5, dtype=torch.bool)).item() == pytest.approx(
        hard_loss(preds, scores).item()
    )


def test_hard_loss_rejects_bad_mask_shape() -> None:
    with pytest.raises(ValueError, match="mask"):
        hard_loss(torch.zeros(3, 2), torch.tensor([0, 1, 0]), torch.tensor([True, False]))


# ------------------------------------------------------------------------------------------ kd_kl
def test_kd_kl_golden_two_classes() -> None:
    student = t([[0.0, 0.0]])
    teacher = t([[math.log(3.0), 0.0]])
    # T = 1: p = (3/4, 1/4), q = (1/2, 1/2); KL = 3/4 log(3/2) + 1/4 log(1/2).
    expected = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert kd_kl(student, teacher, 1.0).item() == pytest.approx(expected, rel=1e-12)
    # T = 2: p = (sqrt3, 1) / (sqrt3 + 1), q still uniform; KL = sum p log(2p); times T^2 = 4.
    r3 = math.sqrt(3.0)
    p = [r3 / (r3 + 1), 1 / (r3 + 1)]
    expected_t2 = p[0] * math.log(2 * p[0]) + p[1] * math.log(2 * p[1])
    assert kd_kl(student, teacher, 2.0, scale_t2=False).item() == pytest.approx(expected_t2, rel=1e-12)
    assert kd_kl(student, teacher, 2.0).item() == pytest.approx(4 * expected_t2, rel=1e-12)


def test_kd_kl_golden_is_batch_mean_of_row_kls() -> None:
    s = [[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]
    tt = [[3.0, 1.0, 0.0], [0.0, 0.0, 2.0]]
    temp = 3.0
    rows = [kl(softmax(tr, temp), softmax(sr, temp)) for sr, tr in zip(s, tt, strict=True)]
    expected = temp**2 * (rows[0] + rows[1]) / 2  # sum over classes, mean over the 2 rows
    assert kd_kl(t(s), t(tt), temp).item() == pytest.approx(expected, rel=1e-12)


def test_kd_kl_nonnegative_and_zero_iff_equal() -> None:
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):
        s, tt = torch.randn(6, 5, generator=gen) * 3, torch.randn(6, 5, generator=gen) * 3
        assert kd_kl(s, tt, 2.0).item() > 0.0  # distinct random rows: strictly positive
    s = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    assert kd_kl(s, s.clone(), 2.0).item() == pytest.approx(0.0, abs=1e-12)
    # softmax ignores a per-row shift, so shifted teacher logits are the same distribution
    assert kd_kl(s, s + 7.0, 4.0).item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("temp", [0.5, 1.0, 2.0, 5.0])
def test_kd_kl_t2_scaling_is_exact(temp: float) -> None:
    gen = torch.Generator().manual_seed(2)
    s = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    tt = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    scaled, raw = kd_kl(s, tt, temp, scale_t2=True), kd_kl(s, tt, temp, scale_t2=False)
    assert raw.item() > 0
    assert scaled.item() == pytest.approx(temp * temp * raw.item(), rel=1e-12)


@pytest.mark.parametrize("temp", [1.0, 2.0, 4.0])
def test_kd_kl_gradient_matches_hinton_formula(temp: float) -> None:
    """d/ds [T^2 * batchmean KL] = T * (softmax(s/T) - softmax(t/T)) / B (Hinton et al. 2015, eq. 2)."""
    gen = torch.Generator().manual_seed(3)
    batch = 4
    s = torch.randn(batch, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    tt = torch.randn(batch, 3, generator=gen, dtype=torch.float64)
    kd_kl(s, tt, temp).backward()
    expected = torch.tensor(
        [
            [temp * (q - p) / batch for q, p in zip(softmax(sr, temp), softmax(tr, temp), strict=True)]
            for sr, tr in zip(s.detach().tolist(), tt.tolist(), strict=True)
        ],
        dtype=torch.float64,
    )
    assert torch.allclose(s.grad, expected, rtol=1e-10, atol=1e-12)
    # and the autograd gradient agrees with central finite differences
    s2 = s.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: kd_kl(x, tt, temp), (s2,))


# ------------------------------------------------------------------------------------------ soft CE
def test_soft_cross_entropy_golden() -> None:
    p = [0.7, 0.2, 0.1]
    s = [1.0, 0.0, -1.0]
    q = softmax(s, 2.0)
    expected = -sum(pc * math.log(qc) for pc, qc in zip(p, q, strict=True))
    assert soft_cross_entropy(t([s]), t([p]), temperature=2.0).item() == pytest.approx(expected, rel=1e-12)
    # batch mean: a second row with a one-hot target adds -log q[label]
    s2, p2 = [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]
    both = soft_cross_entropy(t([s, s2]), t([p, p2]), temperature=2.0).item()
    assert both == pytest.approx((expected + math.log(3.0)) / 2, rel=1e-12)


@pytest.mark.parametrize("temp", [1.0, 3.0])
def test_soft_cross_entropy_is_kl_plus_teacher_entropy(temp: float) -> None:
    gen = torch.Generator().manual_seed(4)
    s = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    tt = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    p = torch.softmax(tt / temp, dim=-1)
    entropy = -(p * p.log()).sum(-1).mean()
    ce = soft_cross_entropy(s, p, temperature=temp)
    assert entropy.item() > 0
    assert ce.item() == pytest.approx(kd_kl(s, tt, temp, scale_t2=False).item() + entropy.item(), rel=1e-12)


def test_soft_cross_entropy_one_hot_equals_hard_cross_entropy() -> None:
    logits = t([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    labels = torch.tensor([2, 0])
    one_hot = F.one_hot(labels, 3).to(torch.float64)
    assert soft_cross_entropy(logits, one_hot).item() == pytest.approx(hard_loss(logits, labels).item())


# ------------------------------------------------------------------------------------------ MSE losses
def test_logit_mse_golden_is_mean_over_batch_and_classes() -> None:
    s = t([[1.0, 2.0], [3.0, 4.0]])
    tt = t([[0.0, 2.0], [1.0, 5.0]])
    # differences 1, 0, 2, -1 -> squares 1, 0, 4, 1 -> sum 6 over B*C = 4 entries
    assert logit_mse(s, tt).item() == pytest.approx(6 / 4, rel=1e-12)


def test_regression_kd_mse_golden_and_no_broadcast() -> None:
    student = t([[1.0], [2.0], [3.0]])
    teacher = t([1.0, 1.0, 1.0])
    # (0^2 + 1^2 + 2^2) / 3; a (3,1)-vs-(3,) broadcast would instead average a 3x3 table.
    assert regression_kd_mse(student, teacher).item() == pytest.approx(5 / 3, rel=1e-12)
    assert regression_kd_mse(student.squeeze(-1), teacher.unsqueeze(-1)).item() == pytest.approx(5 / 3)
    assert regression_kd_mse(student, teacher.unsqueeze(-1)).item() == pytest.approx(5 / 3)


# ------------------------------------------------------------------------------------------ input checks
def test_shape_and_temperature_checks() -> None:
    with pytest.raises(ValueError, match="same shape"):
        kd_kl(torch.zeros(2, 3), torch.zeros(2, 2), 1.0)
    with pytest.raises(ValueError, match="same shape"):
        logit_mse(torch.zeros(2, 3), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="same shape"):
        soft_cross_entropy(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"\(B, 1\) or \(B,\)"):
        regression_kd_mse(torch.zeros(2, 3), torch.zeros(2))
    with pytest.raises(ValueError, match="same shape"):
        regression_kd_mse(torch.zeros(2, 1), torch.zeros(3))
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="temperature"):
            kd_kl(torch.zeros(2, 3), torch.zeros(2, 3), bad)
        with pytest.raises(ValueError, match="temperature"):
            soft_cross_entropy(torch.zeros(2, 3), torch.full((2, 3), 1 / 3), bad)
