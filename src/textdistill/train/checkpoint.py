"""Resumable training state, written atomically and read back without unpickling code.

A checkpoint is one file (``<run>/checkpoint.pt``) holding the trained weights, the optimiser,
scheduler and grad-scaler states, the step, the best metric so far and the evaluation history,
every rank's RNG states (Python, NumPy, torch CPU and CUDA) and named extra generators (a
method's negative sampler). The data order needs nothing more: an epoch's batches are a function
of the seed and the epoch (:mod:`textdistill.data.sampling`), so the step says where to go on.

It is serialised in memory, then written to a temporary file in the same folder and renamed over
the old one (:func:`textdistill.diskio.write_atomic`), so a run killed while saving, or a full
disk, leaves the previous checkpoint whole (a full disk is said as such, with the space free and
how to go on). It is read with ``torch.load(weights_only=True)``: tensors, numbers, strings and
containers only, never arbitrary pickled objects.
"""

from __future__ import annotations

import io
import os
import random
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textdistill.diskio import AGAIN, RESUME, disk_error, os_error_of, write_atomic
from textdistill.errors import TextdistillError

FORMAT = 1


def rng_state() -> dict[str, Any]:
    """This process's RNG states (Python, NumPy, torch CPU and every CUDA device)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically: serialised in memory first, so that a failed write
    is an ``OSError`` (:class:`textdistill.diskio.DiskError` from here), never torch's stream error.
    """
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **payload}, buffer)
    write_atomic(path, buffer.getbuffer(), then=RESUME)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :func:`save_checkpoint`, loaded with ``weights_only=True``."""
    if not path.exists():
        raise TextdistillError(f"no checkpoint at {path}: nothing to resume (start the run without --resume)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a foreign or damaged file: say which, do not unpickle anything
        raise TextdistillError(f"{path} is not a textdistill checkpoint that loads safely: {err}") from None
    if payload.get("format") != FORMAT:
        raise TextdistillError(f"{path} has checkpoint format {payload.get('format')}, expected {FORMAT}")
    return payload


@contextmanager
def atomic_folder(folder: Path, then: str | None = None) -> Iterator[Path]:
    """Write a folder's files into a fresh sibling, then swap it in: a run killed mid-save keeps
    the previous folder (at ``folder`` or, killed between the two renames, ``<folder>.old``,
    which :func:`recover_folder` puts back). A failed write removes the sibling; one the operating
    system refused (a full disk, even as a library's error) is a :class:`~textdistill.diskio.DiskError`
    that says the previous folder is kept and ``then`` what to run."""
    new = folder.with_name(folder.name + ".new")
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(new, ignore_errors=True)
    try:
        new.mkdir(parents=True)
        yield new
    except BaseException as err:
        shutil.rmtree(new, ignore_errors=True)
        refused = disk_error(err, folder, then=then or _then(folder.parent), folder=True)
        if refused is not None:
            raise refused from err
        raise
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    new.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def files_into(folder: Path, then: str | None = None) -> Iterator[Path]:
    """Write files into a fresh staging folder inside ``folder``, then move each over its namesake
    (``os.replace``): every file in ``folder`` is whole, the previous one or the new one, for a
    folder that holds more than the saved files (a teacher's run folder: its manifest, log and
    checkpoint beside the model). A failed write removes the staging folder and keeps the previous
    files, as :func:`atomic_folder` does."""
    staging = folder / ".saving"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        yield staging
        for path in sorted(staging.iterdir()):
            os.replace(path, folder / path.name)
    except BaseException as err:
        failed = getattr(os_error_of(err), "filename", None)  # the file that failed, else the weights
        named = folder / Path(failed).name if failed else folder / "model.safetensors"
        refused = disk_error(err, named, then=then or _then(folder))
        if refused is not None:
            raise refused from err
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _then(run: Path) -> str:
    """What to run after a failed save into ``run``: ``--resume`` when a checkpoint is there to
    continue from, else the same command."""
    return RESUME if (run / "checkpoint.pt").exists() else AGAIN


def recover_folder(folder: Path) -> None:
    """Undo a swap of :func:`atomic_folder` that a kill interrupted."""
    old = folder.with_name(folder.name + ".old")
    if not folder.exists() and old.exists():
        old.rename(folder)
