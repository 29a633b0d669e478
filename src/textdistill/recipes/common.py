"""The one skeleton every recipe runs in: a locked run folder with its manifest and state.

``with RunFolder(out, kind, config, resume) as run:`` takes the folder's exclusive lock (a second
run into a busy folder is refused, naming the other process), clears the records of an earlier run
(or, with ``resume``, checks that there is an unfinished run with the same config to continue),
and writes ``run.json`` in state ``running``. Inside, the recipe records its tasks, their data and
teachers (:meth:`RunFolder.record_tasks` with one :class:`TaskPlan` per task, a single task being a
list of one; on resume, changed data or a changed teacher is refused) and its progress, and ends
with :meth:`RunFolder.finish` (``metrics.json``, state ``finished``). Leaving
the block by an error marks the run ``failed`` with the reason; by Ctrl-C ``interrupted``, and
:class:`Interrupted` tells the command line what was kept and how to resume.

In a data-parallel run only rank 0 (``main``) touches the folder.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from textdistill.artifacts import (
    DataSource,
    TeacherRef,
    data_record,
    load_source,
    locked,
    manifest_path,
    now,
    read_manifest,
    write_manifest,
)
from textdistill.config import FilesSection, PredictionsTeacherConfig
from textdistill.data.load import TaskData
from textdistill.data.spec import Example, TaskSpec
from textdistill.data.windows import Reading, coverage_line
from textdistill.diskio import DiskError, write_atomic
from textdistill.errors import TextdistillError
from textdistill.runtime import set_threads
from textdistill.train.distributed import Dist, teardown
from textdistill.train.distributed import setup as setup_dist

STALE = ("log.jsonl", "checkpoint.pt", "metrics.json")


class Interrupted(TextdistillError):
    """Ctrl-C during a run: the message says what was kept and how to go on."""


# keys that say where a run reports, not what it computes: a run is the same run with or without them
# (a finished run is reused, an unfinished one resumed, also from before the key existed)
REPORTING_KEYS = ("report_to",)


def changed_keys(saved: dict, now_: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts (:data:`REPORTING_KEYS` aside)."""
    keys = []
    for key in sorted(set(saved) | set(now_)):
        if key in REPORTING_KEYS:
            continue
        a, b = saved.get(key), now_.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys


class RunFolder:
    """A run's folder while the run works in it (see the module docstring)."""

    def __init__(
        self,
        out: str | Path,
        kind: str,
        config: dict[str, Any],
        resume: bool = False,
        main: bool = True,
        command: str = "",
    ) -> None:
        self.out, self.kind, self.resume, self.main = Path(out), kind, resume, main
        self.config = plain(config)  # JSON types (tuples as lists): what run.json holds and resume compares
        self.command = command
        self.manifest: dict[str, Any] = {}
        self._lock = None
        self.started = time.perf_counter()

    # ----------------------------------------------------------------------------- enter / exit
    def __enter__(self) -> RunFolder:
        if not self.main:
            return self
        self.out.mkdir(parents=True, exist_ok=True)
        self._lock = locked(self.out)
        self._lock.__enter__()
        try:
            self._start()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        if self.resume:
            self.manifest = self._resumable()
            self.manifest.update(state="running", reason=None, resumed=now(), pid=os.getpid())
        else:
            for stale in STALE:
                (self.out / stale).unlink(missing_ok=True)
            shutil.rmtree(self.out / "tensorboard", ignore_errors=True)  # an earlier run's curves
            self.manifest = {
                "format": 1, "kind": self.kind, "state": "running", "reason": None,
                "command": self.command, "config": self.config, "started": now(), "pid": os.getpid(),
            }  # fmt: skip
            import yaml

            (self.out / "config.yaml").write_text(yaml.safe_dump(self.config, sort_keys=False))
        write_manifest(self.out, self.manifest)

    def _resumable(self) -> dict[str, Any]:
        """The manifest of the unfinished run with this config that ``resume`` continues."""
        checkpoint = self.out / "checkpoint.pt"
        if not manifest_path(self.out).exists():
            raise TextdistillError(f"{self.out} holds no run: nothing to resume (start it without --resume)")
        manifest = read_manifest(self.out)
        if manifest.get("state") == "finished" and not checkpoint.exists():
            raise TextdistillError(f"{self.out} holds a finished run: nothing to resume")
        if not checkpoint.exists():
            raise TextdistillError(
                f"no checkpoint at {checkpoint}: nothing to resume (start the run without --resume)"
            )
        changed = changed_keys(manifest.get("config") or {}, self.config)
        if changed:
            raise TextdistillError(
                f"--resume needs the config the run started with; these keys differ from "
                f"{manifest_path(self.out)}: " + ", ".join(changed)
            )
        return manifest

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if not self.main:
            return False
        try:
            if exc is not None:
                interrupted = isinstance(exc, (KeyboardInterrupt, Interrupted))
                self.manifest["state"] = "interrupted" if interrupted else "failed"
                self.manifest["reason"] = "Ctrl-C" if interrupted else f"{type(exc).__name__}: {exc}"[:2000]
                try:
                    write_manifest(self.out, self.manifest)
                except DiskError as err:  # the disk that failed the run may refuse this too: keep its error
                    warnings.warn(f"the run's state was not recorded: {err}", stacklevel=2)
        finally:
            self._lock.__exit__(None, None, None)
        if isinstance(exc, KeyboardInterrupt):
            raise Interrupted(self.interrupted_message()) from None
        if isinstance(exc, Interrupted):  # a run inside this one (an ensemble's member) was stopped
            raise Interrupted(f"{exc}; the ensemble in {self.out} continues when run again") from None
        return False

    def interrupted_message(self) -> str:
        step = (self.manifest.get("progress") or {}).get("step")
        kept = []
        if (self.out / "checkpoint.pt").exists():
            kept.append(f"the last checkpoint ({self.out / 'checkpoint.pt'})")
        best = [p for p in ("student", "model", "model.safetensors") if (self.out / p).exists()]
        if best:
            kept.append(f"the best model so far ({self.out / best[0]})")
        what = " and ".join(kept) if kept else "nothing resumable (no checkpoint was written yet)"
        how = (
            f"; continue with the same command and --resume ({self.command} --resume)"
            if (self.out / "checkpoint.pt").exists() and self.command
            else ""
        )
        return f"interrupted{f' after step {step}' if step else ''}: kept {what}{how}"

    # --------------------------------------------------------------------------------- records
    def update(self, **fields: Any) -> None:
        """Record ``fields`` in the manifest (rank 0 only)."""
        if not self.main:
            return
        self.manifest.update(fields)
        write_manifest(self.out, self.manifest)

    def record_data(self, source: DataSource, task: Any, max_length: int | None = None) -> None:
        """The task spec and data (fingerprints per split); on resume, refuse changed data."""
        record = data_record(source, task)
        self.check_same_data(self.manifest.get("data"), record)
        fields: dict[str, Any] = {"task": task.spec.to_dict(), "data": record}
        if max_length is not None:
            fields["max_length"] = max_length
        self.update(**fields)
        self.log_skipped(task.spec.name, record)

    def log_skipped(self, task: str, data: dict[str, Any]) -> None:
        """A ``{"type": "data"}`` row in ``log.jsonl`` for each split that dropped bad rows
        (``bad_rows: skip``), once per run: the console and the manifest say it too."""
        skipped = {s: v["skipped"] for s, v in data["splits"].items() if "skipped" in v}
        if not (skipped and self.main) or self.resume:
            return
        with (self.out / "log.jsonl").open("a") as log:
            for split, what in skipped.items():
                log.write(
                    json.dumps({"type": "data", "step": 0, "task": task, "split": split, "skipped": what})
                )
                log.write("\n")

    def check_same_data(self, before: dict[str, Any] | None, now_: dict[str, Any]) -> None:
        """On resume, refuse data whose split fingerprints differ from the ones recorded."""
        if not (self.resume and self.main and before):
            return
        was = before.get("splits") or {}
        changed = [s for s, v in now_["splits"].items() if s in was and was[s]["sha256"] != v["sha256"]]
        if changed:
            raise TextdistillError(
                f"--resume: the data changed since the run started ({', '.join(changed)}: "
                f"{now_['description']}); resume only on the same data, or start afresh"
            )

    def check_same_teachers(self, before: list[dict[str, Any]] | None, now_: list[dict[str, Any]]) -> None:
        """On resume, refuse a teacher whose weights changed since the run started."""
        if not (self.resume and self.main and before):
            return
        # by position: a hub teacher's folder moves with its revision, its fingerprint with its weights
        changed = [
            t.get("folder") or t["predictions"] for b, t in zip(before, now_, strict=False)
            if b.get("fingerprint") not in (None, t["fingerprint"])
        ]  # fmt: skip
        if changed:
            raise TextdistillError(
                f"--resume: the teacher changed since the run started ({', '.join(changed)}): its soft "
                "targets would change mid-run; start afresh"
            )

    def record_tasks(self, plans: list[TaskPlan], max_length: int, many: bool = False) -> None:
        """Record the tasks of a run (a single-task run: ``task``, ``data``, ``teachers`` at the top
        level; a multi-task run, ``many``: ``tasks``, one or more); on resume, refuse changed data
        or a changed teacher."""
        records = [p.record() for p in plans]
        if many:
            before = {t["task"]["name"]: t for t in self.manifest.get("tasks") or []}
        else:
            before = {records[0]["task"]["name"]: self.manifest} if "data" in self.manifest else {}
        for record in records:
            was = before.get(record["task"]["name"], {})
            self.check_same_data(was.get("data"), record["data"])
            self.check_same_teachers(was.get("teachers"), record["teachers"])
        if many:
            self.update(max_length=max_length, tasks=records)
        else:
            self.update(max_length=max_length, **records[0])
        for record in records:
            self.log_skipped(record["task"]["name"], record["data"])

    def record_reading(self, reading: Reading, datasets: dict[str, Any], unit: str = "tokens") -> None:
        """How the model reads long texts and what that keeps of each split (``datasets``: split ->
        an encoded dataset, which knows its :meth:`coverage`): the manifest's ``reading`` and
        ``coverage`` always; when some split has texts longer than the model's length, also a
        ``{"type": "coverage"}`` row per split in ``log.jsonl`` (once per run) and a line each on
        the console. Nothing is cut silently."""
        report = {split: ds.coverage() for split, ds in datasets.items()}
        self.update(reading=reading.record(), coverage={s: c.record() for s, c in report.items()})
        if not self.main or not any(c.over_limit for c in report.values()):
            return
        for split, cov in report.items():
            print(coverage_line(split, cov, datasets[split].reading, unit), file=sys.stderr)
        if self.resume:
            return
        with (self.out / "log.jsonl").open("a") as log:
            for split, cov in report.items():
                log.write(json.dumps({"type": "coverage", "step": 0, "split": split, **cov.record()}) + "\n")

    def progress(self, step: int, total_steps: int) -> None:
        if self.main:
            self.manifest["progress"] = {"step": step, "total_steps": total_steps}
            write_manifest(self.out, self.manifest)

    def finish(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """Write ``metrics.json``, drop the checkpoint, mark the run finished; returns ``metrics``."""
        if not self.main:
            return metrics
        metrics = {**metrics, "finished": now()}
        write_atomic(
            self.out / "metrics.json", (json.dumps(metrics, indent=2, default=_plain) + "\n").encode()
        )
        (self.out / "checkpoint.pt").unlink(missing_ok=True)
        self.manifest.update(state="finished", finished=metrics["finished"])
        write_manifest(self.out, self.manifest)
        return metrics


def plain(config: dict[str, Any]) -> dict[str, Any]:
    """A config in JSON types (tuples as lists), as run.json holds it."""
    return json.loads(json.dumps(config, default=_plain))


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")


def config_source(task: str, data: str | None, files: FilesSection | None) -> DataSource:
    """Where a config's data comes from: the user's ``files``, or the built-in ``task`` (``data``:
    its GLUE folder or a folder in our layout)."""
    if files is None:
        return DataSource("task", task=task, data=data)
    from textdistill.data.readers import parse_labels

    label_map = None
    if files.labels and any("=" in x for x in files.labels):
        _, label_map = parse_labels(",".join(files.labels))
    return DataSource(
        "files", train=files.train, dev=files.dev, test=files.test, columns=files.columns,
        label_map=label_map, regression=files.regression, bad_rows=files.bad_rows, multiline=files.multiline,
        multi_label=files.multi_label, label_separator=files.label_separator,
    )  # fmt: skip


def config_task(task: str, data: str | None, files: FilesSection | None) -> TaskData:
    """The data :func:`config_source` names, read with the user's label order, metric and positive
    class (for files; a built-in task has its own)."""
    if files is None:
        return load_source(config_source(task, data, files))
    from textdistill.data.load import load_files
    from textdistill.data.readers import Columns, parse_labels

    columns = Columns(**files.columns) if files.columns else None
    labels, label_map = parse_labels(",".join(files.labels)) if files.labels else (None, None)
    return load_files(
        files.train, files.dev, files.test, columns, labels, files.regression, name=task, label_map=label_map,
        metric=files.metric, positive=files.positive, bad_rows=files.bad_rows, multiline=files.multiline,
        multi_label=files.multi_label, label_separator=files.label_separator,
    )  # fmt: skip


@dataclass
class TaskPlan:
    """One task of a distillation run (a single-task run is a list of one): its data and where it
    came from, its checked teacher (``None``: it learns from its labels), and the examples it
    trains on and is scored on (seeded subsets, the same for every run and seed)."""

    name: str
    task: TaskData
    source: DataSource
    teacher: TeacherRef | None
    train: list[Example]
    evals: dict[str, list[Example]]

    @property
    def spec(self) -> TaskSpec:
        return self.task.spec

    def record(self) -> dict[str, Any]:
        """What the manifest keeps of the task: its spec, its data, its teacher."""
        return {"task": self.spec.to_dict(), "data": data_record(self.source, self.task),
                "teachers": [self.teacher.record()] if self.teacher else []}  # fmt: skip


def plan_tasks(
    entries: list[tuple[str, str | None, FilesSection | None, str | PredictionsTeacherConfig | None]],
    max_train: int | None,
    max_eval: int | None,
) -> list[TaskPlan]:
    """The :class:`TaskPlan` of each ``(task, data, files, teacher)`` entry: the data read with the
    user's labels, the teacher (a folder, an asset or a hub name, or a predictions file) checked
    against them."""
    from textdistill.artifacts import open_teacher
    from textdistill.data.load import subsample
    from textdistill.models.teacher import local_folder

    plans = []
    for name, data, files, teacher in entries:
        task = config_task(name, data, files)
        if isinstance(teacher, PredictionsTeacherConfig):
            from textdistill.teachers.predictions import predictions_teacher

            ref = predictions_teacher(teacher.predictions, teacher.tokenizer, task.spec)
        else:
            ref = open_teacher(local_folder(teacher), task.spec) if teacher is not None else None
        evals = {s: subsample(task.splits[s], max_eval) for s in task.labelled_splits}
        train = subsample(task.splits["train"], max_train)
        plans.append(TaskPlan(name, task, config_source(name, data, files), ref, train, evals))
    return plans


def distributed_run(
    cfg: Any, kind: str, resume: bool, body: Callable[[RunFolder, Dist], dict[str, Any]]
) -> dict[str, Any]:
    """A distill config's run (one task or several): the processes set up for ``cfg.train.device``
    (under ``torchrun``, every rank), the batch checked to split over them, ``body(run, dist)``
    in the locked run folder (rank 0's), the processes torn down. ``{}`` on ranks other than 0."""
    dist = setup_dist(cfg.train.device)
    try:
        accum = cfg.train.grad_accumulation
        if cfg.train.batch_size % (accum * dist.world):
            raise TextdistillError(
                f"train.batch_size {cfg.train.batch_size} must split evenly over {dist.world} processes "
                f"x {accum} accumulated micro-batches"
            )
        command = f"textdistill distill {cfg.out}/config.yaml"
        with RunFolder(cfg.out, kind, cfg.model_dump(), resume, dist.main, command) as run:
            set_threads(max(1, (os.cpu_count() or 1) // dist.local_world))
            return body(run, dist)
    finally:
        teardown(dist)
