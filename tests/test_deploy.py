"""The deploy dry run: a complete, ordered set of commands, each of which the real gcloud and bq CLIs
accept (checked against their offline --help), with private functions and least-privilege roles."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import pytest

from infra.deploy import REPO_ROOT

GLOBAL_GCLOUD_FLAGS = {"--project", "--quiet", "--format", "--account", "--configuration", "--verbosity",
                       "--impersonate-service-account", "--billing-project", "--flatten", "--log-http"}
SEPARATORS = {"||", "&&", ";", "(", ")", "$", "if", "then", "else", "fi", ">", "2>&", "&", "|"}
ANSI = re.compile(r"\x1b\[[0-9;]*m")

pytestmark = pytest.mark.skipif(shutil.which("gcloud") is None or shutil.which("bq") is None,
                                reason="the gcloud and bq CLIs are part of the machine image")


@pytest.fixture(scope="module")
def script() -> str:
    out = subprocess.run([sys.executable, "-m", "infra.deploy", "--project", "acme-calls-prod",
                          "--region", "europe-west4", "--dry-run"], cwd=REPO_ROOT, capture_output=True,
                         text=True, check=True)
    return out.stdout


def commands(script: str) -> list[list[str]]:
    """Every gcloud/bq invocation in the script, including those inside $(...) and if/else."""
    found = []
    for line in script.splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("set "):
            continue
        lexer = shlex.shlex(line.replace("$(", " $ ( "), posix=True, punctuation_chars=";&|()<>")
        lexer.whitespace_split = True
        current = None
        for token in lexer:
            if token in ("gcloud", "bq"):
                current = [token]
                found.append(current)
            elif token in SEPARATORS or token.startswith(">") or token == "/dev/null" or token.endswith("=$"):
                current = None
            elif current is not None:
                current.append(token)
    return found


@lru_cache(maxsize=None)
def gcloud_help(path: tuple[str, ...]) -> tuple[str, str]:
    env = {**os.environ, "TERM": "dumb", "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
    out = subprocess.run(["gcloud", *path, "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, f"gcloud {' '.join(path)}: {out.stderr[-500:]}"
    text = ANSI.sub("", out.stdout)
    name = re.search(r"NAME\n\s+(gcloud[^\n]*?) - ", text)
    return (name.group(1) if name else ""), text


@lru_cache(maxsize=None)
def bq_help(command: str) -> str:
    out = subprocess.run(["bq", "help", command], capture_output=True, text=True, timeout=60)
    return out.stdout + out.stderr


def _flag_names(cmd: list[str]) -> list[str]:
    return [t.split("=", 1)[0] for t in cmd if t.startswith("--")]


VERBS = {"create", "describe", "deploy", "enable", "update", "add-iam-policy-binding",
         "add-invoker-policy-binding"}


def command_path(cmd: list[str]) -> tuple[str, ...]:
    """The command words before the positional arguments (one --help per distinct command)."""
    words = [t for t in cmd[1:] if not t.startswith("-")]
    for i, word in enumerate(words):
        if word in VERBS:
            return tuple(words[: i + 2 if words[i + 1: i + 2] == ["http"] else i + 1])
    return tuple(words)


def check_gcloud(cmd: list[str]) -> list[str]:
    name, text = gcloud_help(command_path(cmd))
    problems = [] if name else [f"no command: {shlex.join(cmd)[:120]}"]
    for flag in _flag_names(cmd):
        base = flag.replace("--no-", "--", 1) if flag.startswith("--no-") else flag
        known = (flag in GLOBAL_GCLOUD_FLAGS or re.search(rf"\s{re.escape(flag)}[=\s\[]", text)
                 or re.search(rf"--\[no-\]{re.escape(base[2:])}\b", text))
        if not known:
            problems.append(f"{name}: unknown flag {flag}")
    return problems


def check_bq(cmd: list[str]) -> list[str]:
    words = [t for t in cmd[1:] if not t.startswith("-")]
    text = bq_help(words[0])
    problems = [] if f"{words[0]} " in text else [f"bq: no command {words[0]}"]
    for flag in _flag_names(cmd):
        if flag == "--project_id":
            continue
        if not re.search(rf"{re.escape(flag)}\b|--\[no\]{re.escape(flag[2:])}\b", text):
            problems.append(f"bq {words[0]}: unknown flag {flag}")
    return problems


def test_every_command_parses(script):
    cmds = commands(script)
    assert len(cmds) > 40
    with ThreadPoolExecutor(4) as pool:  # warm the help cache: one call per distinct command
        list(pool.map(gcloud_help, {command_path(c) for c in cmds if c[0] == "gcloud"}))
        list(pool.map(bq_help, {next(t for t in c[1:] if not t.startswith("-")) for c in cmds if c[0] == "bq"}))
    results = [check_gcloud(c) if c[0] == "gcloud" else check_bq(c) for c in cmds]
    problems = [p for r in results for p in r]
    assert problems == []


def test_order_resources_before_functions_before_workflow_and_scheduler(script):
    text = [l for l in script.splitlines() if not l.startswith("#")]
    first = lambda needle: next(i for i, l in enumerate(text) if needle in l)
    assert first("services enable") < first("service-accounts create") < first("buckets create")
    assert first("bq --project_id=acme-calls-prod mk --dataset") < first("functions deploy")
    assert first("python3 -m infra.build") < first("functions deploy")
    assert first("functions deploy") < first("workflows deploy") < first("scheduler jobs")


def test_functions_are_private_with_their_own_service_account(script):
    deploys = [c for c in commands(script) if c[:3] == ["gcloud", "functions", "deploy"]]
    assert [c[3] for c in deploys] == ["submit-batch", "poll-status", "pass1-batch-processor"]
    for cmd in deploys:
        assert "--no-allow-unauthenticated" in cmd and "--gen2" in cmd
        sa = next(t for t in cmd if t.startswith("--service-account="))
        assert sa.startswith("--service-account=sa-")
    assert len({next(t for t in c if t.startswith("--service-account=")) for c in deploys}) == 3
    assert "allUsers" not in script and "allAuthenticatedUsers" not in script


def test_least_privilege_roles(script):
    grants = {}
    for cmd in commands(script):
        if "add-iam-policy-binding" in cmd:
            member = next(t for t in cmd if t.startswith("--member=")).split(":", 1)[1].split("@")[0]
            role = next((t for t in cmd if t.startswith("--role=")), "--role=roles/run.invoker").split("=")[1]
            grants.setdefault(member, set()).add(role)
    broad = {"roles/owner", "roles/editor", "roles/bigquery.admin", "roles/storage.admin", "roles/aiplatform.admin",
             "roles/datastore.owner", "roles/iam.serviceAccountUser"}
    assert all(not (roles & broad) for roles in grants.values()), grants
    assert "roles/aiplatform.user" not in grants["sa-pass1-processor"]
    assert "roles/bigquery.dataEditor" not in grants.get("sa-submit-batch", set())
    assert grants["sa-pass1-scheduler"] >= {"roles/workflows.invoker"}


def test_dry_run_runs_nothing_and_create_steps_are_guarded(script):
    for line in script.splitlines():
        if re.search(r"\b(create|mk)\b", line) and "scheduler jobs" not in line and not line.startswith("#"):
            assert "||" in line, line


def test_the_processor_is_deployed_with_two_malloc_arenas(script):
    """Without it the processor's memory grows with file size (see infra/deploy.py)."""
    deploys = {c[3]: c for c in commands(script) if c[:3] == ["gcloud", "functions", "deploy"]}
    env = next(t for t in deploys["pass1-batch-processor"] if t.startswith("--set-env-vars="))
    assert "MALLOC_ARENA_MAX=2" in env.split("=", 1)[1].split(",")
