"""Examples -> tensors: sub-word tokenisation with dynamic padding, and a word vocabulary.

Texts are tokenised once, unpadded; each batch is padded to its own longest row by the
``transformers`` collator. With ``group_by_length`` the training sampler puts rows of similar
length together (:mod:`textdistill.data.sampling`), which cuts padding, and so CPU time, on short texts.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset, Subset
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from textdistill.data.sampling import EpochBatchSampler
from textdistill.data.spec import Example
from textdistill.data.windows import TRUNCATE, Coverage, Reading, coverage, spans
from textdistill.errors import TextdistillError


class EncodedDataset(Dataset):
    """Tokenised examples. Item ``i`` holds ``input_ids``, ``attention_mask`` (and
    ``token_type_ids`` when the tokenizer makes them), ``index`` (the example's position) and
    ``labels`` when labelled.

    ``reading`` says how a text longer than ``max_length`` is read (:mod:`textdistill.data.windows`):
    cut (one row per example, as ``truncation=True`` gives), head + tail, or as windows: then an
    example has one row per window, each with the example's ``index`` and label, and ``doc_of``
    maps each row to its example. ``text_lengths`` holds every example's whole length in tokens
    (without [CLS]/[SEP]), for :meth:`coverage`."""

    def __init__(
        self,
        examples: Sequence[Example],
        tokenizer: PreTrainedTokenizerBase,
        max_length: int = 128,
        reading: Reading = TRUNCATE,
    ):
        pairs = [e.text_pair for e in examples]
        is_pair = any(p is not None for p in pairs)
        texts = [e.text for e in examples]
        enc = tokenizer(texts, pairs if is_pair else None, truncation=True, max_length=max_length)
        self.reading, self.max_length = reading, max_length
        self.room = max_length - tokenizer.num_special_tokens_to_add(pair=is_pair)
        # a row shorter than max_length was not cut; only the rows at the limit are tokenised again whole
        self.text_lengths = [len(ids) - (max_length - self.room) for ids in enc["input_ids"]]
        at_limit = [i for i, ids in enumerate(enc["input_ids"]) if len(ids) >= max_length]
        whole: dict[int, list[int]] = {}
        if at_limit:
            again = tokenizer(
                [texts[i] for i in at_limit],
                [pairs[i] for i in at_limit] if is_pair else None,
                add_special_tokens=False,
                verbose=False,
            )["input_ids"]
            whole = dict(zip(at_limit, again, strict=True))
            for i, ids in whole.items():  # both texts of a pair, as cut together
                self.text_lengths[i] = len(ids)
        if is_pair and reading.mode != "truncate" and any(n > self.room for n in self.text_lengths):
            raise TextdistillError(
                f"reading: {reading.mode} reads one long text; this task pairs two texts, which are "
                "cut together at the model's length (reading: truncate)"
            )
        self.features: list[dict] = []
        self.doc_of: list[int] = []
        frame = None if reading.mode == "truncate" else _Frame(tokenizer)
        for i, e in enumerate(examples):
            if self.text_lengths[i] <= self.room or frame is None:
                rows = [{k: enc[k][i] for k in enc}]  # the plain path, whatever the reading
            else:
                ids = whole[i]
                rows = [frame(piece) for piece in _pieces(ids, spans(len(ids), self.room, reading), reading)]
            for row in rows:
                row["index"] = i
                if e.label is not None:
                    row["labels"] = e.label
                self.features.append(row)
                self.doc_of.append(i)
        self.n_docs = len(examples)
        self.lengths = [len(f["input_ids"]) for f in self.features]

    def coverage(self) -> Coverage:
        """What the reading kept of these texts (:func:`~textdistill.data.windows.coverage`)."""
        return coverage(self.text_lengths, self.room, self.reading, self.max_length)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict:
        return self.features[i]


class _Frame:
    """Token ids -> one model input with the tokenizer's special tokens around them ([CLS] ids
    [SEP] for BERT, <s> ids </s> for RoBERTa), as the tokenizer frames a single text: the frame
    is read off the tokenizer's own encoding of a probe text."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        framed = tokenizer("a", verbose=False)
        bare = tokenizer("a", add_special_tokens=False, verbose=False)["input_ids"]
        ids = list(framed["input_ids"])
        at = next(k for k in range(len(ids) - len(bare) + 1) if ids[k : k + len(bare)] == bare)
        self.prefix, self.suffix = ids[:at], ids[at + len(bare) :]
        self.keys = [k for k in framed if k not in ("input_ids", "attention_mask")]

    def __call__(self, piece: list[int]) -> dict:
        ids = [*self.prefix, *piece, *self.suffix]
        row = {"input_ids": ids, "attention_mask": [1] * len(ids)}
        for key in self.keys:  # token_type_ids: a single text is segment 0 throughout
            row[key] = [0] * len(ids)
        return row


def _pieces(ids: list[int], cuts: list[tuple[int, int]], reading: Reading) -> list[list[int]]:
    """The token ids of each model input: every window, or the head and tail joined into one."""
    if reading.mode == "head_tail":
        return [[t for s, e in cuts for t in ids[s:e]]]
    return [ids[s:e] for s, e in cuts]


def collate_labels(rows: list[dict]) -> dict[str, torch.Tensor]:
    """The label part of a batch: ``labels`` (B,) (long when every given label is an int, else
    float; ``(B, C)`` float 0 / 1 for a multi-label task, whose labels are tuples) and, when some
    rows have no label (transfer-set rows), ``label_mask`` (B,) bool with ``False`` there (their
    label is a 0 placeholder that no loss reads). Empty when no row has one."""
    labels = [r.get("labels") for r in rows]
    given = [y for y in labels if y is not None]
    if not given:
        return {}
    is_int = all(isinstance(y, int) for y in given)
    blank = (0.0,) * len(given[0]) if isinstance(given[0], tuple) else 0
    out = {
        "labels": torch.tensor(
            [blank if y is None else y for y in labels], dtype=torch.long if is_int else torch.float
        )
    }
    if len(given) < len(labels):
        out["label_mask"] = torch.tensor([y is not None for y in labels])
    return out


class PaddingCollator:
    """``DataCollatorWithPadding`` for the token features, :func:`collate_labels` for the labels
    (so labelled and unlabelled rows can share a batch)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        self.pad = DataCollatorWithPadding(tokenizer, return_tensors="pt")

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        batch = self.pad([{k: v for k, v in r.items() if k != "labels"} for r in rows])
        return {**batch, **collate_labels(rows)}


def make_loader(
    dataset: EncodedDataset,
    tokenizer: PreTrainedTokenizerBase,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    group_by_length: bool = True,
    rank: int = 0,
    world: int = 1,
    accumulation: int = 1,
) -> DataLoader:
    """A loader of padded batches: ``input_ids`` (B, L), ``attention_mask`` (B, L), ``index`` (B,),
    ``labels`` (B,) (long for classes, float for scores) and ``label_mask`` (B,) when the batch
    mixes labelled and unlabelled rows (:func:`collate_labels`).

    Evaluation loaders (``shuffle=False``) keep the dataset order, so row ``i`` of the
    concatenated outputs is example ``i``. Training loaders (``shuffle=True``) draw their batches
    from an :class:`EpochBatchSampler` (seeded per epoch, resumable, ``batch_size`` rows split
    over ``world`` processes and ``accumulation`` micro-batches; ``loader.batch_sampler.set_epoch``
    picks the epoch).
    """
    collate = PaddingCollator(tokenizer)
    if not shuffle:
        return DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    sampler = EpochBatchSampler(
        len(dataset), batch_size, seed, dataset.lengths, group_by_length, rank, world, accumulation
    )
    return seeded_loader(dataset, sampler, collate)


def seeded_loader(dataset: Dataset, sampler: EpochBatchSampler, collate: Callable) -> DataLoader:
    """A loader over ``sampler``'s batches that never draws from the global RNG (a ``DataLoader``
    draws a worker seed from it on every ``iter`` unless it has its own generator), so a run's
    dropout does not depend on how many epochs its loader was iterated: resumed runs match."""
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, generator=torch.Generator())


# ---------------------------------------------------------------------------- word-level vocabulary
# Penn-Treebank-style clitics, as GloVe's vocabulary has them: "isn't" -> is n't, "it's" -> it 's;
# "[MASK]" (augmentation's mask, see data/augment.py) stays one word
WORD_PATTERN = re.compile(r"(?i:\[mask\])|\w+(?=n't)|n't|'\w+|\w+|[^\w\s]", re.UNICODE)
MASK_WORD = "[mask]"


def words(text: str) -> list[str]:
    """Lower-cased words, clitics and punctuation: ``"It's GREAT!"`` -> ``["it", "'s", "great", "!"]``."""
    return WORD_PATTERN.findall(text.lower())


@dataclass
class WordVocab:
    """Word <-> id for word-level students (the BiLSTM). Ids 0, 1, 2 are pad, unknown and mask;
    the word ``[MASK]`` of an augmented text reads as the mask id."""

    itos: list[str]

    PAD, UNK, MASK = "<pad>", "<unk>", "<mask>"

    def __post_init__(self) -> None:
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.stoi[MASK_WORD] = self.stoi.get(self.MASK, self.unk_id)

    @classmethod
    def build(cls, texts: Iterable[str], min_freq: int = 1, max_size: int | None = None) -> WordVocab:
        """Words of ``texts`` seen at least ``min_freq`` times, most frequent first (ties: alphabetical)."""
        counts = Counter(w for t in texts for w in words(t))
        counts.pop(MASK_WORD, None)
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


class TokenVocab:
    """Sub-word ids for a BiLSTM on token vectors (``embedding: teacher``): the teacher's
    tokenizer as :mod:`model2vec` keeps it (a ``tokenizers`` JSON), with the interface of
    :class:`WordVocab`. Rows are the tokenizer's ids, then one row for ``[MASK]`` (what
    augmentation writes), which the tokenizer itself would split into ``[``, ``mask``, ``]``."""

    def __init__(self, tokenizer_json: str) -> None:
        from tokenizers import Tokenizer

        self.tokenizer_json = tokenizer_json
        self.tokenizer = Tokenizer.from_str(tokenizer_json)
        # the teacher's tokenizer may carry a cut (all-MiniLM-L6-v2's: 512 tokens) and padding; the
        # student's own max_length cuts, so a long text reaches it whole (and its length is true)
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.size = self.tokenizer.get_vocab_size()
        self.mask_id = self.size
        self._pad = self.tokenizer.token_to_id("[PAD]")
        self._unk = self.tokenizer.token_to_id("[UNK]")

    def __len__(self) -> int:
        return self.size + 1

    @property
    def pad_id(self) -> int:
        return 0 if self._pad is None else self._pad

    @property
    def unk_id(self) -> int:
        return self.pad_id if self._unk is None else self._unk

    def encode(self, text: str, max_length: int | None = None) -> list[int]:
        """Token ids of ``text`` (no [CLS] / [SEP]); each ``[MASK]`` is the mask row."""
        ids: list[int] = []
        for i, piece in enumerate(_MASK_SPLIT.split(text)):
            if i:
                ids.append(self.mask_id)
            if piece.strip():
                ids += self.tokenizer.encode(piece, add_special_tokens=False).ids
        return (ids[:max_length] if max_length else ids) or [self.unk_id]

    def save(self, path: str | Path) -> None:
        record = {"kind": "tokens", "tokenizer": json.loads(self.tokenizer_json)}
        Path(path).write_text(json.dumps(record, ensure_ascii=False))


_MASK_SPLIT = re.compile(re.escape(MASK_WORD), re.IGNORECASE)


def load_vocab(path: str | Path) -> WordVocab | TokenVocab:
    """A saved :class:`WordVocab` (``{"itos": [...]}``) or :class:`TokenVocab` (``{"kind":
    "tokens", "tokenizer": {...}}``)."""
    record = json.loads(Path(path).read_text())
    if record.get("kind") == "tokens":
        return TokenVocab(json.dumps(record["tokenizer"]))
    return WordVocab(record["itos"])


# ---------------------------------------------------------------------------- word-level batches
class WordDataset(Dataset):
    """Examples as word ids for word-level students. Item ``i`` holds ``word_ids`` (list[int]),
    ``index`` = i, ``labels`` when labelled and, for pair tasks, ``word_ids_b``. A text longer
    than ``max_length`` words is cut (``reading``: the first words, or head + tail); word-level
    students read thousands of words cheaply, so they do not read windows. ``text_lengths``:
    each text's whole length in words (the first text's, for pairs)."""

    def __init__(
        self,
        examples: Sequence[Example],
        vocab: WordVocab | TokenVocab,
        max_length: int = 128,
        reading: Reading = TRUNCATE,
    ):
        if reading.windowed:
            raise TextdistillError(
                "a word-level student (BiLSTM, CNN) reads a long text whole: give it a larger "
                "max_length (its cost grows linearly), or reading: head_tail; windows are for transformers"
            )
        is_pair = any(e.text_pair is not None for e in examples)
        self.reading, self.max_length, self.room = reading, max_length, max_length
        self.features: list[dict] = []
        self.text_lengths: list[int] = []
        for i, e in enumerate(examples):
            ids = vocab.encode(e.text)
            self.text_lengths.append(len(ids))
            row: dict = {"word_ids": _cut(ids, max_length, reading), "index": i}
            if is_pair:
                row["word_ids_b"] = vocab.encode(e.text_pair or "", max_length)
            if e.label is not None:
                row["labels"] = e.label
            self.features.append(row)
        self.doc_of = list(range(len(self.features)))
        self.n_docs = len(self.features)
        self.lengths = [max(len(f["word_ids"]), len(f.get("word_ids_b", ()))) for f in self.features]

    def coverage(self) -> Coverage:
        """What the cut kept of these texts (:func:`~textdistill.data.windows.coverage`)."""
        return coverage(self.text_lengths, self.max_length, self.reading)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict:
        return self.features[i]


def _cut(ids: list[int], max_length: int, reading: Reading) -> list[int]:
    """``ids`` read within ``max_length``: the first ones, or the head and the tail."""
    return [t for s, e in spans(len(ids), max_length, reading) for t in ids[s:e]]


def length_ordered(dataset: Dataset, collate: Callable, batch_size: int) -> tuple[list[int], DataLoader]:
    """Inference batches shortest first, so each pads to a length near its own rows', and the order
    they come in: ``order[j]`` is the dataset row of the ``j``-th row out (ties keep dataset order).
    The teacher cache and serving batch the same way, so a teacher's served outputs equal its
    cached ones to the bit (a predictions file from ``predict --out`` teaches what the teacher does)."""
    order = sorted(range(len(dataset)), key=dataset.lengths.__getitem__)
    return order, DataLoader(Subset(dataset, order), batch_size=batch_size, collate_fn=collate)


def collate_words(rows: list[dict]) -> dict[str, torch.Tensor]:
    """Rows of a :class:`WordDataset` -> ``word_ids`` (B, L) long padded with 0, ``word_lengths`` (B,)
    long (pairs: ``word_ids_b`` (B, L_b), ``word_lengths_b`` (B,)), ``index`` (B,), and the labels
    of :func:`collate_labels`."""
    batch: dict[str, torch.Tensor] = {}
    for key, suffix in (("word_ids", ""), ("word_ids_b", "_b")):
        if key in rows[0]:
            seqs = [torch.tensor(r[key], dtype=torch.long) for r in rows]
            batch[key] = pad_sequence(seqs, batch_first=True, padding_value=0)
            batch["word_lengths" + suffix] = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    batch["index"] = torch.tensor([r["index"] for r in rows], dtype=torch.long)
    return {**batch, **collate_labels(rows)}


def make_word_loader(
    dataset: WordDataset,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    rank: int = 0,
    world: int = 1,
    accumulation: int = 1,
    group_by_length: bool = False,
) -> DataLoader:
    """A loader of :func:`collate_words` batches; ``shuffle`` draws a seeded order per epoch (an
    :class:`EpochBatchSampler`, as :func:`make_loader`; ``group_by_length`` puts texts of like
    length together, which a BiLSTM on whole long documents needs: a batch costs as many recurrent
    steps as its longest text), else dataset order."""
    if not shuffle:
        return DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_words)
    sampler = EpochBatchSampler(
        len(dataset), batch_size, seed, dataset.lengths, group_by_length, rank, world, accumulation
    )
    return seeded_loader(dataset, sampler, collate_words)
