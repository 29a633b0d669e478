"""Transfer-set augmentation: each operation on fixed seeds, the probabilities over many draws,
pairs, no label leaks, the cache, the CLI and distillation on a transfer set."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.test_distill import BILSTM, TINY_TRANSFORMER, setup_task, write_config
from textdistill.cli import app
from textdistill.config import ConfigError, validate
from textdistill.data import augment as aug
from textdistill.data.augment import (
    MASK_TOKEN,
    AugmentParams,
    Corpus,
    PlainTokenizer,
    TransferSet,
    augment,
    augment_round,
    load_tagger,
)
from textdistill.data.encode import WordVocab, collate_labels, collate_words
from textdistill.data.tasks import Example
from textdistill.errors import TextdistillError
from textdistill.methods.hard import hard_term

runner = CliRunner()

# a toy tag set: each word's tag is fixed, so a replacement must come from the same group
TAGS = {
    "the": "DT",
    "a": "DT",
    "film": "NN",
    "movie": "NN",
    "plot": "NN",
    "is": "VBZ",
    "was": "VBZ",
    "good": "JJ",
    "bad": "JJ",
    "great": "JJ",
    ".": ".",
}


class FakeTagger:
    """Whitespace words, tags from ``TAGS`` (``NN`` for unknown words)."""

    name = "fake"
    pos = True

    def tag(self, texts: list[str]) -> list[list[tuple[str, str | None, bool]]]:
        out = []
        for text in texts:
            ws = text.split()
            out.append([(w, TAGS.get(w, "NN"), i + 1 < len(ws)) for i, w in enumerate(ws)])
        return out


SENTENCES = ["the film is good .", "a movie was bad .", "the plot is great .", "a film was good ."]


def examples(texts: list[str] = SENTENCES, label: int | None = 1) -> list[Example]:
    return [Example(t, None, label) for t in texts]


def outputs(params: AugmentParams, texts: list[str] = SENTENCES) -> list[str]:
    return [e.text for e in augment(examples(texts), params, FakeTagger(), progress=False).examples]


# ------------------------------------------------------------------------------- each operation
def test_masking_everything_gives_only_masks() -> None:
    out = augment(examples(), AugmentParams(rounds=1, p_mask=1.0, p_pos=0.0, p_ng=0.0), FakeTagger())
    # the four all-mask sentences are one text: kept once, three duplicates
    assert [e.text for e in out.examples] == [" ".join([MASK_TOKEN] * 5)]
    assert out.stats["duplicates"] == 3 and out.stats["kept"] == 1 and out.stats["mask_rate"] == 1.0


def test_pos_replacement_keeps_every_tag() -> None:
    got = outputs(AugmentParams(rounds=10, p_mask=0.0, p_pos=1.0, p_ng=0.0, seed=5))
    assert len(got) > 10
    for text in got:  # every source reads DT NN VBZ JJ .
        assert [TAGS[w] for w in text.split()] == ["DT", "NN", "VBZ", "JJ", "."]


def test_ngram_keeps_a_contiguous_piece_of_the_source() -> None:
    params = AugmentParams(rounds=20, p_mask=0.0, p_pos=0.0, p_ng=1.0, max_ngram=2, seed=3)
    out = augment(examples(), params, FakeTagger(), progress=False)
    assert out.examples
    for e, s in zip(out.examples, out.sources, strict=True):
        assert 1 <= len(e.text.split()) <= 2 and f" {e.text} " in f" {SENTENCES[s]} "


def test_known_output_on_a_fixed_seed() -> None:
    """A snapshot of seed 7 (any change to the drawing order shows up here)."""
    got = outputs(AugmentParams(rounds=2, p_mask=0.2, p_pos=0.3, p_ng=0.25, seed=7))
    assert got == KNOWN_SEED_7


# seed 7: one of each operation (mask, "is" -> "was", masks, "bad" -> "good", an n-gram)
KNOWN_SEED_7 = [
    "a [MASK] was bad .",
    "the film was good .",
    "the [MASK] [MASK] [MASK] .",
    "a movie was good .",
    "the [MASK] is great",
]


def test_same_seed_same_set_and_rounds_are_a_prefix() -> None:
    p = AugmentParams(rounds=6, seed=11)
    assert outputs(p) == outputs(p)
    assert outputs(p) != outputs(AugmentParams(rounds=6, seed=12))
    small = augment(examples(), AugmentParams(rounds=3, seed=11), FakeTagger(), progress=False)
    large = augment(examples(), AugmentParams(rounds=6, seed=11), FakeTagger(), progress=False)
    first = [e for e, r in zip(large.examples, large.rounds, strict=True) if r < 3]
    assert small.examples == first


def test_identical_to_source_and_duplicates_are_dropped_and_counted() -> None:
    out = augment(examples(), AugmentParams(rounds=5, p_mask=0.0, p_pos=0.0, p_ng=0.0), FakeTagger())
    assert out.examples == [] and out.stats["same_as_source"] == 20 and out.stats["generated"] == 20
    many = augment(examples(), AugmentParams(rounds=30, seed=2), FakeTagger(), progress=False)
    texts = [e.text for e in many.examples]
    assert len(texts) == len(set(texts)) and not set(texts) & set(SENTENCES)
    s = many.stats
    assert s["generated"] == s["kept"] + s["same_as_source"] + s["duplicates"] + s["empty"] == 120


def test_mask_spacing_keeps_words_apart() -> None:
    corpus = Corpus.build(PlainTokenizer().tag(["It's fine."]))
    ids = corpus.ids.copy()
    ids[1] = 0  # mask "'s"
    assert corpus.text(ids, corpus.space) == "It [MASK] fine."


# ------------------------------------------------------------------------------- probabilities
def test_rates_match_the_probabilities_over_many_draws() -> None:
    rng = np.random.default_rng(0)
    words = list(TAGS)
    texts = [" ".join(rng.choice(words, size=12)) for _ in range(300)]
    corpus = Corpus.build(FakeTagger().tag(texts))
    params = AugmentParams(p_mask=0.15, p_pos=0.2, p_ng=0.3, max_ngram=5)
    masked = replaced = ngrams = 0
    lengths = Counter()
    for r in range(40):
        d = augment_round(corpus, params, np.random.default_rng([1, r]), pos=True)
        masked += d.masked.sum()
        replaced += d.replaced.sum()
        ngrams += d.ngram.sum()
        lengths.update((d.keep_to - d.keep_from)[d.ngram].tolist())
        assert not (d.masked & d.replaced).any()
    n_words, n_segs = 40 * len(corpus.ids), 40 * corpus.n_segments
    assert masked / n_words == pytest.approx(0.15, abs=0.005)
    assert replaced / n_words == pytest.approx(0.2, abs=0.005)
    assert ngrams / n_segs == pytest.approx(0.3, abs=0.02)
    assert set(lengths) == {1, 2, 3, 4, 5}
    for n in range(1, 6):
        assert lengths[n] / sum(lengths.values()) == pytest.approx(0.2, abs=0.03)


def test_replacements_follow_the_unigram_distribution_of_the_tag() -> None:
    # NN: film x3, plot x1 -> a replaced noun is "film" 75% of the time
    corpus = Corpus.build(FakeTagger().tag(["film film film plot"] * 50))
    params = AugmentParams(p_mask=0.0, p_pos=1.0, p_ng=0.0)
    drawn = Counter()
    for r in range(50):
        d = augment_round(corpus, params, np.random.default_rng([2, r]), pos=True)
        drawn.update(corpus.words[d.ids].tolist())
    assert drawn["film"] / sum(drawn.values()) == pytest.approx(0.75, abs=0.01)
    assert set(drawn) == {"film", "plot"}


def test_without_tags_nothing_is_replaced() -> None:
    out = augment(examples(), AugmentParams(rounds=20, p_mask=0.0, p_pos=1.0, p_ng=0.0), PlainTokenizer())
    assert out.examples == [] and out.stats["replace_rate"] == 0.0


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(TextdistillError, match="p_mask \\+ p_pos"):
        AugmentParams(p_mask=0.6, p_pos=0.6)
    with pytest.raises(TextdistillError, match="rounds"):
        AugmentParams(rounds=0)


# ------------------------------------------------------------------------------------ pairs, labels
def test_pairs_keep_their_pairing_and_carry_no_label() -> None:
    pairs = [Example(f"the film{i} is good .", f"a movie{i} was bad .", 1) for i in range(30)]
    out = augment(pairs, AugmentParams(rounds=4, p_pos=0.0, seed=1), FakeTagger(), progress=False)
    assert out.examples
    for e, s in zip(out.examples, out.sources, strict=True):
        assert e.label is None and e.text_pair is not None
        marks = {w for w in (e.text + " " + e.text_pair).split() if w[-1].isdigit()}
        assert marks <= {f"film{s}", f"movie{s}"}


def test_label_mask_hides_transfer_rows_from_the_hard_loss() -> None:
    rows = [{"labels": 1, "word_ids": [3]}, {"word_ids": [4]}, {"labels": 0, "word_ids": [5]}]
    batch = collate_words([{**r, "index": i} for i, r in enumerate(rows)])
    assert batch["labels"].tolist() == [1, 0, 0] and batch["label_mask"].tolist() == [True, False, True]
    logits = torch.tensor([[2.0, 0.0], [0.0, 5.0], [0.0, 1.0]])
    labelled_only = hard_term({"labels": torch.tensor([1, 0])}, logits[[0, 2]])
    assert hard_term(batch, logits).item() == pytest.approx(labelled_only.item())
    assert collate_labels([{"a": 1}, {"b": 2}]) == {}
    assert "label_mask" not in collate_labels([{"labels": 0.5}, {"labels": 1.5}])


def test_mask_word_reads_as_the_mask_id() -> None:
    vocab = WordVocab.build(["the film [MASK] good", "[mask] film"])
    assert "[mask]" not in vocab.itos
    assert vocab.encode("the [MASK] film") == [vocab.stoi["the"], 2, vocab.stoi["film"]]


# -------------------------------------------------------------------------------- files, tagger
def test_transfer_file_round_trip_ignores_labels(tmp_path: Path) -> None:
    out = augment(examples(), AugmentParams(rounds=3, seed=4), FakeTagger(), progress=False)
    out.save(tmp_path / "t.jsonl")
    back = TransferSet.load(tmp_path / "t.jsonl")
    assert back.examples == out.examples and back.sources == out.sources and back.rounds == out.rounds
    assert back.stats["kept"] == out.stats["kept"]
    (tmp_path / "u.jsonl").write_text('{"text": "good film", "label": 1}\n{"text": ""}\n')
    with pytest.raises(TextdistillError, match=r"u.jsonl:2: empty text"):
        TransferSet.load(tmp_path / "u.jsonl")
    (tmp_path / "u.jsonl").write_text('{"text": "good film", "label": 1}\n')
    assert TransferSet.load(tmp_path / "u.jsonl").examples == [Example("good film")]


def test_without_spacy_masking_still_works_and_the_user_is_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aug, "spacy_missing", lambda: "spaCy is not installed: pip install x")
    with pytest.warns(UserWarning, match="pip install"):
        assert isinstance(load_tagger("en-core-web-sm", fallback=True), PlainTokenizer)
    with pytest.raises(TextdistillError, match="pip install"):
        load_tagger("en-core-web-sm")


def test_cached_transfer_set_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(aug, "load_tagger", lambda name: calls.append(name) or FakeTagger())
    first = aug.cached_transfer_set(examples(), AugmentParams(rounds=3), "fake")
    second = aug.cached_transfer_set(examples(), AugmentParams(rounds=3), "fake")
    assert calls == ["fake"] and not first.stats["from_cache"] and second.stats["from_cache"]
    assert first.examples == second.examples
    aug.cached_transfer_set(examples(), AugmentParams(rounds=4), "fake")
    assert len(calls) == 2


@pytest.mark.parametrize("damage", ["truncated", "altered"])
def test_a_damaged_cached_transfer_set_is_named_and_built_again(
    monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    calls = []
    monkeypatch.setattr(aug, "load_tagger", lambda name: calls.append(name) or FakeTagger())
    first = aug.cached_transfer_set(examples(), AugmentParams(rounds=3), "fake")
    path = Path(first.stats["path"])
    lines = path.read_text().splitlines(keepends=True)
    if damage == "truncated":  # a whole line lost: the row count tells
        path.write_text("".join(lines[:-1]))
    else:  # the same number of lines, one text changed: the checksum tells
        path.write_text("".join(lines[:-1]) + lines[-1].replace('"text": "', '"text": "x', 1))
    with pytest.warns(UserWarning, match=f"transfer-set cache: {path} is damaged"):
        again = aug.cached_transfer_set(examples(), AugmentParams(rounds=3), "fake")
    assert len(calls) == 2 and not again.stats["from_cache"] and again.examples == first.examples
    assert aug.cached_transfer_set(examples(), AugmentParams(rounds=3), "fake").stats["from_cache"]


# ------------------------------------------------------------------------------------ config, CLI
def test_transfer_set_needs_a_distillation_method() -> None:
    base = {"task": "t", "teacher": "x", "student": {"kind": "bilstm"}}
    with pytest.raises(ConfigError, match="not hard"):
        validate({**base, "method": {"name": "hard"}, "augment": {"rounds": 2}})
    with pytest.raises(ConfigError, match="p_mask \\+ p_pos"):
        validate({**base, "method": {"name": "hinton"}, "augment": {"p_mask": 0.7, "p_pos": 0.7}})
    assert validate({**base, "method": {"name": "tang"}, "augment": {}}).augment.rounds == 20


def test_augment_command_on_a_glue_folder(tmp_path: Path) -> None:
    glue = Path(__file__).parent / "fixtures" / "glue"
    out = tmp_path / "sst2.jsonl"
    args = ["augment", "--task", "sst2", "--data", str(glue), "--rounds", "4", "--tagger", "none"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    stats = json.loads(Path(str(out) + ".stats.json").read_text())
    assert rows and len(rows) == stats["kept"] and all("label" not in r for r in rows)
    assert stats["rounds"] == 4 and stats["tagger"] == "none"
    bad = runner.invoke(app, [*args, "--out", str(out), "--split", "nope"])
    assert bad.exit_code == 2 and "no split 'nope'" in bad.output


@pytest.mark.parametrize("student", [BILSTM, TINY_TRANSFORMER], ids=["bilstm", "transformer"])
@pytest.mark.parametrize("task", ["movie-sentiment", "movie-dialog"], ids=["single", "pairs"])
def test_distill_on_a_transfer_set(tmp_path: Path, student: dict, task: str) -> None:
    data, teacher = setup_task(tmp_path, task)
    config = write_config(tmp_path, data, teacher, student, {"name": "hinton"}, task)
    extra = ["augment.rounds=3", "augment.tagger=none", "train.max_steps=4"]
    result = runner.invoke(app, ["distill", str(config), *extra])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    transfer = metrics["transfer"]
    assert transfer["examples"] == transfer["augment"]["kept"] > 0
    assert transfer["augment"]["source_examples"] == metrics["train_examples"] == 48
    # a second run reads the transfer set and both parts of the teacher's outputs from the caches
    assert runner.invoke(app, ["distill", str(config), *extra]).exit_code == 0
    again = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert again["transfer"]["augment"]["from_cache"] and again["teacher"]["cache"]["hit"]
    assert again["best"] == metrics["best"]


def test_transfer_file_must_match_the_task_shape(tmp_path: Path) -> None:
    data, teacher = setup_task(tmp_path, "movie-dialog")
    config = write_config(tmp_path, data, teacher, BILSTM, {"name": "hinton"}, "movie-dialog")
    (tmp_path / "t.jsonl").write_text('{"text": "good film"}\n')
    result = runner.invoke(app, ["distill", str(config), f"transfer={tmp_path / 't.jsonl'}"])
    assert result.exit_code == 2 and "text_pair on every row" in result.output


def test_augment_command_on_the_users_own_file(tmp_path: Path) -> None:
    src = tmp_path / "reviews.csv"
    src.write_text("id,review,stars\n" + "".join(f"{i},the film{i} is good .,5\n" for i in range(20)))
    out = tmp_path / "t.jsonl"
    args = ["augment", "--input", str(src), "--columns", "text=review", "--rounds", "3", "--tagger", "none"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    for r in rows:  # no tagger: only masks and n-grams of the row's own source
        assert set(r["text"].split()) <= {"the", f"film{r['source']}", "is", "good", ".", "[MASK]"}
    assert all("label" not in r for r in rows)
    bad = runner.invoke(app, ["augment", "--input", str(src), "--columns", "text=body", "--tagger", "none"])
    assert bad.exit_code == 2 and "reviews.csv" in bad.output and "body" in bad.output
    both = runner.invoke(app, ["augment", "--input", str(src), "--task", "trec6"])
    assert both.exit_code == 2 and "one of them" in both.output
