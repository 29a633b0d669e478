"""The BiLSTM student of Tang et al. (2019), "Distilling Task-Specific Knowledge from BERT into Simple
Neural Networks" (arXiv:1903.12136), and its GloVe embedding initialisation.

One bidirectional LSTM layer reads the word embeddings; the sentence vector is the last forward
hidden state concatenated with the first backward one (``h_n`` of each direction: with packed
sequences, the state at each sentence's true end, so padding never reaches it). A ReLU layer and a
linear classifier follow. For sentence pairs the same encoder (shared weights, the paper's siamese
variant) reads both sentences, and the ReLU layer sees ``[h1, h2, h1 * h2, |h1 - h2|]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from textdistill.data.encode import WordVocab
from textdistill.models.outputs import ModelOutput
from textdistill.models.saved import SavedStudent


class BiLSTMStudent(SavedStudent, nn.Module):
    """Embeddings -> one BiLSTM layer -> ``[h_fwd_last, h_bwd_first]`` -> Linear + ReLU -> classifier.

    Defaults and where they come from:

    * ``hidden=150`` units per direction and ``fc=200`` ReLU units: the smaller of the two sizes
      Tang et al. (2019, section 4.2) chose between on validation data (150 or 300 per direction;
      200 or 400 ReLU units).
    * ``embed_dim=50``: the offline ``glove-6b-50d`` asset (see :func:`glove_matrix`). The paper
      used 300-d word2vec Google News vectors (multichannel, after Kim 2014); this is a
      single, trainable channel.
    * ``dropout=0.1`` on the ReLU layer's output: this project's choice; the paper gives no
      dropout rate for the student.

    Args:
        vocab_size: rows of the embedding table (``len(WordVocab)``).
        num_labels: classes, or 1 for regression.
        pair: whether forward() takes a second sentence (``word_ids_b``, ``word_lengths_b``).
        pretrained: optional ``(vocab_size, embed_dim)`` initial embedding table (trained further).
        padding_idx: the pad id (0 in :class:`~textdistill.data.encode.WordVocab`).
    """

    input_names = ("word_ids", "word_lengths", "word_ids_b", "word_lengths_b")  # batch keys forward() reads

    def __init__(
        self,
        vocab_size: int,
        num_labels: int,
        embed_dim: int = 50,
        hidden: int = 150,
        fc: int = 200,
        dropout: float = 0.1,
        pair: bool = False,
        pretrained: Tensor | None = None,
        padding_idx: int = 0,
    ) -> None:
        super().__init__()
        self.config = {
            "vocab_size": vocab_size,
            "num_labels": num_labels,
            "embed_dim": embed_dim,
            "hidden": hidden,
            "fc": fc,
            "dropout": dropout,
            "pair": pair,
            "padding_idx": padding_idx,
        }
        self.pair = pair
        self.embedding = self.init_embedding(vocab_size, embed_dim, padding_idx, pretrained)
        self.lstm = nn.LSTM(embed_dim, hidden, num_layers=1, batch_first=True, bidirectional=True)
        self.fc = nn.Linear((8 if pair else 2) * hidden, fc)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(fc, num_labels)

    def encode(self, embedded: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """``embedded`` (B, L, E), ``lengths`` (B,) -> sentence vectors (B, 2H) and LSTM outputs
        (B, L, 2H), zero at padding."""
        packed = pack_padded_sequence(
            embedded, lengths.detach().cpu().clamp(min=1), batch_first=True, enforce_sorted=False
        )
        out, (h_n, _) = self.lstm(packed)  # h_n: (2, B, H), in the batch's own order
        outputs, _ = pad_packed_sequence(out, batch_first=True, total_length=embedded.shape[1])
        return torch.cat([h_n[0], h_n[1]], dim=-1), outputs

    def forward(
        self,
        word_ids: Tensor,
        word_lengths: Tensor,
        word_ids_b: Tensor | None = None,
        word_lengths_b: Tensor | None = None,
        output_hidden_states: bool = False,
        output_features: bool = False,
    ) -> ModelOutput:
        """``word_ids`` (B, L), ``word_lengths`` (B,) [, ``word_ids_b`` (B, L_b), ``word_lengths_b``
        (B,)] -> logits (B, num_labels).

        With ``output_features``: ``layer_features`` is (B, 1, fc), the vector the classifier
        reads (:meth:`head`).

        With ``output_hidden_states``: ``embeddings`` is the (B, L, E) embedding output (for pairs,
        both sentences side by side: (B, L + L_b, E)) and ``hidden_states`` is (embeddings, LSTM
        outputs (B, L [+ L_b], 2H)). The first sentence's vectors are slices of ``embeddings``, so a
        gradient with respect to it reaches every input word.
        """
        embedded = self.embed(word_ids, word_ids_b, word_lengths_b, output_hidden_states)
        split = word_ids.shape[1]
        h1, out1 = self.encode(embedded[:, :split], word_lengths)
        if word_ids_b is None or word_lengths_b is None:
            feature, outputs = h1, out1
        else:
            h2, out2 = self.encode(embedded[:, split:], word_lengths_b)
            feature = torch.cat([h1, h2, h1 * h2, (h1 - h2).abs()], dim=-1)
            outputs = torch.cat([out1, out2], dim=1)
        logits, features = self.head(feature, output_features)
        if not output_hidden_states:
            return ModelOutput(logits=logits, layer_features=features)
        return ModelOutput(
            logits, hidden_states=(embedded, outputs), embeddings=embedded, layer_features=features
        )

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def glove_matrix(vocab: WordVocab, glove_dir: Path, seed: int = 0, std: float = 0.1) -> tuple[Tensor, float]:
    """An embedding table for ``vocab`` from a GloVe asset folder (``vectors.npy`` + ``words.txt``).

    Words found in GloVe copy their vector; the others (and unk, mask) get seeded N(0, ``std``^2)
    rows; the pad row is zero. Returns the (V, D) float32 table and the coverage: the share of the
    vocabulary's real words (the three special tokens excluded) that GloVe holds.
    """
    glove_dir = Path(glove_dir)
    glove_words = (glove_dir / "words.txt").read_text(encoding="utf-8").split("\n")
    if glove_words and glove_words[-1] == "":
        glove_words.pop()
    vectors = np.load(glove_dir / "vectors.npy", mmap_mode="r")
    if vectors.ndim != 2 or vectors.shape[0] != len(glove_words):
        raise ValueError(f"{glove_dir}: {vectors.shape} vectors for {len(glove_words)} words")
    specials = {WordVocab.PAD, WordVocab.UNK, WordVocab.MASK}
    wanted = {w: i for i, w in enumerate(vocab.itos) if w not in specials}
    found = [(i, row) for row, w in enumerate(glove_words) if (i := wanted.pop(w, None)) is not None]
    generator = torch.Generator().manual_seed(seed)
    matrix = torch.randn(len(vocab), vectors.shape[1], generator=generator) * std
    if found:
        ids, rows = zip(*found, strict=True)
        matrix[list(ids)] = torch.from_numpy(np.asarray(vectors[list(rows)], dtype=np.float32))
    matrix[vocab.pad_id] = 0.0
    real = sum(w not in specials for w in vocab.itos)
    return matrix, len(found) / real if real else 0.0
