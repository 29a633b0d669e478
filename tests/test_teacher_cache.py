"""The teacher cache: cached equals live, and a changed teacher or dataset is never read stale."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer

from textdistill.data.encode import EncodedDataset, make_loader
from textdistill.data.tasks import Example
from textdistill.models.teacher import HFClassifier, predict_logits
from textdistill.teachers.cache import fingerprint, teacher_outputs

EXAMPLES = [
    Example(t, None, i % 2)
    for i, t in enumerate(
        ["good film", "a bad , awful plot", "the acting was great", "not very good", "what a movie", "bad"]
    )
]


def live_logits(folder: Path, examples: list[Example]) -> torch.Tensor:
    tok = AutoTokenizer.from_pretrained(folder)
    loader = make_loader(EncodedDataset(examples, tok, 64), tok, batch_size=2)
    return predict_logits(HFClassifier.from_pretrained(str(folder)), loader)


def test_cached_equals_live_and_second_call_reads_disk(tiny_bert: Path, isolated_home: Path) -> None:
    first = teacher_outputs(tiny_bert, EXAMPLES, max_length=64, batch_size=4)
    assert not first.from_cache
    live = live_logits(tiny_bert, EXAMPLES)
    torch.testing.assert_close(first.logits, live, rtol=1e-5, atol=1e-5)  # length-sorted batches, same rows
    second = teacher_outputs(tiny_bert, EXAMPLES, max_length=64)
    assert second.from_cache and second.fingerprint == first.fingerprint
    torch.testing.assert_close(second.logits, live, rtol=1e-5, atol=1e-5)
    assert len(list((isolated_home / "teacher_cache").glob("*.safetensors"))) == 1
    rows = second.lookup(torch.tensor([4, 0]))
    torch.testing.assert_close(rows.logits, live[[4, 0]])


def test_labels_do_not_matter_but_texts_and_length_do(tiny_bert: Path) -> None:
    key = fingerprint(tiny_bert, EXAMPLES, 64)
    relabelled = [Example(e.text, None, 1 - int(e.label)) for e in EXAMPLES]
    assert fingerprint(tiny_bert, relabelled, 64) == key
    assert fingerprint(tiny_bert, [*EXAMPLES[:-1], Example("bad !")], 64) != key
    assert fingerprint(tiny_bert, EXAMPLES[::-1], 64) != key  # row order is part of the key
    assert fingerprint(tiny_bert, EXAMPLES, 32) != key
    pairs = [Example(e.text, "yes") for e in EXAMPLES]
    assert fingerprint(tiny_bert, pairs, 64) != key


def test_changed_teacher_weights_rebuild_the_cache(tiny_bert: Path, tmp_path: Path) -> None:
    teacher = tmp_path / "teacher"
    shutil.copytree(tiny_bert, teacher)
    before = teacher_outputs(teacher, EXAMPLES, 64)
    weights = load_file(teacher / "model.safetensors")
    weights["classifier.bias"] = weights["classifier.bias"] + 1.0
    save_file(weights, teacher / "model.safetensors", metadata={"format": "pt"})
    after = teacher_outputs(teacher, EXAMPLES, 64)
    assert not after.from_cache and after.fingerprint != before.fingerprint
    torch.testing.assert_close(after.logits, before.logits + 1.0, rtol=1e-4, atol=1e-4)
