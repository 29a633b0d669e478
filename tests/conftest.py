"""Shared fixtures: an isolated cache, a tiny random BERT with its tokenizer, small task files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

WORDS = (
    "the a an is was it this that film movie good bad great awful not very and or of to in plot acting "
    "what who where when how many why did does claim evidence true false same different yes no"
).split()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty cache (never the user's ~/.cache/textdistill)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("TEXTDISTILL_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


def make_tiny_bert(folder: Path, num_labels: int = 2, layers: int = 2) -> Path:
    """A random ``layers``-layer (2 by default), hidden-32 BERT classifier and a WordPiece tokenizer
    over ``WORDS``."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        *".,!?'",
        *letters,
        *(f"##{c}" for c in letters),
        *WORDS,
    ]
    (folder / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n")
    tokenizer = BertTokenizerFast.from_pretrained(folder, do_lower_case=True)  # reads vocab.txt
    tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        num_labels=num_labels,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
