"""How a model reads a text longer than its length limit: cut it, keep its head and tail, or read it
all as overlapping windows whose outputs are combined into one per document.

A :class:`Reading` says which. ``truncate`` keeps the first ``max_length`` tokens (what every model
did before); ``head_tail`` keeps the first ``head`` tokens and the last ``max_length - head`` (Sun
et al. 2019, "How to Fine-Tune BERT for Text Classification?", arXiv:1905.05583, found head + tail
the best single cut of a long review or news text); ``windows`` splits the text into windows of
``max_length`` tokens that start every ``stride`` tokens, so neighbouring windows share
``max_length - stride`` tokens, the last one ending at the text's end. A windowed dataset holds one
row per window, each with its document's ``index`` and label; :func:`per_document` turns the
window rows' logits into one row per document.

:func:`coverage` says what a reading keeps of a set of texts (how many exceed the limit, the share
of their tokens read): every command that encodes texts reports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal, get_args

import torch
from torch import Tensor

Mode = Literal["truncate", "head_tail", "windows"]
Combine = Literal["mean", "max", "first"]
MODES: tuple[str, ...] = get_args(Mode)
COMBINES: tuple[str, ...] = get_args(Combine)


@dataclass(frozen=True)
class Reading:
    """How texts longer than the model's limit are read.

    Attributes:
        mode: ``truncate`` (the first tokens), ``head_tail`` (the first ``head`` and the last
            ones) or ``windows`` (all of it, window by window).
        stride: windows: tokens from one window's start to the next; ``None``: three quarters of
            a window (a quarter of each window is shared with the next).
        combine: windows: one document's outputs from its windows': ``mean`` of the
            probabilities, their ``max`` per class, or the ``first`` window's.
        head: head_tail: tokens kept from the start; ``None``: a quarter of the limit.
        fine_tune: a teacher's fine-tuning over windows: every window with its document's label
            (``windows``), or the first window of each document (``first``; scored over windows).
    """

    mode: Mode = "truncate"
    stride: int | None = None
    combine: Combine = "mean"
    head: int | None = None
    fine_tune: Literal["windows", "first"] = "windows"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown reading {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.combine not in COMBINES:
            raise ValueError(f"unknown combine {self.combine!r}; choose one of {', '.join(COMBINES)}")
        if self.stride is not None and self.stride < 1:
            raise ValueError(f"stride must be at least 1 token, got {self.stride}")
        if self.head is not None and self.head < 0:
            raise ValueError(f"head must be 0 or more tokens, got {self.head}")

    @property
    def windowed(self) -> bool:
        return self.mode == "windows"

    def step(self, room: int) -> int:
        """Tokens between window starts for windows of ``room`` text tokens (never more than ``room``,
        so no token is skipped)."""
        return max(1, min(self.stride or (3 * room) // 4, room))

    def record(self) -> dict:
        """The reading as a manifest keeps it (only what differs from a plain cut, for ``truncate``)."""
        return {"mode": "truncate"} if self.mode == "truncate" else asdict(self)

    @classmethod
    def from_record(cls, record: dict | None) -> Reading:
        """A manifest's ``reading`` (``None``: a run from before readings, which truncated)."""
        return cls(**record) if record else cls()

    def slug(self) -> str:
        """A file-name part: ``windows``, ``windows-s64-max``, ``head_tail-h32``."""
        parts = [self.mode]
        if self.mode == "windows":
            parts += [f"s{self.stride}"] if self.stride else []
            parts += [self.combine] if self.combine != "mean" else []
        if self.mode == "head_tail" and self.head is not None:
            parts.append(f"h{self.head}")
        return "-".join(parts)

    def tag(self) -> str:
        """What enters a teacher-cache key: empty for ``truncate``, so older keys stay valid."""
        if self.mode == "truncate":
            return ""
        if self.mode == "head_tail":
            return f"+reading:head_tail:{self.head}"
        return f"+reading:windows:{self.stride}:{self.combine}"


TRUNCATE = Reading()


def spans(length: int, room: int, reading: Reading) -> list[tuple[int, int]]:
    """The ``[start, end)`` token spans a text of ``length`` tokens is read as, ``room`` tokens
    at most each: one span when the text fits (or the reading cuts), else the head and tail pieces
    (``head_tail``: two spans, read as one input) or every window (``windows``)."""
    if length <= room or reading.mode == "truncate":
        return [(0, min(length, room))]
    if reading.mode == "head_tail":
        head = min(room, reading.head if reading.head is not None else room // 4)
        return [(0, head), (length - (room - head), length)]
    step = reading.step(room)
    starts = list(range(0, length - room + 1, step))
    if starts[-1] + room < length:  # the last window ends at the text's end
        starts.append(length - room)
    return [(s, s + room) for s in starts]


def read_share(length: int, room: int, reading: Reading) -> int:
    """How many of a text's ``length`` tokens the reading reads at least once."""
    if reading.mode == "windows":
        return length
    return sum(e - s for s, e in spans(length, room, reading))


@dataclass(frozen=True)
class Coverage:
    """What a reading kept of one split's texts (token counts exclude [CLS]/[SEP])."""

    texts: int
    over_limit: int
    tokens: int
    tokens_read: int
    windows: int
    limit: int

    @property
    def tokens_read_share(self) -> float:
        return self.tokens_read / self.tokens if self.tokens else 1.0

    def record(self) -> dict:
        return {
            "texts": self.texts,
            "over_limit": self.over_limit,
            "tokens_read_share": round(self.tokens_read_share, 4),
            "windows": self.windows,
            "limit": self.limit,
        }


def coverage(lengths: Sequence[int], room: int, reading: Reading, limit: int | None = None) -> Coverage:
    """The :class:`Coverage` of texts of ``lengths`` tokens (each read ``room`` at a time)."""
    return Coverage(
        texts=len(lengths),
        over_limit=sum(n > room for n in lengths),
        tokens=sum(lengths),
        tokens_read=sum(read_share(n, room, reading) for n in lengths),
        windows=sum(len(spans(n, room, reading)) if reading.windowed else 1 for n in lengths),
        limit=limit if limit is not None else room,
    )


def coverage_line(split: str, cov: Coverage, reading: Reading, unit: str = "tokens") -> str:
    """One sentence for the console and the log: how many texts were cut, and what was read."""
    if not cov.over_limit:
        return f"{split}: all {cov.texts:,} texts fit in {cov.limit} {unit}"
    head = f"{split}: {cov.over_limit:,} of {cov.texts:,} texts are longer than {cov.limit} {unit}"
    if reading.windowed:
        return f"{head}; read whole as {cov.windows:,} windows"
    hint = "" if cov.tokens_read_share > 0.9 else " (reading: windows reads them whole)"
    return (
        f"{head}; {reading.mode} reads {cov.tokens_read_share:.0%} of all their tokens{hint}"
        if reading.mode != "truncate"
        else f"{head}, cut there: {cov.tokens_read_share:.0%} of all tokens read{hint}"
    )


def per_document(
    logits: Tensor, doc_of: Sequence[int] | Tensor, reading: Reading, multi_label: bool
) -> Tensor:
    """One row per document from window rows: ``logits`` ``(W, C)``, ``doc_of`` ``(W,)`` the
    document of each window (documents 0..N-1, each with at least one window) -> ``(N, C)``.

    A document with one window keeps that window's logits (the plain path, to the bit). Otherwise
    ``mean`` averages the probabilities (softmax; per-label sigmoids for ``multi_label``; the
    scores of a regression, ``C == 1``) and returns their log (logit, score): logits whose
    softmax (sigmoid) is the mean. ``max`` takes each class's largest probability over the
    windows (a topic any window shows strongly), ``first`` the first window's logits. A
    single-label document's combined logits are ``log p`` plus the mean of its windows'
    log-normalisers, so that identical windows give back their own logits and a method that
    regresses logits (Tang's) sees them on the scale it was taught on."""
    doc = torch.as_tensor(doc_of, dtype=torch.long)
    n = int(doc.max()) + 1 if len(doc) else 0
    counts = torch.bincount(doc, minlength=n)
    if len(doc) == n:  # one window each: nothing to combine
        out = torch.empty_like(logits)
        out[doc] = logits
        return out
    regression = logits.shape[1] == 1 and not multi_label
    if reading.combine == "first":
        first = torch.full((n,), len(doc), dtype=torch.long).scatter_reduce(
            0, doc, torch.arange(len(doc)), reduce="amin"
        )
        return logits[first]
    z = logits.double()
    if regression:
        values = z
    elif multi_label:
        values = torch.sigmoid(z)
    else:
        values = torch.softmax(z, dim=1)
    if reading.combine == "mean":
        pooled = torch.zeros(n, z.shape[1], dtype=z.dtype).index_add_(0, doc, values) / counts[:, None]
    else:
        pooled = torch.full((n, z.shape[1]), -torch.inf, dtype=z.dtype).scatter_reduce_(
            0, doc[:, None].expand_as(values), values, "amax", include_self=True
        )
    if regression:
        out = pooled
    elif multi_label:
        p = pooled.clamp(1e-12, 1 - 1e-12)
        out = torch.log(p) - torch.log1p(-p)
    else:  # log p on the windows' own scale: + their mean log-normaliser (softmax is blind to it; a
        # method that regresses logits, Tang's, then gets logits like a window's, not log-probabilities)
        scale = torch.zeros(n, dtype=z.dtype).index_add_(0, doc, torch.logsumexp(z, dim=1)) / counts
        out = torch.log(pooled.clamp_min(1e-30)) + scale[:, None]
    out = out.to(logits.dtype)
    single = counts == 1
    if single.any():  # keep a one-window document's own logits
        rows = torch.full((n,), -1, dtype=torch.long)
        rows[doc] = torch.arange(len(doc))
        out[single] = logits[rows[single]]
    return out
