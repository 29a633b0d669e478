"""The BiLSTM student (Tang et al. 2019), its GloVe initialisation and the word-level loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from textdistill.data.encode import WordDataset, WordVocab, make_word_loader
from textdistill.data.tasks import Example
from textdistill.models.bilstm import BiLSTMStudent, glove_matrix

TEXTS = ["the good film", "a bad movie", "the plot was great", "awful acting", "not very good at all"]


@pytest.fixture
def vocab() -> WordVocab:
    return WordVocab.build(TEXTS)


def ids(vocab: WordVocab, *texts: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Texts -> padded (B, L) ids and (B,) lengths, through the real word loader."""
    batch = next(iter(make_word_loader(WordDataset([Example(t) for t in texts], vocab), len(texts))))
    return batch["word_ids"], batch["word_lengths"]


def small(vocab: WordVocab, pair: bool = False, **kw) -> BiLSTMStudent:
    torch.manual_seed(0)
    return BiLSTMStudent(len(vocab), 3, embed_dim=8, hidden=6, fc=10, pair=pair, **kw).eval()


def test_shapes_single_and_pair(vocab: WordVocab) -> None:
    x, n = ids(vocab, "the good film", "bad")
    model = small(vocab)
    out = model(x, n, output_hidden_states=True)
    assert out.logits.shape == (2, 3)
    assert out.embeddings is not None and out.embeddings.shape == (2, 3, 8)
    assert out.hidden_states is not None and [h.shape for h in out.hidden_states] == [(2, 3, 8), (2, 3, 12)]
    assert model(x, n).hidden_states is None
    y, m = ids(vocab, "awful acting", "not very good at all")
    pair = small(vocab, pair=True)
    out = pair(x, n, y, m, output_hidden_states=True)
    assert out.logits.shape == (2, 3)
    assert out.embeddings is not None and out.embeddings.shape == (2, 3 + 5, 8)  # both sentences
    assert out.hidden_states is not None and out.hidden_states[1].shape == (2, 8, 12)
    assert pair.fc.in_features == 4 * 2 * 6 and model.fc.in_features == 2 * 6
    with pytest.raises(ValueError):
        pair(x, n)
    with pytest.raises(ValueError):
        model(x, n, y, m)


def test_defaults_and_parameter_count() -> None:
    model = BiLSTMStudent(100, 2)
    assert (model.lstm.hidden_size, model.fc.out_features, model.embedding.embedding_dim) == (150, 200, 50)
    assert model.lstm.bidirectional and model.lstm.num_layers == 1
    lstm = 2 * (4 * 150 * (50 + 150) + 2 * 4 * 150)
    assert model.num_parameters == 100 * 50 + lstm + (300 * 200 + 200) + (200 * 2 + 2)


def test_sentence_vector_is_last_forward_and_first_backward_state(vocab: WordVocab) -> None:
    model = small(vocab)
    x, n = ids(vocab, "not very good at all")
    vec, outputs = model.encode(model.embedding(x), n)
    full, _ = model.lstm(model.embedding(x))  # unpadded: plain run over all positions
    assert torch.allclose(vec[0, :6], full[0, -1, :6], atol=1e-6)  # forward direction, last word
    assert torch.allclose(vec[0, 6:], full[0, 0, 6:], atol=1e-6)  # backward direction, first word
    assert torch.allclose(outputs, full, atol=1e-6)


def test_padding_does_not_change_the_output(vocab: WordVocab) -> None:
    model = small(vocab)
    x, n = ids(vocab, "the plot was great")
    padded = torch.cat([x, torch.zeros(1, 7, dtype=torch.long)], dim=1)
    two = torch.cat([padded, torch.cat([x, torch.zeros(1, 7, dtype=torch.long)], dim=1)])
    alone = model(x, n).logits
    assert torch.allclose(model(padded, n).logits, alone, atol=1e-6)
    assert torch.allclose(model(two, n.repeat(2)).logits, alone.repeat(2, 1), atol=1e-6)
    # the check can fail: reading the padding (length = padded width) does change the logits
    assert not torch.allclose(model(padded, torch.tensor([padded.shape[1]])).logits, alone, atol=1e-4)
    out = model(padded, n, output_hidden_states=True)
    assert out.hidden_states is not None and out.hidden_states[1][0, 4:].abs().sum() == 0


def test_gradient_reaches_the_embedding_output_but_not_padding(vocab: WordVocab) -> None:
    model = small(vocab, pair=True)
    x, n = ids(vocab, "the good film", "bad")
    y, m = ids(vocab, "awful acting", "great")
    out = model(x, n, y, m, output_hidden_states=True)
    assert out.embeddings is not None
    (grad,) = torch.autograd.grad(out.logits.sum(), out.embeddings)
    assert grad.shape == (2, 5, 8)
    assert (grad[0].abs().sum(-1) > 0).all()  # 3 + 2 real words
    assert grad[1, 1:3].abs().sum() == 0 and grad[1, 4].abs().sum() == 0  # padding of each sentence
    model.embedding.weight.requires_grad_(False)  # frozen table: still differentiable output
    frozen = model(x, n, y, m, output_hidden_states=True).embeddings
    assert frozen is not None and frozen.requires_grad


def test_pair_feature_is_h1_h2_product_and_distance(vocab: WordVocab) -> None:
    model = small(vocab, pair=True)
    a, na = ids(vocab, "the good film", "awful acting")
    b, nb = ids(vocab, "not very good at all", "bad")
    seen: list[torch.Tensor] = []
    model.fc.register_forward_hook(lambda _m, inp, _o: seen.append(inp[0]))
    ab, ba = model(a, na, b, nb).logits, model(b, nb, a, na).logits
    h1, _ = model.encode(model.embedding(a), na)
    h2, _ = model.encode(model.embedding(b), nb)
    assert torch.allclose(seen[0], torch.cat([h1, h2, h1 * h2, (h1 - h2).abs()], -1), atol=1e-6)
    assert seen[0].shape[1] == model.fc.in_features == 48
    assert not torch.allclose(ab, ba, atol=1e-4)  # order matters ...
    swapped = small(vocab, pair=True)
    with torch.no_grad():  # ... but only through [h1, h2]: swap those fc columns and it is undone
        w = model.fc.weight
        swapped.fc.weight.copy_(torch.cat([w[:, 12:24], w[:, :12], w[:, 24:]], dim=1))
    assert torch.allclose(swapped(b, nb, a, na).logits, ab, atol=1e-6)


def test_glove_matrix(vocab: WordVocab, tmp_path: Path) -> None:
    glove = tmp_path / "glove"
    glove.mkdir()
    gwords = ["the", ",", "good", "zebra", "film", "acting"]
    vectors = np.arange(len(gwords) * 4, dtype=np.float32).reshape(-1, 4) + 1
    np.save(glove / "vectors.npy", vectors)
    (glove / "words.txt").write_text("\n".join(gwords) + "\n", encoding="utf-8")
    matrix, coverage = glove_matrix(vocab, glove, seed=3)
    assert matrix.shape == (len(vocab), 4) and matrix.dtype == torch.float32
    for word in ("the", "good", "film", "acting"):
        assert matrix[vocab.stoi[word]].tolist() == vectors[gwords.index(word)].tolist()
    assert matrix[vocab.pad_id].abs().sum() == 0
    random_rows = matrix[[vocab.unk_id, vocab.stoi["plot"]]]
    assert random_rows.abs().sum() > 0 and random_rows.abs().max() < 1.0  # N(0, 0.1^2), not GloVe
    assert coverage == pytest.approx(4 / (len(vocab) - 3))
    again, _ = glove_matrix(vocab, glove, seed=3)
    assert torch.equal(matrix, again) and not torch.equal(matrix, glove_matrix(vocab, glove, seed=4)[0])
    model = BiLSTMStudent(len(vocab), 2, embed_dim=4, pretrained=matrix)
    assert torch.equal(model.embedding.weight.detach(), matrix) and model.embedding.weight.requires_grad
    with pytest.raises(ValueError):
        BiLSTMStudent(len(vocab), 2, embed_dim=5, pretrained=matrix)


def test_save_load_round_trip(vocab: WordVocab, tmp_path: Path) -> None:
    model = small(vocab, pair=True)
    x, n = ids(vocab, "the good film", "bad")
    model.save(tmp_path / "student")
    assert sorted(p.name for p in (tmp_path / "student").iterdir()) == [
        "model.safetensors",
        "student_config.json",
    ]
    loaded = BiLSTMStudent.load(tmp_path / "student").eval()
    assert loaded.config == model.config and loaded.config["pair"] is True
    assert torch.equal(loaded(x, n, x.flip(0), n.flip(0)).logits, model(x, n, x.flip(0), n.flip(0)).logits)


def test_word_loader_pads_and_returns_lengths(vocab: WordVocab) -> None:
    examples = [Example("the good film", "bad", 1), Example("awful", "not very good at all", 0)]
    batch = next(iter(make_word_loader(WordDataset(examples, vocab, max_length=4), batch_size=2)))
    assert batch["word_ids"].tolist() == [vocab.encode("the good film"), [vocab.stoi["awful"], 0, 0]]
    assert batch["word_lengths"].tolist() == [3, 1] and batch["word_lengths_b"].tolist() == [1, 4]
    assert batch["word_ids_b"].shape == (2, 4) and batch["word_ids_b"][0, 1:].tolist() == [0, 0, 0]
    assert batch["word_ids"].dtype == batch["word_lengths"].dtype == torch.long
    assert batch["index"].tolist() == [0, 1] and batch["labels"].dtype == torch.long
    scores = WordDataset([Example("good", None, 0.5), Example("bad", None, 2)], vocab)
    batch = next(iter(make_word_loader(scores, batch_size=2)))
    assert batch["labels"].dtype == torch.float32 and "word_ids_b" not in batch
    assert "labels" not in next(iter(make_word_loader(WordDataset([Example("good")], vocab), 1)))
    many = WordDataset([Example("good " * (i % 5 + 1)) for i in range(30)], vocab)

    def order(seed: int) -> list[int]:
        return [i for b in make_word_loader(many, 4, shuffle=True, seed=seed) for i in b["index"].tolist()]

    assert order(1) == order(1) and order(1) != order(2) and sorted(order(1)) == list(range(30))
    assert [i for b in make_word_loader(many, 4) for i in b["index"].tolist()] == list(range(30))


@pytest.mark.parametrize("pair", [False, True])
def test_learns_a_separable_toy_task(pair: bool) -> None:
    """Single: is "good" or "bad" in the sentence (anywhere, amid fillers). Pair: same word or not."""
    rng = np.random.default_rng(0)
    fillers = "the a film movie plot acting was very and".split()

    def sentence(word: str) -> str:
        left, right = rng.choice(fillers, rng.integers(0, 5)), rng.choice(fillers, rng.integers(0, 5))
        return " ".join([*left, word, *right])

    examples = []
    for i in range(48):
        word = ("good", "bad")[i % 2]
        if pair:
            other = word if i % 4 < 2 else ("bad", "good")[i % 2]
            examples.append(Example(sentence(word), sentence(other), int(word == other)))
        else:
            examples.append(Example(sentence(word), None, i % 2))
    vocab = WordVocab.build([e.text for e in examples] + [e.text_pair or "" for e in examples])
    torch.manual_seed(0)
    model = BiLSTMStudent(len(vocab), 2, embed_dim=16, hidden=16, fc=16, pair=pair)
    data = WordDataset(examples, vocab)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    keys = model.input_names

    def accuracy() -> float:
        model.eval()
        batch = next(iter(make_word_loader(data, len(data))))
        with torch.no_grad():
            pred = model(**{k: v for k, v in batch.items() if k in keys}).logits.argmax(-1)
        return (pred == batch["labels"]).float().mean().item()

    start = accuracy()
    for epoch in range(30):
        model.train()
        for batch in make_word_loader(data, 8, shuffle=True, seed=epoch):
            loss = torch.nn.functional.cross_entropy(
                model(**{k: v for k, v in batch.items() if k in keys}).logits, batch["labels"]
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if accuracy() == 1.0:
            break
    assert start < 1.0 and accuracy() == 1.0
