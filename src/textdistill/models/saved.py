"""Saving and loading the small students (BiLSTM, CNN): a state dict and the constructor's
arguments, never pickled code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from safetensors.torch import load_file, save_file

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "student_config.json"
S = TypeVar("S", bound="SavedStudent")


class SavedStudent:
    """Mixin for an ``nn.Module`` whose ``config`` dict rebuilds it (``cls(**kwargs(config))``)."""

    config: dict[str, Any]

    def save(self, folder: str | Path) -> None:
        """Write ``model.safetensors`` (the state dict) and ``student_config.json`` (``config``)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}  # type: ignore[attr-defined]
        save_file(state, folder / WEIGHTS_NAME)
        (folder / CONFIG_NAME).write_text(json.dumps(self.config, indent=2) + "\n")

    @classmethod
    def kwargs(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The constructor's arguments from a saved ``config`` (JSON types)."""
        return config

    @classmethod
    def load(cls: type[S], folder: str | Path) -> S:
        """Rebuild a student written by :meth:`save` (on the CPU)."""
        from textdistill.models.weights import reading_weights

        folder = Path(folder)
        model = cls(**cls.kwargs(json.loads((folder / CONFIG_NAME).read_text())))
        with reading_weights(folder / WEIGHTS_NAME):
            model.load_state_dict(load_file(folder / WEIGHTS_NAME))  # type: ignore[attr-defined]
        return model
