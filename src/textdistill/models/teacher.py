"""Hugging Face encoders with a classification or regression head, as teachers.

:func:`resolve_model` turns a user's ``--model`` into something ``from_pretrained`` can load: an
offline asset name (fetched on first use), a local folder, or, for users with the internet, a
hub name (never used by a default or a test).
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    PreTrainedTokenizerBase,
)

from textdistill.data.spec import TaskSpec
from textdistill.data.windows import per_document
from textdistill.errors import TextdistillError
from textdistill.models.outputs import ModelOutput
from textdistill.models.weights import read_tokenizer, reading_weights


def resolve_model(name_or_path: str) -> str:
    """An asset name -> its fetched folder; a folder -> itself; anything else is a hub name."""
    from textdistill.assets.registry import ASSETS

    asset = ASSETS.get(name_or_path)
    if asset is not None and asset.kind == "encoder":
        from textdistill.assets.fetch import fetch

        return str(fetch(name_or_path))
    return name_or_path if not Path(name_or_path).exists() else str(Path(name_or_path))


def local_folder(name_or_path: str | Path) -> Path:
    """A teacher as a folder on this machine: an asset name (fetched on first use), a folder, or a
    Hugging Face hub name with an optional revision (``org/model@v1``), downloaded into the hub
    cache at that revision (needs the internet, or the model already in the cache). The folder's
    files are what the teacher cache fingerprints, so another revision is another teacher."""
    text = str(name_or_path)
    if Path(text).exists():
        return Path(text)
    resolved = resolve_model(text)
    if resolved != text:  # an asset
        return Path(resolved)
    name, _, revision = text.partition("@")
    local = Path(name).parent.is_dir() and str(Path(name).parent) not in ("", ".")  # runs/teacher, say
    if name.count("/") != 1 or name.startswith((".", "/")) or local:
        raise TextdistillError(
            f"teacher {text}: no such folder (nor an asset name, nor a hub name org/model)"
        )
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, revision=revision or None))
    except Exception as err:  # offline, unknown name or revision: say which and why
        raise TextdistillError(
            f"teacher {text}: not a folder here, and the hub could not give it ({type(err).__name__}: {err})"
        ) from None


def load_encoder(path: str, **kwargs) -> tuple[nn.Module, list[str]]:
    """A checkpoint's bare encoder (``AutoModel``) and the names of its weights the checkpoint
    lacked (they start random), its task head dropped on purpose: without the warning table
    ``transformers`` prints for the head's unused weights. ``kwargs`` go to ``from_pretrained``."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with reading_weights(path):
            model, info = AutoModel.from_pretrained(path, output_loading_info=True, **kwargs)
    finally:
        hf_logging.set_verbosity(level)
    return model, sorted(info.get("missing_keys", ()))


class HFClassifier(nn.Module):
    """A ``transformers`` sequence classifier behind the :class:`ModelOutput` contract."""

    input_names = ("input_ids", "attention_mask", "token_type_ids")  # batch keys forward() reads

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    @classmethod
    def from_pretrained(
        cls, name_or_path: str, spec: TaskSpec | None = None, dropout: float | None = None
    ) -> HFClassifier:
        """Load an encoder; with ``spec``, (re)size its head for the task (a new, random head)."""
        path = resolve_model(name_or_path)
        kwargs: dict = {}
        if spec is not None:
            kwargs["num_labels"] = spec.num_labels
            kwargs["problem_type"] = spec.problem_type
            if spec.labels is not None:
                kwargs["id2label"] = dict(enumerate(spec.labels))
                kwargs["label2id"] = {name: i for i, name in enumerate(spec.labels)}
        if dropout is not None:
            kwargs["hidden_dropout_prob"] = dropout
        from transformers.utils import logging as hf_logging

        level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # its load report would call the new head "MISSING"
        try:
            with reading_weights(path):
                model, info = AutoModelForSequenceClassification.from_pretrained(
                    path,
                    config=AutoConfig.from_pretrained(path, **kwargs),
                    attn_implementation="eager",
                    ignore_mismatched_sizes=spec is not None,
                    output_loading_info=True,
                )
        finally:
            hf_logging.set_verbosity(level)
        head = ("classifier.", "score.", "pre_classifier.", "pooler.")
        missing = [k for k in info.get("missing_keys", ()) if not k.startswith(head) and ".pooler." not in k]
        if missing:  # a new task head starts random on purpose; missing encoder weights are worth a word
            shown = ", ".join(sorted(missing)[:5]) + (" ..." if len(missing) > 5 else "")
            warnings.warn(
                f"{name_or_path} lacks {len(missing)} encoder weights (random): {shown}", stacklevel=2
            )
        return cls(model)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        token_type_ids: Tensor | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        embedding_delta: Tensor | None = None,
    ) -> ModelOutput:
        """``input_ids``, ``attention_mask``, ``token_type_ids``: (B, L) -> logits (B, C).

        ``embedding_delta`` ``(B, L, H)``, when given, is added to the embedding output before the
        first layer (gradient perturbation, :mod:`textdistill.train.perturbation`); the returned
        ``embeddings`` (``hidden_states[0]``) are then the perturbed ones.
        """
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        handle = None
        if embedding_delta is not None:
            handle = self.model.base_model.embeddings.register_forward_hook(
                lambda _module, _inputs, output: output + embedding_delta
            )
        try:
            out = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                output_hidden_states=output_hidden_states,
                output_attentions=output_attentions,
                return_dict=True,
                **kwargs,
            )
        finally:
            if handle is not None:
                handle.remove()
        hidden = tuple(out.hidden_states) if out.hidden_states is not None else None
        return ModelOutput(
            logits=out.logits,
            hidden_states=hidden,
            attentions=tuple(out.attentions) if out.attentions is not None else None,
            embeddings=hidden[0] if hidden is not None else None,
        )

    def save(self, folder: str | Path) -> None:
        """Save in the Hugging Face layout (``config.json`` + ``model.safetensors``)."""
        self.model.save_pretrained(folder, safe_serialization=True)

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class Reordered(nn.Module):
    """A classifier with its outputs in another label order: logits ``(B, C)`` -> ``logits[:, order]``
    (a teacher whose labels are a task's in a different order)."""

    def __init__(self, model: nn.Module, order: list[int]) -> None:
        super().__init__()
        self.model, self.order = model, list(order)
        self.input_names = model.input_names

    def forward(self, **inputs: Tensor) -> ModelOutput:
        out = self.model(**inputs)
        return dataclasses.replace(out, logits=out.logits[:, self.order])


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    return read_tokenizer(resolve_model(name_or_path))


def is_multi_label(model: nn.Module) -> bool:
    """Whether a classifier gives one sigmoid per label (its config's ``problem_type``; through
    a :class:`Reordered` wrapper too)."""
    while isinstance(model, Reordered | HFClassifier):
        model = model.model
    config = getattr(model, "config", None)
    return getattr(config, "problem_type", None) == "multi_label_classification"


def per_example(logits: Tensor, dataset: object, model: nn.Module, multi_label: bool | None = None) -> Tensor:
    """Rows ``(R, C)`` of ``dataset`` (in its row order) -> one row per example ``(N, C)``: the
    windows of a windowed dataset combined by its reading
    (:func:`~textdistill.data.windows.per_document`), per-label sigmoids for a ``multi_label``
    task (``None``: as the model's config says); any other dataset's rows as they are."""
    doc_of = getattr(dataset, "doc_of", None)
    if doc_of is None or len(doc_of) == dataset.n_docs:
        return logits
    multi = is_multi_label(model) if multi_label is None else multi_label
    return per_document(logits, doc_of, dataset.reading, multi)


@torch.no_grad()
def predict_logits(
    model: nn.Module, loader: torch.utils.data.DataLoader, multi_label: bool | None = None
) -> Tensor:
    """Logits ``(N, C)`` of any teacher or student (it reads the batch keys in ``model.input_names``)
    over an evaluation loader, in dataset order, on the CPU (the model runs where its weights are);
    one row per example: a windowed dataset's windows are combined (:func:`per_example`)."""
    model.eval()
    device = next(model.parameters()).device
    outs = []
    for batch in loader:
        inputs = {k: batch[k].to(device) for k in model.input_names if k in batch}
        outs.append(model(**inputs).logits.float().cpu())
    return per_example(torch.cat(outs), loader.dataset, model, multi_label)
