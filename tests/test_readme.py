"""The README stays an entry page that tells the truth: short, every module of the functions'
packages and of shared/ named in its layout, every docs/ link pointing at a file that exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PACKAGES = [
    "functions/submit_batch/batch_submit",
    "functions/poll_status/status_poll",
    "functions/pass1_batch_processor/pass1_processor",
    "shared",
]


def _section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def test_readme_is_short():
    assert len(README.read_text().splitlines()) <= 220


def _tables(layout: str) -> dict[str, set[str]]:
    """The modules each package's table names, by the line that introduces the table."""
    tables: dict[str, set[str]] = {}
    heading = ""
    for line in layout.splitlines():
        if line.startswith("`"):
            heading = line
        elif match := re.match(r"^\| `([a-z_0-9]+\.py)` \|", line):
            tables.setdefault(heading, set()).add(match.group(1))
    return tables


def test_layout_names_every_module_and_no_other():
    tables = _tables(_section(README.read_text(), "Layout"))
    for pkg in PACKAGES:
        folder = pkg.split("/")[1] + "/" if pkg.startswith("functions/") else pkg + "/"
        named = next((v for k, v in tables.items() if folder in k.split(":")[0]), set())
        modules = {p.name for p in (ROOT / pkg).glob("*.py") if p.name != "__init__.py"}
        assert sorted(modules - named) == [], f"modules of {pkg} missing from the README's Layout"
        assert sorted(named - modules) == [], f"the README's Layout names modules {pkg} does not have"


def test_links_point_at_files():
    for page in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name} links to a missing {target}"
