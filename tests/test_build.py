"""Vendoring: each function builds into a folder that runs on its own, as `gcloud functions deploy
--source` would upload it."""

import ast
import os
import re
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
import requests

from infra.build import CONSTRAINTS, FUNCTIONS, build_function

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    return {name: build_function(name, out) for name in FUNCTIONS}


def test_build_copies_shared_and_nothing_else(built):
    for folder in built.values():
        assert (folder / "main.py").is_file() and (folder / "requirements.txt").is_file()
        assert (folder / "shared" / "http.py").is_file()
        assert not list(folder.rglob("__pycache__")) and not (folder / "tests").exists()


def test_no_copy_of_shared_is_committed():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    copies = [p for p in tracked if re.match(r"functions/[^/]+/shared/", p)]
    assert copies == []


def test_versions_live_in_the_constraints_file_only(built):
    """Each function's requirements.txt names its dependencies and takes their versions from
    functions/constraints.txt; the built copy has them written in, the same for every function."""
    pins = {line.split("==")[0]: line for line in CONSTRAINTS.read_text().splitlines()
            if line.strip() and not line.startswith("#")}
    for name in FUNCTIONS:
        source = [line for line in (REPO / "functions" / name / "requirements.txt").read_text().splitlines()
                  if line.strip() and not line.startswith("#")]
        assert source[0] == "-c ../constraints.txt"
        assert not [line for line in source[1:] if re.search(r"[=<>~]", line)], f"{name}: a version outside constraints"
        deployed = [line for line in (built[name] / "requirements.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
        assert deployed == [pins[line] for line in source[1:]]


def _third_party_imports(folder: Path) -> set[str]:
    local = {p.name for p in folder.iterdir() if p.is_dir()} | {p.stem for p in folder.glob("*.py")}
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local and top != "__future__":
                    found.add(name if top == "google" else top)
    return found


def _closure(requirements: Path) -> set[str]:
    """Distributions named in requirements.txt and everything they depend on."""
    todo = [re.split(r"[=<>\[ ]", l.strip())[0] for l in requirements.read_text().splitlines()
            if l.strip() and not l.startswith("#")]
    seen: set[str] = set()
    while todo:
        dist = todo.pop().lower().replace("_", "-")
        if dist in seen:
            continue
        seen.add(dist)
        try:
            reqs = metadata.requires(dist) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [re.split(r"[=<>!~;\[ (]", r)[0] for r in reqs if "extra ==" not in r]
    return seen


@pytest.mark.parametrize("name", FUNCTIONS)
def test_requirements_cover_every_import(built, name):
    providers = metadata.packages_distributions()
    closure = _closure(built[name] / "requirements.txt")
    missing = []
    for module in sorted(_third_party_imports(built[name])):
        parts = module.split(".")
        candidates = providers.get(".".join(parts[:2]) if parts[0] == "google" else parts[0], [])
        if parts[0] == "google" and not candidates:
            candidates = providers.get("google", [])
        if not any(c.lower().replace("_", "-") in closure for c in candidates):
            missing.append(module)
    assert missing == [], f"{name}: imports not covered by requirements.txt: {missing}"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_built_folder_serves_json_alone(built, name):
    """functions-framework with only the built folder: no repository on the path."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["GOOGLE_CLOUD_PROJECT"] = "local-project"
    ff = Path(sys.executable).with_name("functions-framework")
    proc = subprocess.Popen([str(ff), f"--target={name}", "--source=main.py", "--host=127.0.0.1",
                             f"--port={port}"], cwd=built[name], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        resp = _wait_for(lambda: requests.put(f"http://127.0.0.1:{port}/", json={}, timeout=2), proc)
        assert resp.status_code == 405
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
        resp = requests.post(f"http://127.0.0.1:{port}/", data=b"{oops", timeout=5,
                             headers={"Content-Type": "application/json"})
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "VALIDATION_ERROR"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_for(call, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read().decode(errors="replace")[-2000:])
        try:
            return call()
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError("function did not start")
