"""The teacher cache: cached equals live, a changed teacher or dataset is never read stale, and a
damaged entry is named and computed again."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer

from textdistill.data.encode import EncodedDataset, make_loader
from textdistill.data.tasks import Example
from textdistill.models.teacher import HFClassifier, predict_logits
from textdistill.teachers.cache import fingerprint, teacher_classes, teacher_outputs, write_entry

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


# ------------------------------------------------------------------------------------ damaged entries


def altered_values(path: Path, logits: torch.Tensor) -> None:
    """The same shape, other values, the old record kept: only the checksum can tell."""
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    save_file({"logits": logits + 1.0}, path, metadata=meta)


def truncated(path: Path, logits: torch.Tensor) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:-40])  # a copy cut short: the header promises more than the file holds


def too_few_rows(path: Path, logits: torch.Tensor) -> None:
    write_entry(path, logits[:-1], None, {})  # a sound entry, for a shorter list of examples


def other_class_count(path: Path, logits: torch.Tensor) -> None:
    write_entry(path, torch.cat([logits, logits[:, :1]], dim=1), None, {})


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (altered_values, "checksum mismatch"),
        (truncated, "does not load: incomplete metadata, file not fully covered"),
        (too_few_rows, "5 rows, expected 6 (one per example)"),
        (other_class_count, "3 classes, the teacher has 2"),
    ],
)
def test_a_damaged_entry_is_named_and_computed_again(
    tiny_bert: Path, isolated_home: Path, damage: Callable[[Path, torch.Tensor], None], reason: str
) -> None:
    first = teacher_outputs(tiny_bert, EXAMPLES, max_length=64)
    (path,) = (isolated_home / "teacher_cache").glob("*.safetensors")
    damage(path, first.logits)
    with pytest.warns(UserWarning) as caught:
        again = teacher_outputs(tiny_bert, EXAMPLES, max_length=64)
    assert [str(w.message) for w in caught] == [
        f"teacher cache: {path} is damaged ({reason}); computing it again"
    ]
    assert not again.from_cache
    torch.testing.assert_close(again.logits, live_logits(tiny_bert, EXAMPLES), rtol=1e-5, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert teacher_outputs(tiny_bert, EXAMPLES, max_length=64).from_cache  # the rebuilt entry is sound


def test_features_asked_for_but_absent_are_computed_again(tiny_bert: Path, isolated_home: Path) -> None:
    first = teacher_outputs(tiny_bert, EXAMPLES, max_length=64, features="mean")
    assert first.features is not None and first.features.shape == (6, 2, 32)
    (path,) = (isolated_home / "teacher_cache").glob("*.safetensors")
    write_entry(path, first.logits, None, {})
    with pytest.warns(UserWarning, match=r"is damaged \(no layer features \(mean pooling asked for\)\)"):
        again = teacher_outputs(tiny_bert, EXAMPLES, max_length=64, features="mean")
    torch.testing.assert_close(again.features, first.features)


def test_an_entry_from_before_checksums_is_checked_and_given_its_record(
    tiny_bert: Path, isolated_home: Path
) -> None:
    first = teacher_outputs(tiny_bert, EXAMPLES, max_length=64)
    (path,) = (isolated_home / "teacher_cache").glob("*.safetensors")
    save_file(
        {"logits": first.logits}, path, metadata={"examples": "6", "max_length": "64"}
    )  # the old layout
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        old = teacher_outputs(tiny_bert, EXAMPLES, max_length=64)
    assert old.from_cache
    torch.testing.assert_close(old.logits, first.logits)
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    assert (
        meta["examples"] == "6"
        and meta["rows"] == "6"
        and meta["classes"] == "2"
        and len(meta["sha256"]) == 64
    )
    save_file({"logits": first.logits[:-1]}, path, metadata={"examples": "5"})  # old and short: refused
    with pytest.warns(UserWarning, match="5 rows, expected 6"):
        assert not teacher_outputs(tiny_bert, EXAMPLES, max_length=64).from_cache


def test_the_class_count_comes_from_the_config(tiny_bert: Path, tmp_path: Path) -> None:
    from transformers import BertConfig

    assert teacher_classes(tiny_bert) == 2  # config.json names no labels: transformers' default
    BertConfig(num_labels=1, problem_type="regression").save_pretrained(tmp_path / "score")
    BertConfig(num_labels=6).save_pretrained(tmp_path / "six")
    assert teacher_classes(tmp_path / "score") == 1 and teacher_classes(tmp_path / "six") == 6
    assert teacher_classes(tmp_path / "nothing") is None
