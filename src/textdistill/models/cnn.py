"""A convolutional student after Kim (2014), "Convolutional Neural Networks for Sentence
Classification" (EMNLP, arXiv:1408.5882): embeddings, convolutions of several widths, each
max-pooled over time, a ReLU layer and a classifier.

It reads the batches the BiLSTM reads (``word_ids``, ``word_lengths``: words, or the teacher's
sub-word tokens with ``embedding: teacher``) and has no recurrence: every position is computed at
once, which makes it the fastest student on a CPU. Positions past a row's length are masked out
of the max-pool, so padding never changes a prediction. For sentence pairs the same encoder reads
both texts and the ReLU layer sees ``[h1, h2, h1 * h2, |h1 - h2|]``, as in the BiLSTM.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from textdistill.models.saved import PooledStudent

ARCH = "cnn"  # what student_config.json's "arch" says (a BiLSTM's config has no "arch")


class CNNStudent(PooledStudent, nn.Module):
    """Embeddings -> Conv1d of each width in ``widths`` (``filters`` each, ReLU) -> max over time
    -> concatenated (B, len(widths) * filters) -> Linear + ReLU -> dropout -> classifier.

    Defaults: widths 3, 4, 5 with 100 filters each and dropout 0.5 are Kim's (section 3.1); the
    200-unit ReLU layer is this project's (Kim goes straight to the softmax), the same as the
    BiLSTM's so the two differ only in the encoder.

    Args:
        vocab_size: rows of the embedding table.
        num_labels: classes, or 1 for regression.
        pair: whether forward() takes a second text (``word_ids_b``, ``word_lengths_b``).
        pretrained: optional ``(vocab_size, embed_dim)`` initial embedding table (trained further).
    """

    input_names = ("word_ids", "word_lengths", "word_ids_b", "word_lengths_b")

    def __init__(
        self,
        vocab_size: int,
        num_labels: int,
        embed_dim: int = 50,
        widths: tuple[int, ...] = (3, 4, 5),
        filters: int = 100,
        fc: int = 200,
        dropout: float = 0.5,
        pair: bool = False,
        pretrained: Tensor | None = None,
        padding_idx: int = 0,
    ) -> None:
        super().__init__()
        self.config = {
            "arch": ARCH, "vocab_size": vocab_size, "num_labels": num_labels, "embed_dim": embed_dim,
            "widths": list(widths), "filters": filters, "fc": fc, "dropout": dropout, "pair": pair,
            "padding_idx": padding_idx,
        }  # fmt: skip
        self.pair = pair
        self.embedding = self.init_embedding(vocab_size, embed_dim, padding_idx, pretrained)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, filters, w, padding=w - 1) for w in widths)
        width = len(widths) * filters
        self.fc = nn.Linear((4 if pair else 1) * width, fc)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(fc, num_labels)

    def encode(self, embedded: Tensor, lengths: Tensor) -> Tensor:
        """``embedded`` (B, L, E), ``lengths`` (B,) -> the text vector (B, len(widths) * filters).

        Each convolution is padded by ``width - 1`` on both sides (every window that overlaps the
        text, as Kim's wide convolution); windows wholly in the padding are masked out of the max.
        """
        lengths = lengths.clamp(min=1).unsqueeze(1)  # (B, 1)
        real = torch.arange(embedded.shape[1], device=embedded.device).unsqueeze(0) < lengths  # (B, L)
        x = (embedded * real.unsqueeze(-1)).transpose(1, 2)  # (B, E, L): padding reads as the conv's zeros
        pooled = []
        for conv in self.convs:
            out = torch.relu(conv(x))  # (B, F, L + w - 1): window j covers positions j - w + 1 .. j
            position = torch.arange(out.shape[-1], device=out.device).unsqueeze(0)  # (1, L + w - 1)
            inside = position < lengths + conv.kernel_size[0] - 1  # windows that touch a real position
            pooled.append(out.masked_fill(~inside.unsqueeze(1), 0.0).amax(dim=-1))  # ReLU >= 0: 0 is neutral
        return torch.cat(pooled, dim=-1)

    @classmethod
    def kwargs(cls, config: dict) -> dict:
        return {**super().kwargs(config), "widths": tuple(config["widths"])}
