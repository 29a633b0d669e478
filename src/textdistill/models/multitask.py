"""A multi-task model (MT-DNN, Liu et al. 2019): one shared encoder, one output layer per task.

The encoder is any Hugging Face encoder (a teacher's, a general student, or a fresh small
transformer); each task has its own head on the encoder's first-token ("[CLS]") vector: dropout,
then a linear layer to the task's classes (1 output for regression). Sentence pairs are encoded
together, as the encoder's tokenizer joins them. ``forward(task, ...)`` runs the encoder and the
head of ``task`` only, so a step on one task sends gradients to the shared encoder and to that
task's head, never to another task's head.
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn

from textdistill.data.spec import TaskSpec
from textdistill.models.outputs import ModelOutput
from textdistill.models.weights import read_tokenizer, reading_weights


class MultiTaskModel(nn.Module):
    """``encoder``: a ``transformers`` base model (its output's ``last_hidden_state`` is
    ``(B, L, H)``); ``specs``: the tasks, each getting a head sized by its labels."""

    input_names = ("input_ids", "attention_mask", "token_type_ids")

    def __init__(self, encoder: nn.Module, specs: list[TaskSpec], dropout: float = 0.1):
        super().__init__()
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"task names must differ; got {names}")
        self.encoder = encoder
        self.specs = {s.name: s for s in specs}
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({s.name: nn.Linear(hidden, s.num_labels) for s in specs})

    def forward(
        self,
        task: str,
        input_ids: Tensor,
        attention_mask: Tensor,
        token_type_ids: Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> ModelOutput:
        """``task``'s logits ``(B, C_task)`` for token tensors ``(B, L)``."""
        if task not in self.heads:
            raise KeyError(f"no head for task {task!r}; the model has {', '.join(self.heads)}")
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        out = self.encoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **kwargs,
        )
        logits = self.heads[task](self.dropout(out.last_hidden_state[:, 0]))
        hidden = tuple(out.hidden_states) if out.hidden_states is not None else None
        return ModelOutput(logits=logits, hidden_states=hidden, embeddings=hidden[0] if hidden else None)


class TaskView(nn.Module):
    """One task's face of the multi-task model, for the single-task evaluation code."""

    input_names = MultiTaskModel.input_names

    def __init__(self, model: MultiTaskModel, task: str):
        super().__init__()
        self.model, self.task = model, task

    def forward(self, **inputs: Tensor):
        return self.model(self.task, **inputs)


def open_task_view(folder: str | Path, spec: TaskSpec) -> tuple[TaskView, object]:
    """Task ``spec`` of a saved multi-task run (``<folder>/model``): ``(its view, the tokenizer)``."""
    import json

    from transformers import AutoModel

    model_dir = Path(folder) / "model"
    specs = [TaskSpec.from_dict(d) for d in json.loads((model_dir / "tasks.json").read_text())]
    with reading_weights(model_dir):
        model = MultiTaskModel(AutoModel.from_pretrained(model_dir), specs)
        load_heads(model_dir, model)
    return TaskView(model, spec.name).eval(), read_tokenizer(model_dir)


def load_multitask(folder: Path, model: MultiTaskModel) -> None:
    """Load a saved multi-task model's weights into ``model`` (same tasks and sizes)."""
    from transformers import AutoModel

    with reading_weights(folder):
        model.encoder.load_state_dict(AutoModel.from_pretrained(folder).state_dict())
        load_heads(folder, model)


def load_heads(folder: Path, model: MultiTaskModel) -> None:
    """The task heads of a saved multi-task model (``heads.safetensors``) into ``model``."""
    from safetensors.torch import load_file

    model.heads.load_state_dict(load_file(folder / "heads.safetensors"))
