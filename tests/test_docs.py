"""The README stays a short front page and the docs' links and layout paths stay true."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)\s]+)\)")
LAYOUT_PATH = re.compile(r"`((?:src|tests|benchmarks|configs|results|docs)/[^`\s]*)`")


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def test_readme_is_short() -> None:
    size = len((ROOT / "README.md").read_text(encoding="utf-8"))
    assert size < 10_000, f"README.md has {size} characters; move detail into docs/"


def test_relative_links_resolve() -> None:
    broken = []
    for page in markdown_files():
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "mailto:", "#")):
                continue
            path = target.split("#", 1)[0]
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "links to missing files:\n" + "\n".join(broken)


def test_architecture_paths_exist() -> None:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    paths = LAYOUT_PATH.findall(text)
    assert paths, "docs/architecture.md names no repository paths"
    missing = []
    for name in paths:
        path = ROOT / name
        ok = path.is_dir() if name.endswith("/") else path.exists()
        if not ok:
            missing.append(name)
    assert not missing, "docs/architecture.md names paths that do not exist:\n" + "\n".join(missing)
