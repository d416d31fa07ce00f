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


@pytest.mark.slow  # a minute of `gcloud ... --help` calls: make test runs it, make test-unit does not
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
    # submit_batch edits only its scratch dataset (the plan tables), never the analytics tables.
    editor = [c for c in commands(script) if "--role=roles/bigquery.dataEditor" in c
              and any(t.startswith("--member=serviceAccount:sa-submit-batch@") for t in c)]
    assert [c[-1] for c in editor] == ["acme-calls-prod:call_analytics_scratch"]
    assert grants["sa-pass1-scheduler"] >= {"roles/workflows.invoker"}


def test_transcripts_and_the_lookup_are_partitioned_and_the_scratch_dataset_expires_its_tables(script):
    mk = {c[-2] if c[-1].endswith(".json") else c[-1]: c for c in commands(script) if c[:2] == ["bq", "--project_id=acme-calls-prod"] and "mk" in c}
    transcripts = mk["acme-calls-prod:call_analytics.transcripts"]
    assert "--time_partitioning_field=call_date" in transcripts and "--time_partitioning_type=DAY" in transcripts
    assert "--clustering_fields=interaction_id,phone_number_token" in transcripts
    lookup = mk["acme-calls-prod:call_analytics.interaction_lookup"]
    assert "--time_partitioning_field=started_at" in lookup and "--time_partitioning_type=DAY" in lookup
    assert "--clustering_fields=phone_number_token,interaction_id" in lookup
    scratch = mk["acme-calls-prod:call_analytics_scratch"]
    assert any(t.startswith("--default_table_expiration=") for t in scratch)
    assert any(t.startswith("--location=") for t in scratch)


def test_dry_run_runs_nothing_and_create_steps_are_guarded(script):
    # `services identity create` needs no guard: it answers the existing service agent when there is one.
    for line in script.splitlines():
        if (re.search(r"\b(create|mk)\b", line) and "scheduler jobs" not in line and not line.startswith("#")
                and "services identity create" not in line):
            assert "||" in line, line


def test_the_processor_is_deployed_with_two_malloc_arenas(script):
    """Without it the processor's memory grows with file size (see infra/deploy.py)."""
    deploys = {c[3]: c for c in commands(script) if c[:3] == ["gcloud", "functions", "deploy"]}
    env = next(t for t in deploys["pass1-batch-processor"] if t.startswith("--set-env-vars="))
    assert "MALLOC_ARENA_MAX=2" in env.split("=", 1)[1].split(",")


def _lines(script: str) -> list[str]:
    return [l for l in script.splitlines() if l and not l.startswith("#")]


def _first(lines: list[str], needle: str) -> int:
    return next(i for i, l in enumerate(lines) if needle in l)


def test_the_vertex_service_agent_is_generated_before_any_grant_to_it(script):
    """On a fresh project the agent does not exist until generated: a grant to it would fail."""
    lines = _lines(script)
    agent = [i for i, l in enumerate(lines) if "@gcp-sa-aiplatform.iam.gserviceaccount.com" in l]
    created = _first(lines, "gcloud beta services identity create --service=aiplatform.googleapis.com")
    number = _first(lines, "PROJECT_NUMBER=$(gcloud projects describe acme-calls-prod")
    assert "--format=value(projectNumber)" in lines[number]
    assert len(agent) == 2 and number < created < min(agent)
    assert all(lines[i].startswith("retry_iam ") and "service-${PROJECT_NUMBER}@" in lines[i] for i in agent)


def test_the_build_account_exists_and_holds_its_roles_before_a_function_is_built(script):
    lines = _lines(script)
    email = "sa-function-build@acme-calls-prod.iam.gserviceaccount.com"
    created = _first(lines, "service-accounts create sa-function-build")
    grants = {re.search(r"--role=(\S+)", l).group(1): i for i, l in enumerate(lines)
              if f"--member=serviceAccount:{email}" in l}
    # The roles the Cloud Run functions docs list for a custom build service account.
    assert set(grants) == {"roles/logging.logWriter", "roles/artifactregistry.writer", "roles/storage.objectViewer"}
    deploys = [i for i, l in enumerate(lines) if "gcloud functions deploy" in l]
    assert len(deploys) == 3 and created < min(grants.values()) and max(grants.values()) < min(deploys)
    for i in deploys:
        assert f"--build-service-account=projects/acme-calls-prod/serviceAccounts/{email}" in lines[i].split()


def test_every_index_of_the_index_file_is_created_before_the_functions(script):
    from infra.firestore.indexes import load

    lines = _lines(script)
    creates = [c for c in commands(script) if c[:5] == ["gcloud", "firestore", "indexes", "composite", "create"]]
    wanted = load()
    assert wanted and len(creates) == len(wanted)
    for index, cmd in zip(wanted, creates):
        assert f"--collection-group={index.collection_group}" in cmd
        assert [t for t in cmd if t.startswith("--field-config=")] == index.gcloud_field_configs()
        assert f"--query-scope={index.gcloud_query_scope()}" in cmd
    at = [i for i, l in enumerate(lines) if "firestore indexes composite create" in l]
    assert _first(lines, "firestore databases create") < min(at) and max(at) < _first(lines, "functions deploy")
    # Guarded by the check of what the project already has (a second create would be refused).
    assert all(lines[i].startswith("python3 -m infra.firestore.indexes exists --project=acme-calls-prod") for i in at)


def test_every_function_gets_the_dataset_location():
    out = subprocess.run([sys.executable, "-m", "infra.deploy", "--project", "acme-calls-prod", "--region",
                          "europe-west4", "--bq-location", "europe-west4", "--dry-run"], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "mk --dataset --location=europe-west4 acme-calls-prod:call_analytics" in out
    deploys = [c for c in commands(out) if c[:3] == ["gcloud", "functions", "deploy"]]
    assert len(deploys) == 3
    for cmd in deploys:
        env = next(t for t in cmd if t.startswith("--set-env-vars=")).split("=", 1)[1].split(",")
        assert "BQ_LOCATION=europe-west4" in env


def test_grants_are_retried_while_a_new_principal_is_not_grantable_yet(script, tmp_path):
    """IAM is eventually consistent: a grant to an account created a moment ago can be refused."""
    lines = _lines(script)
    assert all(l.startswith("retry_iam ") for l in lines if "add-iam-policy-binding" in l
               or "add-invoker-policy-binding" in l)
    prelude = [l for l in script.splitlines()[:5] if l.startswith(("set ", "retry_iam()"))]
    counter = tmp_path / "attempts"
    flaky = f'n=$(( $(cat {counter} 2>/dev/null || echo 0) + 1 )); echo $n > {counter}; [ $n -ge 3 ]'
    test = "\n".join(prelude + ["sleep() { :; }", f"retry_iam bash -c '{flaky}'", "echo done"])
    out = subprocess.run(["bash", "-c", test], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "done" and counter.read_text().strip() == "3"
    never = "\n".join(prelude + ["sleep() { :; }", "retry_iam false", "echo not reached"])
    out = subprocess.run(["bash", "-c", never], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "not reached" not in out.stdout


def test_the_run_events_topic_exists_before_its_publishers_and_only_they_get_it(script):
    cmds = commands(script)
    index = lambda pred: next(i for i, c in enumerate(cmds) if pred(c))
    created = index(lambda c: c[:4] == ["gcloud", "pubsub", "topics", "create"])
    grants = [(i, c) for i, c in enumerate(cmds) if c[:4] == ["gcloud", "pubsub", "topics", "add-iam-policy-binding"]]
    assert {next(t for t in c if t.startswith("--member=")).split(":")[1].split("@")[0] for _, c in grants} == {
        "sa-poll-status", "sa-pass1-processor"}
    assert all(created < i and "--role=roles/pubsub.publisher" in c for i, c in grants)
    assert created < index(lambda c: c[:3] == ["gcloud", "functions", "deploy"])
    for cmd in (c for c in cmds if c[:3] == ["gcloud", "functions", "deploy"]):
        env = next(t for t in cmd if t.startswith("--set-env-vars=")).split("=", 1)[1].split(",")
        assert ("RUN_EVENTS_TOPIC=run-events" in env) == (cmd[3] != "submit-batch"), cmd[3]
        if cmd[3] == "poll-status":  # an SSE stream stays open up to STREAM_MAX_SECONDS (840 s)
            assert "--timeout=900s" in cmd
