"""Where textdistill keeps its cache: ``$TEXTDISTILL_HOME`` or ``~/.cache/textdistill``."""

from __future__ import annotations

import os
from pathlib import Path

MANIFEST = "run.json"  # the run manifest's name in every run folder (textdistill.artifacts)


def home() -> Path:
    """The cache root; created on first use."""
    root = Path(os.environ.get("TEXTDISTILL_HOME") or Path.home() / ".cache" / "textdistill")
    root.mkdir(parents=True, exist_ok=True)
    return root
