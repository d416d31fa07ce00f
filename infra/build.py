"""Build each function into a deployable folder: build/<function>/ = the function's own folder with
shared/ copied in. Only the --source folder is uploaded by `gcloud functions deploy`, so the shared
package must travel inside it; no copy of shared/ is ever committed.

    python -m infra.build [FUNCTION ...]
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ("submit_batch", "poll_status", "pass1_batch_processor")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "tests")


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
    return target


def main(argv: list[str]) -> int:
    for name in argv or FUNCTIONS:
        print(build_function(name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
