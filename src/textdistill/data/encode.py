"""Examples -> tensors: sub-word tokenisation with dynamic padding, and a word vocabulary.

Texts are tokenised once, unpadded; each batch is padded to its own longest row by the
``transformers`` collator. With ``group_by_length`` the training sampler puts rows of similar
length together (``LengthGroupedSampler``), which cuts padding, and so CPU time, on short texts.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase
from transformers.trainer_pt_utils import LengthGroupedSampler

from textdistill.data.tasks import Example


class EncodedDataset(Dataset):
    """Tokenised examples. Item ``i`` holds ``input_ids``, ``attention_mask`` (and
    ``token_type_ids`` when the tokenizer makes them), ``index`` = i, and ``labels`` when labelled."""

    def __init__(
        self, examples: Sequence[Example], tokenizer: PreTrainedTokenizerBase, max_length: int = 128
    ):
        pairs = [e.text_pair for e in examples]
        enc = tokenizer(
            [e.text for e in examples],
            pairs if any(p is not None for p in pairs) else None,
            truncation=True,
            max_length=max_length,
        )
        self.features: list[dict] = []
        for i, e in enumerate(examples):
            row = {k: enc[k][i] for k in enc}
            row["index"] = i
            if e.label is not None:
                row["labels"] = e.label
            self.features.append(row)
        self.lengths = [len(f["input_ids"]) for f in self.features]

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict:
        return self.features[i]


def make_loader(
    dataset: EncodedDataset,
    tokenizer: PreTrainedTokenizerBase,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    group_by_length: bool = True,
) -> DataLoader:
    """A loader of padded batches: ``input_ids`` (B, L), ``attention_mask`` (B, L), ``index`` (B,),
    ``labels`` (B,) (long for classes, float for scores).

    Evaluation loaders (``shuffle=False``) keep the dataset order, so row ``i`` of the
    concatenated outputs is example ``i``.
    """
    collate = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    if not shuffle:
        return DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    generator = torch.Generator().manual_seed(seed)
    if group_by_length:
        sampler = LengthGroupedSampler(batch_size, lengths=dataset.lengths, generator=generator)
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate)
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator, collate_fn=collate)


# ---------------------------------------------------------------------------- word-level vocabulary
# Penn-Treebank-style clitics, as GloVe's vocabulary has them: "isn't" -> is n't, "it's" -> it 's
WORD_PATTERN = re.compile(r"\w+(?=n't)|n't|'\w+|\w+|[^\w\s]", re.UNICODE)


def words(text: str) -> list[str]:
    """Lower-cased words, clitics and punctuation: ``"It's GREAT!"`` -> ``["it", "'s", "great", "!"]``."""
    return WORD_PATTERN.findall(text.lower())


@dataclass
class WordVocab:
    """Word <-> id for word-level students (the BiLSTM). Ids 0, 1, 2 are pad, unknown and mask."""

    itos: list[str]

    PAD, UNK, MASK = "<pad>", "<unk>", "<mask>"

    def __post_init__(self) -> None:
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def build(cls, texts: Iterable[str], min_freq: int = 1, max_size: int | None = None) -> WordVocab:
        """Words of ``texts`` seen at least ``min_freq`` times, most frequent first (ties: alphabetical)."""
        counts = Counter(w for t in texts for w in words(t))
        ranked = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        return cls([cls.PAD, cls.UNK, cls.MASK, *ranked[:max_size]])

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    def encode(self, text: str, max_length: int | None = None) -> list[int]:
        ids = [self.stoi.get(w, self.unk_id) for w in words(text)]
        return (ids[:max_length] if max_length else ids) or [self.unk_id]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"itos": self.itos}, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> WordVocab:
        return cls(json.loads(Path(path).read_text())["itos"])


# ---------------------------------------------------------------------------- word-level batches
class WordDataset(Dataset):
    """Examples as word ids for word-level students. Item ``i`` holds ``word_ids`` (list[int]),
    ``index`` = i, ``labels`` when labelled and, for pair tasks, ``word_ids_b``."""

    def __init__(self, examples: Sequence[Example], vocab: WordVocab, max_length: int = 128):
        is_pair = any(e.text_pair is not None for e in examples)
        self.features: list[dict] = []
        for i, e in enumerate(examples):
            row: dict = {"word_ids": vocab.encode(e.text, max_length), "index": i}
            if is_pair:
                row["word_ids_b"] = vocab.encode(e.text_pair or "", max_length)
            if e.label is not None:
                row["labels"] = e.label
            self.features.append(row)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict:
        return self.features[i]


def collate_words(rows: list[dict]) -> dict[str, torch.Tensor]:
    """Rows of a :class:`WordDataset` -> ``word_ids`` (B, L) long padded with 0, ``word_lengths`` (B,)
    long (pairs: ``word_ids_b`` (B, L_b), ``word_lengths_b`` (B,)), ``index`` (B,), ``labels`` (B,)
    (long when every label is an int, else float)."""
    batch: dict[str, torch.Tensor] = {}
    for key, suffix in (("word_ids", ""), ("word_ids_b", "_b")):
        if key in rows[0]:
            seqs = [torch.tensor(r[key], dtype=torch.long) for r in rows]
            batch[key] = pad_sequence(seqs, batch_first=True, padding_value=0)
            batch["word_lengths" + suffix] = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    batch["index"] = torch.tensor([r["index"] for r in rows], dtype=torch.long)
    if all("labels" in r for r in rows):
        labels = [r["labels"] for r in rows]
        is_int = all(isinstance(y, int) for y in labels)
        batch["labels"] = torch.tensor(labels, dtype=torch.long if is_int else torch.float)
    return batch


def make_word_loader(
    dataset: WordDataset, batch_size: int, shuffle: bool = False, seed: int = 0
) -> DataLoader:
    """A loader of :func:`collate_words` batches; ``shuffle`` draws a seeded order, else dataset order."""
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, collate_fn=collate_words
    )
