"""Distillation methods: how they weigh their terms, their regression and mask paths, the registry."""

from __future__ import annotations

import math

import pytest
import torch

from textdistill.errors import TextdistillError
from textdistill.losses import hard_loss, kd_kl, logit_mse, regression_kd_mse
from textdistill.methods import METHODS, Hard, Hinton, Tang, get_method
from textdistill.models.outputs import ModelOutput


def out(logits: torch.Tensor) -> ModelOutput:
    return ModelOutput(logits=logits)


@pytest.fixture
def cls_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Student logits (requires grad), teacher logits, long labels: a 4-row, 3-class batch."""
    gen = torch.Generator().manual_seed(0)
    s = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    tt = torch.randn(4, 3, generator=gen, dtype=torch.float64) * 2
    labels = torch.tensor([0, 2, 1, 2])
    return s, tt, labels


def run(method, batch, s, tt):
    return method.loss(batch, out(s), None if tt is None else out(tt), step=0, total_steps=10)


# ------------------------------------------------------------------------------------------ hand-computed
def test_hinton_golden_one_row() -> None:
    s = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    tt = torch.tensor([[math.log(3.0), 0.0]], dtype=torch.float64)
    loss, terms = run(Hinton(alpha=0.25, temperature=1.0), {"labels": torch.tensor([0])}, s, tt)
    hard = math.log(2.0)  # -log(1/2)
    kl = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)  # KL((3/4, 1/4) || (1/2, 1/2)), T^2 = 1
    assert terms == pytest.approx({"hard": hard, "kl": kl}, rel=1e-12)
    assert loss.item() == pytest.approx(0.25 * hard + 0.75 * kl, rel=1e-12)


def test_tang_golden_one_row() -> None:
    s = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    tt = torch.tensor([[3.0, 0.0]], dtype=torch.float64)
    loss, terms = run(Tang(alpha=0.2), {"labels": torch.tensor([1])}, s, tt)
    hard = math.log(math.exp(1) + math.exp(-1)) + 1.0  # -log softmax(s)[1]
    mse = ((1 - 3) ** 2 + (-1 - 0) ** 2) / 2  # mean over the 2 classes
    assert terms == pytest.approx({"hard": hard, "mse": mse}, rel=1e-12)
    assert loss.item() == pytest.approx(0.2 * hard + 0.8 * mse, rel=1e-12)


# ------------------------------------------------------------------------------------------ weighting
@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
def test_hinton_combines_unweighted_terms(cls_case, alpha: float) -> None:
    s, tt, labels = cls_case
    method = Hinton(alpha=alpha, temperature=3.0)
    loss, terms = run(method, {"labels": labels}, s, tt)
    hard, soft = hard_loss(s, labels).item(), kd_kl(s, tt, 3.0).item()
    assert set(terms) == {"hard", "kl"}
    assert terms["hard"] == pytest.approx(hard, rel=1e-12)
    assert terms["kl"] == pytest.approx(soft, rel=1e-12)  # includes T^2, excludes (1 - alpha)
    assert loss.item() == pytest.approx(alpha * hard + (1 - alpha) * soft, rel=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_tang_combines_unweighted_terms(cls_case, alpha: float) -> None:
    s, tt, labels = cls_case
    loss, terms = run(Tang(alpha=alpha), {"labels": labels}, s, tt)
    hard, mse = hard_loss(s, labels).item(), logit_mse(s, tt).item()
    assert terms == pytest.approx({"hard": hard, "mse": mse}, rel=1e-12)
    assert loss.item() == pytest.approx(alpha * hard + (1 - alpha) * mse, rel=1e-12)


@pytest.mark.parametrize("method", [Hinton(alpha=1.0, temperature=4.0), Tang(alpha=1.0)])
def test_alpha_one_equals_hard(cls_case, method) -> None:
    s, tt, labels = cls_case
    loss, _ = run(method, {"labels": labels}, s, tt)
    (grad,) = torch.autograd.grad(loss, s)
    ref, ref_terms = run(Hard(), {"labels": labels}, s, None)
    (ref_grad,) = torch.autograd.grad(ref, s)
    assert loss.item() == ref.item()
    assert torch.allclose(grad, ref_grad, rtol=0, atol=1e-15)
    assert ref_terms == {"hard": pytest.approx(hard_loss(s, labels).item())}


def test_alpha_zero_is_the_pure_soft_term(cls_case) -> None:
    s, tt, labels = cls_case
    hinton, _ = run(Hinton(alpha=0.0, temperature=2.0), {"labels": labels}, s, tt)
    assert hinton.item() == pytest.approx(kd_kl(s, tt, 2.0).item(), rel=1e-12)
    tang, _ = run(Tang(alpha=0.0), {"labels": labels}, s, tt)
    assert tang.item() == pytest.approx(logit_mse(s, tt).item(), rel=1e-12)
    # and with alpha = 0 the labels cannot matter
    other, _ = run(Hinton(alpha=0.0, temperature=2.0), {"labels": (labels + 1) % 3}, s, tt)
    assert other.item() == pytest.approx(hinton.item(), rel=1e-12)


def test_hinton_gradient_is_the_weighted_sum_of_both_formulas(cls_case) -> None:
    """alpha * (softmax(s) - onehot(y)) / B  +  (1 - alpha) * T * (softmax(s/T) - softmax(t/T)) / B."""
    s, tt, labels = cls_case
    alpha, temp, batch = 0.3, 2.5, s.shape[0]
    loss, _ = run(Hinton(alpha=alpha, temperature=temp), {"labels": labels}, s, tt)
    (grad,) = torch.autograd.grad(loss, s)
    sd = s.detach()
    one_hot = torch.nn.functional.one_hot(labels, 3).to(sd.dtype)
    expected = (
        alpha * (sd.softmax(-1) - one_hot) / batch
        + (1 - alpha) * temp * ((sd / temp).softmax(-1) - (tt / temp).softmax(-1)) / batch
    )
    assert torch.allclose(grad, expected, rtol=1e-10, atol=1e-12)


def test_scale_t2_off_divides_the_soft_term_by_t_squared(cls_case) -> None:
    s, tt, labels = cls_case
    _, on = run(Hinton(temperature=4.0, scale_t2=True), {"labels": labels}, s, tt)
    _, off = run(Hinton(temperature=4.0, scale_t2=False), {"labels": labels}, s, tt)
    assert off["kl"] > 0
    assert on["kl"] == pytest.approx(16.0 * off["kl"], rel=1e-12)


def test_no_gradient_reaches_the_teacher(cls_case) -> None:
    s, tt, labels = cls_case
    for method in (Hinton(), Tang()):
        teacher = tt.clone().requires_grad_(True)
        loss, _ = run(method, {"labels": labels}, s, teacher)
        loss.backward()
        assert teacher.grad is None
        assert s.grad is not None and s.grad.abs().sum() > 0
        s.grad = None


# ------------------------------------------------------------------------------------------ regression
def test_regression_path_uses_mse_to_teacher_prediction() -> None:
    s = torch.tensor([[1.0], [2.0], [4.0]], dtype=torch.float64, requires_grad=True)
    tt = torch.tensor([[1.5], [2.0], [3.0]], dtype=torch.float64)
    labels = torch.tensor([1.0, 3.0, 4.0], dtype=torch.float64)
    hard = (0.0**2 + 1.0**2 + 0.0**2) / 3  # (s - y)^2 averaged
    soft = (0.5**2 + 0.0**2 + 1.0**2) / 3  # (s - t)^2 averaged
    for method in (Hinton(alpha=0.4, temperature=1.0), Hinton(alpha=0.4, temperature=7.0), Tang(alpha=0.4)):
        loss, terms = run(method, {"labels": labels}, s, tt)
        assert terms == pytest.approx({"hard": hard, "mse": soft}, rel=1e-12)
        assert loss.item() == pytest.approx(0.4 * hard + 0.6 * soft, rel=1e-12)
    loss, terms = run(Hard(), {"labels": labels}, s, None)
    assert terms == pytest.approx({"hard": hard}, rel=1e-12)
    assert regression_kd_mse(s, tt).item() == pytest.approx(soft)


def test_label_dtype_must_fit_the_logit_width(cls_case) -> None:
    s, tt, _ = cls_case
    with pytest.raises(TextdistillError, match=r"float scores|class indices"):
        run(Hinton(), {"labels": torch.tensor([0.5, 1.0, 0.0, 2.0])}, s, tt)
    with pytest.raises(TextdistillError, match="float scores"):
        run(Tang(), {"labels": torch.tensor([1, 0])}, torch.zeros(2, 1), torch.zeros(2, 1))


# ------------------------------------------------------------------------------------------ missing labels
def test_unlabelled_batch_trains_on_the_soft_term_only(cls_case) -> None:
    s, tt, _ = cls_case
    for method, soft_name, soft in (
        (Hinton(alpha=0.3, temperature=2.0), "kl", kd_kl(s, tt, 2.0).item()),
        (Tang(alpha=0.3), "mse", logit_mse(s, tt).item()),
    ):
        loss, terms = run(method, {"input_ids": torch.zeros(4, 5, dtype=torch.long)}, s, tt)
        assert terms == pytest.approx({"hard": 0.0, soft_name: soft}, rel=1e-12)
        assert loss.item() == pytest.approx(0.7 * soft, rel=1e-12)
        (grad,) = torch.autograd.grad(loss, s)
        assert grad.abs().sum() > 0


def test_label_mask_keeps_only_labelled_rows_in_the_hard_term(cls_case) -> None:
    s, tt, labels = cls_case
    mask = torch.tensor([True, False, True, False])
    junk = torch.where(mask, labels, torch.tensor(-100))  # unlabelled rows carry junk
    batch = {"labels": junk, "label_mask": mask}
    hard = hard_loss(s[mask], labels[mask]).item()  # the two labelled rows alone
    loss, terms = run(Hinton(alpha=0.5, temperature=2.0), batch, s, tt)
    soft = kd_kl(s, tt, 2.0).item()  # the soft term still uses every row
    assert terms == pytest.approx({"hard": hard, "kl": soft}, rel=1e-12)
    assert loss.item() == pytest.approx(0.5 * hard + 0.5 * soft, rel=1e-12)
    hard_only, _ = run(Hard(), batch, s, None)
    assert hard_only.item() == pytest.approx(hard, rel=1e-12)
    none_labelled = {"labels": junk, "label_mask": torch.zeros(4, dtype=torch.bool)}
    zero, terms = run(Hard(), none_labelled, s, None)
    assert terms == {"hard": 0.0}
    assert zero.grad_fn is not None


def test_hard_needs_labels_and_distillers_need_a_teacher(cls_case) -> None:
    s, _, labels = cls_case
    with pytest.raises(TextdistillError, match="labels"):
        run(Hard(), {}, s, None)
    for method in (Hinton(), Tang()):
        with pytest.raises(TextdistillError, match="teacher"):
            run(method, {"labels": labels}, s, None)


# ------------------------------------------------------------------------------------------ registry
def test_registry_and_method_attributes() -> None:
    from textdistill.methods import HintonCosine, LRCBert

    assert {
        "hard": Hard,
        "hinton": Hinton,
        "hinton_cos": HintonCosine,
        "tang": Tang,
        "lrc_bert": LRCBert,
    } == METHODS
    assert (HintonCosine.name, HintonCosine.uses_layers, HintonCosine.teacher_features) == (
        "hinton_cos",
        True,
        "mean",
    )
    assert (LRCBert.name, LRCBert.needs_teacher) == ("lrc_bert", True)
    assert (Hard.name, Hard.needs_teacher) == ("hard", False)
    assert (Hinton.name, Hinton.needs_teacher) == ("hinton", True)
    assert (Tang.name, Tang.needs_teacher) == ("tang", True)
    assert Hinton() == Hinton(alpha=0.5, temperature=2.0, scale_t2=True)
    assert Tang() == Tang(alpha=0.5)


def test_get_method_builds_with_params() -> None:
    m = get_method("hinton", alpha=0.1, temperature=4.0, scale_t2=False)
    assert isinstance(m, Hinton)
    assert (m.alpha, m.temperature, m.scale_t2) == (0.1, 4.0, False)
    assert isinstance(get_method("Tang", alpha=0.0), Tang)
    assert isinstance(get_method("hard"), Hard)


def test_get_method_errors_name_what_is_valid() -> None:
    with pytest.raises(TextdistillError) as err:
        get_method("kd")
    assert "'kd'" in str(err.value)
    assert all(name in str(err.value) for name in ("hard", "hinton", "tang"))
    with pytest.raises(TextdistillError, match=r"no parameter beta.*alpha, temperature, scale_t2"):
        get_method("hinton", beta=1.0)
    with pytest.raises(TextdistillError, match="no parameters"):
        get_method("hard", alpha=0.5)
    with pytest.raises(TextdistillError, match=r"alpha must be in \[0, 1\]"):
        get_method("tang", alpha=1.5)
    with pytest.raises(TextdistillError, match="temperature must be > 0"):
        get_method("hinton", temperature=0.0)


def test_mtdnn_kd_routes_each_batch_to_its_tasks_method() -> None:
    from textdistill.methods import MTDNNKD, Hard, Hinton
    from textdistill.models.outputs import ModelOutput

    torch.manual_seed(0)
    method = MTDNNKD({"a": Hinton(alpha=0.3, temperature=2.0), "b": Hard()})
    assert method.needs_teacher and not MTDNNKD({"b": Hard()}).needs_teacher
    student, teacher = ModelOutput(logits=torch.randn(4, 3)), ModelOutput(logits=torch.randn(4, 3))
    labels = torch.tensor([0, 2, 1, 0])
    loss, terms = method.loss({"task": "a", "labels": labels}, student, teacher, 0, 10)
    alone, alone_terms = Hinton(alpha=0.3, temperature=2.0).loss({"labels": labels}, student, teacher, 0, 10)
    assert torch.equal(loss, alone) and terms == {f"a/{k}": v for k, v in alone_terms.items()}
    loss, terms = method.loss({"task": "b", "labels": labels}, student, None, 0, 10)
    assert set(terms) == {"b/hard"} and torch.isfinite(loss)


def test_one_distillation_step_for_one_task_or_several() -> None:
    """The step routes a batch by its task to that task's student and cached teacher rows."""
    from textdistill.methods import MTDNNKD, Hard, Hinton
    from textdistill.models.outputs import ModelOutput
    from textdistill.teachers.cache import TeacherOutputs
    from textdistill.train.step import DistillStep

    class Linear(torch.nn.Module):
        input_names = ("x",)

        def __init__(self, classes: int) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(3, classes)

        def forward(self, x: torch.Tensor) -> ModelOutput:
            return ModelOutput(logits=self.layer(x))

    torch.manual_seed(0)
    a, b = Linear(2), Linear(4)
    cached = TeacherOutputs(torch.randn(10, 2), "key", from_cache=True)
    step = DistillStep(
        {"a": a, "b": b},
        MTDNNKD({"a": Hinton(), "b": Hard()}),
        10,
        torch.device("cpu"),
        teachers={"a": cached},
    )
    batch = {
        "x": torch.randn(3, 3),
        "index": torch.tensor([7, 1, 4]),
        "labels": torch.tensor([0, 1, 1]),
        "task": "a",
    }
    loss, terms = step(None, batch, 0)
    expected, _ = Hinton().loss(batch, a(batch["x"]), ModelOutput(logits=cached.logits[[7, 1, 4]]), 0, 10)
    assert torch.allclose(loss, expected) and set(terms) == {"a/hard", "a/kl"}
    loss, terms = step(None, {**batch, "labels": torch.tensor([0, 3, 2]), "task": "b"}, 0)
    assert set(terms) == {"b/hard"}
    single = DistillStep({None: a}, Hinton(), 10, torch.device("cpu"), teachers={None: cached})
    no_task = {k: v for k, v in batch.items() if k != "task"}
    assert torch.allclose(single(None, no_task, 0)[0], expected)
