"""The process's settings every command shares: seeds, threads, how often progress is shown.

Low in the package (it imports nothing of textdistill): the data layer, the teacher cache and the
trainer all use it.
"""

from __future__ import annotations

import os
import random
import sys

import numpy as np
import torch

__all__ = ["progress_interval", "set_seed", "set_threads"]


def progress_interval() -> float:
    """Seconds between progress-bar refreshes: live on a terminal, every 30 s in a log file."""
    return 0.1 if sys.stderr.isatty() else 30.0


def set_seed(seed: int) -> int:
    """Seed Python, NumPy and torch; returns the seed (for the run record)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return seed


def set_threads(threads: int | None = None) -> int:
    """Use every core for intra-op work (torch defaults to fewer on some machines), or the
    ``TEXTDISTILL_THREADS`` the environment names: jobs sharing a machine should split its cores,
    as threads that outnumber the cores wait on each other (two 2-thread jobs on this 2-core
    machine slowed a BiLSTM's steps by an order of magnitude)."""
    named = os.environ.get("TEXTDISTILL_THREADS", "").strip()
    if named:
        if not named.isdigit() or int(named) < 1:
            from textdistill.errors import TextdistillError

            raise TextdistillError(f"TEXTDISTILL_THREADS={named!r}: give a number of threads, 1 or more")
        threads = int(named)
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    return threads
