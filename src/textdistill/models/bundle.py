"""A loaded model and how to feed it: the one object every command serves, scores or saves.

:class:`Student` holds a model (a BiLSTM on words, or a Hugging Face style encoder on tokens: a
student, a teacher, one task of a multi-task run), its vocabulary or tokenizer and the length it
reads; :meth:`Student.loader` batches examples for it. :func:`load_student` reads a saved student
folder back. Which folder holds what is :mod:`textdistill.artifacts`' concern.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from torch import nn
from torch.utils.data import DataLoader

from textdistill.data.encode import (
    EncodedDataset,
    PaddingCollator,
    TokenVocab,
    WordDataset,
    WordVocab,
    collate_words,
    length_ordered,
    load_vocab,
    make_loader,
    make_word_loader,
)
from textdistill.data.spec import Example
from textdistill.data.windows import TRUNCATE, Reading
from textdistill.errors import TextdistillError

WORD_KINDS = ("bilstm", "cnn", "dan")  # the students that read word_ids (their own vocabulary)


@dataclass
class Student:
    """A student model and how to feed it: loaders over examples, and how to save it."""

    model: nn.Module
    kind: str
    vocab: WordVocab | TokenVocab | None = None  # a BiLSTM's words, or its sub-word tokens
    tokenizer: object | None = None
    max_length: int = 128
    reading: Reading = TRUNCATE  # how a longer text is read (data.windows)

    def loader(
        self,
        examples: list[Example],
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        accumulation: int = 1,
        group_by_length: bool | None = None,
    ) -> DataLoader:
        """Batches of ``examples``; a shuffled (training) loader gives process ``rank`` of
        ``world`` its share of every ``batch_size``-row batch, in ``accumulation`` micro-batches,
        grouped by length when ``group_by_length`` (``None``: a transformer's are, a BiLSTM's or
        CNN's are not)."""
        split = {"rank": rank, "world": world, "accumulation": accumulation}
        if self.vocab is not None:
            dataset = WordDataset(examples, self.vocab, self.max_length, self.reading)
            return make_word_loader(
                dataset, batch_size, shuffle, seed, **split, group_by_length=bool(group_by_length)
            )
        dataset = EncodedDataset(examples, self.tokenizer, self.max_length, self.reading)
        grouped = True if group_by_length is None else group_by_length
        return make_loader(
            dataset, self.tokenizer, batch_size, shuffle=shuffle, seed=seed, group_by_length=grouped, **split
        )

    def by_length(self, examples: list[Example], batch_size: int) -> tuple[list[int], DataLoader]:
        """Inference batches of ``examples`` shortest first and their order
        (:func:`~textdistill.data.encode.length_ordered`)."""
        if self.vocab is not None:
            dataset = WordDataset(examples, self.vocab, self.max_length, self.reading)
            return length_ordered(dataset, collate_words, batch_size)
        dataset = EncodedDataset(examples, self.tokenizer, self.max_length, self.reading)
        return length_ordered(dataset, PaddingCollator(self.tokenizer), batch_size)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save(folder)
        if self.vocab is not None:
            self.vocab.save(folder / "vocab.json")
        else:
            self.tokenizer.save_pretrained(folder)


def start_at_label_prior(model: nn.Module, examples: list[Example], num_labels: int) -> None:
    """Start a multi-label head at each label's frequency among ``examples``: the output layer's
    bias becomes ``log(f / (1 - f))`` (``f`` clamped to [1e-4, 1 - 1e-4]), the prior-probability
    initialisation of Lin et al. (2017), "Focal Loss for Dense Object Detection", arXiv:1708.02002.

    With a zero bias every sigmoid starts at 0.5 while nearly every target is 0, and the first
    steps' gradient says "every label is less likely" through the whole network: a pretrained
    encoder fine-tuned that way on Reuters (95 topics) gave one output for every story after an
    epoch at lr 1e-4 (dev micro-F1 0.369, that of guessing the frequent topics; the same after an
    epoch at 2e-4). The head
    is the last ``nn.Linear`` with ``num_labels`` outputs (a BERT classifier, a BiLSTM's or CNN's)."""
    import numpy as np
    import torch

    labelled = [e.label for e in examples if e.label is not None]
    heads = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == num_labels]
    if not labelled or not heads or heads[-1].bias is None:
        return
    freq = np.clip(np.mean(np.asarray(labelled, dtype=np.float64), axis=0), 1e-4, 1 - 1e-4)
    with torch.no_grad():
        heads[-1].bias.copy_(torch.as_tensor(np.log(freq / (1 - freq)), dtype=heads[-1].bias.dtype))


def load_student(folder: str | Path, max_length: int = 128, reading: Reading = TRUNCATE) -> Student:
    """A saved student (``<run>/student``): a BiLSTM (``student_config.json`` + ``vocab.json``) or
    a transformer (a Hugging Face folder with its tokenizer)."""
    folder = Path(folder)
    if (folder / "student_config.json").exists():  # a word-level student: a BiLSTM, a CNN or a DAN
        from textdistill.models.bilstm import BiLSTMStudent
        from textdistill.models.cnn import CNNStudent
        from textdistill.models.dan import DANStudent
        from textdistill.models.weights import reading_weights

        with reading_weights(folder):  # a damaged record is named
            arch = json.loads((folder / "student_config.json").read_text()).get("arch", "bilstm")
            vocab = load_vocab(folder / "vocab.json")
        classes = {"bilstm": BiLSTMStudent, "cnn": CNNStudent, "dan": DANStudent}
        if arch not in classes:
            raise TextdistillError(f"{folder} holds a {arch!r} student, which this textdistill does not know")
        model = classes[arch].load(folder)
        return Student(model, arch, vocab=vocab, max_length=max_length, reading=reading)
    if (folder / "config.json").exists():
        from textdistill.models.teacher import HFClassifier
        from textdistill.models.weights import read_tokenizer

        model = HFClassifier.from_pretrained(str(folder))
        return Student(
            model,
            "transformer",
            tokenizer=read_tokenizer(folder),
            max_length=min(max_length, model.model.config.max_position_embeddings),
            reading=reading,
        )
    raise TextdistillError(f"{folder} holds no student (no student_config.json or config.json)")
