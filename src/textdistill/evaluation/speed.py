"""Speed on this machine: throughput at batch 32 and latency at batch 1, on real examples.

Both run the model as it would serve: ``eval()``, ``torch.inference_mode()``, the batches the
model's own loader makes (dynamic padding). One warm-up pass precedes every measurement.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

LoaderFn = Callable[[int], DataLoader]  # batch size -> a loader over the measurement examples
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
    model: nn.Module, make_loader: LoaderFn, batch_size: int = 32, limit: int = 200
) -> dict[str, float]:
    """``{"throughput_bs32": examples/s, "tokens_per_s_bs32", "latency_p50_ms", "latency_p90_ms"}``
    for one model (examples are documents: a windowed model's windows of a text count once; the
    tokens are those it reads, windows' overlaps included; latency is per batch of one row)."""
    run = torch_runner(model)
    lat = latency_ms(run, list(itertools.islice(make_loader(1), limit)))
    batches = list(make_loader(batch_size))
    speed = throughput(run, batches)
    return {
        f"throughput_bs{batch_size}": speed,
        f"tokens_per_s_bs{batch_size}": tokens_per_second(speed, batches),
        "latency_p50_ms": lat["p50"],
        "latency_p90_ms": lat["p90"],
    }
