"""Run folders: what a folder is, said once in its manifest, and one way to open any of them.

Every command that makes a folder (``teach``, ``teach --ensemble``, ``distill``, a multi-task
``distill``, ``general-distill``) writes ``<folder>/run.json``:

``kind``
    ``teacher``, ``ensemble``, ``student``, ``multitask`` or ``general``.
``state``
    ``running`` while a process works in it, then ``finished``, ``failed`` (with ``reason``) or
    ``interrupted``. A folder left ``running`` by a killed process is refused as a teacher and
    reported by every command that opens it.
``task`` / ``tasks``
    the full task spec (labels in order, metrics with the primary first, pair or not, the
    positive class), one per task for a multi-task run.
``data``
    where the examples came from (:class:`DataSource`: a built-in task, a GLUE folder, the user's
    files with their column mapping and label names) and a fingerprint per split, so that a command
    reads the same data back and a resume on changed data is refused.
``teachers``
    each teacher folder with the fingerprint of its weights, config and tokenizer.
``config``, ``max_length``, ``progress`` (step and total steps), times and the process id.

:func:`open_run` turns any folder into an :class:`OpenRun` (the model and how to feed it, its task
spec, its data): evaluate, export, predict, bench and run all use it, and never look a task up by
its name. :func:`open_teacher` checks a folder before it is distilled from. Folders made before
manifests existed are read through :func:`migrate` (``textdistill migrate FOLDER``) where their
old files say unambiguously what they are, and refused with that advice otherwise.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textdistill.data.spec import Example, TaskSpec
from textdistill.data.windows import Reading
from textdistill.diskio import sha256_of, write_atomic
from textdistill.errors import TextdistillError
from textdistill.paths import MANIFEST

if TYPE_CHECKING:
    from textdistill.data.load import TaskData
    from textdistill.models.bundle import Student

LOCK = ".lock"
FORMAT = 1
KINDS = ("teacher", "ensemble", "student", "multitask", "general")
# files textdistill writes beside a model: they are records, not the model, and stay out of its fingerprint
RECORDS = {
    MANIFEST, LOCK, "metrics.json", "log.jsonl", "teach_config.json", "task.json", "config.yaml",
    "ensemble.json", "README.md", "checkpoint.pt",
}  # fmt: skip


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ------------------------------------------------------------------------------------- data sources
@dataclass(frozen=True)
class DataSource:
    """Where a run's examples come from, enough to read them again.

    ``kind``: ``task`` (a built-in task by ``task`` name; ``data`` its GLUE folder or a folder in
    our layout), ``files`` (the user's ``train`` / ``dev`` / ``test`` files read with ``columns``;
    ``label_map`` turns the values written in the files into class names, e.g. ``{"0": "ham"}``)
    or ``hf`` (a Hugging Face dataset ``hf`` with ``hf_splits``).
    """

    kind: str
    task: str | None = None
    data: str | None = None
    train: str | None = None
    dev: str | None = None
    test: str | None = None
    columns: dict[str, str | int] | None = None
    label_map: dict[str, str] | None = None
    regression: bool = False
    hf: str | None = None
    hf_splits: tuple[str, ...] = ()
    bad_rows: str = "strict"  # files: "skip" drops bad rows (counted in the manifest) instead of stopping
    multiline: bool = False  # files: quoted CSV fields may hold line breaks
    multi_label: bool = False  # files: a text carries any number of labels
    label_separator: str | None = None  # files, multi-label: what separates a text column's labels

    def __post_init__(self) -> None:
        # files and folders by absolute path: the manifest is read from any working directory
        for name in ("data", "train", "dev", "test"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, str(Path(value).resolve()))
        if self.hf is not None and Path(self.hf).exists():
            object.__setattr__(self, "hf", str(Path(self.hf).resolve()))

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in asdict(self).items()
            if v not in (None, ())
            and not (k == "bad_rows" and v == "strict")
            and not (k in ("multiline", "multi_label") and not v)
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSource:
        d = dict(d)
        if "hf_splits" in d:
            d["hf_splits"] = tuple(d["hf_splits"])
        return cls(**d)

    def describe(self) -> str:
        if self.kind == "task":
            return f"built-in task {self.task}" + (f" from {self.data}" if self.data else "")
        if self.kind == "files":
            return "files " + ", ".join(f for f in (self.train, self.dev, self.test) if f)
        return f"Hugging Face dataset {self.hf}"


def load_source(source: DataSource, spec: TaskSpec | None = None, name: str | None = None) -> TaskData:
    """The examples of ``source``. With ``spec`` (a run's recorded task) the files are read with
    its labels in its order, and a built-in task must still have those labels; the returned data
    carries ``spec`` (its metric choice and positive class) rather than a spec found by name."""
    import dataclasses

    from textdistill.data.load import TaskData, load_files, load_hf, load_task
    from textdistill.data.readers import Columns

    columns = Columns(**source.columns) if source.columns else None
    labels = spec.labels if spec is not None else None
    if source.kind == "task":
        loaded = load_task(source.task or "", source.data)
        if spec is not None and loaded.spec.labels != spec.labels:
            raise TextdistillError(
                f"the task {source.task!r} now has labels {list(loaded.spec.labels or [])}; the run was "
                f"made with {list(spec.labels or [])}"
            )
    elif source.kind == "files":
        assert source.train and source.dev
        loaded = load_files(
            source.train, source.dev, source.test, columns, labels, source.regression,
            name=name or (spec.name if spec else "custom"), label_map=source.label_map,
            bad_rows=source.bad_rows, multiline=source.multiline, multi_label=source.multi_label,
            label_separator=source.label_separator,
        )  # fmt: skip
    elif source.kind == "hf":
        assert source.hf
        loaded = load_hf(
            source.hf, source.hf_splits, columns, labels, source.regression,
            name=name or (spec.name if spec else "custom"),
        )  # fmt: skip
    else:
        raise TextdistillError(f"unknown data source kind {source.kind!r}")
    if spec is None:
        return loaded
    return TaskData(
        dataclasses.replace(spec), loaded.splits, loaded.source, loaded.eval_splits, loaded.skipped
    )


def examples_fingerprint(examples: list[Example]) -> str:
    """sha256 over the examples in order: texts, pairs and labels."""
    h = hashlib.sha256()
    for e in examples:
        h.update(json.dumps([e.text, e.text_pair, e.label], ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def data_record(source: DataSource, task: TaskData) -> dict[str, Any]:
    """The manifest's ``data``: the source, and each split's size and fingerprint."""
    splits = {s: {"examples": len(ex), "sha256": examples_fingerprint(ex)} for s, ex in task.splits.items()}
    for split, skipped in getattr(task, "skipped", {}).items():
        splits[split]["skipped"] = skipped.to_dict()
    return {"source": source.to_dict(), "description": source.describe(), "splits": splits}


# ------------------------------------------------------------------------------ model fingerprints
_FINGERPRINTS: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """A file's sha256, remembered in this process while its size and modification time stay."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _FINGERPRINTS:
        _FINGERPRINTS[key] = sha256_of(path)
    return _FINGERPRINTS[key]


def model_files(folder: str | Path) -> list[Path]:
    """The files that make a model folder what it is: weights in any format (``model.safetensors``,
    shards and their index, ``pytorch_model.bin``, ...), its config and its tokenizer; everything
    in the folder but textdistill's own records and sub-folders."""
    folder = Path(folder)
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.name not in RECORDS and ".tmp-" not in p.name
        and not p.name.startswith(("evaluation", "checkpoint.pt", MANIFEST, "."))
    )  # fmt: skip


def model_fingerprint(folder: str | Path) -> str:
    """sha256 over :func:`model_files` (names and contents): any change of weights, config or
    tokenizer, in any format, gives another fingerprint."""
    files = model_files(folder)
    if not files:
        raise TextdistillError(f"{folder} holds no model files")
    h = hashlib.sha256()
    for p in files:
        h.update(f"{p.name}:{file_sha256(p)}\n".encode())
    return h.hexdigest()


# --------------------------------------------------------------------------------------- manifest
def manifest_path(folder: str | Path) -> Path:
    return Path(folder) / MANIFEST


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of ``folder``; a clear error for a folder without one."""
    folder = Path(folder)
    path = manifest_path(folder)
    if not folder.is_dir():
        raise TextdistillError(f"{folder}: no such folder")
    if not path.exists():
        legacy = [
            n
            for n in ("teach_config.json", "config.yaml", "ensemble.json", "task.json")
            if (folder / n).exists()
        ]
        if legacy:
            raise TextdistillError(
                f"{folder} was made by an earlier textdistill (it has {', '.join(legacy)} but no "
                f"{MANIFEST}): run `textdistill migrate {folder}` to describe it, or make it again"
            )
        raise TextdistillError(
            f"{folder} is not a textdistill run folder (no {MANIFEST}); a model folder from elsewhere can "
            "be a teacher (teacher: FOLDER in a distill config, --teacher-folder in run)"
        )
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise TextdistillError(f"{path} is not valid JSON ({err.msg}, line {err.lineno})") from None
    if manifest.get("format") != FORMAT or manifest.get("kind") not in KINDS:
        raise TextdistillError(
            f"{path}: format {manifest.get('format')}, kind {manifest.get('kind')!r} unknown"
        )
    return manifest


def write_manifest(folder: str | Path, manifest: dict[str, Any]) -> None:
    """Write ``run.json`` atomically (:func:`textdistill.diskio.write_atomic`)."""
    manifest = {**manifest, "updated": now()}
    write_atomic(manifest_path(folder), (json.dumps(manifest, indent=2) + "\n").encode())


def spec_of(manifest: dict[str, Any], task: str | None = None) -> TaskSpec:
    """The task spec a manifest records (``task`` picks one of a multi-task run's)."""
    if "tasks" in manifest:
        specs = [TaskSpec.from_dict(t["task"]) for t in manifest["tasks"]]
        names = [s.name for s in specs]
        if task is None and len(names) > 1:
            raise TextdistillError(
                f"this is a multi-task run: choose its task with --task ({', '.join(names)})"
            )
        task = task or names[0]
        if task not in names:
            raise TextdistillError(f"the run has no task {task!r}; its tasks are {', '.join(names)}")
        return specs[names.index(task)]
    spec = TaskSpec.from_dict(manifest["task"])
    if task is not None and task != spec.name:
        raise TextdistillError(
            f"this is a model of {spec.name}, not of {task}: leave out --task or change it"
        )
    return spec


def source_of(manifest: dict[str, Any], task: str | None = None) -> DataSource:
    if "tasks" in manifest:
        entry = next(t for t in manifest["tasks"] if t["task"]["name"] == spec_of(manifest, task).name)
        return DataSource.from_dict(entry["data"]["source"])
    return DataSource.from_dict(manifest["data"]["source"])


def unfinished(manifest: dict[str, Any], folder: Path) -> str | None:
    """Why a folder's model is not a finished one (``None`` when it is)."""
    state = manifest.get("state")
    if state == "finished":
        return None
    progress = manifest.get("progress") or {}
    where = ""
    if progress.get("step") is not None:
        where = f" at step {progress['step']} of {progress.get('total_steps', '?')}"
    if state == "running" and lock_holder(folder) is None:
        state = "running, but no process holds it (killed?)"
    reason = f": {manifest['reason']}" if manifest.get("reason") else ""
    return f"{folder} did not finish (state {state}{where}{reason})"


# ------------------------------------------------------------------------------------------- locks
def lock_holder(folder: str | Path) -> dict[str, Any] | None:
    """Who holds ``folder``'s lock (``{"pid", "host", "since"}``), or ``None`` when it is free."""
    path = Path(folder) / LOCK
    if not path.exists():
        return None
    with path.open("a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            try:
                return json.loads(f.read() or "{}")
            except json.JSONDecodeError:
                return {}
        fcntl.flock(f, fcntl.LOCK_UN)
    return None


@contextlib.contextmanager
def locked(folder: str | Path) -> Iterator[None]:
    """Hold ``folder``'s exclusive lock for the block; a second process is refused, named."""
    path = Path(folder) / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    f = path.open("a+")
    acquired = False
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            acquired = True
        except BlockingIOError:
            f.seek(0)
            try:
                other = json.loads(f.read() or "{}")
            except json.JSONDecodeError:
                other = {}
            raise TextdistillError(
                f"{folder} is in use by process {other.get('pid', '?')} on {other.get('host', '?')} "
                f"(since {other.get('since', '?')}): wait for it to end, stop it, or choose another out"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": now()}))
        f.flush()
        yield
    finally:
        if acquired:  # the holder's record stays while another process is refused
            with contextlib.suppress(OSError):
                f.seek(0)
                f.truncate()
        f.close()  # closing releases the lock


# --------------------------------------------------------------------------------------- opening
@dataclass
class OpenRun:
    """A folder opened from its manifest: the model and how to feed it, and what it is for.

    Attributes:
        student: the model with its tokenizer or vocabulary and the length it reads.
        spec: its task (labels in order, metrics, positive class).
        source: the data it was trained and scored on.
        weights: the weights file (its size is the model's size on disk).
        teachers: the folders it was distilled from (none for a teacher, nor for a teacher given as
            a predictions file).
    """

    folder: Path
    manifest: dict[str, Any]
    student: Student
    spec: TaskSpec
    source: DataSource
    weights: Path
    teachers: list[Path] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    def task_data(self) -> TaskData:
        """The run's data, read again through its source with its spec."""
        return load_source(self.source, self.spec)


def open_run(
    folder: str | Path, task: str | None = None, warn_unfinished: bool = True, reading: Reading | None = None
) -> OpenRun:
    """Open a teacher, student or multi-task folder (``task``: one task of a multi-task run) from
    its manifest. A folder that did not finish is opened with a warning that says so. Its model
    reads long texts as the run recorded (``reading``; a run from before readings truncates), or
    as ``reading`` says (serving a teacher over windows, say)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    kind = manifest["kind"]
    if kind in ("ensemble", "general"):
        what = (
            "an ensemble of teachers: serve or evaluate one member folder, or distil from it"
            if kind == "ensemble"
            else "a general (task-agnostic) student with no task head: use it as student.init_from"
        )
        raise TextdistillError(f"{folder} is {what}")
    problem = unfinished(manifest, folder)
    if "task" not in manifest and "tasks" not in manifest:
        raise TextdistillError(f"{problem or folder}: it stopped before recording its task; nothing to open")
    if problem and warn_unfinished:
        warnings.warn(f"{problem}: using the best checkpoint it saved", stacklevel=2)
    spec = spec_of(manifest, task)
    source = source_of(manifest, task)
    max_length = int(manifest.get("max_length") or 128)
    if kind == "student":
        from textdistill.models.bundle import load_student

        student = load_student(folder / "student", max_length)
        weights = folder / "student" / "model.safetensors"
    elif kind == "teacher":
        student, weights = hf_teacher(folder, max_length)
    else:  # multitask
        from textdistill.models.bundle import Student
        from textdistill.models.multitask import open_task_view

        view, tokenizer = open_task_view(folder, spec)
        max_length = min(max_length, view.model.encoder.config.max_position_embeddings)
        student = Student(view, "multitask", tokenizer=tokenizer, max_length=max_length)
        weights = folder / "model" / "model.safetensors"
    if "tasks" in manifest:
        entry = next(t for t in manifest["tasks"] if t["task"]["name"] == spec.name)
        records = entry.get("teachers", [])
    else:
        records = manifest.get("teachers", [])
    teachers = [Path(t["folder"]) for t in records if "folder" in t]  # not a predictions file
    student.reading = reading or Reading.from_record(manifest.get("reading"))
    return OpenRun(folder, manifest, student, spec, source, weights, teachers)


def recorded_reading(folder: str | Path) -> Reading:
    """How a teacher folder was made to read long texts: its manifest's ``reading`` (an ensemble's:
    its config's); a folder without a manifest, or from before readings, cuts them."""
    if not has_manifest(folder):
        return Reading()
    manifest = read_manifest(folder)
    return Reading.from_record(manifest.get("reading") or (manifest.get("config") or {}).get("reading"))


def recorded_length(folder: str | Path) -> int | None:
    """The length in tokens a teacher folder was taught at (its manifest's ``max_length``, an
    ensemble's: its config's); None for a folder without a manifest."""
    if not has_manifest(folder):
        return None
    manifest = read_manifest(folder)
    return manifest.get("max_length") or (manifest.get("config") or {}).get("max_length")


def hf_teacher(folder: Path, max_length: int, order: list[int] | None = None) -> tuple[Student, Path]:
    """A Hugging Face classifier folder as a servable model (its outputs in ``order``, when given)
    and its weights file; it reads at most ``max_length`` tokens, never past its position table."""
    from textdistill.models.bundle import Student
    from textdistill.models.teacher import HFClassifier, Reordered
    from textdistill.models.weights import read_tokenizer

    model = HFClassifier.from_pretrained(str(folder))
    served: Any = model if order is None else Reordered(model, order)
    max_length = min(max_length, model.model.config.max_position_embeddings)
    student = Student(served, "teacher", tokenizer=read_tokenizer(folder), max_length=max_length)
    weights = next((p for p in model_files(folder) if p.suffix in (".safetensors", ".bin")), folder)
    return student, weights


def has_manifest(folder: str | Path) -> bool:
    return manifest_path(folder).exists()


def open_external(folder: str | Path, spec: TaskSpec) -> OpenRun:
    """A fine-tuned model folder from elsewhere (no manifest) as a model of ``spec``: checked like
    a teacher (:func:`open_teacher`), its outputs put in the task's label order."""
    folder = Path(folder)
    ref = open_teacher(folder, spec)
    student, weights = hf_teacher(folder, 128, ref.order)
    manifest = {"format": FORMAT, "kind": "teacher", "state": "finished", "external": True}
    return OpenRun(folder, manifest, student, spec, DataSource("files"), weights)


# ------------------------------------------------------------------------------------------ teachers
@dataclass
class TeacherRef:
    """A teacher folder checked against the task it will teach.

    Attributes:
        labels: the teacher's class names in its output order (``None``: regression).
        order: the teacher's output index of each of the task's classes, when the two orders differ
            (``logits[:, order]`` puts the teacher's outputs in the task's order); ``None`` when equal.
        members: the member folders of an ensemble (empty for one teacher).
        predictions: a teacher given as a predictions file
            (:class:`textdistill.teachers.predictions.Predictions`, its values already in the
            task's order); ``folder`` is then the file and ``fingerprint`` its sha256.
        tokens: the model folder whose tokenizer the student reads (the teacher's own folder, or
            a predictions teacher's ``tokenizer``; ``None``: none given).
    """

    folder: Path
    fingerprint: str
    labels: tuple[str, ...] | None
    order: list[int] | None = None
    members: list[Path] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    predictions: Any = None
    tokens: Path | None = None

    @property
    def source(self) -> Any:
        """What the teacher cache reads outputs from: the folder, or the predictions."""
        return self.folder if self.predictions is None else self.predictions

    @property
    def student_base(self) -> Path | None:
        """The folder a student takes its tokenizer (or static vectors) from."""
        return self.folder if self.predictions is None else self.tokens

    def record(self) -> dict[str, Any]:
        if self.predictions is not None:  # no folder: evaluate and bench have no teacher model to run
            return {"predictions": str(self.folder), "fingerprint": self.fingerprint,
                    "labels": list(self.labels) if self.labels else None, "values": self.predictions.kind,
                    "tokenizer": None if self.tokens is None else str(self.tokens)}  # fmt: skip
        record = {"folder": str(self.folder), "fingerprint": self.fingerprint,
                  "labels": list(self.labels) if self.labels else None, "order": self.order}  # fmt: skip
        parts = self.folder.parts
        at = parts.index("snapshots") if "snapshots" in parts else 0
        if at > 0 and parts[at - 1].startswith(
            "models--"
        ):  # a hub teacher: .../models--org--name/snapshots/<commit>
            model = parts[at - 1].removeprefix("models--").replace("--", "/")
            record["hub"] = {"model": model, "revision": parts[at + 1] if len(parts) > at + 1 else None}
        return record


def _hf_labels(folder: Path) -> tuple[str, ...] | None:
    """Class names from a Hugging Face ``config.json``'s ``id2label`` (``None``: unnamed or absent)."""
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    id2label = config.get("id2label") or {}
    names = tuple(str(id2label[k]) for k in sorted(id2label, key=int))
    if not names or all(n == f"LABEL_{i}" for i, n in enumerate(names)):
        return None
    return names


def open_teacher(folder: str | Path, spec: TaskSpec) -> TeacherRef:
    """Check that ``folder`` can teach ``spec``: a finished textdistill teacher or ensemble, or a
    fine-tuned model folder from elsewhere (Hugging Face layout). Its label order is matched to the
    task's by name (a permutation when they differ) or the folder is refused, both orders shown."""
    folder = Path(folder).resolve()  # recorded as an absolute path: read from any working directory
    if not (folder / "config.json").exists():
        raise TextdistillError(
            f"teacher {folder} is not a model folder (no config.json): run `textdistill teach` first"
        )
    members: list[Path] = []
    metrics: dict[str, Any] = {}
    if manifest_path(folder).exists():
        manifest = read_manifest(folder)
        if manifest["kind"] not in ("teacher", "ensemble"):
            raise TextdistillError(f"teacher {folder} is a {manifest['kind']} folder, not a teacher")
        problem = unfinished(manifest, folder)
        if problem:
            raise TextdistillError(
                f"teacher {problem}: finish it (`textdistill teach ... --resume`) before distilling from it"
            )
        labels = spec_of(manifest).labels
        multi_label = spec_of(manifest).multi_label
        if manifest["kind"] == "ensemble":
            members = [folder / m for m in manifest["members"]]
        if (folder / "metrics.json").exists():
            metrics = json.loads((folder / "metrics.json").read_text())
    elif (folder / "ensemble.json").exists():
        raise TextdistillError(
            f"{folder} is an ensemble made by an earlier textdistill: run `textdistill migrate {folder}`"
        )
    else:  # a model from elsewhere, or a teacher of an earlier textdistill
        task_file = folder / "task.json"
        labels = (
            tuple(json.loads(task_file.read_text()).get("labels") or ()) or None
            if task_file.exists()
            else None
        )
        labels = labels or _hf_labels(folder)
        config = json.loads((folder / "config.json").read_text())
        kind = config.get("problem_type")  # unknown (None) in many configs: not checked then
        multi_label = None if kind is None else kind == "multi_label_classification"
        outputs = config.get("num_labels") or len(config.get("id2label") or {}) or None
        if labels is None and spec.labels is None and outputs not in (None, 1):
            raise TextdistillError(
                f"teacher {folder} has {outputs} outputs; the task {spec.name!r} is a regression (one score)"
            )
        if labels is None and spec.labels is not None:
            count = outputs
            if count and count != len(spec.labels):
                raise TextdistillError(
                    f"teacher {folder} has {count} outputs, the task {spec.name!r} has "
                    f"{len(spec.labels)} labels"
                )
            warnings.warn(
                f"teacher {folder} does not name its labels (id2label is LABEL_0, LABEL_1, ...): its outputs "
                f"are taken in the task's order {list(spec.labels)}",
                stacklevel=2,
            )
            labels = spec.labels
    if spec.labels is not None and multi_label is not None and multi_label != spec.multi_label:
        kinds = ("multi-label (a sigmoid per label)", "single-label (one softmax)")  # not interchangeable
        raise TextdistillError(
            f"teacher {folder} is {kinds[not multi_label]}, the task {spec.name!r} is "
            f"{kinds[not spec.multi_label]}: teach a teacher of the task's kind"
        )
    order = label_order(folder, labels, spec)
    fingerprint = (
        hashlib.sha256("+".join(model_fingerprint(m) for m in members).encode()).hexdigest()
        if members
        else model_fingerprint(folder)
    )
    return TeacherRef(folder, fingerprint, labels, order, members, metrics)


def label_order(folder: Path, teacher: tuple[str, ...] | None, spec: TaskSpec) -> list[int] | None:
    """The permutation from the teacher's label order to the task's (``None``: the same order)."""
    task = spec.labels
    if (teacher is None) != (task is None):
        raise TextdistillError(
            f"teacher {folder} is a {'regression' if teacher is None else 'classification'} model, the task "
            f"{spec.name!r} is {'regression' if task is None else 'classification'}"
        )
    if teacher is None or task is None or tuple(teacher) == tuple(task):
        return None
    if sorted(teacher) != sorted(task):
        raise TextdistillError(
            f"teacher {folder} was trained on labels {list(teacher)}, the task {spec.name!r} has {list(task)}"
        )
    return [list(teacher).index(name) for name in task]


# --------------------------------------------------------------------------------------- migration
def migrate(folder: str | Path) -> dict[str, Any]:
    """Write the manifest of a folder made before manifests existed, from its old records, where
    they say unambiguously what it is; returns the manifest. Refused (with the reason) otherwise.

    Teachers and ensembles of built-in tasks (``teach_config.json`` / ``ensemble.json`` with
    ``task.json``), students (``config.yaml`` + ``student/``) and multi-task runs (``config.yaml``
    + ``model/tasks.json``). A teacher taught on the user's own files did not record them and
    cannot be described: make it again."""
    import yaml

    from textdistill.data.tasks import get_task

    folder = Path(folder)
    if manifest_path(folder).exists():
        raise TextdistillError(f"{folder} already has a {MANIFEST}")
    finished = (folder / "metrics.json").exists() and not (folder / "checkpoint.pt").exists()
    base: dict[str, Any] = {
        "format": FORMAT,
        "state": "finished" if finished else "interrupted",
        "reason": None if finished else "migrated: no metrics.json",
        "migrated": now(),
    }

    def builtin(name: str, labels: list[str] | None, data: str | None) -> tuple[dict, dict]:
        try:
            spec = get_task(name)
        except TextdistillError:
            raise TextdistillError(
                f"{folder} was trained on {name!r}, not a built-in task: its data files were not recorded "
                "before manifests; make it again"
            ) from None
        if labels is not None and list(spec.labels or []) != list(labels):
            raise TextdistillError(f"{folder}: its labels {labels} are not those of the built-in {name!r}")
        return spec.to_dict(), {"source": DataSource("task", task=name, data=data).to_dict(), "splits": {}}

    if (folder / "model" / "tasks.json").exists() and (folder / "config.yaml").exists():
        cfg = yaml.safe_load((folder / "config.yaml").read_text())
        tasks = []
        for entry in cfg["tasks"]:
            spec, data = builtin(entry["task"], None, entry.get("data"))
            teachers = [{"folder": entry["teacher"], "fingerprint": None}] if entry.get("teacher") else []
            tasks.append({"task": spec, "data": data, "teachers": teachers})
        manifest = {**base, "kind": "multitask", "config": cfg, "tasks": tasks,
                    "max_length": cfg["train"]["max_length"]}  # fmt: skip
    elif (folder / "student").is_dir() and (folder / "config.yaml").exists():
        cfg = yaml.safe_load((folder / "config.yaml").read_text())
        teacher_task = Path(cfg["teacher"]) / "task.json"
        if cfg.get("files"):
            if not teacher_task.exists():
                raise TextdistillError(f"{folder}: its teacher's task.json is gone; the labels are unknown")
            f = cfg["files"]
            source = DataSource("files", train=f["train"], dev=f["dev"], test=f.get("test"),
                                columns=f.get("columns"), regression=bool(f.get("regression")))  # fmt: skip
            spec, data = json.loads(teacher_task.read_text()), {"source": source.to_dict(), "splits": {}}
        else:
            spec, data = builtin(cfg["task"], None, cfg.get("data"))
        manifest = {**base, "kind": "student", "config": cfg, "task": spec, "data": data,
                    "teachers": [{"folder": cfg["teacher"], "fingerprint": None}],
                    "max_length": cfg["train"]["max_length"]}  # fmt: skip
    elif (folder / "task.json").exists() and (
        (folder / "teach_config.json").exists() or (folder / "ensemble.json").exists()
    ):
        labels = json.loads((folder / "task.json").read_text()).get("labels")
        ensemble = (folder / "ensemble.json").exists()
        if ensemble:
            record = json.loads((folder / "ensemble.json").read_text())
            cfg = json.loads((folder / record["members"][0] / "teach_config.json").read_text())
            for member in record["all"]:
                if not manifest_path(folder / member["member"]).exists():
                    migrate(folder / member["member"])
        else:
            cfg = json.loads((folder / "teach_config.json").read_text())
        spec, data = builtin(cfg["task"], labels, cfg.get("data"))
        manifest = {**base, "kind": "ensemble" if ensemble else "teacher", "config": cfg, "task": spec,
                    "data": data, "max_length": cfg.get("max_length", 128)}  # fmt: skip
        if ensemble:
            manifest.update(members=record["members"], combine=record.get("combine", "probs"))
    else:
        raise TextdistillError(f"{folder}: no records of an earlier textdistill run to migrate from")
    write_manifest(folder, manifest)
    return manifest
