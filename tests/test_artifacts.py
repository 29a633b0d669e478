"""Run folders end to end on tiny models: the manifest of every folder kind, the user's own files
and labels through every command, the recipe skeleton (locks, states, resume on changed data,
Ctrl-C), the teacher's identity and label order, retention on the same examples."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from tests.conftest import make_tiny_bert, write_jsonl
from tests.test_multitask import small_student_run
from tests.test_teach import toy_rows
from textdistill.cli import app

runner = CliRunner()
BILSTM = {"kind": "bilstm", "embedding": "random", "embed_dim": 8, "hidden": 8, "fc": 8}
TINY_TRANSFORMER = {"kind": "transformer", "layers": 1, "hidden": 16, "heads": 2, "intermediate": 24}


def flat(text: str) -> str:
    return " ".join(text.split())


def news_files(root: Path, fmt: str = "csv", n: int = 64) -> dict[str, Path]:
    """Toy topic data in the user's own layout: column ``body`` and ``topic`` (string labels)."""
    files = {}
    root.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", n), ("dev", 16), ("test", 16)):
        rows = [
            {"body": r["text"], "topic": "sports" if r["label"] == "pos" else "politics"}
            for r in toy_rows(count)
        ]
        path = root / f"{split}.{fmt}"
        if fmt == "jsonl":
            write_jsonl(path, rows)
        else:
            with path.open("w", newline="") as f:
                writer = csv.DictWriter(f, ["body", "topic"], delimiter="," if fmt == "csv" else "\t")
                writer.writeheader()
                writer.writerows(rows)
        files[split] = path
    return files


def teach_args(files: dict[str, Path], model: Path, out: Path, *extra: str) -> list[str]:
    return [
        "teach",
        "--train",
        str(files["train"]),
        "--dev",
        str(files["dev"]),
        "--test",
        str(files["test"]),
        "--columns",
        "text=body,label=topic",
        "--task",
        "my-news",
        "--model",
        str(model),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--max-length",
        "32",
        *extra,
    ]


def distill_config(
    root: Path, files: dict[str, Path], teacher: Path, student: dict, name: str, **files_extra
) -> Path:
    config = {
        "task": "my-news",
        "teacher": str(teacher),
        "out": str(root / name),
        "files": {
            "train": str(files["train"]),
            "dev": str(files["dev"]),
            "test": str(files["test"]),
            "columns": {"text": "body", "label": "topic"},
            **files_extra,
        },
        "student": student,
        "method": {"name": "hinton"},
        "train": {"epochs": 1, "batch_size": 8, "max_length": 32},
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def own_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A teacher taught on the user's CSV files, and a BiLSTM and a transformer distilled from it."""
    root = tmp_path_factory.mktemp("own")
    os.environ.setdefault("TEXTDISTILL_HOME", str(root / "home"))
    files = news_files(root / "files")
    model = make_tiny_bert(root / "tiny")
    result = runner.invoke(app, teach_args(files, model, root / "teacher"))
    assert result.exit_code == 0, result.output
    runs = {
        "root": root,
        "teacher": root / "teacher",
        "model": model,
        **{f"file_{k}": v for k, v in files.items()},
    }
    for name, student in (("bilstm", BILSTM), ("transformer", TINY_TRANSFORMER)):
        result = runner.invoke(
            app, ["distill", str(distill_config(root, files, root / "teacher", student, name))]
        )
        assert result.exit_code == 0, result.output
        runs[name] = root / name
    return runs


def test_own_files_through_evaluate_export_predict_and_bench(own_runs: dict[str, Path]) -> None:
    for name in ("teacher", "bilstm", "transformer"):
        folder = own_runs[name]
        manifest = json.loads((folder / "run.json").read_text())
        assert manifest["state"] == "finished" and manifest["task"]["labels"] == ["politics", "sports"]
        assert (
            manifest["data"]["source"]["kind"] == "files"
            and manifest["data"]["splits"]["train"]["examples"] == 64
        )
        result = runner.invoke(app, ["evaluate", str(folder)])
        assert result.exit_code == 0, result.output
        ev = json.loads((folder / "evaluation.json").read_text())
        assert ev["task"] == "my-news" and ev["labels"] == ["politics", "sports"]
        assert set(ev["quality"]) == {"dev/accuracy", "dev/f1", "test/accuracy", "test/f1"}
        result = runner.invoke(app, ["export", str(folder), "--int8"])
        assert result.exit_code == 0, result.output
        for backend in ("torch", "onnx-int8"):
            result = runner.invoke(app, ["predict", str(folder), "good great film", "--backend", backend])
            assert result.exit_code == 0, result.output
            out = json.loads(result.output.strip().splitlines()[-1])
            assert out["label"] in ("politics", "sports") and set(out["probabilities"]) == {
                "politics",
                "sports",
            }
    result = runner.invoke(
        app, ["bench", str(own_runs["bilstm"]), "--batch-sizes", "1,8", "--examples", "16"]
    )
    assert result.exit_code == 0, result.output
    assert "(teacher)" in result.output and "onnx int8" in result.output


def test_a_users_task_named_like_a_built_in_one_is_scored_on_its_own_files(
    tmp_path: Path, tiny_bert: Path
) -> None:
    files = news_files(tmp_path / "files")
    args = teach_args(files, tiny_bert, tmp_path / "t")
    args[args.index("my-news")] = "sst2"  # a GLUE name: the files are still the data, never GLUE's
    assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, ["evaluate", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    ev = json.loads((tmp_path / "t" / "evaluation.json").read_text())
    assert ev["labels"] == ["politics", "sports"] and ev["scored_on"]["dev"]["examples"] == 16


@pytest.mark.parametrize("fmt", ["jsonl", "tsv"])
def test_jsonl_and_tsv_files_read_back_through_their_manifest(tmp_path: Path, fmt: str) -> None:
    from textdistill.artifacts import DataSource, data_record, load_source
    from textdistill.data.load import load_files
    from textdistill.data.readers import Columns

    files = news_files(tmp_path, fmt)
    task = load_files(
        files["train"],
        files["dev"],
        files["test"],
        Columns("body", None, "topic"),
        name="n",
        metric="f1",
        positive="politics",
    )
    source = DataSource(
        "files",
        train=str(files["train"]),
        dev=str(files["dev"]),
        test=str(files["test"]),
        columns={"text": "body", "label": "topic"},
    )
    again = load_source(DataSource.from_dict(source.to_dict()), task.spec)
    assert (
        again.spec == task.spec
        and again.spec.primary_metric == "f1"
        and again.spec.positive_label == "politics"
    )
    assert data_record(source, again)["splits"] == data_record(source, task)["splits"]
    assert [e.text for e in again.splits["dev"]] == [e.text for e in task.splits["dev"]]


def test_integer_labels_named_and_f1_of_a_named_class(tmp_path: Path, tiny_bert: Path) -> None:
    rows = [{"text": r["text"], "y": 1 if r["label"] == "pos" else 0} for r in toy_rows(48)]
    train, dev = write_jsonl(tmp_path / "train.jsonl", rows), write_jsonl(tmp_path / "dev.jsonl", rows[:16])
    result = runner.invoke(
        app,
        [
            "teach",
            "--train",
            str(train),
            "--dev",
            str(dev),
            "--columns",
            "text=text,label=y",
            "--labels",
            "0=ham,1=spam",
            "--metric",
            "f1",
            "--positive",
            "ham",
            "--model",
            str(tiny_bert),
            "--out",
            str(tmp_path / "t"),
            "--epochs",
            "1",
            "--max-length",
            "32",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "f1 is the F1 of the class 'ham'" in flat(result.output)
    manifest = json.loads((tmp_path / "t" / "run.json").read_text())
    assert manifest["task"]["labels"] == ["ham", "spam"] and manifest["task"]["metrics"][0] == "f1"
    assert manifest["data"]["source"]["label_map"] == {"0": "ham", "1": "spam"}
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert metrics["primary_metric"] == "dev/f1" and metrics["positive_label"] == "ham"
    bad = runner.invoke(
        app,
        [
            "teach",
            "--train",
            str(train),
            "--dev",
            str(dev),
            "--columns",
            "text=text,label=y",
            "--labels",
            "0=ham,1=ham",
            "--model",
            str(tiny_bert),
            "--out",
            str(tmp_path / "u"),
        ],
    )
    assert bad.exit_code == 2 and "a class is named twice" in flat(bad.output)


def test_each_folder_kind_opens_from_its_manifest(tmp_path: Path, own_runs: dict[str, Path]) -> None:
    from textdistill.artifacts import open_run

    assert open_run(own_runs["teacher"]).student.kind == "teacher"
    assert open_run(own_runs["bilstm"]).student.kind == "bilstm"
    assert open_run(own_runs["transformer"]).teachers == [own_runs["teacher"]]
    path, run = small_student_run(tmp_path, {"epochs": 1, "batch_size": 4})
    assert runner.invoke(app, ["distill", str(path)]).exit_code == 0
    opened = open_run(run, "movie-score")
    assert opened.kind == "multitask" and opened.spec.labels is None and opened.student.kind == "multitask"
    result = runner.invoke(app, ["evaluate", str(run)])
    assert result.exit_code == 2 and "choose its task with --task" in flat(result.output)
    ens = tmp_path / "ens"
    ens.mkdir()
    (ens / "run.json").write_text(
        json.dumps({"format": 1, "kind": "ensemble", "state": "finished", "task": {}})
    )
    result = runner.invoke(app, ["evaluate", str(ens)])
    assert result.exit_code == 2 and "is an ensemble of teachers" in flat(result.output)


def test_a_legacy_folder_gets_a_clear_message_and_migrates(tmp_path: Path, tiny_bert: Path) -> None:
    import shutil

    legacy = tmp_path / "legacy"
    shutil.copytree(tiny_bert, legacy)
    (legacy / "task.json").write_text(
        json.dumps(
            {"name": "movie-sentiment", "labels": ["negative", "positive"], "metrics": ["accuracy", "f1"]}
        )
    )
    (legacy / "teach_config.json").write_text(json.dumps({"task": "movie-sentiment", "max_length": 64}))
    (legacy / "metrics.json").write_text("{}")
    result = runner.invoke(app, ["evaluate", str(legacy)])
    assert result.exit_code == 2 and f"run `textdistill migrate {legacy}`" in flat(result.output)
    result = runner.invoke(app, ["migrate", str(legacy)])
    assert result.exit_code == 0 and "teacher, state finished" in result.output
    manifest = json.loads((legacy / "run.json").read_text())
    assert manifest["data"]["source"] == {"kind": "task", "task": "movie-sentiment", "regression": False}
    (legacy / "teach_config.json").write_text(json.dumps({"task": "my-own", "max_length": 64}))
    (legacy / "run.json").unlink()
    result = runner.invoke(app, ["migrate", str(legacy)])
    assert result.exit_code == 2 and "not a built-in task" in flat(result.output)


def test_a_busy_folder_refuses_a_second_run(own_runs: dict[str, Path]) -> None:
    from textdistill.artifacts import lock_holder, locked

    root = own_runs["root"]
    files = {k: own_runs[f"file_{k}"] for k in ("train", "dev", "test")}
    config = distill_config(root, files, own_runs["teacher"], BILSTM, "busy")
    with locked(root / "busy"):
        result = runner.invoke(app, ["distill", str(config)])
        assert lock_holder(root / "busy")["pid"] == os.getpid()  # a refused run leaves the holder's record
        again = runner.invoke(app, ["distill", str(config)])
    assert result.exit_code == 2 and f"is in use by process {os.getpid()}" in flat(result.output)
    assert again.exit_code == 2 and f"is in use by process {os.getpid()}" in flat(again.output)
    assert not (root / "busy" / "metrics.json").exists() and lock_holder(root / "busy") is None


def test_a_killed_teach_is_refused_as_a_teacher_and_resumes_to_the_same_weights(
    tmp_path: Path, tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import textdistill.train.trainer as trainer

    files = news_files(tmp_path / "files", n=48)
    args = [*teach_args(files, tiny_bert, tmp_path / "ref"), "--epochs", "2", "--seed", "3"]
    assert runner.invoke(app, args).exit_code == 0
    real, saved = trainer.save_checkpoint, []

    def save_then_stop(path: Path, payload: dict) -> None:
        real(path, payload)
        saved.append(payload["step"])
        raise KeyboardInterrupt  # Ctrl-C right after the first checkpoint (end of epoch 1)

    monkeypatch.setattr(trainer, "save_checkpoint", save_then_stop)
    run_args = [a if a != str(tmp_path / "ref") else str(tmp_path / "run") for a in args]
    result = runner.invoke(app, run_args)
    assert result.exit_code == 130 and saved == [6]
    assert "interrupted after step 6" in flat(result.output) and "--resume" in flat(result.output)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["state"] == "interrupted"
    config = distill_config(tmp_path, files, tmp_path / "run", BILSTM, "student")
    result = runner.invoke(app, ["distill", str(config)])
    assert result.exit_code == 2 and "did not finish (state interrupted at step 6 of 12" in flat(
        result.output
    )
    result = runner.invoke(app, ["evaluate", str(tmp_path / "run")])  # the best checkpoint so far, said so
    assert result.exit_code == 0 and "warning:" in result.output
    assert "did not finish (state interrupted at step 6 of 12" in flat(result.output)
    monkeypatch.setattr(trainer, "save_checkpoint", real)
    result = runner.invoke(app, [*run_args, "--resume"])
    assert result.exit_code == 0, result.output
    a, b = (load_file(tmp_path / d / "model.safetensors") for d in ("ref", "run"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["resumed_from"] == 6


def test_resume_on_changed_data_is_refused(own_runs: dict[str, Path], tmp_path: Path) -> None:
    from textdistill.train.checkpoint import save_checkpoint

    files = news_files(tmp_path / "files")
    config = distill_config(tmp_path, files, own_runs["teacher"], BILSTM, "run")
    assert runner.invoke(app, ["distill", str(config), "train.max_steps=2"]).exit_code == 0
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    (tmp_path / "run" / "run.json").write_text(json.dumps({**manifest, "state": "interrupted"}))
    save_checkpoint(tmp_path / "run" / "checkpoint.pt", {"step": 1})
    with files["train"].open("a") as f:
        f.write("a new row,sports\n")
    result = runner.invoke(app, ["distill", str(config), "train.max_steps=2", "--resume"])
    assert result.exit_code == 2 and "the data changed since the run started (train" in flat(result.output)


def test_a_bin_teachers_cache_entry_follows_its_weights(tmp_path: Path) -> None:
    from transformers import BertForSequenceClassification

    from textdistill.data.spec import Example
    from textdistill.models.teacher import HFClassifier
    from textdistill.teachers.cache import teacher_outputs

    folder = make_tiny_bert(tmp_path / "t")
    model = BertForSequenceClassification.from_pretrained(folder)
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")  # a teacher saved the older way
    examples = [Example("good great film"), Example("bad awful film the the")]
    first = teacher_outputs(folder, examples, 32)
    assert not first.from_cache and teacher_outputs(folder, examples, 32).from_cache
    with torch.no_grad():
        model.classifier.weight.add_(1.0)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    again = teacher_outputs(folder, examples, 32)
    assert not again.from_cache and again.fingerprint != first.fingerprint
    from textdistill.data.encode import EncodedDataset, make_loader
    from textdistill.models.teacher import load_tokenizer, predict_logits

    tokenizer = load_tokenizer(str(folder))
    live = predict_logits(
        HFClassifier.from_pretrained(str(folder)),
        make_loader(EncodedDataset(examples, tokenizer, 32), tokenizer, 8),
    )
    torch.testing.assert_close(again.logits, live)  # cached == live after the change


def test_a_teacher_with_another_label_order_is_mapped_or_refused(
    own_runs: dict[str, Path], tmp_path: Path
) -> None:
    from textdistill.artifacts import open_teacher
    from textdistill.data.spec import TaskSpec

    teacher = own_runs["teacher"]  # labels (politics, sports)
    flipped = TaskSpec("my-news", ("sports", "politics"), ("accuracy",))
    assert open_teacher(teacher, flipped).order == [1, 0]
    with pytest.raises(
        Exception, match=r"trained on labels \['politics', 'sports'\], the task 'x' has \['a', 'b'\]"
    ):
        open_teacher(teacher, TaskSpec("x", ("a", "b"), ("accuracy",)))
    # distilling on files whose labels are named in the other order: the teacher's outputs are reordered
    files = {k: own_runs[f"file_{k}"] for k in ("train", "dev", "test")}
    config = distill_config(tmp_path, files, teacher, BILSTM, "flipped", labels=["sports", "politics"])
    result = runner.invoke(app, ["distill", str(config), "train.max_steps=2"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "flipped" / "metrics.json").read_text())
    straight = json.loads((own_runs["bilstm"] / "metrics.json").read_text())
    assert metrics["teacher"]["label_order"] == [1, 0]
    assert metrics["teacher"]["best"]["dev/accuracy"] == pytest.approx(
        straight["teacher"]["best"]["dev/accuracy"]
    )


def test_retention_compares_the_teacher_on_the_students_examples(own_runs: dict[str, Path]) -> None:
    metrics = json.loads((own_runs["bilstm"] / "metrics.json").read_text())
    assert runner.invoke(app, ["evaluate", str(own_runs["teacher"])]).exit_code == 0
    teacher_eval = json.loads((own_runs["teacher"] / "evaluation.json").read_text())
    assert metrics["teacher"]["scored_on"] == "the student's evaluation examples"
    assert metrics["teacher"]["best"]["dev/accuracy"] == pytest.approx(
        teacher_eval["quality"]["dev/accuracy"]
    )
    assert metrics["retention"] == pytest.approx(
        metrics["best"]["dev/accuracy"] / metrics["teacher"]["best"]["dev/accuracy"], abs=1e-4
    )


def test_multitask_hands_device_precision_and_accumulation_to_the_trainer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import textdistill.recipes.multitask as recipe

    seen = {}
    real = recipe.train

    def spy(*args, **kwargs):
        seen["cfg"], seen["dist"] = args[6], kwargs["dist"]
        return real(*args, **kwargs)

    monkeypatch.setattr(recipe, "train", spy)
    path, _ = small_student_run(
        tmp_path, {"epochs": 1, "batch_size": 4, "grad_accumulation": 2, "precision": "fp32", "device": "cpu"}
    )
    result = runner.invoke(app, ["distill", str(path)])
    assert result.exit_code == 0, result.output
    assert seen["cfg"].grad_accumulation == 2 and seen["cfg"].precision == "fp32"
    assert str(seen["dist"].device) == "cpu"
    result = runner.invoke(app, ["distill", str(path), "train.precision=bf16", f"out={tmp_path / 'bf16'}"])
    assert result.exit_code == 2 and "bf16" in flat(result.output)


def test_multitask_runs_under_nproc_2(tmp_path: Path) -> None:
    path, run = small_student_run(tmp_path, {"epochs": 1, "batch_size": 4})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "textdistill", "distill", str(path), "--nproc", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["steps"] == 24  # 12 global batches per task, as one process
    assert json.loads((run / "run.json").read_text())["state"] == "finished"


def test_run_on_own_files_with_a_teacher_fine_tuned_already(
    own_runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import textdistill.run as main_job

    monkeypatch.setattr(main_job, "STUDENTS", {"bilstm": BILSTM, "transformer": TINY_TRANSFORMER})
    files = [own_runs[f"file_{k}"] for k in ("train", "dev", "test")]
    result = runner.invoke(
        app,
        [
            "run",
            "--train",
            str(files[0]),
            "--dev",
            str(files[1]),
            "--test",
            str(files[2]),
            "--columns",
            "text=body,label=topic",
            "--teacher-folder",
            str(own_runs["teacher"]),
            "--quick",
            "--out",
            str(tmp_path / "main"),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "main" / "report.json").read_text())
    assert [r["model"] for r in rows] == [
        "teacher",
        "tfidf-lr",
        "bilstm-hinton",
        "bilstm-hard",
        "transformer-hinton",
    ]
    assert rows[0]["retention"] == 1.0 and all(r["retention"] is not None for r in rows)
    assert not (tmp_path / "main" / "teacher").exists()  # no teaching
    assert all(r["labels"] == ["politics", "sports"] for r in rows)


def test_help_is_readable_at_80_columns() -> None:
    result = runner.invoke(app, ["teach", "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0
    for option in ("--max-train-examples", "--max-eval-examples", "--hf-dataset", "--labels"):
        assert option in result.output, option


def test_a_multitask_run_takes_the_users_files(own_runs: dict[str, Path], tmp_path: Path) -> None:
    files = {k: str(own_runs[f"file_{k}"]) for k in ("train", "dev", "test")}
    config = {
        "tasks": [
            {
                "task": "my-news",
                "teacher": str(own_runs["teacher"]),
                "files": {**files, "columns": {"text": "body", "label": "topic"}},
            },
            {
                "task": "my-news-2",
                "files": {
                    **files,
                    "columns": {"text": "body", "label": "topic"},
                    "labels": ["sports", "politics"],
                },
            },
        ],
        "encoder": str(own_runs["teacher"]),
        "student": TINY_TRANSFORMER,
        "out": str(tmp_path / "mt"),
        "train": {"epochs": 1, "batch_size": 8, "max_length": 32},
    }
    (tmp_path / "mt.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["distill", str(tmp_path / "mt.yaml")])
    assert result.exit_code == 0, result.output
    for task, labels in (("my-news", ["politics", "sports"]), ("my-news-2", ["sports", "politics"])):
        result = runner.invoke(app, ["evaluate", str(tmp_path / "mt"), "--task", task])
        assert result.exit_code == 0, result.output
        ev = json.loads((tmp_path / "mt" / f"evaluation-{task}.json").read_text())
        assert ev["labels"] == labels and ev["scored_on"]["test"]["examples"] == 16


def test_teach_takes_accumulation_and_nproc(tmp_path: Path, tiny_bert: Path) -> None:
    files = news_files(tmp_path / "files", n=32)
    result = runner.invoke(app, [*teach_args(files, tiny_bert, tmp_path / "acc"), "--grad-accumulation", "2"])
    assert result.exit_code == 0, result.output
    log = [json.loads(x) for x in (tmp_path / "acc" / "log.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in log) == 4  # 32 rows, batch 8 in two micro-batches of 4: 4 steps
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [
        a.replace(str(tmp_path / "acc"), str(tmp_path / "ddp"))
        for a in teach_args(files, tiny_bert, tmp_path / "acc")
    ]
    done = subprocess.run(
        [sys.executable, "-m", "textdistill", *args, "--nproc", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["steps"] == 4
    assert json.loads((tmp_path / "ddp" / "run.json").read_text())["state"] == "finished"


def test_a_teacher_from_elsewhere_is_matched_by_its_id2label(tmp_path: Path) -> None:
    from textdistill.artifacts import open_teacher
    from textdistill.data.spec import TaskSpec

    folder = make_tiny_bert(tmp_path / "hf")
    config = json.loads((folder / "config.json").read_text())
    config["id2label"], config["label2id"] = {"0": "sports", "1": "politics"}, {"sports": 0, "politics": 1}
    (folder / "config.json").write_text(json.dumps(config))
    ref = open_teacher(folder, TaskSpec("news", ("politics", "sports"), ("accuracy",)))
    assert ref.labels == ("sports", "politics") and ref.order == [1, 0]
    with pytest.raises(Exception, match="is a classification model, the task 'score' is regression"):
        open_teacher(folder, TaskSpec("score", None, ("pearson",)))
    generic = make_tiny_bert(tmp_path / "generic", num_labels=3)
    with pytest.raises(Exception, match="has 3 outputs, the task 'news' has 2 labels"):
        open_teacher(generic, TaskSpec("news", ("politics", "sports"), ("accuracy",)))
    with pytest.warns(UserWarning, match="does not name its labels"):
        assert (
            open_teacher(make_tiny_bert(tmp_path / "two"), TaskSpec("n", ("a", "b"), ("accuracy",))).order
            is None
        )


def test_resume_compares_configs_in_json_types_and_refuses_a_changed_teacher(
    own_runs: dict[str, Path], tmp_path: Path
) -> None:
    from textdistill.recipes.common import RunFolder
    from textdistill.train.checkpoint import save_checkpoint

    config = {"method": {"weights": (1.0, 1.0, 3.0)}}  # LRC-BERT's weights are tuples in the typed config
    with RunFolder(tmp_path / "r", "student", config):
        save_checkpoint(tmp_path / "r" / "checkpoint.pt", {"step": 1})
    (tmp_path / "r" / "run.json").write_text(
        json.dumps({**json.loads((tmp_path / "r" / "run.json").read_text()), "state": "interrupted"})
    )
    with RunFolder(tmp_path / "r", "student", config, resume=True) as run:
        assert run.manifest["config"] == {"method": {"weights": [1.0, 1.0, 3.0]}}
    # a teacher re-taught in place while a run was stopped: its resume is refused
    import shutil

    teacher = tmp_path / "teacher"
    shutil.copytree(own_runs["teacher"], teacher)
    files = {k: own_runs[f"file_{k}"] for k in ("train", "dev", "test")}
    cfg = distill_config(tmp_path, files, teacher, BILSTM, "run")
    assert runner.invoke(app, ["distill", str(cfg), "train.max_steps=2"]).exit_code == 0
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    (tmp_path / "run" / "run.json").write_text(json.dumps({**manifest, "state": "interrupted"}))
    save_checkpoint(tmp_path / "run" / "checkpoint.pt", {"step": 1})
    weights = load_file(teacher / "model.safetensors")
    from safetensors.torch import save_file

    save_file(
        {k: v + 0.01 if k.endswith("classifier.weight") else v for k, v in weights.items()},
        teacher / "model.safetensors",
    )
    result = runner.invoke(app, ["distill", str(cfg), "train.max_steps=2", "--resume"])
    assert result.exit_code == 2 and "the teacher changed since the run started" in flat(result.output)


def test_a_brought_teacher_of_another_label_order_is_scored_on_the_runs_data(
    own_runs: dict[str, Path],
) -> None:
    import dataclasses

    from textdistill.artifacts import open_run
    from textdistill.evaluation.run_eval import evaluate_folder

    data = open_run(own_runs["teacher"]).task_data()
    straight = evaluate_folder(own_runs["teacher"], speed_examples=8, data=data)
    flipped_spec = dataclasses.replace(data.spec, labels=("sports", "politics"))
    flip = {0: 1, 1: 0}
    splits = {s: [dataclasses.replace(e, label=flip[e.label]) for e in ex] for s, ex in data.splits.items()}
    flipped = evaluate_folder(own_runs["teacher"], speed_examples=8, data=type(data)(flipped_spec, splits))
    assert flipped["labels"] == ["sports", "politics"]
    assert flipped["quality"]["dev/accuracy"] == pytest.approx(straight["quality"]["dev/accuracy"])


def test_a_hub_teacher_is_one_revision_of_its_files(
    own_runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import huggingface_hub

    asked = []

    def snapshot(
        name: str, revision: str | None = None
    ) -> str:  # the hub, as a user with the internet has it
        asked.append((name, revision))
        folder = tmp_path / "hub" / f"models--{name.replace('/', '--')}" / "snapshots" / (revision or "main1")
        if not folder.exists():
            shutil.copytree(
                own_runs["teacher"], folder, ignore=shutil.ignore_patterns("run.json", "*.json.tmp*")
            )
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot)
    files = {k: own_runs[f"file_{k}"] for k in ("train", "dev", "test")}
    config = distill_config(tmp_path, files, Path("acme/news-teacher@abc123"), BILSTM, "hub")
    result = runner.invoke(app, ["distill", str(config), "train.max_steps=2"])
    assert result.exit_code == 0, result.output
    assert asked and asked[0] == ("acme/news-teacher", "abc123")
    [teacher] = json.loads((tmp_path / "hub" / "run.json").read_text())["teachers"]
    assert teacher["hub"] == {"model": "acme/news-teacher", "revision": "abc123"}
    result = runner.invoke(app, ["distill", str(config), "teacher=nothing-here", "train.max_steps=2"])
    assert result.exit_code == 2 and "teacher nothing-here: no such folder" in flat(result.output)


def test_run_on_a_glue_folder(tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import textdistill.run as main_job

    monkeypatch.setattr(main_job, "STUDENTS", {"bilstm": BILSTM, "transformer": TINY_TRANSFORMER})
    glue = Path(__file__).parent / "fixtures" / "glue"
    result = runner.invoke(
        app,
        [
            "run",
            "--task",
            "sst2",
            "--data",
            str(glue),
            "--teacher",
            str(tiny_bert),
            "--quick",
            "--out",
            str(tmp_path / "main"),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "main" / "report.json").read_text())
    assert {r["task"] for r in rows} == {"sst2"} and all(r["retention"] is not None for r in rows)
    manifest = json.loads((tmp_path / "main" / "bilstm-hinton" / "run.json").read_text())
    assert manifest["data"]["source"] == {
        "kind": "task",
        "task": "sst2",
        "data": str(glue.resolve()),
        "regression": False,
    }


def test_general_distill_runs_under_nproc_2(tmp_path: Path) -> None:
    encoder = make_tiny_bert(tmp_path / "encoder")
    rows = [{"text": r["text"] + f" {w}"} for r in toy_rows(40) for w in ("plot", "acting")]
    write_jsonl(tmp_path / "corpus.jsonl", rows)
    args = [
        "general-distill",
        "--teacher",
        str(encoder),
        "--files",
        str(tmp_path / "corpus.jsonl"),
        "--layers",
        "1",
        "--hidden",
        "16",
        "--heads",
        "4",
        "--intermediate",
        "24",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--negatives",
        "4",
        "--max-length",
        "32",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "textdistill", *args, "--out", str(tmp_path / "two"), "--nproc", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((tmp_path / "two" / "general.json").read_text())
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "one")])
    assert result.exit_code == 0, result.output
    one = json.loads((tmp_path / "one" / "general.json").read_text())
    assert record["processes"] == 2 and one["processes"] == 1
    assert record["steps"] == one["steps"] > 0 and record["texts"] == one["texts"]  # the same global batches
    assert json.loads((tmp_path / "two" / "run.json").read_text())["state"] == "finished"


def test_teach_and_general_distill_read_a_yaml_config_with_overrides(tmp_path: Path, tiny_bert: Path) -> None:
    files = news_files(tmp_path / "files", n=32)
    config = {
        "task": "my-news",
        "model": str(tiny_bert),
        "out": str(tmp_path / "t"),
        "epochs": 1,
        "max_length": 32,
        "files": {
            "train": str(files["train"]),
            "dev": str(files["dev"]),
            "columns": {"text": "body", "label": "topic"},
            "labels": ["sports", "politics"],
        },
    }
    (tmp_path / "teach.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(
        app, ["teach", "--config", str(tmp_path / "teach.yaml"), "seed=3", "--batch-size", "16"]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "t" / "run.json").read_text())
    assert manifest["config"]["seed"] == 3 and manifest["config"]["batch_size"] == 16  # override, flag
    assert manifest["config"]["epochs"] == 1.0 and manifest["task"]["labels"] == [
        "sports",
        "politics",
    ]  # file
    both = runner.invoke(app, ["teach", "--config", str(tmp_path / "teach.yaml"), "--data", str(tmp_path)])
    assert both.exit_code == 2 and "give files (your own) or data / --hf-dataset, not both" in flat(
        both.output
    )
    bad = runner.invoke(
        app, ["teach", "--config", str(tmp_path / "teach.yaml"), "epochs=0", "lr=-1", "bogus=1"]
    )
    message = flat(bad.output)
    assert (
        bad.exit_code == 2
        and "3 problem(s)" in message
        and "bogus: unknown key; valid keys here: task, model" in message
    )
    write_jsonl(
        tmp_path / "corpus.jsonl", [{"text": r["text"] + f" {i}"} for i, r in enumerate(toy_rows(40))]
    )
    general = {
        "teacher": str(tiny_bert),
        "files": [str(tmp_path / "corpus.jsonl")],
        "layers": 1,
        "hidden": 16,
        "heads": 4,
        "intermediate": 24,
        "batch_size": 8,
        "negatives": 4,
        "max_length": 32,
        "out": str(tmp_path / "g"),
    }
    (tmp_path / "general.yaml").write_text(yaml.safe_dump(general))
    result = runner.invoke(app, ["general-distill", "--config", str(tmp_path / "general.yaml"), "hidden=15"])
    assert result.exit_code == 2 and "hidden 15 must be a multiple of heads 4" in flat(result.output)
    result = runner.invoke(
        app, ["general-distill", "--config", str(tmp_path / "general.yaml"), "--precision", "bf16"]
    )
    assert result.exit_code == 2 and "bf16" in flat(
        result.output
    )  # honoured (refused on the CPU), never ignored
    result = runner.invoke(app, ["general-distill", "--config", str(tmp_path / "general.yaml"), "epochs=1"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "g" / "run.json").read_text())["config"]["tasks"] == []


def test_run_reads_a_yaml_config(
    own_runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import textdistill.run as main_job

    monkeypatch.setattr(main_job, "STUDENTS", {"bilstm": BILSTM, "transformer": TINY_TRANSFORMER})
    files = {k: str(own_runs[f"file_{k}"]) for k in ("train", "dev", "test")}
    config = {
        "task": "news",
        "files": {
            **files,
            "columns": {"text": "body", "label": "topic"},
            "metric": "f1",
            "positive": "politics",
        },
        "teacher_folder": str(own_runs["teacher"]),
        "quick": True,
        "out": str(tmp_path / "wrong"),
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(
        app, ["run", "--config", str(tmp_path / "run.yaml"), "--out", str(tmp_path / "main"), "seed=1"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "main" / "report.json").read_text())
    assert rows[0]["primary_metric"] == "dev/f1" and rows[0]["positive_label"] == "politics"
    assert not (tmp_path / "wrong").exists()  # the flag won over the file
    result = runner.invoke(
        app,
        [
            "run",
            "--config",
            str(tmp_path / "run.yaml"),
            "--out",
            str(tmp_path / "m2"),
            "--labels",
            "sports,politics",
        ],
    )  # a flag over the file's files:, key by key
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "m2" / "report.json").read_text())
    assert rows[1]["labels"] == ["sports", "politics"] and rows[0]["primary_metric"] == "dev/f1"
    bad = runner.invoke(app, ["run", "--task", "trec6", "--labels", "a,b", "--quick"])
    assert bad.exit_code == 2 and "--labels describe your own files" in flat(bad.output)
