"""Test harness: the local stack is started once per session and reset before each test that uses it.

- The stack runs in $STACK_DIR (default .local/test-stack) on $STACK_PORT_BASE (default 18100), so a
  developer's `make stack-up` (port base 18000) can keep running beside the tests.
- STACK_REUSE=1 reuses a stack that is already up in that directory and leaves it running.
- Tests that do not ask for `stack` (directly or through a client fixture) need no services. Those
  that do get the `stack` marker automatically (pytest_collection_modifyitems), so that
  `make test-unit` (`-m "not stack"`) runs the rest without starting the emulators.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from infra.local import provision
from infra.local.layout import REPO_ROOT, StackLayout

os.environ.setdefault("STACK_DIR", str(REPO_ROOT / ".local" / "test-stack"))
os.environ.setdefault("STACK_PORT_BASE", "18100")
# Retries inside the functions under test must not wait like production does.
os.environ.setdefault("RETRY_INITIAL_DELAY_SECONDS", "0.05")
os.environ.setdefault("RETRY_MAXIMUM_DELAY_SECONDS", "0.2")


@pytest.fixture(scope="session")
def stack_manager():
    from infra.local.stack import Stack

    manager = Stack(StackLayout.from_env())
    reuse = os.environ.get("STACK_REUSE") == "1" and all(manager.status().values())
    if not reuse:
        manager.up()
    yield manager
    if not reuse:
        manager.down(quiet=True)


@pytest.fixture(scope="session")
def stack(stack_manager) -> dict[str, str]:
    """The stack's environment (stack.env), also applied to this process so that `shared` clients
    talk to the emulators."""
    env = stack_manager.layout.env_vars()
    os.environ.update(env)
    return env


@pytest.fixture(autouse=True)
def _reset_stack(request):
    """Every test that uses the stack starts from empty Firestore, buckets, tables and Vertex jobs;
    except tests marked stateless (requests refused at the door), which skip the half-second reset."""
    if "stack" not in request.fixturenames or request.node.get_closest_marker("stateless"):
        yield
        return
    manager = request.getfixturevalue("stack_manager")
    request.getfixturevalue("stack")
    # The Vertex emulator first: its reset waits for running jobs, which could otherwise write into
    # a bucket that was just emptied.
    from infra.local.vertex_emulator.control import EmulatorControl

    EmulatorControl(f"http://127.0.0.1:{manager.layout.vertex_port}").reset()
    provision.reset(manager.layout)
    yield


# The stack's settings an in-process function needs to start; the emulator endpoints are left out.
IN_PROCESS_ENV = ("GOOGLE_CLOUD_PROJECT", "INPUT_BUCKET", "OUTPUT_BUCKET", "ALLOWED_BUCKETS", "BQ_DATASET")
EMULATOR_HOSTS = ("STORAGE_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST",
                  "VERTEX_AI_ENDPOINT", "PUBSUB_EMULATOR_HOST")
_APPS: dict[str, object] = {}


@pytest.fixture
def function_client(monkeypatch):
    """function_client(name) -> a Flask test client of functions/<name>/main.py, served in this
    process by functions_framework's create_app, as the Functions runtime serves it. The stack's
    project and buckets are set, no emulator endpoint is: for the answers a function gives before it
    reaches any service (a call that did reach one would fail instead of answering)."""
    values = StackLayout.from_env().env_vars()
    for key in IN_PROCESS_ENV:
        if key in values:
            monkeypatch.setenv(key, values[key])
        else:  # ALLOWED_BUCKETS is written only when it names more than the two buckets
            monkeypatch.delenv(key, raising=False)
    for key in EMULATOR_HOSTS:
        monkeypatch.delenv(key, raising=False)

    def client(name: str):
        if name not in _APPS:
            from functions_framework import create_app

            _APPS[name] = create_app(name, str(REPO_ROOT / "functions" / name / "main.py"))
        return _APPS[name].test_client()

    return client


@pytest.fixture
def layout(stack_manager) -> StackLayout:
    return stack_manager.layout


@pytest.fixture
def storage_client(stack):
    return provision.storage_client(StackLayout.from_env())


@pytest.fixture
def put(storage_client):
    """put(uri, bytes): write an object to the Storage emulator."""

    def write(uri: str, data: bytes) -> str:
        bucket, _, name = uri[5:].partition("/")
        storage_client.bucket(bucket).blob(name).upload_from_string(data)
        return uri

    return write


@pytest.fixture
def read_object(storage_client):
    """read_object(uri) -> the object's bytes from the Storage emulator."""

    def read(uri: str) -> bytes:
        bucket, _, name = uri[5:].partition("/")
        return storage_client.bucket(bucket).blob(name).download_as_bytes()

    return read


@pytest.fixture
def bigquery_client(stack):
    return provision.bigquery_client(StackLayout.from_env())


@pytest.fixture
def firestore_client(stack):
    from google.cloud import firestore

    return firestore.Client(project=stack["GOOGLE_CLOUD_PROJECT"])


@pytest.fixture
def job_client(stack):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform_v1.services.job_service import JobServiceClient

    return JobServiceClient(transport="rest", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": stack["VERTEX_AI_ENDPOINT"]})


@pytest.fixture
def vertex_emulator(stack):
    """Control client of the Vertex AI batch emulator: configure faults and pace, reset."""
    from infra.local.vertex_emulator.control import EmulatorControl

    return EmulatorControl(stack["VERTEX_AI_ENDPOINT"])


@pytest.fixture
def http(stack):
    """POST/GET JSON to the functions: returns (status_code, parsed JSON body)."""
    import requests

    class Http:
        def post(self, url: str, body=None, *, data: bytes | None = None, headers=None, timeout=120):
            if data is None:
                resp = requests.post(url, json=body, headers=headers, timeout=timeout)
            else:
                resp = requests.post(url, data=data, headers=headers, timeout=timeout)
            return resp.status_code, _json_or_fail(resp)

        def get(self, url: str, params=None, timeout=60):
            resp = requests.get(url, params=params, timeout=timeout)
            return resp.status_code, _json_or_fail(resp)

    return Http()


def _json_or_fail(resp):
    assert resp.headers.get("Content-Type", "").startswith("application/json"), (
        f"not JSON ({resp.status_code}): {resp.text[:500]}")
    return resp.json()


def table_rows(bigquery_client, layout: StackLayout, table: str, order_by: str | None = None) -> list[dict]:
    """Every row of a stack table, as dicts (helper for assertions on what landed)."""
    sql = f"SELECT * FROM `{layout.project}.{layout.dataset}.{table}`"
    if order_by:
        sql += f" ORDER BY {order_by}"
    return [dict(row) for row in bigquery_client.query(sql).result()]


@pytest.fixture
def rows(bigquery_client, layout):
    """rows(table) -> every row of that stack table."""
    return lambda table, order_by=None: table_rows(bigquery_client, layout, table, order_by)


# A test that asks for one of these (directly or through another fixture) needs the emulators.
STACK_FIXTURES = frozenset({"stack", "stack_manager"})


def pytest_configure(config):
    Path(os.environ["STACK_DIR"]).mkdir(parents=True, exist_ok=True)


def pytest_collection_modifyitems(config, items):
    """Mark every test that uses the stack fixtures `stack`: `-m "not stack"` is then the set
    that runs without any emulator."""
    for item in items:
        if STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)
