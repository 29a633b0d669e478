"""A deep averaging network: the embeddings of a text pooled without regard to order, a ReLU
layer and a classifier, after Iyyer et al. (2015), "Deep Unordered Composition Rivals Syntactic
Methods for Text Classification" (ACL), with the pooling of Shen et al. (2018), "Baseline Needs
More Love: On Simple Word-Embedding-Based Models and Associated Pooling Mechanisms" (ACL,
arXiv:1805.09843): the mean of the embeddings, their element-wise max, or both side by side
(SWEM-concat, their best on topic classification).

Its cost is one embedding lookup and one sum per token, with nothing sequential, so it reads a
document of thousands of tokens at almost the price of a short one: the long-document student on a
CPU. It reads the batches the BiLSTM and the CNN read (``word_ids``, ``word_lengths``; words, or
the teacher's sub-word tokens with ``embedding: teacher``); positions past a row's length never
change a prediction.

Iyyer et al.'s word dropout: while training, each token is left out of the pooling with
probability ``word_dropout`` (a row keeps at least one), so the network cannot lean on a few words.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from textdistill.models.saved import PooledStudent

ARCH = "dan"  # what student_config.json's "arch" says
POOLINGS = ("mean", "max", "mean_max")


class DANStudent(PooledStudent, nn.Module):
    """Embeddings -> pooled over the text (``pooling``: mean, max, or both concatenated) -> Linear
    + ReLU -> dropout -> classifier.

    Args:
        vocab_size: rows of the embedding table.
        num_labels: classes, or 1 for regression.
        embed_dim: the embedding width E; the text vector is E wide (2E for ``mean_max``).
        fc: the ReLU layer's width.
        dropout: before the classifier.
        word_dropout: the chance a token is left out of the pooling while training.
        pooling: ``mean``, ``max`` or ``mean_max``.
        pair: whether forward() takes a second text (``word_ids_b``, ``word_lengths_b``).
        pretrained: optional ``(vocab_size, embed_dim)`` initial embedding table (trained further).
    """

    input_names = ("word_ids", "word_lengths", "word_ids_b", "word_lengths_b")

    def __init__(
        self,
        vocab_size: int,
        num_labels: int,
        embed_dim: int = 256,
        fc: int = 200,
        dropout: float = 0.5,
        word_dropout: float = 0.3,
        pooling: str = "mean_max",
        pair: bool = False,
        pretrained: Tensor | None = None,
        padding_idx: int = 0,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        if not 0 <= word_dropout < 1:
            raise ValueError(f"word_dropout must be in [0, 1), got {word_dropout}")
        self.config = {
            "arch": ARCH, "vocab_size": vocab_size, "num_labels": num_labels, "embed_dim": embed_dim,
            "fc": fc, "dropout": dropout, "word_dropout": word_dropout, "pooling": pooling, "pair": pair,
            "padding_idx": padding_idx,
        }  # fmt: skip
        self.pair, self.pooling, self.word_dropout = pair, pooling, word_dropout
        self.embedding = self.init_embedding(vocab_size, embed_dim, padding_idx, pretrained)
        width = (2 if pooling == "mean_max" else 1) * embed_dim
        self.fc = nn.Linear((4 if pair else 1) * width, fc)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(fc, num_labels)

    def encode(self, embedded: Tensor, lengths: Tensor) -> Tensor:
        """``embedded`` (B, L, E), ``lengths`` (B,) -> the text vector (B, E), or (B, 2E) for
        ``mean_max`` (the mean first)."""
        positions = torch.arange(embedded.shape[1], device=embedded.device).unsqueeze(0)  # (1, L)
        real = positions < lengths.clamp(min=1).unsqueeze(1)  # (B, L)
        if self.training and self.word_dropout > 0:
            kept = real & (torch.rand(real.shape, device=real.device) >= self.word_dropout)
            first = positions == 0  # a row whose every token was dropped keeps its first
            real = kept | (first & ~kept.any(dim=1, keepdim=True))
        mask = real.unsqueeze(-1)  # (B, L, 1)
        pooled = []
        if self.pooling in ("mean", "mean_max"):
            total = (embedded * mask).sum(dim=1)  # (B, E)
            pooled.append(total / mask.sum(dim=1).clamp(min=1))
        if self.pooling in ("max", "mean_max"):
            pooled.append(embedded.masked_fill(~mask, torch.finfo(embedded.dtype).min).amax(dim=1))
        return torch.cat(pooled, dim=-1)
