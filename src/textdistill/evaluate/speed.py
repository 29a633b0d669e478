"""Speed on this machine: throughput at batch 32 and latency at batch 1, on real examples.

Both run the model as it would serve: ``eval()``, ``torch.inference_mode()``, the batches the
model's own loader makes (dynamic padding). One warm-up pass precedes every measurement.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

LoaderFn = Callable[[int], DataLoader]  # batch size -> a loader over the measurement examples


def _run(model: nn.Module, batch: dict[str, torch.Tensor]) -> None:
    model(**{k: batch[k] for k in model.input_names if k in batch})


@torch.inference_mode()
def throughput(model: nn.Module, loader: DataLoader, repeats: int = 1) -> float:
    """Examples per second over the whole loader (after one warm-up batch)."""
    model.eval()
    batches = list(loader)
    _run(model, batches[0])
    n, started = 0, time.perf_counter()
    for _ in range(repeats):
        for batch in batches:
            _run(model, batch)
            n += len(batch["index"])
    return n / (time.perf_counter() - started)


@torch.inference_mode()
def latency_ms(model: nn.Module, loader: DataLoader, limit: int = 200) -> dict[str, float]:
    """Milliseconds per single example (a batch-1 loader): median and 90th percentile."""
    model.eval()
    batches = [b for _, b in zip(range(limit), loader, strict=False)]
    _run(model, batches[0])
    times = []
    for batch in batches:
        started = time.perf_counter()
        _run(model, batch)
        times.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(times, n=10)
    return {"p50": statistics.median(times), "p90": cuts[-1]}


def measure(model: nn.Module, make_loader: LoaderFn, batch_size: int = 32) -> dict[str, float]:
    """``{"throughput_bs32": examples/s, "latency_p50_ms", "latency_p90_ms"}`` for one model."""
    lat = latency_ms(model, make_loader(1))
    return {
        f"throughput_bs{batch_size}": throughput(model, make_loader(batch_size)),
        "latency_p50_ms": lat["p50"],
        "latency_p90_ms": lat["p90"],
    }
