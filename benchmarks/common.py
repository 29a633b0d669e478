"""What every benchmark records beside its numbers: the command, the machine, the date."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from datetime import datetime, timezone

import torch


def machine() -> dict[str, object]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "os": platform.platform(),
    }


def run_record() -> dict[str, object]:
    return {
        "command": " ".join(shlex.quote(a) for a in ["python", *sys.argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
    }


def header_markdown(record: dict) -> str:
    m = record["machine"]
    return (
        f"- command: `{record['command']}`\n- date: {record['date']}\n"
        f"- machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads), "
        f"Python {m['python']}\n"
    )
