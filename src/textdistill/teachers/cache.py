"""Teacher outputs, computed once and read back from disk.

The key is a fingerprint of everything the outputs depend on: the teacher's weights in any format
(``model.safetensors``, shards, ``pytorch_model.bin``), its config and tokenizer files (every file
of the folder but textdistill's records: :func:`textdistill.artifacts.model_fingerprint`), the
texts (in order) and the tokenisation settings. Labels do not enter it (the
teacher never sees them). A changed teacher or dataset gives a new fingerprint, so a stale cache
is never read. Intermediate-layer methods also get ``features``: each teacher layer pooled to one
row per example (mean or [CLS]), stored in the same file under a key that adds the pooling;
token-level states and attention maps are never cached (gigabytes per task), the methods that
need them run the teacher live. Entries live in
``<home>/teacher_cache/<fingerprint>.safetensors``.

Every entry records in its metadata a sha256 over its tensors (names, dtypes, shapes and bytes),
its row count, class count and feature shape; :func:`read_entry` checks them all against the file
and against what the caller expects (one row per example, the teacher's class count, features
when asked). A damaged entry is named in one warning, removed and computed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor
from tqdm.auto import tqdm

from textdistill.artifacts import model_fingerprint
from textdistill.data.encode import EncodedDataset, length_ordered
from textdistill.data.spec import Example
from textdistill.data.windows import TRUNCATE, Reading, coverage_line
from textdistill.diskio import DiskError, atomic_path
from textdistill.errors import TextdistillError
from textdistill.models.features import pool
from textdistill.models.outputs import ModelOutput
from textdistill.paths import home
from textdistill.runtime import progress_interval
from textdistill.teachers.predictions import Predictions


def position_limit(teacher_dir: str | Path) -> int:
    """The longest input the teacher's position table holds (``max_position_embeddings``; a very
    large number when its config does not say)."""
    limits = [10**9]
    for name, key in (
        ("config.json", "max_position_embeddings"),
        ("tokenizer_config.json", "model_max_length"),
    ):
        try:  # the tokenizer's limit is the tighter one where positions start after the padding (RoBERTa)
            value = json.loads((Path(teacher_dir) / name).read_text()).get(key)
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(value, int | float) and value > 0:
            limits.append(int(min(value, 10**9)))
    return min(limits)


def teacher_classes(teacher_dir: str | Path) -> int | None:
    """How many outputs the teacher gives (1 for a regression): its config's ``num_labels``, which
    is the length of ``id2label`` and, where ``config.json`` names neither, ``transformers``'
    default of 2. ``None`` when the config cannot be read (the count is then not checked)."""
    from transformers import AutoConfig

    try:
        return int(AutoConfig.from_pretrained(teacher_dir).num_labels)
    except (OSError, ValueError):
        return None


def fingerprint(teacher_dir: str | Path, examples: Sequence[Example], max_length: int) -> str:
    """A sha256 over the teacher's model files, the example texts in order, and ``max_length``."""
    h = hashlib.sha256()
    h.update(f"teacher:{model_fingerprint(teacher_dir)}\n".encode())
    h.update(f"max_length:{max_length}\n".encode())
    for e in examples:
        h.update(json.dumps([e.text, e.text_pair], ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


@dataclass
class TeacherOutputs:
    """Teacher outputs for a list of examples, row ``i`` for example ``i``.

    Attributes:
        logits: ``(N, C)`` (``(N, 1)`` for regression).
        fingerprint: the cache key these outputs were computed or read under.
        from_cache: whether they were read from disk.
    """

    logits: Tensor
    fingerprint: str
    from_cache: bool
    features: Tensor | None = None  # (N, n_layers, H): layers 1..n pooled, when asked for

    def concat(self, other: TeacherOutputs) -> TeacherOutputs:
        """These rows, then ``other``'s (a labelled set followed by its transfer set)."""
        key = hashlib.sha256(f"{self.fingerprint}+{other.fingerprint}".encode()).hexdigest()
        if (self.features is None) != (other.features is None):
            raise ValueError("cannot concatenate teacher outputs with and without layer features")
        features = None if self.features is None else torch.cat([self.features, other.features])
        return TeacherOutputs(
            torch.cat([self.logits, other.logits]), key, self.from_cache and other.from_cache, features
        )

    def reorder(self, order: list[int] | None) -> TeacherOutputs:
        """The outputs with their classes in another order (``logits[:, order]``): a teacher whose
        labels are the task's in a different order. ``None`` returns these outputs."""
        if order is None:
            return self
        key = hashlib.sha256(f"{self.fingerprint}+order:{order}".encode()).hexdigest()
        return TeacherOutputs(self.logits[:, order], key, self.from_cache, self.features)

    def lookup(self, index: Tensor) -> ModelOutput:
        """The teacher's output for a batch, by the batch's ``index`` (B,): logits (B, C) and,
        when cached, ``layer_features`` (B, n_layers, H)."""
        features = None if self.features is None else self.features[index]
        return ModelOutput(logits=self.logits[index], layer_features=features)


ENTRY_FORMAT = "2"  # entries with a checksum; format 1 (no "sha256" in the metadata) came before


class DamagedEntry(Exception):
    """A cache entry that cannot be used; the message says why (for the one warning line)."""


def tensors_sha256(tensors: dict[str, Tensor]) -> str:
    """sha256 over each tensor's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}\n".encode())
        h.update(t.view(torch.uint8).numpy())
    return h.hexdigest()


def entry_metadata(logits: Tensor, features: Tensor | None) -> dict[str, str]:
    """What an entry records about its own tensors: format, checksum, rows, classes, feature shape."""
    tensors = {"logits": logits} if features is None else {"logits": logits, "features": features}
    meta = {
        "format": ENTRY_FORMAT,
        "sha256": tensors_sha256(tensors),
        "rows": str(logits.shape[0]),
        "classes": str(logits.shape[1]),
    }
    if features is not None:
        meta["feature_shape"] = "x".join(str(n) for n in features.shape)
    return meta


def _shape_problems(logits: Tensor, features: Tensor | None, rows: int, classes: int | None) -> list[str]:
    """How ``logits`` (N, C) and ``features`` (N, n_layers, H) differ from what the caller needs."""
    problems = []
    if logits.shape[0] != rows:
        problems.append(f"{logits.shape[0]} rows, expected {rows} (one per example)")
    if classes is not None and logits.shape[1] != classes:
        problems.append(f"{logits.shape[1]} classes, the teacher has {classes}")
    if features is not None and (features.ndim != 3 or features.shape[0] != rows):
        problems.append(f"features of shape {tuple(features.shape)}, expected ({rows}, layers, hidden)")
    return problems


def read_entry(
    path: Path, rows: int, classes: int | None, features: str | None
) -> tuple[Tensor, Tensor | None, dict[str, str]]:
    """The logits ``(rows, classes)`` and, with ``features``, the pooled layers ``(rows, n_layers,
    H)`` of the entry at ``path``, and its metadata.

    Checked: the file loads; its checksum matches its tensors; it records the shapes it holds;
    ``rows`` rows (one per example); ``classes`` columns (the teacher's output count,
    :func:`teacher_classes`; unchecked when ``None``); features present, pooled the asked way.

    An entry from before checksums (no ``sha256`` in its metadata) is checked for everything but
    the checksum and accepted (the caller then records a checksum for it): recomputing it would
    cost a full teacher pass over a data set that may be a large transfer set; every entry was
    always written to a temporary file and renamed into place, so never left half-written by a
    killed run; and a structurally sound old entry is as trustworthy as it was before this check
    existed. A same-shape alteration of such an entry made before it is next read cannot be told;
    every later one is.

    Raises:
        DamagedEntry: the first problem found, in words.
    """
    try:
        with safe_open(path, "pt") as f:
            meta = f.metadata() or {}
            stored = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (a safe_open handle)
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        why = str(err).removeprefix("Error while deserializing header: ")
        raise DamagedEntry(f"does not load: {why}") from None
    logits, pooled = stored.get("logits"), stored.get("features")
    if logits is None or logits.ndim != 2:
        raise DamagedEntry("no logits of shape (rows, classes)")
    if "sha256" in meta:
        record = entry_metadata(logits, pooled)
        if record["sha256"] != meta["sha256"]:
            raise DamagedEntry("checksum mismatch")
        wrong = [k for k, v in record.items() if meta.get(k) != v]
        if wrong:
            raise DamagedEntry(f"its record ({', '.join(wrong)}) does not describe its tensors")
    problems = _shape_problems(logits, pooled, rows, classes)
    if features is not None and pooled is None:
        problems.append(f"no layer features ({features} pooling asked for)")
    elif features is not None and meta.get("features") != features:
        problems.append(f"features pooled by {meta.get('features')!r}, {features!r} asked for")
    if problems:
        raise DamagedEntry("; ".join(problems))
    return logits, pooled, meta


def write_entry(path: Path, logits: Tensor, features: Tensor | None, meta: dict[str, str]) -> None:
    """Store ``logits`` (N, C) and ``features`` (N, n_layers, H) at ``path`` with ``meta`` and the
    record :func:`read_entry` checks, through a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"logits": logits.contiguous()}
    if features is not None:
        tensors["features"] = features.contiguous()
    with atomic_path(path, sum(t.nbytes for t in tensors.values())) as tmp:
        save_file(tensors, tmp, metadata={**meta, **entry_metadata(logits, features)})


@torch.no_grad()
def compute_outputs(
    teacher: torch.nn.Module,
    dataset: EncodedDataset,
    collate,
    batch_size: int = 64,
    features: str | None = None,
    multi_label: bool | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Teacher logits ``(N, C)`` and, with ``features`` (a pooling, ``mean`` or ``cls``), every
    layer pooled ``(N, n_layers, H)``, in dataset order; batches are formed by length to cut
    padding. The teacher runs where its weights are; the outputs come back to the CPU. A windowed
    dataset's windows are combined into one row per example."""
    from textdistill.models.teacher import per_example

    teacher.eval()
    device = next(teacher.parameters()).device
    order, loader = length_ordered(dataset, collate, batch_size)
    logit_chunks, feature_chunks = [], []
    for batch in tqdm(
        loader, desc="teacher", unit="batch", dynamic_ncols=True, leave=False, mininterval=progress_interval()
    ):
        out = teacher(
            **{k: batch[k].to(device) for k in teacher.input_names if k in batch},
            output_hidden_states=features is not None,
        )
        logit_chunks.append(out.logits.float().cpu())
        if features is not None:
            mask = batch["attention_mask"].to(device)
            layers = [pool(h.float(), mask, features) for h in out.hidden_states[1:]]
            feature_chunks.append(torch.stack(layers, dim=1).cpu())
    where = torch.tensor(order)
    logits = torch.empty_like(torch.cat(logit_chunks))
    logits[where] = torch.cat(logit_chunks)
    if features is None:
        return per_example(logits, dataset, teacher, multi_label), None
    pooled = torch.empty_like(torch.cat(feature_chunks))
    pooled[where] = torch.cat(feature_chunks)
    return logits, pooled


def teacher_outputs(
    teacher_dir: str | Path | Predictions,
    examples: Sequence[Example],
    max_length: int = 128,
    batch_size: int = 64,
    features: str | None = None,
    device: str | torch.device = "cpu",
    combine: str | None = None,
    what: str = "examples",
    reading: Reading = TRUNCATE,
) -> TeacherOutputs:
    """The teacher's logits on ``examples`` (and, with ``features`` = ``"mean"`` or ``"cls"``,
    its layers pooled that way): read from the cache, or computed once (on ``device``) and stored.
    For an ensemble, ``combine`` overrides how its members' logits are combined (``probs`` or
    ``logits``; by default the ensemble's own); the two have different fingerprints.

    A teacher given as a predictions file (:class:`~textdistill.teachers.predictions.Predictions`)
    goes through the same cache, keyed by the file's sha256 and the texts; examples it does not
    cover are refused, named (``what`` says which they are: ``training texts``).

    ``reading`` says how the teacher reads a text longer than ``max_length``: over windows, one
    row per example is still cached (its windows' logits combined:
    :func:`~textdistill.data.windows.per_document`), under a key that adds the reading (a plain
    cut keeps the keys it always had)."""
    if features not in (None, "mean", "cls"):
        raise ValueError(f"only pooled features are cached (mean or cls); got {features!r}")
    if isinstance(teacher_dir, Predictions):
        return predictions_outputs(teacher_dir, examples, features, what)
    from textdistill.teachers.ensemble import combine as combined
    from textdistill.teachers.ensemble import is_ensemble, read_ensemble

    if is_ensemble(teacher_dir):  # each member through the cache, then combined (cheap)
        if features is not None:
            raise TextdistillError(
                f"{teacher_dir} is an ensemble: intermediate-layer methods need a single teacher"
            )
        members, mode = read_ensemble(teacher_dir)
        mode = combine or mode
        parts = [
            teacher_outputs(m, examples, max_length, batch_size, None, device, reading=reading)
            for m in members
        ]
        multi = _multi_label(teacher_dir)
        tag = f"ensemble:{mode}:" + ("multi-label:" if multi else "")  # old keys unchanged for the others
        key = hashlib.sha256(f"{tag}{'+'.join(p.fingerprint for p in parts)}".encode()).hexdigest()
        return TeacherOutputs(
            combined([p.logits for p in parts], mode, multi), key, from_cache=all(p.from_cache for p in parts)
        )
    from textdistill.data.encode import PaddingCollator
    from textdistill.models.teacher import HFClassifier
    from textdistill.models.weights import read_tokenizer

    max_length = min(max_length, position_limit(teacher_dir))  # never past the teacher's position table
    if features is not None and reading.mode != "truncate":
        raise TextdistillError(
            f"a teacher read by {reading.mode} gives outputs only: a method that matches its layers "
            "(lrc_bert, hinton_cos) reads a plain cut (teacher_reading: {mode: truncate})"
        )
    key = fingerprint(teacher_dir, examples, max_length)
    if reading.tag():
        key = hashlib.sha256(f"{key}{reading.tag()}".encode()).hexdigest()
    if features is not None:
        key = hashlib.sha256(f"{key}+features:{features}".encode()).hexdigest()
    path = home() / "teacher_cache" / f"{key}.safetensors"
    if path.exists():
        try:
            logits, pooled, meta = read_entry(path, len(examples), teacher_classes(teacher_dir), features)
        except DamagedEntry as err:
            warnings.warn(f"teacher cache: {path} is damaged ({err}); computing it again", stacklevel=2)
            path.unlink(missing_ok=True)
        else:
            if "sha256" not in meta:  # from before checksums, and sound: it gets its record (read_entry)
                with contextlib.suppress(DiskError):  # best effort: a read-only cache is still read
                    write_entry(path, logits, pooled, meta)
            return TeacherOutputs(logits, key, from_cache=True, features=pooled)
    tokenizer = read_tokenizer(teacher_dir)
    teacher = HFClassifier.from_pretrained(str(teacher_dir)).to(device)
    started = time.perf_counter()
    dataset = EncodedDataset(examples, tokenizer, max_length, reading)
    read = dataset.coverage()
    if read.over_limit:  # what the teacher's targets read of the texts, said once
        print(f"teacher, {coverage_line(what, read, reading)}", file=sys.stderr)
    multi = _multi_label(teacher_dir) or None  # its manifest's task, else its config's problem_type
    logits, pooled = compute_outputs(
        teacher, dataset, PaddingCollator(tokenizer), batch_size, features, multi
    )
    meta = {
        "teacher": str(Path(teacher_dir).resolve()),
        "examples": str(len(examples)),
        "max_length": str(max_length),
        "reading": json.dumps(reading.record()),
        "seconds": f"{time.perf_counter() - started:.1f}",
    }
    if features is not None:
        meta["features"] = features
    write_entry(path, logits, pooled, meta)
    return TeacherOutputs(logits, key, from_cache=False, features=pooled)


def _multi_label(folder: str | Path) -> bool:
    """Whether a teacher folder's manifest records a multi-label task."""
    from textdistill.artifacts import has_manifest, read_manifest

    return has_manifest(folder) and bool((read_manifest(folder).get("task") or {}).get("multi_label"))


def predictions_outputs(
    predictions: Predictions, examples: Sequence[Example], features: str | None = None, what: str = "examples"
) -> TeacherOutputs:
    """The logits ``(N, C)`` a predictions file gives ``examples``, through the cache: the key is
    the file's sha256, the task's label order and the texts, so an edited file is a new teacher."""
    if features is not None:
        raise TextdistillError(
            f"teacher predictions {predictions.path} give outputs only: a method that reads the teacher's "
            "layers needs a teacher model"
        )
    h = hashlib.sha256()
    h.update(f"predictions:{predictions.sha256}\nlabels:{predictions.labels}\n".encode())
    if predictions.multi_label:  # its probabilities read as logits, not log-probabilities: other values
        h.update(b"multi-label\n")
    for e in examples:  # rows are found by id where the file has ids: they are part of the key then
        ident = [e.id] if predictions.ids else []
        h.update(json.dumps([e.text, e.text_pair, *ident], ensure_ascii=False).encode())
        h.update(b"\n")
    key = h.hexdigest()
    path = home() / "teacher_cache" / f"{key}.safetensors"
    if path.exists():
        try:
            logits, _, _ = read_entry(path, len(examples), predictions.num_outputs, None)
        except DamagedEntry as err:
            warnings.warn(f"teacher cache: {path} is damaged ({err}); reading the file again", stacklevel=2)
            path.unlink(missing_ok=True)
        else:
            return TeacherOutputs(logits, key, from_cache=True)
    logits = torch.from_numpy(predictions.outputs(examples, what))
    meta = {"predictions": str(predictions.path.resolve()), "examples": str(len(examples))}
    write_entry(path, logits, None, meta)
    return TeacherOutputs(logits, key, from_cache=False)
