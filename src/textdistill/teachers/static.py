"""Static token vectors of the teacher itself, for a BiLSTM student (``embedding: teacher``).

:mod:`model2vec` (Tulkens & van Dongen, 2024) runs the teacher's encoder once over every token
of its vocabulary, mean-pools each token's output, and reduces the vectors with PCA to
``dims`` dimensions, offline, from the teacher's folder. The student then reads the teacher's own
sub-word tokens (no word-vector asset, no unknown words) and starts from vectors in which the
teacher's knowledge of each token, fine-tuned on the task when the teacher was, is already
written. The tokens model2vec drops (``[unused...]``) are absent from its tokenizer; augmented
texts' ``[MASK]`` gets a row of its own (:class:`~textdistill.data.encode.TokenVocab`), started at
the mean vector.

Computing the vectors takes about a minute for MiniLM's 30k tokens on two CPU cores, so they are
kept in ``<home>/static_vectors/<key>.safetensors``, keyed by the teacher's model files, the
dimensions and the model2vec version, with a checksum checked on every read (a damaged entry is
named and computed again, as teacher-cache entries are).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from textdistill.artifacts import model_fingerprint
from textdistill.data.encode import TokenVocab
from textdistill.diskio import atomic_path
from textdistill.errors import TextdistillError
from textdistill.paths import home
from textdistill.teachers.cache import tensors_sha256


def _version() -> str:
    try:
        from model2vec.version import __version__
    except ImportError as err:  # pragma: no cover - a dependency of the package
        raise TextdistillError("embedding: teacher needs model2vec: pip install 'model2vec>=0.10'") from err
    return str(__version__)


def static_source(teacher: Path) -> Path:
    """The folder whose encoder gives a student its static vectors: the teacher, or an ensemble's
    first kept member (the members share the tokenizer and started from the same encoder)."""
    from textdistill.teachers.ensemble import is_ensemble, read_ensemble

    return read_ensemble(teacher)[0][0] if is_ensemble(teacher) else teacher


def static_vectors(teacher_dir: str | Path, dims: int) -> tuple[TokenVocab, Tensor]:
    """The teacher's token vectors: its (cleaned) tokenizer as a vocabulary and a float32
    ``(len(vocab), dims)`` table (the last row, ``[MASK]``, the mean of the others)."""
    teacher_dir = Path(teacher_dir)
    hidden = json.loads((teacher_dir / "config.json").read_text()).get("hidden_size")
    if isinstance(hidden, int) and dims > hidden:
        raise TextdistillError(
            f"student.embed_dim {dims} is wider than the teacher's {hidden} dimensions: embedding: teacher "
            f"reduces the teacher's vectors, so set embed_dim to {hidden} or fewer (256 is a good start)"
        )
    key = hashlib.sha256(
        f"{model_fingerprint(teacher_dir)}:dims={dims}:model2vec={_version()}".encode()
    ).hexdigest()
    path = home() / "static_vectors" / f"{key}.safetensors"
    if path.exists():
        try:
            return _read(path)
        except _Damaged as err:
            warnings.warn(f"static vectors: {path} is damaged ({err}); computing them again", stacklevel=2)
            path.unlink(missing_ok=True)
    vocab, table = _distill(teacher_dir, dims)
    tensors = {"vectors": table}
    meta = {"tokenizer": vocab.tokenizer_json, "sha256": tensors_sha256(tensors), "teacher": str(teacher_dir)}
    with atomic_path(path, table.nbytes) as tmp:
        save_file(tensors, tmp, metadata=meta)
    return vocab, table


class _Damaged(Exception):
    pass


def _read(path: Path) -> tuple[TokenVocab, Tensor]:
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            table = f.get_tensor("vectors")
    except (SafetensorError, OSError, KeyError) as err:
        raise _Damaged(f"does not load: {err}") from None
    if meta.get("sha256") != tensors_sha256({"vectors": table}):
        raise _Damaged("checksum mismatch")
    try:
        vocab = TokenVocab(meta["tokenizer"])
    except Exception as err:  # the tokenizer JSON beside the vectors does not read
        raise _Damaged(f"its tokenizer does not load: {err}") from None
    if table.shape[0] != len(vocab):
        raise _Damaged(f"{table.shape[0]} rows for {len(vocab)} tokens")
    return vocab, table


def _distill(teacher_dir: Path, dims: int) -> tuple[TokenVocab, Tensor]:
    """Run model2vec on the teacher's folder (its encoder; a classification head is not used)."""
    _version()
    from model2vec.distill import distill

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its notes on the unused head and on the hub being offline
        model = distill(model_name=str(teacher_dir), pca_dims=dims, device="cpu", quantize_to="float32")
    vectors = np.asarray(model.embedding, dtype=np.float32)
    vocab = TokenVocab(model.tokenizer.to_str())
    if vectors.shape[0] != vocab.size:
        raise TextdistillError(
            f"model2vec gave {vectors.shape[0]} vectors for {vocab.size} tokens of {teacher_dir}"
        )
    table = torch.from_numpy(np.concatenate([vectors, vectors.mean(0, keepdims=True)]))
    return vocab, table.contiguous()
