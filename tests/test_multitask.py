"""Multi-task pieces (MT-DNN): the task sampler's proportions and per-epoch coverage, and heads that
receive only their own task's gradients."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
from transformers import AutoModel

from textdistill.data.multitask import TaskSampler
from textdistill.data.tasks import TaskSpec
from textdistill.models.multitask import MultiTaskModel

SIZES = {"big": 40, "mid": 10, "small": 2}


def test_temperature_one_takes_every_batch_once_in_proportion_to_size() -> None:
    sampler = TaskSampler(SIZES, temperature=1.0, seed=0)
    steps = sampler.epoch(0)
    assert Counter(t for t, _ in steps) == SIZES and len(sampler) == 52
    for task, n in SIZES.items():
        assert sorted(b for t, b in steps if t == task) == list(range(n))  # full coverage, once each
    assert steps != sampler.epoch(1) and steps == TaskSampler(SIZES, 1.0, seed=0).epoch(0)
    # tasks are mixed through the epoch, not one after the other
    first_half = Counter(t for t, _ in steps[:26])
    assert first_half["big"] < 26 and first_half["mid"] > 0


def test_a_higher_temperature_flattens_the_shares_and_still_covers_every_batch() -> None:
    sampler = TaskSampler(SIZES, temperature=2.0, seed=1)
    counts = sampler.counts()
    # shares follow n^(1/2): 40 : 10 : 2 -> 6.32 : 3.16 : 1.41, scaled so that "big" keeps its 40
    assert counts == {"big": 40, "mid": 20, "small": 9}
    steps = sampler.epoch(3)
    assert Counter(t for t, _ in steps) == counts
    for task, n in SIZES.items():
        assert set(b for t, b in steps if t == task) == set(range(n))
    small = [b for t, b in steps if t == "small"]
    assert max(Counter(small).values()) - min(Counter(small).values()) <= 1  # repeats spread evenly
    with pytest.raises(ValueError, match=">= 1"):
        TaskSampler(SIZES, temperature=0.5)
    with pytest.raises(ValueError, match="without a batch: none"):
        TaskSampler({"a": 3, "none": 0})


def test_each_head_gets_only_its_own_task_gradients(tiny_bert: Path) -> None:
    encoder = AutoModel.from_pretrained(tiny_bert)
    specs = [
        TaskSpec("sentiment", ("neg", "pos"), ("accuracy",)),
        TaskSpec("score", None, ("pearson",)),
        TaskSpec("trec", ("a", "b", "c"), ("accuracy",)),
    ]
    model = MultiTaskModel(encoder, specs)
    ids = torch.randint(5, 40, (4, 7))
    mask = torch.ones_like(ids)
    out = model("trec", ids, mask)
    assert out.logits.shape == (4, 3) and model("score", ids, mask).logits.shape == (4, 1)
    model.zero_grad(set_to_none=True)
    out.logits.sum().backward()
    assert model.heads["trec"].weight.grad is not None and model.heads["trec"].weight.grad.abs().sum() > 0
    assert model.heads["sentiment"].weight.grad is None and model.heads["score"].weight.grad is None
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())
    with pytest.raises(KeyError, match="no head for task 'mnli'"):
        model("mnli", ids, mask)
    with pytest.raises(ValueError, match="must differ"):
        MultiTaskModel(encoder, [specs[0], specs[0]])
