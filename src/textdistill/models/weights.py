"""Damaged model files, named: the one guard every weight loader runs under.

A truncated or overwritten ``model.safetensors`` makes ``safetensors`` (or ``transformers``, or
``torch.load``) fail with a message that names no file. Loaders run under :func:`reading_weights`:
when the load fails, the folder's weight files (``*.safetensors``, ``*.bin``) and its
``config.json`` are examined, and the first damaged one is reported as a
:class:`~textdistill.errors.TextdistillError` that names it and says what to do, which depends on
whose file it is: an asset's (``textdistill assets verify NAME --repair``), a run folder's
(restore it, or make it again), or anyone else's. A failure with every file intact is not a
damaged file and goes on unchanged. Nothing is examined while loads succeed.
"""

from __future__ import annotations

import contextlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open

from textdistill.errors import TextdistillError
from textdistill.paths import MANIFEST

WEIGHT_SUFFIXES = (".safetensors", ".bin")
REMAKE = {  # the command that makes each kind of run folder again
    "teacher": "textdistill teach",
    "ensemble": "textdistill teach --ensemble",
    "student": "textdistill distill",
    "multitask": "textdistill distill",
    "general": "textdistill general-distill",
}


RECORDS = (  # the JSON files a model folder is read through: the config, the tokenizer's, a small student's
    "config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
    "student_config.json",
)  # fmt: skip


def model_files_to_examine(target: str | Path) -> list[Path]:
    """The files a load from ``target`` reads that can be examined: ``target`` itself when it is a
    file, else the folder's JSON records (config, tokenizer) and weight files (none for a hub name)."""
    target = Path(target)
    if target.is_file():
        return [target]
    if not target.is_dir():
        return []
    weights = sorted(p for p in target.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    return [*(target / name for name in RECORDS if (target / name).is_file()), *weights]


def damage(path: Path) -> str | None:
    """Why ``path`` cannot be read as what its name says (``None``: it reads). Safetensors files
    have their header checked against the file's size; torch ``.bin`` files must be a whole zip
    archive (or the old pickle format); ``config.json`` must be a JSON object."""
    try:
        if path.stat().st_size == 0:
            return "empty"
        if path.suffix == ".safetensors":
            with safe_open(str(path), "pt") as f:
                f.keys()
        elif path.suffix == ".bin":
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as z:
                    bad = z.testzip()
                if bad is not None:
                    return f"its member {bad} fails its CRC"
            elif path.read_bytes()[:1] != b"\x80":  # a pickle (torch's format before 1.6) starts so
                return "neither a torch zip archive nor a pickle"
        elif path.suffix == ".json" and not isinstance(json.loads(path.read_text()), dict):
            return "not a JSON object"
    except SafetensorError as err:  # its header does not describe the file
        return str(err).removeprefix("Error while deserializing header: ")
    except (OSError, ValueError, zipfile.BadZipFile) as err:  # ValueError: bad JSON, bad UTF-8
        return str(err)
    return None


def run_folder_of(path: Path) -> tuple[Path, str | None] | None:
    """The run folder ``path`` belongs to (the nearest of its parents, up to two levels, that holds
    a ``run.json``) and that folder's kind; ``None`` when it belongs to none."""
    for folder in list(path.parents)[:3]:
        if (folder / MANIFEST).is_file():
            kind = None
            with contextlib.suppress(OSError, json.JSONDecodeError, AttributeError):
                kind = json.loads((folder / MANIFEST).read_text()).get("kind")
            return folder, kind
    return None


def advice(path: Path) -> str:
    """What to do about a damaged model file at ``path``, by whose file it is."""
    from textdistill.paths import home

    resolved = path.resolve()
    assets = (home() / "assets").resolve()
    if resolved.is_relative_to(assets) and resolved != assets:
        name = resolved.relative_to(assets).parts[0]
        return f"it belongs to the asset {name}: run `textdistill assets verify {name} --repair`"
    run = run_folder_of(resolved)
    if run is not None:
        folder, kind = run
        remake = REMAKE.get(kind or "", "the command that made it")
        return (
            f"it belongs to the run folder {folder}: restore that folder from a copy, or make it again "
            f"({remake})"
        )
    return "replace it with an intact copy"


def damaged_model_file(target: str | Path) -> TextdistillError | None:
    """The error naming the first damaged file a load from ``target`` reads (``None``: all read)."""
    for path in model_files_to_examine(target):
        why = damage(path)
        if why is not None:
            return TextdistillError(f"{path} is damaged ({why}): {advice(path)}")
    return None


@contextlib.contextmanager
def reading_weights(target: str | Path) -> Iterator[None]:
    """Run a load of the model at ``target`` (a folder, a weights file, or a hub name). If it fails,
    raise a :class:`TextdistillError` instead of the loader's error: naming the damaged file and
    what to do when one of the files it reads is damaged, else saying that the model at ``target``
    does not load and why (a config that does not fit its weights, say)."""
    try:
        yield
    except (TextdistillError, MemoryError):
        raise
    except PermissionError as err:
        raise TextdistillError(f"{err.filename or target}: permission denied: make it readable") from err
    except Exception as err:
        named = damaged_model_file(target)
        if named is not None:
            raise named from err
        if not Path(target).exists():
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        raise TextdistillError(
            f"the model at {target} does not load ({type(err).__name__}: {message[:400]}); its files read "
            "as what they are, so they may not fit each other (a config.json edited after training?)"
        ) from err


def read_tokenizer(folder: str | Path) -> Any:
    """``AutoTokenizer.from_pretrained(folder)`` under :func:`reading_weights`: a damaged
    ``tokenizer.json`` is named."""
    from transformers import AutoTokenizer

    with reading_weights(folder):
        return AutoTokenizer.from_pretrained(folder)
