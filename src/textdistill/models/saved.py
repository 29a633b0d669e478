"""What the word-level students (BiLSTM, CNN, DAN) share: their embedding table and how a batch is
embedded, the head on their text vector, and saving and loading (a state dict and the
constructor's arguments, never pickled code); :class:`PooledStudent` the forward pass of the
students that pool a text into one vector (CNN, DAN)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from textdistill.models.outputs import ModelOutput

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "student_config.json"
S = TypeVar("S", bound="SavedStudent")


class SavedStudent:
    """Mixin for an ``nn.Module`` whose ``config`` dict rebuilds it (``cls(**kwargs(config))``),
    reading ``word_ids`` / ``word_lengths`` batches (and ``_b`` ones for pairs)."""

    config: dict[str, Any]
    pair: bool
    embedding: nn.Embedding

    def init_embedding(
        self, vocab_size: int, embed_dim: int, padding_idx: int, pretrained: Tensor | None
    ) -> nn.Embedding:
        """The ``(vocab_size, embed_dim)`` table, started from ``pretrained`` when given."""
        table = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        if pretrained is not None:
            if tuple(pretrained.shape) != (vocab_size, embed_dim):
                raise ValueError(
                    f"pretrained is {tuple(pretrained.shape)}, expected ({vocab_size}, {embed_dim})"
                )
            with torch.no_grad():
                table.weight.copy_(pretrained)
        return table

    def embed(
        self, word_ids: Tensor, word_ids_b: Tensor | None, word_lengths_b: Tensor | None, grad: bool
    ) -> Tensor:
        """Both texts' vectors side by side, ``(B, L [+ L_b], E)``; with ``grad`` (a method that
        differentiates against them) a tensor that requires a gradient even from a frozen table."""
        if self.pair != (word_ids_b is not None and word_lengths_b is not None):
            raise ValueError(
                "a pair model needs word_ids_b and word_lengths_b; a single one must not get them"
            )
        ids = word_ids if word_ids_b is None else torch.cat([word_ids, word_ids_b], dim=1)
        embedded = self.embedding(ids)
        if grad and torch.is_grad_enabled() and not embedded.requires_grad:
            embedded.requires_grad_()
        return embedded

    def head(self, feature: Tensor, output_features: bool) -> tuple[Tensor, Tensor | None]:
        """The text vector ``feature`` (B, D) -> ``(logits (B, num_labels), features)``: FC + ReLU,
        dropout, classifier. ``features`` is the FC + ReLU output as ``(B, 1, fc)`` (the one pooled
        "layer" a representation loss can match, see :mod:`textdistill.methods.hinton_cos`) when
        ``output_features``, else ``None``."""
        hidden = torch.relu(self.fc(feature))  # (B, fc)
        logits = self.classifier(self.dropout(hidden))
        return logits, hidden.unsqueeze(1) if output_features else None

    def save(self, folder: str | Path) -> None:
        """Write ``model.safetensors`` (the state dict) and ``student_config.json`` (``config``)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}  # type: ignore[attr-defined]
        save_file(state, folder / WEIGHTS_NAME)
        (folder / CONFIG_NAME).write_text(json.dumps(self.config, indent=2) + "\n")

    @classmethod
    def kwargs(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The constructor's arguments from a saved ``config`` (JSON types; ``arch`` names the class)."""
        return {k: v for k, v in config.items() if k != "arch"}

    @classmethod
    def load(cls: type[S], folder: str | Path) -> S:
        """Rebuild a student written by :meth:`save` (on the CPU)."""
        from textdistill.models.weights import reading_weights

        folder = Path(folder)
        with reading_weights(folder):  # a damaged config or weights file is named
            model = cls(**cls.kwargs(json.loads((folder / CONFIG_NAME).read_text())))
            model.load_state_dict(load_file(folder / WEIGHTS_NAME))  # type: ignore[attr-defined]
        return model


class PooledStudent(SavedStudent):
    """A word-level student whose :meth:`encode` pools a text's embeddings into one vector (a CNN's
    max-pooled convolutions, a DAN's mean and max); for sentence pairs the same encoder reads both
    texts and the head sees ``[h1, h2, h1 * h2, |h1 - h2|]``, as in the BiLSTM."""

    def encode(self, embedded: Tensor, lengths: Tensor) -> Tensor:
        """``embedded`` (B, L, E), ``lengths`` (B,) -> the text vector (B, D); positions past a
        row's length never change it."""
        raise NotImplementedError

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
        (B,)] -> logits (B, num_labels); with ``output_hidden_states``, ``embeddings`` (B, L [+ L_b],
        E) as well (for methods that perturb the embeddings); with ``output_features``,
        ``layer_features`` (B, 1, fc), the vector the classifier reads (:meth:`head`)."""
        embedded = self.embed(word_ids, word_ids_b, word_lengths_b, output_hidden_states)
        split = word_ids.shape[1]
        feature = self.encode(embedded[:, :split], word_lengths)
        if word_ids_b is not None and word_lengths_b is not None:
            h2 = self.encode(embedded[:, split:], word_lengths_b)
            feature = torch.cat([feature, h2, feature * h2, (feature - h2).abs()], dim=-1)
        logits, features = self.head(feature, output_features)
        if not output_hidden_states:
            return ModelOutput(logits=logits, layer_features=features)
        return ModelOutput(logits, hidden_states=(embedded,), embeddings=embedded, layer_features=features)
