"""Speed on this machine: throughput at batch 32 and latency at batch 1, on real examples.

Both run the model as it would serve: ``eval()``, ``torch.inference_mode()``, the batches the
model's own loader makes (dynamic padding), for throughput shortest first as ``predict --file``
batches them. One warm-up pass precedes every measurement. ``evaluate`` and ``bench`` measure
through :func:`measure`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from textdistill.models.bundle import Student

Runner = Callable[[dict], object]  # runs a model (any backend) on one batch


def torch_runner(model: nn.Module) -> Runner:
    """A PyTorch model as it serves: ``eval()``, ``inference_mode``, the batch keys it reads."""
    model.eval()

    def run(batch: dict) -> object:
        with torch.inference_mode():
            return model(**{k: batch[k] for k in model.input_names if k in batch})

    return run


def documents(batches: list[dict]) -> int:
    """How many examples ``batches`` hold: their distinct ``index`` values (a text read as several
    windows is one example, whichever batches its windows fall in)."""
    return len({int(i) for batch in batches for i in batch["index"]})


def tokens(batches: list[dict]) -> int:
    """The tokens (words, for a word-level model) the model reads in ``batches``, padding aside."""
    key = "attention_mask" if "attention_mask" in batches[0] else "word_lengths"
    return int(sum(int(b[key].sum()) + int(b.get("word_lengths_b", torch.zeros(1)).sum()) for b in batches))


def tokens_per_second(docs_per_second: float, batches: list[dict]) -> float:
    """The tokens a model reads per second at ``docs_per_second`` over ``batches``."""
    return docs_per_second * tokens(batches) / documents(batches)


def throughput(run: Runner, batches: list[dict]) -> float:
    """Examples (documents) per second over ``batches`` (after one warm-up batch)."""
    run(batches[0])
    started = time.perf_counter()
    for batch in batches:
        run(batch)
    return documents(batches) / (time.perf_counter() - started)


def latency_ms(run: Runner, batches: list[dict]) -> dict[str, float]:
    """Milliseconds per batch (batch-1 batches: per example): median, 90th and 99th percentiles."""
    run(batches[0])
    times = []
    for batch in batches:
        started = time.perf_counter()
        run(batch)
        times.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(times, n=100)
    return {"p50": statistics.median(times), "p90": cuts[89], "p99": cuts[98]}


def measure(
    run: Runner, student: Student, examples: list, batch_sizes: tuple[int, ...] = (32,), latency_n: int = 200
) -> dict:
    """``{"throughput": {bs: documents/s}, "tokens_per_s": {bs: tokens/s}, "latency_ms": {"p50",
    "p90", "p99"}}`` of ``run`` (``student``'s model on any backend) over ``examples``.

    Throughput batches come as ``predict --file`` serves them, shortest first (less padding than
    the file's order); latency is per text, batch 1, on the first ``latency_n`` in the file's
    order. A text read as windows is one document; its tokens are all its windows'."""
    speeds, rates = {}, {}
    for bs in batch_sizes:
        batches = list(student.by_length(examples, bs)[1])
        speeds[bs] = round(throughput(run, batches), 1)
        rates[bs] = round(tokens_per_second(speeds[bs], batches), 1)
    latency = latency_ms(run, list(student.loader(examples[:latency_n], 1)))
    return {
        "throughput": speeds,
        "tokens_per_s": rates,
        "latency_ms": {k: round(v, 3) for k, v in latency.items()},
    }
