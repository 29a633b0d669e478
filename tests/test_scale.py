"""The trainer at scale and under faults: the sharded, resumable sampler; data-parallel training
in real processes (gloo); resume after a real SIGKILL; the NaN and out-of-memory guards;
checkpoints that load without unpickling code; gradient accumulation."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from torch import nn
from typer.testing import CliRunner

from tests.conftest import write_jsonl
from tests.test_distill import TINY_TRANSFORMER, setup_task, write_config
from tests.test_teach import toy_rows
from textdistill.cli import app
from textdistill.data.encode import seeded_loader
from textdistill.data.sampling import EpochBatchSampler
from textdistill.errors import TextdistillError
from textdistill.runtime import set_seed
from textdistill.train.checkpoint import load_checkpoint, save_checkpoint
from textdistill.train.trainer import Checkpointing, NonFiniteLoss, TrainConfig, _truncate_log, train

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


# ------------------------------------------------------------------------------------- sampler
def test_shards_of_all_ranks_make_up_the_single_process_batches() -> None:
    single = EpochBatchSampler(30, 8, seed=3)
    ranks = [EpochBatchSampler(30, 8, seed=3, rank=r, world=2) for r in range(2)]
    for epoch in (0, 1):
        for s in (single, *ranks):
            s.set_epoch(epoch)
        batches = list(single)
        shards = [list(r) for r in ranks]
        assert len(batches) == len(shards[0]) == len(shards[1]) == 4
        for b, (a, c) in zip(batches[:-1], zip(*shards, strict=True), strict=False):
            assert a + c == b and len(a) == len(c) == 4
        last = shards[0][-1] + shards[1][-1]  # 6 rows: the last batch splits evenly
        assert last == batches[-1] and len(shards[0][-1]) == 3
    assert sorted(i for b in single for i in b) == list(range(30))  # an epoch covers every row once


def test_an_uneven_last_batch_is_topped_up_and_epochs_differ() -> None:
    ranks = [EpochBatchSampler(13, 4, seed=0, rank=r, world=2) for r in range(2)]
    shards = [list(r) for r in ranks]
    assert [len(b) for b in shards[0]] == [len(b) for b in shards[1]] == [2, 2, 2, 1]
    seen = {i for s in shards for b in s for i in b}
    assert seen == set(range(13))  # every row, one repeated to even the last batch out
    sampler = EpochBatchSampler(13, 4, seed=0)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first  # a pure function of (seed, epoch)


def test_set_epoch_start_resumes_mid_epoch_and_length_grouping_cuts_padding() -> None:
    sampler = EpochBatchSampler(40, 4, seed=5)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.set_epoch(2, start=3)
    assert list(sampler) == full[3:] and len(sampler) == 10
    lengths = [(i * 7) % 23 + 1 for i in range(400)]
    grouped = EpochBatchSampler(400, 8, seed=1, lengths=lengths, group_by_length=True)
    plain = EpochBatchSampler(400, 8, seed=1)

    def padded(s: EpochBatchSampler) -> int:
        return sum(len(b) * max(lengths[i] for i in b) for b in s)

    assert padded(grouped) < 0.8 * padded(plain)
    assert sorted(i for b in grouped for i in b) == list(range(400))
    with pytest.raises(ValueError, match="multiple of the 3 processes"):
        EpochBatchSampler(10, 4, world=3)


def test_the_training_loader_leaves_the_global_rng_alone() -> None:
    """A DataLoader draws a worker seed from the global RNG on every iter unless it has its own
    generator: a resumed run would then see different dropout."""
    loader = seeded_loader(list(range(10)), EpochBatchSampler(10, 4), lambda rows: torch.tensor(rows))
    torch.manual_seed(0)
    before = torch.get_rng_state()
    list(loader)
    list(loader)
    assert torch.equal(before, torch.get_rng_state())


# -------------------------------------------------------------------------- data-parallel (DDP)
def torchrun(nproc: int, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


def test_two_gloo_processes_hold_identical_weights_equal_to_one_process(tmp_path: Path) -> None:
    worker = ROOT / "tests" / "workers" / "ddp_train.py"
    for n in (1, 2):
        (tmp_path / f"n{n}").mkdir()
        done = torchrun(n, str(worker), str(tmp_path / f"n{n}"), cwd=ROOT)
        assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = (load_file(tmp_path / "n2" / f"rank{r}.safetensors") for r in (0, 1))
    single = load_file(tmp_path / "n1" / "rank0.safetensors")
    initial = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    for key, value in rank0.items():
        assert torch.equal(value, rank1[key]), key  # DDP keeps the ranks in lockstep
        torch.testing.assert_close(value, single[key], atol=1e-5, rtol=1e-4)  # same global batch
        assert value.shape == initial.state_dict()[key].shape
    assert not torch.allclose(rank0["0.weight"], initial.state_dict()["0.weight"])  # it trained
    # rank 0 alone logs; loss terms are averaged over both ranks
    log = [json.loads(line) for line in (tmp_path / "n2" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["type"] == "eval"] == [6, 12]


def test_distill_nproc_2_through_the_cli_matches_one_process(tmp_path: Path) -> None:
    data, teacher = setup_task(tmp_path)
    student = {**TINY_TRANSFORMER, "dropout": 0.0}
    config = write_config(tmp_path / "one", data, teacher, student, {"name": "hinton"}, "movie-sentiment")
    two = ["train.max_steps=4", f"out={tmp_path / 'two' / 'run'}"]
    result = runner.invoke(app, ["distill", str(config), "train.max_steps=4"])
    assert result.exit_code == 0, result.output
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "textdistill", "distill", str(config), *two, "--nproc", "2"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    one_m = json.loads((tmp_path / "one" / "run" / "metrics.json").read_text())
    two_m = json.loads((tmp_path / "two" / "run" / "metrics.json").read_text())
    assert two_m["processes"] == 2 and one_m["processes"] == 1 and two_m["steps"] == 4
    a = load_file(tmp_path / "one" / "run" / "student" / "model.safetensors")
    b = load_file(tmp_path / "two" / "run" / "student" / "model.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4)
    assert not (tmp_path / "two" / "run" / "checkpoint.pt").exists()  # finished: removed


def test_lrc_bert_trains_data_parallel(tmp_path: Path) -> None:
    data, teacher = setup_task(tmp_path)
    method = {"name": "lrc_bert", "negatives": 6, "perturbation": 0.5}
    config = write_config(tmp_path, data, teacher, TINY_TRANSFORMER, method, "movie-sentiment")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "textdistill", "distill", str(config), "train.max_steps=10", "--nproc", "2"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    last = [r for r in log if r["type"] == "train"][-1]  # step 10: stage 2, every term on
    assert last["step"] == 10 and last["stage"] == 2
    assert {"cos_nce", "kl", "hard", "loss_clean"} <= set(last)
    assert all(map(math.isfinite, (last["cos_nce"], last["kl"], last["hard"])))


def test_nproc_needs_a_batch_that_splits_evenly(tmp_path: Path) -> None:
    data, teacher = setup_task(tmp_path)
    config = write_config(tmp_path, data, teacher, TINY_TRANSFORMER, {"name": "hard"}, "movie-sentiment")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "textdistill", "distill", str(config), "train.batch_size=7", "--nproc", "2"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode != 0 and "must split evenly over 2 processes" in done.stderr


# ---------------------------------------------------------------------------------------- resume
def kill_test_config(root: Path) -> Path:
    """A run of 2 epochs x 50 steps (200 rows, batch 4), a checkpoint every 7 steps."""
    data, teacher = setup_task(root)
    write_jsonl(data / "train.jsonl", [{**r, "label": "positive" if r["label"] == "pos" else "negative"}
                                       for r in toy_rows(200)])  # fmt: skip
    config = write_config(root, data, teacher, TINY_TRANSFORMER, {"name": "hinton"}, "movie-sentiment")
    cfg = yaml.safe_load(config.read_text())
    cfg["train"] = {"epochs": 2, "batch_size": 4, "checkpoint_every": 7}
    config.write_text(yaml.safe_dump(cfg))
    return config


def kill_at_first_checkpoint(command: list[str], run: Path, env: dict[str, str]) -> int:
    """Start ``command`` (a run into ``run``), SIGKILL it as soon as ``run/checkpoint.pt`` exists;
    the checkpoint's step."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (run / "checkpoint.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (run / "metrics.json").exists()  # it did not finish
    return load_checkpoint(run / "checkpoint.pt")["step"]


def test_a_resumed_log_is_cut_at_the_checkpoint_and_has_its_row_even_when_the_kill_came_first(
    tmp_path: Path,
) -> None:
    """A kill between the checkpoint reaching the disk and its log row (seen in CI), or mid-line."""
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(b"x" * 2**20)
    log = tmp_path / "log.jsonl"
    rows = [{"type": "train", "step": 5}, {"type": "eval", "step": 7}, {"type": "train", "step": 10}]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"type": "tra')
    _truncate_log(log, 7, ckpt)
    kept = [json.loads(x) for x in log.read_text().splitlines()]
    assert kept == [*rows[:2], {"type": "checkpoint", "step": 7, "mb": 1.0}]
    _truncate_log(log, 7, ckpt)  # its row is there now: not added twice
    assert [json.loads(x) for x in log.read_text().splitlines()] == kept


def test_a_run_killed_mid_epoch_resumes_to_the_same_weights_and_metrics(tmp_path: Path) -> None:
    config = kill_test_config(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "textdistill", "distill", str(config)]
    # the uninterrupted reference
    ref = subprocess.run([*command, f"out={tmp_path / 'ref'}"], capture_output=True, text=True, env=env)
    assert ref.returncode == 0, ref.stderr[-3000:]
    # the same run, killed by a real SIGKILL as soon as its first checkpoint is on disk
    run = tmp_path / "run"
    step = kill_at_first_checkpoint(command, run, env)
    assert 0 < step < 100 and step % 50 != 0  # mid-epoch
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    a = json.loads((tmp_path / "ref" / "metrics.json").read_text())
    b = json.loads((run / "metrics.json").read_text())
    assert b["resumed_from"] == step and a["resumed_from"] is None
    assert a["best"] == b["best"] and a["best_step"] == b["best_step"] and a["steps"] == b["steps"] == 100

    def evals(m: dict) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in ("elapsed_s", "eval_s")} for r in m["history"]]

    assert evals(a) == evals(b)
    ref_w = load_file(tmp_path / "ref" / "student" / "model.safetensors")
    run_w = load_file(run / "student" / "model.safetensors")
    assert all(torch.equal(ref_w[k], run_w[k]) for k in ref_w)
    ref_log = [json.loads(x) for x in (tmp_path / "ref" / "log.jsonl").read_text().splitlines()]
    run_log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]

    def strip(log: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in ("elapsed_s", "write_s", "eval_s")} for r in log]

    assert strip(ref_log) == strip(run_log)  # every row once, the same as the uninterrupted run's
    assert [r["step"] for r in run_log if r["type"] == "checkpoint"] == [
        s for s in range(7, 100, 7) if s != 50
    ]


def test_resume_refuses_a_changed_config_a_finished_run_and_a_missing_checkpoint(tmp_path: Path) -> None:
    data, teacher = setup_task(tmp_path)
    config = write_config(tmp_path, data, teacher, TINY_TRANSFORMER, {"name": "hard"}, "movie-sentiment")
    result = runner.invoke(app, ["distill", str(config), "--resume"])
    assert result.exit_code == 2 and "nothing to resume" in result.output
    assert runner.invoke(app, ["distill", str(config), "train.max_steps=3"]).exit_code == 0
    result = runner.invoke(app, ["distill", str(config), "train.max_steps=3", "--resume"])
    assert result.exit_code == 2 and "finished run" in result.output
    save_checkpoint(tmp_path / "run" / "checkpoint.pt", {"step": 1})
    result = runner.invoke(app, ["distill", str(config), "train.max_steps=5", "--resume"])
    assert result.exit_code == 2 and "train.max_steps" in result.output


def test_checkpoints_never_unpickle_code(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    torch.save({"format": 1, "payload": Checkpointing(tmp_path)}, path)  # an arbitrary object
    with pytest.raises(TextdistillError, match="loads safely"):
        load_checkpoint(path)
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in (ROOT / "src").rglob("*.py")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if "torch.load(" in line and "weights_only=True" not in line
    ]
    assert offenders == []


# ---------------------------------------------------------------------------------------- guards
def tiny_loader(
    x: torch.Tensor, y: torch.Tensor, batch: int, accumulation: int = 1
) -> torch.utils.data.DataLoader:
    rows = [{"x": x[i], "y": y[i], "index": i} for i in range(len(x))]

    def collate(b: list[dict]) -> dict[str, torch.Tensor]:
        return {k: torch.stack([torch.as_tensor(r[k]) for r in b]) for k in ("x", "y", "index")}

    return seeded_loader(rows, EpochBatchSampler(len(x), batch, seed=0, accumulation=accumulation), collate)


def ce_step(m: nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict[str, float]]:
    loss = nn.functional.cross_entropy(m(batch["x"]), batch["y"])
    return loss, {"ce": loss.item()}


def test_a_nan_loss_stops_with_step_batch_and_terms_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    set_seed(0)
    x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
    loader = tiny_loader(x, y, 4)
    poisoned = [i for b in EpochBatchSampler(32, 4, seed=0) for i in b][4 * 5]  # a row of the 6th batch
    x[poisoned] = float("nan")
    model = nn.Linear(4, 2)
    ckpt = Checkpointing(tmp_path / "checkpoint.pt")
    cfg = TrainConfig(epochs=1, lr=0.1, checkpoint_every=2, log_every=1)
    with pytest.raises(NonFiniteLoss) as err:
        train(model, loader, ce_step, lambda m: {"acc": 0.0}, lambda m: None, "acc", cfg,
              tmp_path / "log.jsonl", checkpointing=ckpt)  # fmt: skip
    message = str(err.value)
    assert "loss is nan at step 5" in message and str(poisoned) in message and "'ce': nan" in message
    assert "last good checkpoint" in message
    state = load_checkpoint(ckpt.path)
    assert state["step"] == 4  # written at step 4, untouched after
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert torch.isfinite(model.weight).all()  # the NaN step updated nothing


def test_out_of_gpu_memory_says_what_to_change(tmp_path: Path) -> None:
    def oom_step(m: nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    loader = tiny_loader(torch.randn(8, 4), torch.zeros(8, dtype=torch.long), 4)
    expected = r"out of GPU memory at step 0 with 4 rows.*grad_accumulation=2"
    with pytest.raises(TextdistillError, match=expected):
        train(nn.Linear(4, 2), loader, oom_step, lambda m: {"a": 0.0}, lambda m: None, "a",
              TrainConfig(epochs=1), tmp_path / "log.jsonl")  # fmt: skip


def test_mixed_precision_is_refused_on_the_cpu(tmp_path: Path) -> None:
    loader = tiny_loader(torch.randn(8, 4), torch.zeros(8, dtype=torch.long), 4)
    with pytest.raises(TextdistillError, match="bf16 needs a GPU"):
        train(nn.Linear(4, 2), loader, ce_step, lambda m: {"a": 0.0}, lambda m: None, "a",
              TrainConfig(epochs=1, precision="bf16"), tmp_path / "log.jsonl")  # fmt: skip


def test_gradient_accumulation_matches_one_big_batch(tmp_path: Path) -> None:
    x, y = torch.randn(30, 4), torch.randint(0, 2, (30,))  # 4 batches of 8 per epoch, the last of 6
    weights = []
    for accum in (1, 2):
        set_seed(0)
        model = nn.Linear(4, 2)
        loader = tiny_loader(x, y, 8, accumulation=accum)
        assert len(loader) == 4 * accum
        cfg = TrainConfig(epochs=2, lr=0.1, grad_accumulation=accum)
        result = train(
            model, loader, ce_step, lambda m: {"a": 0.0}, lambda m: None, "a", cfg, tmp_path / "log"
        )
        assert result.steps == 8  # an optimizer step per global batch, with or without accumulation
        weights.append(model.weight.detach().clone())
    torch.testing.assert_close(weights[0], weights[1], atol=1e-6, rtol=1e-5)
    micro = EpochBatchSampler(30, 8, seed=0, accumulation=2).micro_batches(0)
    whole = EpochBatchSampler(30, 8, seed=0).global_batches(0)
    assert [a + b for a, b in zip(micro[::2], micro[1::2], strict=True)] == whole


def test_grad_accumulation_must_divide_the_batch(tmp_path: Path) -> None:
    data, teacher = setup_task(tmp_path)
    config = write_config(tmp_path, data, teacher, TINY_TRANSFORMER, {"name": "hard"}, "movie-sentiment")
    result = runner.invoke(app, ["distill", str(config), "train.grad_accumulation=3"])
    assert result.exit_code == 2 and "multiple of grad_accumulation 3" in result.output
    ok = runner.invoke(app, ["distill", str(config), "train.grad_accumulation=2", "train.max_steps=3"])
    assert ok.exit_code == 0, ok.output
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["steps"] == 3


def test_teach_refuses_mixed_precision_on_the_cpu(tmp_path: Path, tiny_bert: Path) -> None:
    from tests.test_teach import teach

    result = teach(tmp_path, tiny_bert, "--max-steps", "2", "--labels", "neg,pos", "--precision", "bf16")
    assert result.exit_code == 2 and "bf16 needs a GPU" in result.output
    assert (
        teach(tmp_path, tiny_bert, "--max-steps", "2", "--labels", "neg,pos", "--device", "cpu").exit_code
        == 0
    )
