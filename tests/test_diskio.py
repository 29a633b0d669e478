"""Writes that fail (a full disk, a read-only file system, no permission) keep the previous file,
leave no temporary file behind and say in one line which file, why and what to do."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import BinaryIO

import pytest
import torch

from tests.test_teach import teach
from textdistill import diskio
from textdistill.artifacts import read_manifest
from textdistill.data.spec import Example
from textdistill.diskio import DiskError, write_atomic
from textdistill.teachers.cache import teacher_outputs
from textdistill.train.checkpoint import atomic_folder, load_checkpoint, save_checkpoint


def fail_writes(monkeypatch: pytest.MonkeyPatch, name: str, code: int = errno.ENOSPC, skip: int = 0) -> None:
    """Writes to the temporary file of a file named ``name`` (or ending so), after the first ``skip``
    of them, write half their bytes, then fail with ``code``, as a disk that fills up mid-write
    does; other files are written."""
    real, seen = diskio._write_all, []

    def write(f: BinaryIO, data: memoryview) -> None:
        if f"{name}.tmp-" in Path(str(f.name)).name:
            seen.append(f.name)
            if len(seen) > skip:
                f.write(data[: len(data) // 2])
                raise OSError(code, os.strerror(code))
        real(f, data)

    monkeypatch.setattr(diskio, "_write_all", write)


def leftovers(*folders: Path) -> list[Path]:
    """Temporary files and half-saved folders under ``folders``."""
    found = [p for folder in folders for p in folder.rglob("*")]
    return [p for p in found if ".tmp-" in p.name or p.name.endswith(".new")]


def test_a_full_disk_while_checkpointing_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run" / "checkpoint.pt"
    save_checkpoint(path, {"step": 1, "weights": torch.ones(4)})
    fail_writes(monkeypatch, "checkpoint.pt")
    with pytest.raises(DiskError) as err:
        save_checkpoint(path, {"step": 2, "weights": torch.zeros(1000)})
    message = str(err.value)
    assert message.startswith(f"cannot write {path}: no space left on device (")
    assert "KB to write" in message and " free there)" in message
    kept = (
        "the previous checkpoint.pt is kept: free some space, then run the same command again with --resume"
    )
    assert kept in message
    assert err.value.errno == errno.ENOSPC and isinstance(err.value.__cause__, OSError)
    assert leftovers(tmp_path) == []
    state = load_checkpoint(path)
    assert state["step"] == 1 and torch.equal(state["weights"], torch.ones(4))


@pytest.mark.parametrize(
    ("code", "said"),
    [
        (
            errno.EROFS,
            "read-only file system; no notes.json is left half-written: write to a writable file system",
        ),
        (errno.EACCES, "permission denied; no notes.json is left half-written: make the folder writable"),
        (errno.EDQUOT, "no space left on device (disk quota exceeded) (11 B to write"),
        (errno.EIO, "input/output error; no notes.json is left half-written: run the same command again"),
    ],
)
def test_other_os_errors_name_the_path_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, said: str
) -> None:
    fail_writes(monkeypatch, "notes.json", code)
    with pytest.raises(DiskError) as err:
        write_atomic(tmp_path / "notes.json", b'{"a": 1}\n\n\n')
    assert str(err.value).startswith(f"cannot write {tmp_path / 'notes.json'}: {said}")
    assert "\n" not in str(err.value) and leftovers(tmp_path) == [] and not (tmp_path / "notes.json").exists()


def test_a_full_disk_while_saving_a_model_folder_keeps_the_previous_folder(tmp_path: Path) -> None:
    folder = tmp_path / "student"
    with atomic_folder(folder) as new:
        (new / "model.safetensors").write_bytes(b"first")
    with pytest.raises(DiskError) as err, atomic_folder(folder) as new:
        (new / "model.safetensors").write_bytes(b"half")  # a library (safetensors) says it in its words:
        raise RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)")
    message = str(err.value)
    assert message.startswith(f"cannot write {folder}: no space left on device (")
    assert "the previous student/ is kept: free some space" in message
    assert (folder / "model.safetensors").read_bytes() == b"first" and leftovers(tmp_path) == []


def test_a_full_disk_while_caching_teacher_outputs_leaves_no_partial_entry(
    tiny_bert: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import textdistill.teachers.cache as cache

    examples, real = [Example("good film"), Example("bad film")], cache.save_file

    def full(tensors: dict, path: Path, metadata: dict) -> None:  # as safetensors' writer says it
        path.write_bytes(b"half")
        raise RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(cache, "save_file", full)
    with pytest.raises(DiskError, match=r"no space left on device \(16 B to write, .* free there\); no "):
        teacher_outputs(tiny_bert, examples)  # two rows of two logits: 16 bytes
    assert leftovers(isolated_home) == [] and not list((isolated_home / "teacher_cache").iterdir())
    monkeypatch.setattr(cache, "save_file", real)
    assert not teacher_outputs(tiny_bert, examples).from_cache  # computed again, then stored whole
    assert teacher_outputs(tiny_bert, examples).from_cache


def test_teach_whose_checkpoint_fills_the_disk_exits_2_and_records_the_failure(
    tmp_path: Path, tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_writes(monkeypatch, "checkpoint.pt", skip=1)  # the checkpoint of step 1 is written, step 2's is not
    result = teach(tmp_path, tiny_bert, "--max-steps", "3", "--eval-every", "1", "--labels", "neg,pos")
    out = tmp_path / "out"
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith(f"error: cannot write {out / 'checkpoint.pt'}: no space left on device (")
    assert lines[0].endswith(
        "the previous checkpoint.pt is kept: free some space, then run the same command again with --resume "
        "to continue from the last checkpoint"
    )
    assert leftovers(tmp_path) == []
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 1
    manifest = read_manifest(out)
    assert manifest["state"] == "failed"
    assert manifest["reason"].startswith(f"DiskError: cannot write {out / 'checkpoint.pt'}: no space left")
    assert not (out / "metrics.json").exists()
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["type"] == "checkpoint"] == [1]


def test_a_full_disk_while_teach_saves_its_best_model_keeps_the_previous_one(
    tmp_path: Path, tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors.torch import load_file

    from textdistill.models.teacher import HFClassifier

    assert teach(tmp_path, tiny_bert, "--max-steps", "1", "--labels", "neg,pos").exit_code == 0
    out = tmp_path / "out"
    before = load_file(out / "model.safetensors")
    real = HFClassifier.save

    def save(self: HFClassifier, folder: str | Path) -> None:  # the disk fills while the weights are written
        real(self, folder)
        weights = Path(folder) / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:100])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(HFClassifier, "save", save)
    result = teach(tmp_path, tiny_bert, "--max-steps", "1", "--labels", "neg,pos", "--seed", "3")
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"cannot write {out / 'model.safetensors'}: no space left on device" in said
    assert "the previous model.safetensors is kept" in said and said.endswith("run the same command again")
    kept = load_file(out / "model.safetensors")  # the earlier model, whole
    assert kept.keys() == before.keys() and all(torch.equal(kept[k], before[k]) for k in kept)
    assert not (out / ".saving").exists() and leftovers(tmp_path) == []


def test_a_full_disk_during_export_keeps_the_previous_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from tests.test_distill import setup_task, write_config
    from textdistill import deploy
    from textdistill.cli import app

    runner = CliRunner()
    data, teacher = setup_task(tmp_path)
    student = {"kind": "cnn", "embedding": "random", "embed_dim": 8, "widths": [2], "filters": 4, "fc": 6}
    config = write_config(tmp_path, data, teacher, student, {"name": "hinton"}, "movie-sentiment")
    assert runner.invoke(app, ["distill", str(config), "train.max_steps=2"]).exit_code == 0
    run = tmp_path / "run"
    assert runner.invoke(app, ["export", str(run)]).exit_code == 0
    before = (run / "onnx" / "model.onnx").read_bytes()

    def full(student, spec, path: Path, opset: int = 17):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half an onnx file")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(deploy, "export_onnx", full)
    result = runner.invoke(app, ["export", str(run)])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and f"cannot write {run / 'onnx'}: no space left on device" in said
    assert "the previous onnx/ is kept" in said and said.endswith("run the same command again")
    assert (run / "onnx" / "model.onnx").read_bytes() == before and leftovers(tmp_path) == []
