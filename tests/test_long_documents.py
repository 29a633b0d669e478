"""Long documents: window splitting and recombination, head + tail, the truncation report, the
teacher cache per document, predict on a long text, ONNX on windows, word students' own length."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from tests.conftest import WORDS, make_tiny_bert, write_jsonl
from tests.test_deploy import json_lines
from tests.test_distill import BILSTM, TINY_TRANSFORMER
from textdistill.cli import app
from textdistill.data.encode import EncodedDataset, WordDataset, WordVocab
from textdistill.data.spec import Example
from textdistill.data.windows import Reading, coverage, per_document, spans
from textdistill.errors import TextdistillError

runner = CliRunner()
WINDOWS = Reading("windows", stride=20)


@pytest.mark.parametrize("length", [1, 29, 30, 31, 55, 100, 257])
@pytest.mark.parametrize("stride", [None, 7, 20, 30])
def test_windows_cover_every_token_and_end_at_the_end(length: int, stride: int | None) -> None:
    cuts = spans(length, 30, Reading("windows", stride=stride))
    assert all(e - s <= 30 for s, e in cuts) and cuts[0][0] == 0 and cuts[-1][1] == length
    covered = set()
    for s, e in cuts:
        covered.update(range(s, e))
    assert covered == set(range(length))
    if length > 30:  # full windows, each starting a stride after the last (the final one may be closer)
        step = Reading("windows", stride=stride).step(30)
        assert all(e - s == 30 for s, e in cuts)
        assert [b[0] - a[0] for a, b in itertools.pairwise(cuts)][:-1] == [step] * (len(cuts) - 2)


def test_head_tail_keeps_the_first_and_last_tokens() -> None:
    assert spans(100, 32, Reading("head_tail")) == [(0, 8), (76, 100)]
    assert spans(100, 32, Reading("head_tail", head=20)) == [(0, 20), (88, 100)]
    assert spans(20, 32, Reading("head_tail")) == [(0, 20)]


def test_coverage_counts_cut_texts_and_the_share_read() -> None:
    cov = coverage([10, 50, 100], 40, Reading())
    assert (cov.over_limit, cov.tokens, cov.tokens_read) == (2, 160, 90)
    assert cov.tokens_read_share == pytest.approx(90 / 160)
    whole = coverage([10, 50, 100], 40, Reading("windows"))
    assert whole.tokens_read_share == 1.0 and whole.windows == 1 + 2 + 3


def long_text(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n))


def test_a_text_shorter_than_a_window_is_encoded_as_the_plain_path(tiny_bert: Path) -> None:
    from textdistill.models.weights import read_tokenizer

    tokenizer = read_tokenizer(tiny_bert)
    examples = [Example("a good film", label=1), Example(long_text(90), label=0), Example("bad", label=0)]
    plain = EncodedDataset(examples, tokenizer, 32)
    windowed = EncodedDataset(examples, tokenizer, 32, WINDOWS)
    assert windowed.features[0] == plain.features[0] and windowed.features[-1] == plain.features[-1]
    long_rows = [f for f in windowed.features if f["index"] == 1]
    assert len(long_rows) == len(spans(90, 30, WINDOWS)) == windowed.doc_of.count(1) > 1
    assert all(r["labels"] == 0 and r["input_ids"][0] == tokenizer.cls_token_id for r in long_rows)
    assert all(r["input_ids"][-1] == tokenizer.sep_token_id and len(r["input_ids"]) <= 32 for r in long_rows)
    # the windows hold the text's tokens in order: the first window is the plain cut
    assert long_rows[0]["input_ids"] == plain.features[1]["input_ids"]
    ids = tokenizer(examples[1].text, add_special_tokens=False)["input_ids"]
    assert long_rows[-1]["input_ids"][1:-1] == ids[-30:]
    head_tail = EncodedDataset(examples, tokenizer, 32, Reading("head_tail"))
    assert head_tail.features[1]["input_ids"][1:-1] == ids[:7] + ids[-23:]
    assert plain.coverage().over_limit == 1 and windowed.coverage().tokens_read_share == 1.0


def test_pairs_refuse_windows(tiny_bert: Path) -> None:
    from textdistill.models.weights import read_tokenizer

    tokenizer = read_tokenizer(tiny_bert)
    with pytest.raises(TextdistillError, match="reads one long text"):
        EncodedDataset([Example(long_text(80), "a claim", 0)], tokenizer, 32, WINDOWS)


def test_per_document_combines_windows_and_keeps_single_windows() -> None:
    torch.manual_seed(0)
    logits = torch.randn(6, 3)
    doc_of = [0, 1, 1, 1, 2, 2]
    mean = per_document(logits, doc_of, Reading("windows"), multi_label=False)
    assert torch.equal(mean[0], logits[0])  # one window: its own logits, to the bit
    expected = torch.softmax(logits[1:4].double(), 1).mean(0)
    torch.testing.assert_close(torch.softmax(mean[1].double(), 0), expected)
    most = per_document(logits, doc_of, Reading("windows", combine="max"), False)
    top = torch.softmax(logits[4:6].double(), 1).max(0).values
    torch.testing.assert_close(torch.softmax(most[2].double(), 0), top / top.sum())
    same = per_document(
        torch.tensor([[2.0, 0.0], [2.0, 0.0], [5.0, 1.0]]), [0, 0, 1], Reading("windows"), False
    )
    torch.testing.assert_close(same, torch.tensor([[2.0, 0.0], [5.0, 1.0]]))  # logits on the windows' scale
    first = per_document(logits, doc_of, Reading("windows", combine="first"), False)
    assert torch.equal(first, logits[[0, 1, 4]])
    multi = per_document(logits, doc_of, Reading("windows"), multi_label=True)
    torch.testing.assert_close(torch.sigmoid(multi[1]), torch.sigmoid(logits[1:4]).mean(0))
    scores = per_document(logits[:, :1], doc_of, Reading("windows"), multi_label=False)
    torch.testing.assert_close(scores[2], logits[4:6, :1].mean(0))


def test_word_students_cut_at_their_own_length_and_refuse_windows() -> None:
    vocab = WordVocab.build([long_text(300)])
    examples = [Example(long_text(300), label=0)]
    ds = WordDataset(examples, vocab, 1000)
    assert len(ds.features[0]["word_ids"]) == 300 and ds.coverage().over_limit == 0
    cut = WordDataset(examples, vocab, 100, Reading("head_tail", head=10))
    ids = vocab.encode(examples[0].text)
    assert cut.features[0]["word_ids"] == ids[:10] + ids[-90:] and cut.coverage().over_limit == 1
    with pytest.raises(TextdistillError, match="reads a long text whole"):
        WordDataset(examples, vocab, 100, Reading("windows"))


def long_task(root: Path) -> Path:
    """Files with texts of up to 150 words ("good"-heavy ones positive) and a tiny teacher (64 positions)."""
    rng = random.Random(0)
    for split, n in (("train", 40), ("dev", 12), ("test", 12)):
        rows = []
        for i in range(n):
            positive = i % 2 == 0
            words = [rng.choice(WORDS) for _ in range(rng.randint(5, 150))]
            words[rng.randrange(len(words))] = "good" if positive else "bad"
            rows.append({"text": " ".join(words), "label": "pos" if positive else "neg"})
        write_jsonl(root / "data" / f"{split}.jsonl", rows)
    return make_tiny_bert(root / "teacher")


def distill_config(root: Path, teacher: Path, student: dict, **extra: object) -> Path:
    cfg = {
        "task": "long",
        "files": {"train": str(root / "data" / "train.jsonl"), "dev": str(root / "data" / "dev.jsonl"),
                  "test": str(root / "data" / "test.jsonl"), "labels": ["neg", "pos"]},
        "teacher": str(teacher),
        "out": str(root / "run"),
        "student": student,
        "method": {"name": "hinton"},
        "train": {"epochs": 1, "batch_size": 8, "max_steps": 3, "max_length": 32},
        **extra,
    }  # fmt: skip
    path = root / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_teach_over_windows_reports_what_it_cuts(tmp_path: Path) -> None:
    teacher = long_task(tmp_path)
    data = tmp_path / "data"
    args = ["teach", "--model", str(teacher), "--out", str(tmp_path / "t"),
            "--train", str(data / "train.jsonl"), "--dev", str(data / "dev.jsonl"), "--labels", "neg,pos",
            "--max-steps", "2", "--batch-size", "8", "--max-length", "32"]  # fmt: skip
    cut = runner.invoke(app, args)
    assert cut.exit_code == 0, cut.output
    said = " ".join(cut.output.split())
    manifest = json.loads((tmp_path / "t" / "run.json").read_text())
    over = manifest["coverage"]["train"]["over_limit"]
    assert 0 < over < 40 and manifest["reading"] == {"mode": "truncate"}
    assert f"train: {over:,} of 40 texts are longer than 32 tokens, cut there" in said
    assert manifest["coverage"]["train"]["tokens_read_share"] < 0.7
    log = [json.loads(line) for line in (tmp_path / "t" / "log.jsonl").read_text().splitlines()]
    assert {r["split"] for r in log if r["type"] == "coverage"} == {"train", "dev"}
    windows = runner.invoke(app, [*args[:4], str(tmp_path / "w"), *args[5:], "reading.mode=windows"])
    assert windows.exit_code == 0, windows.output
    manifest = json.loads((tmp_path / "w" / "run.json").read_text())
    assert (
        manifest["reading"]["mode"] == "windows" and manifest["coverage"]["dev"]["tokens_read_share"] == 1.0
    )
    assert manifest["coverage"]["train"]["windows"] > 40 and "read whole as" in windows.output
    first = runner.invoke(app, [*args[:4], str(tmp_path / "f"), *args[5:], "reading.mode=windows",
                                "reading.fine_tune=first"])  # fmt: skip
    assert first.exit_code == 0, first.output
    coverage_ = json.loads((tmp_path / "f" / "run.json").read_text())["coverage"]
    assert coverage_["train"]["windows"] == 40 and coverage_["dev"]["tokens_read_share"] == 1.0


def test_the_teacher_cache_holds_one_row_per_document(tmp_path: Path) -> None:
    from textdistill.models.teacher import HFClassifier, predict_logits
    from textdistill.models.weights import read_tokenizer
    from textdistill.teachers.cache import teacher_outputs

    teacher = make_tiny_bert(tmp_path / "teacher")
    examples = [Example(long_text(n, n), label=0) for n in (5, 80, 140, 20)]
    cut = teacher_outputs(teacher, examples, 32)
    windowed = teacher_outputs(teacher, examples, 32, reading=WINDOWS)
    assert windowed.logits.shape == (4, 2) and not windowed.from_cache
    assert windowed.fingerprint != cut.fingerprint
    again = teacher_outputs(teacher, examples, 32, reading=WINDOWS)
    assert again.from_cache and torch.equal(again.logits, windowed.logits)
    assert torch.equal(windowed.logits[[0, 3]], cut.logits[[0, 3]])  # one window: the plain outputs
    tokenizer = read_tokenizer(teacher)
    dataset = EncodedDataset(examples, tokenizer, 32, WINDOWS)
    from textdistill.data.encode import make_loader

    live = predict_logits(HFClassifier.from_pretrained(str(teacher)), make_loader(dataset, tokenizer, 4))
    torch.testing.assert_close(live, windowed.logits, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(windowed.logits[1], cut.logits[1])


@pytest.fixture(scope="module")
def windowed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("windowed")
    teacher = long_task(root)
    config = distill_config(root, teacher, TINY_TRANSFORMER, reading={"mode": "windows", "stride": 16},
                            teacher_reading={"mode": "windows"})  # fmt: skip
    result = runner.invoke(app, ["distill", str(config)])
    assert result.exit_code == 0, result.output
    assert "read whole as" in result.output
    return root / "run"


def test_a_windowed_student_predicts_a_long_text_as_it_trained(windowed_run: Path) -> None:
    import textdistill as td

    manifest = json.loads((windowed_run / "run.json").read_text())
    assert manifest["reading"]["mode"] == "windows" and manifest["teacher_reading"]["mode"] == "windows"
    text = long_text(120, 7)
    out = runner.invoke(app, ["predict", str(windowed_run), text])
    assert out.exit_code == 0, out.output  # no refusal: the model reads it all
    answer = json_lines(out.output)[-1]
    predictor = td.load(windowed_run)
    student = predictor.student
    dataset = EncodedDataset([Example(text)], student.tokenizer, student.max_length, student.reading)
    assert len(dataset) > 1
    with torch.no_grad():
        rows = student.model(**{k: torch.tensor([f[k] for f in dataset.features]) for k in
                                ("input_ids", "attention_mask", "token_type_ids")}).logits  # fmt: skip
    probs = torch.softmax(rows.double(), 1).mean(0)
    assert answer["probabilities"]["pos"] == pytest.approx(float(probs[1]), abs=1e-5)
    evaluation = td.evaluate(windowed_run)
    assert evaluation["coverage"]["test"]["tokens_read_share"] == 1.0
    assert evaluation["reading"]["mode"] == "windows"


def test_onnx_on_windows_equals_pytorch(windowed_run: Path) -> None:
    import textdistill as td

    record = td.export(windowed_run)
    assert record["reading"]["mode"] == "windows"
    texts = [long_text(n, n) for n in (3, 60, 140)]
    torch_p = td.load(windowed_run)
    onnx_p = td.load(windowed_run, backend="onnx")
    examples = torch_p.check(texts, None)
    np.testing.assert_allclose(onnx_p.logits(examples), torch_p.logits(examples), atol=1e-4, rtol=1e-4)
    rows = td.bench(windowed_run, batch_sizes=(4,), examples=8, teacher=False)
    dev = [
        json.loads(x)["text"] for x in (windowed_run.parent / "data" / "dev.jsonl").read_text().splitlines()
    ]
    from textdistill.models.weights import read_tokenizer

    per_doc = np.mean([len(read_tokenizer(windowed_run / "student")(t)["input_ids"]) for t in dev[:8]])
    for r in rows:  # documents per second, and the tokens those documents' windows hold (overlaps count)
        assert r["reading"]["mode"] == "windows" and r["tokens_per_s"][4] / r["throughput"][4] > per_doc


def test_many_texts_come_back_in_their_order(windowed_run: Path) -> None:
    """Texts of mixed lengths are batched shortest first, one row per window: each answer is still
    its own text's windows combined."""
    import textdistill as td

    predictor = td.load(windowed_run)
    student = predictor.student
    texts = [long_text(n, n) for n in (140, 4, 70, 100, 9)]
    together = predictor.logits(predictor.check(texts, None))
    for i, text in enumerate(texts):
        alone = predictor.logits(predictor.check([text], None))
        np.testing.assert_allclose(together[i], alone[0], atol=1e-5)
    dataset = EncodedDataset(
        [Example(t) for t in texts], student.tokenizer, student.max_length, student.reading
    )
    assert len(dataset) > len(texts)  # windows and texts differ in number: rows were combined per text
    backwards = predictor.logits(predictor.check(texts[::-1], None))
    np.testing.assert_allclose(backwards[::-1], together, atol=1e-5)


def test_tang_gets_teacher_logits_on_their_scale_over_windows(tmp_path: Path) -> None:
    teacher = long_task(tmp_path)
    config = distill_config(tmp_path, teacher, BILSTM, teacher_reading={"mode": "windows"})
    config.write_text(config.read_text().replace("name: hinton", "name: tang"))
    result = runner.invoke(app, ["distill", str(config)])
    assert result.exit_code == 0, result.output
    from textdistill.data.load import load_files
    from textdistill.teachers.cache import teacher_outputs

    data = load_files(
        tmp_path / "data" / "train.jsonl", tmp_path / "data" / "dev.jsonl", labels=["neg", "pos"]
    )
    outputs = teacher_outputs(teacher, data.splits["train"], 32, reading=Reading("windows")).logits
    assert outputs.max() > 0  # logits, not log-probabilities (which are all below 0)


def test_lrc_bert_refuses_a_student_over_windows(tmp_path: Path) -> None:
    teacher = long_task(tmp_path)
    config = distill_config(tmp_path, teacher, TINY_TRANSFORMER, reading={"mode": "windows"})
    config.write_text(config.read_text().replace("name: hinton", "name: lrc_bert"))
    result = runner.invoke(app, ["distill", str(config)])
    assert result.exit_code == 2 and "lrc_bert matches the teacher's layers" in " ".join(
        result.output.split()
    )


def test_a_cut_run_serves_over_windows_when_asked(tmp_path: Path) -> None:
    teacher = long_task(tmp_path)
    config = distill_config(tmp_path, teacher, TINY_TRANSFORMER)
    assert runner.invoke(app, ["distill", str(config)]).exit_code == 0
    run, text = tmp_path / "run", long_text(120, 3)
    refused = runner.invoke(app, ["predict", str(run), text])
    assert refused.exit_code == 2 and "--reading windows" in " ".join(refused.output.split())
    windows = runner.invoke(app, ["predict", str(run), text, "--reading", "windows", "--stride", "8"])
    cut = runner.invoke(app, ["predict", str(run), text, "--truncate"])
    assert windows.exit_code == 0 and cut.exit_code == 0, windows.output + cut.output
    assert json_lines(windows.output)[-1] != json_lines(cut.output)[-1]
    bad = runner.invoke(app, ["predict", str(run), text, "--stride", "8", "--window-combine", "max"])
    assert bad.exit_code == 2 and "--stride/--window-combine go with --reading" in bad.output
    bad = runner.invoke(app, ["evaluate", str(run), "--reading", "pages"])
    assert bad.exit_code == 2 and "reading.mode" in " ".join(bad.output.split())
    scored = runner.invoke(app, ["evaluate", str(run), "--reading", "windows"])
    assert scored.exit_code == 0, scored.output
    assert (
        json.loads((run / "evaluation-windows.json").read_text())["coverage"]["dev"]["tokens_read_share"] == 1
    )


def test_a_word_student_reads_long_texts_whole(tmp_path: Path) -> None:
    teacher = long_task(tmp_path)
    config = distill_config(
        tmp_path, teacher, {**BILSTM, "max_length": 400}, teacher_reading={"mode": "windows"}
    )
    result = runner.invoke(app, ["distill", str(config)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["max_length"] == 400 and manifest["coverage"]["train"]["over_limit"] == 0
    long = long_text(300, 1)
    assert runner.invoke(app, ["predict", str(tmp_path / "run"), long]).exit_code == 0
    refused = runner.invoke(
        app, ["distill", str(distill_config(tmp_path, teacher, BILSTM, reading={"mode": "windows"}))]
    )
    assert refused.exit_code == 2 and "reading: windows is for a transformer student" in " ".join(
        refused.output.split()
    )


def test_the_main_job_reads_long_documents_whole_with_long(tmp_path: Path) -> None:
    """``run --long``: the distill configs it makes read windows (the transformer, every student's
    soft targets), and validate."""
    from textdistill.config import validate
    from textdistill.run import STUDENTS, long_reading

    for kind, student in STUDENTS.items():
        cfg = validate({"task": "bbc-news", "teacher": str(tmp_path), "student": student,
                        "method": {"name": "hinton"}, **long_reading(kind)})  # fmt: skip
        assert cfg.teacher_reading is not None and cfg.teacher_reading.mode == "windows"
        if kind == "transformer":
            assert cfg.reading.mode == "windows" and cfg.student_length() == 128
        else:  # the BiLSTM keeps its cut, taught over windows
            assert cfg.reading.mode == "truncate" and cfg.student_length() == 128
    bad = runner.invoke(app, ["run", "--long", "--teacher-folder", str(tmp_path / "none"), "--quick"])
    assert bad.exit_code == 2


def test_a_token_vocabulary_reads_past_the_teacher_tokenizers_own_cut(tiny_bert: Path) -> None:
    """A teacher's tokenizer.json may carry a cut (all-MiniLM-L6-v2's: 512 tokens): a BiLSTM on
    its tokens reads as far as its own max_length, and counts a long text's length truly."""
    from tokenizers import Tokenizer

    from textdistill.data.encode import TokenVocab

    cutting = Tokenizer.from_file(str(tiny_bert / "tokenizer.json"))
    cutting.enable_truncation(16)
    vocab = TokenVocab(cutting.to_str())
    text = long_text(60)
    assert len(vocab.encode(text)) >= 60 and len(vocab.encode(text, 20)) == 20
    ds = WordDataset([Example(text, label=0)], vocab, 1000)
    assert ds.text_lengths[0] >= 60 and ds.coverage().over_limit == 0


def test_soft_targets_come_at_the_length_the_teacher_was_taught(tmp_path: Path) -> None:
    from textdistill.data.load import load_files
    from textdistill.teachers.cache import teacher_outputs

    base = long_task(tmp_path)
    data = tmp_path / "data"
    taught = tmp_path / "t48"
    result = runner.invoke(app, ["teach", "--model", str(base), "--out", str(taught),
                                 "--train", str(data / "train.jsonl"), "--dev", str(data / "dev.jsonl"),
                                 "--labels", "neg,pos", "--max-steps", "2", "--batch-size", "8",
                                 "--max-length", "48", "reading.mode=windows"])  # fmt: skip
    assert result.exit_code == 0, result.output
    train = load_files(data / "train.jsonl", data / "dev.jsonl", labels=["neg", "pos"]).splits["train"]
    for teacher, extra, length in (
        (taught, {}, 48),  # as taught: windows of 48 for a student that reads 32
        (taught, {"teacher_max_length": 40}, 40),  # as the config says
        (taught, {"teacher_max_length": 1000}, 64),  # never past its 64 positions, and recorded so
        (base, {"teacher_reading": {"mode": "windows"}}, 32),  # a folder from elsewhere: train.max_length
    ):
        out = tmp_path / f"run-{length}"
        config = distill_config(tmp_path, teacher, BILSTM, out=str(out), **extra)
        result = runner.invoke(app, ["distill", str(config)])
        assert result.exit_code == 0, result.output
        assert json.loads((out / "run.json").read_text())["teacher_max_length"] == length
        assert teacher_outputs(teacher, train, length, reading=Reading("windows")).from_cache
    assert not teacher_outputs(taught, train, 32, reading=Reading("windows")).from_cache
