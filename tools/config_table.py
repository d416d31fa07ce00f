"""The README's configuration tables, rendered from the settings dataclasses.

Each table sits between `<!-- config-table:begin NAME -->` and `<!-- config-table:end NAME -->` in
README.md or a page of docs/, and is exactly what render(NAME) gives: one row per field of the
function's settings dataclass, from the field's env_field metadata (shared/envfield.py) and default,
then the dataclass's ENV_EXTRA rows. tests/test_config_table.py fails when a table and its dataclass
part ways; `python -m tools.config_table --write` brings the tables in line.

    python -m tools.config_table            print every table
    python -m tools.config_table --write    rewrite the tables between their markers
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# table name -> (function directory, module, dataclass)
TABLES = {
    "shared": ("", "shared.config", "Settings"),
    "submit_batch": ("functions/submit_batch", "batch_submit.config", "SubmitConfig"),
    "poll_status": ("functions/poll_status", "status_poll.config", "PollConfig"),
    "pass1_batch_processor": ("functions/pass1_batch_processor", "pass1_processor.settings", "ProcessorSettings"),
}
HEADER = "| variable | default | meaning |\n|---|---|---|"
BLOCK = re.compile(r"<!-- config-table:begin (?P<name>[\w-]+) -->\n(?P<body>.*?)\n?<!-- config-table:end (?P=name) -->",
                   re.DOTALL)


def settings_class(name: str) -> type:
    directory, module, cls = TABLES[name]
    path = str(REPO / directory)
    if path not in sys.path:
        sys.path.insert(0, path)
    from shared.envfield import ENV  # after the repository is importable

    found = getattr(importlib.import_module(module), cls)
    missing = [f.name for f in dataclasses.fields(found) if ENV not in f.metadata]
    if missing:
        raise ValueError(f"{cls} fields without env_field: {', '.join(missing)}")
    return found


def shown(value) -> str:
    """A default as the table shows it: integral floats without ".0", booleans in JSON."""
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value is None:
        return "unset"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def render(name: str) -> str:
    """The markdown table of one settings dataclass (no trailing newline)."""
    from shared.envfield import DOC, ENV, SHOWN

    cls = settings_class(name)
    rows = [HEADER]
    for field in dataclasses.fields(cls):
        meta = field.metadata
        rows.append(f"| `{meta[ENV]}` | {meta.get(SHOWN) or shown(field.default)} | {meta[DOC]} |")
    for variable, default, doc in getattr(cls, "ENV_EXTRA", ()):
        rows.append(f"| `{variable}` | `{default}` | {doc} |")
    return "\n".join(rows)


def documents(root: Path = REPO) -> list[Path]:
    """The pages a table may live on."""
    return [p for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))] if p.is_file()]


def blocks(text: str) -> dict[str, str]:
    """Table name -> the text between its markers."""
    return {m["name"]: m["body"] for m in BLOCK.finditer(text)}


def rewrite(text: str) -> str:
    return BLOCK.sub(lambda m: (f"<!-- config-table:begin {m['name']} -->\n{render(m['name'])}\n"
                                f"<!-- config-table:end {m['name']} -->"), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the tables in README.md and docs/*.md")
    args = parser.parse_args(argv)
    if not args.write:
        for name in TABLES:
            print(f"<!-- config-table:begin {name} -->\n{render(name)}\n<!-- config-table:end {name} -->\n")
        return 0
    for page in documents():
        text = page.read_text(encoding="utf-8")
        new = rewrite(text)
        if new != text:
            page.write_text(new, encoding="utf-8")
            print(f"rewrote {page.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
