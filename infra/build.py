"""Build each function into a deployable folder: build/<function>/ = the function's own folder with
shared/ copied in. Only the --source folder is uploaded by `gcloud functions deploy`, so the shared
package must travel inside it; no copy of shared/ is ever committed. The built requirements.txt is
the function's own with every version written in from functions/constraints.txt (the one place the
three functions' versions are pinned), so the uploaded folder needs nothing outside itself.

    python -m infra.build [FUNCTION ...]
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ("submit_batch", "poll_status", "pass1_batch_processor")
CONSTRAINTS = REPO_ROOT / "functions" / "constraints.txt"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "tests")


def _name(requirement: str) -> str:
    """The distribution a requirement line names, normalised (PEP 503)."""
    return re.sub(r"[-_.]+", "-", re.split(r"[=<>!~;\[ ]", requirement.strip(), maxsplit=1)[0]).lower()


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def pinned_requirements(requirements: Path, constraints: Path = CONSTRAINTS) -> str:
    """requirements.txt with each name pinned from the constraints file; the `-c` line dropped. A
    name without a pin there is an error: every deployed dependency has exactly one version."""
    pins = {_name(line): line for line in _lines(constraints)}
    out = []
    for line in _lines(requirements):
        if line.startswith("-c"):
            continue
        if _name(line) not in pins:
            raise RuntimeError(f"{requirements}: {line!r} has no version in {constraints.name}")
        out.append(pins[_name(line)])
    return "# Written by infra/build.py from requirements.txt and functions/constraints.txt.\n" + "\n".join(out) + "\n"


def build_function(name: str, out_dir: Path | None = None) -> Path:
    """Copy functions/<name> and shared/ into out_dir/<name>; return that folder."""
    if name not in FUNCTIONS:
        raise ValueError(f"unknown function {name!r}; known: {', '.join(FUNCTIONS)}")
    target = (out_dir or REPO_ROOT / "build") / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(REPO_ROOT / "functions" / name, target, ignore=_IGNORE)
    shutil.copytree(REPO_ROOT / "shared", target / "shared", ignore=_IGNORE)
    if not (target / "requirements.txt").is_file() or not (target / "main.py").is_file():
        raise RuntimeError(f"{name}: main.py and requirements.txt must sit in functions/{name}")
    (target / "requirements.txt").write_text(pinned_requirements(target / "requirements.txt"))
    return target


def main(argv: list[str]) -> int:
    for name in argv or FUNCTIONS:
        print(build_function(name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
