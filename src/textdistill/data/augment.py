"""Transfer-set augmentation (Tang et al. 2019, section 3.3): masking, POS-guided word
replacement and n-gram sampling.

For each source example and each of ``rounds`` rounds, every word is, with probability
``p_mask``, replaced by ``[MASK]``, else with probability ``p_pos`` replaced by a word with the
same part-of-speech tag, drawn from that tag's unigram distribution over the corpus being
augmented; then, with probability ``p_ng``, only a random n-gram of the example is kept (n drawn
uniformly from 1 to ``max_ngram``). Both sides of a sentence pair are augmented, each on its own
draws, and stay paired. Outputs identical to their source and duplicates (of each other or of
any source example) are dropped and counted. Augmented examples carry no label: the teacher
labels them (:mod:`textdistill.teachers.cache`).

The work is vectorised over all words of all examples at once: one uniform draw per word per
round decides masking and replacement; replacements for every tag come from one
``searchsorted`` over the concatenated per-tag cumulative distributions. Round ``r`` draws from
its own generator seeded with ``(seed, r)``, so the rounds of a smaller set are exactly the first
rounds of a larger one.

Reference: Tang, Lu, Liu, Mou, Vechtomova & Lin (2019), "Distilling Task-Specific Knowledge from
BERT into Simple Neural Networks", arXiv:1903.12136, Algorithm 1.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from textdistill.data.encode import WORD_PATTERN
from textdistill.data.spec import Example
from textdistill.diskio import atomic_path, write_atomic
from textdistill.errors import TextdistillError
from textdistill.paths import home
from textdistill.runtime import progress_interval

MASK_TOKEN = "[MASK]"
SPACY_ASSET = "en-core-web-sm"


@dataclass(frozen=True)
class AugmentParams:
    """The knobs of Algorithm 1; defaults are the paper's (``p_mask = p_pos = 0.1``,
    ``p_ng = 0.25``, ``n_iter = 20``, n-grams of 1 to 5 words)."""

    rounds: int = 20
    p_mask: float = 0.1
    p_pos: float = 0.1
    p_ng: float = 0.25
    max_ngram: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.rounds < 1:
            problems.append(f"rounds must be >= 1, got {self.rounds}")
        for name in ("p_mask", "p_pos", "p_ng"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.p_mask + self.p_pos > 1.0:
            problems.append(f"p_mask + p_pos must be <= 1, got {self.p_mask + self.p_pos}")
        if self.max_ngram < 1:
            problems.append(f"max_ngram must be >= 1, got {self.max_ngram}")
        if problems:
            raise TextdistillError("augmentation: " + "; ".join(problems))


# ------------------------------------------------------------------------------------------ taggers
Token = tuple[str, str | None, bool]  # (word, tag or None, followed by a space)


class Tagger(Protocol):
    """Splits texts into words and tags each word; ``pos`` is False for a tagger without tags."""

    name: str
    pos: bool

    def tag(self, texts: Sequence[str]) -> list[list[Token]]: ...


class PlainTokenizer:
    """Words without part-of-speech tags (tag ``None``): masking and n-grams still work."""

    name = "none"
    pos = False

    def tag(self, texts: Sequence[str]) -> list[list[Token]]:
        out = []
        for text in texts:
            spans = [m.span() for m in WORD_PATTERN.finditer(text)]
            out.append(
                [
                    (text[a:b], None, i + 1 < len(spans) and spans[i + 1][0] > b)
                    for i, (a, b) in enumerate(spans)
                ]
            )
        return out


class SpacyTagger:
    """spaCy's ``en_core_web_sm`` (Penn Treebank tags, ``token.tag_``) from the offline asset
    ``en-core-web-sm``; only the tokenizer, ``tok2vec`` and ``tagger`` run."""

    pos = True

    def __init__(self, model_dir: str | Path, batch_size: int = 256):
        import spacy

        keep = {"tok2vec", "tagger"}
        config = spacy.util.load_config(Path(model_dir) / "config.cfg")
        exclude = [p for p in config["nlp"]["pipeline"] if p not in keep]
        self.nlp = spacy.load(model_dir, exclude=exclude)
        self.batch_size = batch_size
        meta = self.nlp.meta
        self.name = f"spacy {spacy.__version__} {meta.get('name', '?')} {meta.get('version', '?')}"

    def tag(self, texts: Sequence[str]) -> list[list[Token]]:
        docs = self.nlp.pipe(texts, batch_size=self.batch_size)
        bar = tqdm(
            docs, total=len(texts), desc="tagging", unit="text", leave=False, mininterval=progress_interval()
        )
        return [[(t.text, t.tag_, bool(t.whitespace_)) for t in doc if not t.is_space] for doc in bar]


def spacy_missing() -> str | None:
    """How to install spaCy when it is not importable, else ``None``."""
    try:
        import spacy  # noqa: F401
    except ImportError:
        return (
            "POS-guided replacement needs spaCy, which is not installed: "
            "pip install 'textdistill[augment]' (or pip install 'spacy>=3.7.5,<3.9')"
        )
    return None


def load_tagger(name: str = SPACY_ASSET, fallback: bool = False) -> Tagger:
    """``"none"`` -> :class:`PlainTokenizer`; an asset name or a spaCy model folder -> :class:`SpacyTagger`.

    Without spaCy installed: with ``fallback``, a warning saying how to install it and a
    :class:`PlainTokenizer` (masking and n-grams still work); else an error saying the same.
    """
    if name == "none":
        return PlainTokenizer()
    missing = spacy_missing()
    if missing:
        if not fallback:
            raise TextdistillError(f"{missing}; or use tagger none to mask and sample n-grams only")
        warnings.warn(f"{missing}. Masking and n-grams only.", stacklevel=2)
        return PlainTokenizer()
    if Path(name).is_dir():
        return SpacyTagger(name)
    from textdistill.assets.fetch import fetch

    return SpacyTagger(fetch(name))


# ------------------------------------------------------------------------------------------ corpus
@dataclass
class Corpus:
    """The words of every segment (one side of one example), flattened.

    Attributes:
        words: the distinct words; ``words[0]`` is ``[MASK]``.
        ids: ``(W,)`` int, word id of every word of every segment, segment after segment.
        tags: ``(W,)`` int, tag id of every word (-1: no tag).
        space: ``(W,)`` bool, whether a space follows the word in the source text.
        starts: ``(S + 1,)`` int, segment ``s`` is ``ids[starts[s]:starts[s + 1]]``.
        tag_words: ``(K,)`` word ids of the (tag, word) pairs, grouped by tag.
        tag_cum: ``(K,)`` float, ``tag + cumulative probability`` of each pair within its tag, so
            that ``searchsorted(tag_cum, tag + u)`` draws a word of ``tag`` by its frequency.
    """

    words: np.ndarray
    ids: np.ndarray
    tags: np.ndarray
    space: np.ndarray
    starts: np.ndarray
    tag_words: np.ndarray
    tag_cum: np.ndarray

    @classmethod
    def build(cls, segments: list[list[Token]]) -> Corpus:
        vocab: dict[str, int] = {MASK_TOKEN: 0}
        tag_ids: dict[str, int] = {}
        ids, tags, space, starts = [], [], [], [0]
        for seg in segments:
            for word, tag, sp in seg:
                ids.append(vocab.setdefault(word, len(vocab)))
                tags.append(tag_ids.setdefault(tag, len(tag_ids)) if tag is not None else -1)
                space.append(sp)
            starts.append(len(ids))
        ids_a = np.array(ids, dtype=np.int64)
        tags_a = np.array(tags, dtype=np.int64)
        # unigram counts of (tag, word), grouped by tag
        tagged = tags_a >= 0
        tag_word = np.stack([tags_a[tagged], ids_a[tagged]], axis=1)
        pairs, counts = np.unique(tag_word, axis=0, return_counts=True)
        if len(pairs):
            totals = np.bincount(pairs[:, 0], weights=counts)
            cum = np.cumsum(counts)
            tag_start = np.searchsorted(pairs[:, 0], pairs[:, 0], side="left")
            before = np.where(tag_start > 0, cum[tag_start - 1], 0)
            within = (cum - before) / totals[pairs[:, 0]]
            within[np.r_[pairs[1:, 0] != pairs[:-1, 0], True]] = 1.0  # each tag ends at exactly 1
            tag_words, tag_cum = pairs[:, 1], pairs[:, 0] + within
        else:
            tag_words, tag_cum = np.zeros(0, dtype=np.int64), np.zeros(0)
        words = np.empty(len(vocab), dtype=object)
        words[:] = list(vocab)
        return cls(words, ids_a, tags_a, np.array(space, dtype=bool), np.array(starts), tag_words, tag_cum)

    @property
    def n_segments(self) -> int:
        return len(self.starts) - 1

    def text(self, ids: np.ndarray, space: np.ndarray) -> str:
        """Words ``ids`` joined with the source's spacing (a space where ``space``; always around
        ``[MASK]``, so that a masked clitic does not glue to its word), stripped."""
        pieces = self.words[ids]
        spaced = space | (ids == 0) | np.r_[ids[1:] == 0, False]
        return "".join(w + " " if s else w for w, s in zip(pieces, spaced, strict=True)).strip()


@dataclass
class RoundDraws:
    """What one round did, over all words ``(W,)`` and segments ``(S,)`` of the corpus."""

    ids: np.ndarray  # (W,) word ids after masking and replacement
    masked: np.ndarray  # (W,) bool
    replaced: np.ndarray  # (W,) bool: chosen for POS replacement (the draw may pick the same word)
    keep_from: np.ndarray  # (S,) first word kept of each segment
    keep_to: np.ndarray  # (S,) one past the last word kept
    ngram: np.ndarray  # (S,) bool: an n-gram was sampled


def augment_round(corpus: Corpus, params: AugmentParams, rng: np.random.Generator, pos: bool) -> RoundDraws:
    """One round of Algorithm 1 over every word of the corpus at once."""
    u = rng.random(len(corpus.ids))
    masked = u < params.p_mask
    replaced = (u >= params.p_mask) & (u < params.p_mask + params.p_pos) & (corpus.tags >= 0) & pos
    ids = corpus.ids.copy()
    ids[masked] = 0
    if replaced.any():
        draw = corpus.tags[replaced] + rng.random(int(replaced.sum()))
        ids[replaced] = corpus.tag_words[np.searchsorted(corpus.tag_cum, draw, side="right")]
    lengths = np.diff(corpus.starts)
    ngram = (rng.random(corpus.n_segments) < params.p_ng) & (lengths > 0)
    n = np.minimum(rng.integers(1, params.max_ngram + 1, corpus.n_segments), lengths)
    offset = np.floor(rng.random(corpus.n_segments) * (lengths - n + 1)).astype(np.int64)
    keep_from = corpus.starts[:-1] + np.where(ngram, offset, 0)
    keep_to = np.where(ngram, keep_from + n, corpus.starts[1:])
    return RoundDraws(ids, masked, replaced, keep_from, keep_to, ngram)


# ------------------------------------------------------------------------------------ transfer set
@dataclass
class TransferSet:
    """Augmented, unlabelled examples; ``sources[i]`` is the index of the source of ``examples[i]``."""

    examples: list[Example]
    sources: list[int]
    rounds: list[int]
    stats: dict = field(default_factory=dict)

    def save(self, path: str | Path) -> None:
        """JSONL: ``text``, ``text_pair`` (pairs), ``source`` (row in the source split), ``round``;
        no ``label``. The statistics go to ``<path>.stats.json``, with the file's row count and
        sha256 (``rows``, ``sha256``: what :func:`cached_transfer_set` checks on reading it back)."""
        digest = hashlib.sha256()
        with atomic_path(path) as tmp, tmp.open("wb") as f:
            for e, s, r in zip(self.examples, self.sources, self.rounds, strict=True):
                row = {"text": e.text, **({"text_pair": e.text_pair} if e.text_pair is not None else {})}
                line = (json.dumps({**row, "source": s, "round": r}, ensure_ascii=False) + "\n").encode()
                digest.update(line)
                f.write(line)
        self.stats.update(rows=len(self.examples), sha256=digest.hexdigest())
        write_atomic(Path(str(path) + ".stats.json"), (json.dumps(self.stats, indent=2) + "\n").encode())

    @classmethod
    def load(cls, path: str | Path) -> TransferSet:
        """A saved transfer set, or any JSONL of unlabelled texts (``text``, optional ``text_pair``);
        a ``label`` field, if any, is ignored: transfer examples are labelled by the teacher."""
        from textdistill.data.readers import read_texts

        path = Path(path)
        if not path.is_file():
            raise TextdistillError(f"no such transfer-set file: {path}")
        rows = read_texts(path)
        examples = [e for _, e, _ in rows]
        sources = [_int_field(row, "source") for _, _, row in rows]
        rounds = [_int_field(row, "round") for _, _, row in rows]
        stats_file = Path(str(path) + ".stats.json")
        stats: Any = {"kept": len(examples)}
        if stats_file.exists():
            try:
                stats = json.loads(stats_file.read_text())
            except (OSError, ValueError) as err:
                raise TextdistillError(
                    f"{stats_file} does not read as JSON ({err}): delete it or fix it"
                ) from None
            if not isinstance(stats, dict):
                raise TextdistillError(f"{stats_file} is not the statistics of a transfer set: delete it")
        return cls(examples, sources, rounds, stats)


def _int_field(row: dict[str, Any], key: str) -> int:
    """A transfer-set line's ``source`` / ``round`` bookkeeping (-1 where a file has none)."""
    value = row.get(key, -1)
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def augment(
    examples: Sequence[Example], params: AugmentParams, tagger: Tagger, progress: bool = True
) -> TransferSet:
    """Grow a transfer set from ``examples``: ``params.rounds`` augmented copies of each, minus
    copies identical to their source and duplicates. Labels are never copied.

    ``stats``: source examples, rounds, generated, same_as_source, duplicates, kept, the observed
    rates of masking, replacement and n-grams, the tagger and the seconds spent tagging and
    augmenting.
    """
    if not examples:
        raise TextdistillError("augmentation: no examples to augment")
    pair = any(e.text_pair is not None for e in examples)
    started = time.perf_counter()
    texts = [e.text for e in examples] + ([e.text_pair or "" for e in examples] if pair else [])
    corpus = Corpus.build(tagger.tag(texts))
    tag_seconds = time.perf_counter() - started
    n = len(examples)
    sides = 2 if pair else 1

    def segment_text(ids: np.ndarray, a: int, b: int) -> str:
        return corpus.text(ids[a:b], corpus.space[a:b])

    def side_texts(ids: np.ndarray, keep_from: np.ndarray, keep_to: np.ndarray) -> list[tuple]:
        segs = [segment_text(ids, a, b) for a, b in zip(keep_from, keep_to, strict=True)]
        return list(zip(*(segs[k * n : (k + 1) * n] for k in range(sides)), strict=True))

    source_keys = side_texts(corpus.ids, corpus.starts[:-1], corpus.starts[1:])
    seen = set(source_keys) | {(e.text, e.text_pair) if pair else (e.text,) for e in examples}
    out, sources, rounds_of = [], [], []
    counts = {"generated": 0, "same_as_source": 0, "duplicates": 0, "empty": 0}
    words = masked = replaced = ngrams = 0
    rounds = tqdm(
        range(params.rounds),
        desc="augmenting",
        unit="round",
        leave=False,
        disable=not progress,
        mininterval=progress_interval(),
    )
    for r in rounds:
        draws = augment_round(corpus, params, np.random.default_rng([params.seed, r]), tagger.pos)
        words, masked = words + len(draws.ids), masked + int(draws.masked.sum())
        replaced, ngrams = replaced + int(draws.replaced.sum()), ngrams + int(draws.ngram.sum())
        for i, key in enumerate(side_texts(draws.ids, draws.keep_from, draws.keep_to)):
            counts["generated"] += 1
            if key == source_keys[i]:
                counts["same_as_source"] += 1
            elif not all(key):
                counts["empty"] += 1
            elif key in seen:
                counts["duplicates"] += 1
            else:
                seen.add(key)
                out.append(Example(key[0], key[1] if pair else None))
                sources.append(i)
                rounds_of.append(r)
    stats = {
        "source_examples": n,
        "pairs": pair,
        **asdict(params),
        **counts,
        "kept": len(out),
        "mask_rate": round(masked / max(words, 1), 4),
        "replace_rate": round(replaced / max(words, 1), 4),
        "ngram_rate": round(ngrams / max(params.rounds * corpus.n_segments, 1), 4),
        "tagger": tagger.name,
        "tag_seconds": round(tag_seconds, 2),
        "augment_seconds": round(time.perf_counter() - started - tag_seconds, 2),
    }
    return TransferSet(out, sources, rounds_of, stats)


def transfer_damage(path: Path) -> str | None:
    """What is wrong with a cached transfer set (``None``: it is the file its statistics describe:
    the same sha256 and row count; an entry from before checksums is held to its row count)."""
    try:
        stats = json.loads(Path(str(path) + ".stats.json").read_text())
        data = path.read_bytes()
    except (OSError, ValueError) as err:
        return f"unreadable: {err}"
    if not isinstance(stats, dict):
        return "its statistics are not a mapping"
    rows = data.count(b"\n")
    expected = stats.get("rows", stats.get("kept"))
    if "sha256" in stats and hashlib.sha256(data).hexdigest() != stats["sha256"]:
        return "checksum mismatch"
    if expected is not None and rows != expected:
        return f"{rows} rows, its statistics say {expected}"
    return None


def cached_transfer_set(
    examples: Sequence[Example], params: AugmentParams, tagger_name: str = SPACY_ASSET
) -> TransferSet:
    """:func:`augment`, stored under ``<home>/transfer_sets/<fingerprint>.jsonl`` and read back when
    the source texts, the parameters and the tagger are the same."""
    h = hashlib.sha256(json.dumps([asdict(params), tagger_name, 1]).encode())
    for e in examples:
        h.update(json.dumps([e.text, e.text_pair], ensure_ascii=False).encode() + b"\n")
    path = home() / "transfer_sets" / f"{h.hexdigest()[:32]}.jsonl"
    cached = path.exists() and Path(str(path) + ".stats.json").exists()
    if cached:
        damage = transfer_damage(path)
        if damage is not None:
            warnings.warn(f"transfer-set cache: {path} is damaged ({damage}); augmenting again", stacklevel=2)
            cached = False
    if cached:
        transfer = TransferSet.load(path)
    else:
        transfer = augment(examples, params, load_tagger(tagger_name))
        transfer.save(path)
    transfer.stats.update(from_cache=cached, path=str(path))
    return transfer
