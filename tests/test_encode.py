"""Tokenisation with dynamic padding, length grouping, and the word vocabulary."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer

from textdistill.data.encode import EncodedDataset, WordVocab, make_loader, words
from textdistill.data.tasks import Example


def test_batches_are_padded_to_their_own_longest_row(tiny_bert: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    examples = [
        Example("good"),
        Example("the film was very very good and great", None, 1),
        Example("bad film"),
    ]
    ds = EncodedDataset(examples, tok, max_length=6)
    assert ds.lengths == [3, 6, 4]  # [CLS] good [SEP]; truncated to 6; [CLS] bad film [SEP]
    assert tok.convert_ids_to_tokens(ds[0]["input_ids"]) == ["[CLS]", "good", "[SEP]"]
    batch = next(iter(make_loader(ds, tok, batch_size=2)))
    assert batch["input_ids"].shape == (2, 6)
    assert batch["attention_mask"].tolist()[0] == [1, 1, 1, 0, 0, 0]
    assert batch["index"].tolist() == [0, 1]
    last = list(make_loader(ds, tok, batch_size=2))[1]
    assert last["input_ids"].shape == (1, 4)


def test_pairs_get_segment_ids_and_labels_keep_their_type(tiny_bert: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    ds = EncodedDataset([Example("claim", "evidence", 0.5), Example("yes", "no", 2.0)], tok)
    batch = next(iter(make_loader(ds, tok, batch_size=2)))
    assert batch["labels"].dtype == torch.float32
    assert batch["token_type_ids"][0].tolist() == [0, 0, 0, 1, 1]  # [CLS] claim [SEP] | evidence [SEP]
    ds = EncodedDataset([Example("yes", "no", 1)], tok)
    assert next(iter(make_loader(ds, tok, batch_size=1)))["labels"].dtype == torch.int64


def test_shuffled_loader_is_seeded_and_groups_by_length(tiny_bert: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    examples = [Example(" ".join(["good"] * n), None, 0) for n in range(1, 41)]
    ds = EncodedDataset(examples, tok)

    def order(seed: int) -> list[int]:
        return [i for b in make_loader(ds, tok, 4, shuffle=True, seed=seed) for i in b["index"].tolist()]

    assert order(1) == order(1) and order(1) != order(2)
    assert sorted(order(1)) == list(range(40))  # every example once per epoch
    padded = sum(b["input_ids"].numel() for b in make_loader(ds, tok, 4, shuffle=True, seed=1))
    plain = sum(
        b["input_ids"].numel() for b in make_loader(ds, tok, 4, shuffle=True, seed=1, group_by_length=False)
    )
    assert padded < plain


def test_word_vocab_build_encode_save(tmp_path: Path) -> None:
    assert words("It's GREAT, isn't it? Can't") == [
        "it",
        "'s",
        "great",
        ",",
        "is",
        "n't",
        "it",
        "?",
        "ca",
        "n't",
    ]
    vocab = WordVocab.build(["a good film", "a bad film", "a film"], min_freq=2)
    assert vocab.itos == ["<pad>", "<unk>", "<mask>", "a", "film"]
    assert vocab.encode("A FILM nobody saw", max_length=3) == [3, 4, 1]
    assert vocab.encode("") == [1]  # never an empty sequence
    vocab.save(tmp_path / "v.json")
    assert WordVocab.load(tmp_path / "v.json").itos == vocab.itos
    assert len(WordVocab.build(["x y z w"], max_size=2)) == 5
