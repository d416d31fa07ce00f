"""Fixtures of the reliability suite.

For the whole package the processor and submit_batch run with test settings: crash points enabled
(FAULT_CRASH_DIR, see shared/faults.py), short leases (a crashed holder's files are taken over in
seconds, not minutes), a short retry deadline (an outage ends in a 503 in seconds), and the processor
reaches Storage and Firestore through fault proxies (tests cut them to make the service unreachable
without losing the emulator's in-memory data). The normal functions are back after the package.

The figures of reliability/report.json are collected by `report` and written only when the session
ran every module of this package and RELIABILITY_WRITE_REPORT=1 (set by `make reliability`): an
ordinary test run leaves the committed report and README table alone.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from tests.reliability.support import FaultProxy

SEED = int(os.environ.get("RELIABILITY_SEED", "20260707"))
LEASE_SECONDS = "2"
# Longer than a whole submission on this machine (a live submitter is never taken over), short
# enough that a killed one is within seconds.
SUBMIT_LEASE_SECONDS = "5"
RETRY_DEADLINE_SECONDS = "3"
_HERE = Path(__file__).resolve().parent
# Only `make reliability` sets it: a test run must not rewrite committed files.
WRITE_REPORT_ENV = "RELIABILITY_WRITE_REPORT"
_COLLECTOR = None
_RAN: set[str] = set()
_DESELECTED: list[str] = []
_OUTCOMES = {"passed": 0, "failed": 0}


def _collector():
    global _COLLECTOR
    if _COLLECTOR is None:
        from reliability.report import Collector

        _COLLECTOR = Collector(SEED)
    return _COLLECTOR


@pytest.fixture(scope="session")
def report():
    """The session's reliability figures (reliability.report.Collector)."""
    return _collector()


@pytest.fixture(autouse=True)
def _note_module(request):
    _RAN.add(Path(str(request.node.fspath)).name)
    yield


EVENTS_DUMP = "run-events.jsonl"


@pytest.fixture(autouse=True)
def _keep_run_events(request):
    """After each stack test, every run event and outbox notification it left in Firestore goes to
    $STACK_DIR/logs/run-events.jsonl: the log scan (test_security) reads them with the logs, and the
    next test's reset would erase them."""
    yield
    if "stack" not in request.fixturenames:
        return
    import orjson
    from google.cloud import firestore

    from infra.local.layout import StackLayout
    from shared.events import outbox_collection

    layout = StackLayout.from_env()
    client = firestore.Client(project=layout.project)
    docs = [d.to_dict() for d in client.collection_group("events").stream()]
    docs += [d.to_dict() for d in client.collection(outbox_collection(layout.jobs_collection)).stream()]
    if docs:
        with open(layout.dir / "logs" / EVENTS_DUMP, "ab") as out:
            out.writelines(orjson.dumps(d, default=str) + b"\n" for d in docs)


def pytest_collection_modifyitems(session, config, items):
    """The log scan reads what every other test of this package made the functions log: it runs
    right after the package's last other test."""
    scan = [i for i in items if i.name == "test_logs_hold_no_phone_tokens_or_transcripts"]
    rest = [i for i in items if i not in scan]
    ours = [n for n, i in enumerate(rest) if "tests/reliability/" in i.nodeid]
    at = ours[-1] + 1 if ours else len(rest)
    items[:] = rest[:at] + scan + rest[at:]


def pytest_deselected(items):
    _DESELECTED.extend(i.nodeid for i in items if "tests/reliability/" in i.nodeid)


def pytest_runtest_logreport(report):
    if "tests/reliability/" in report.nodeid and (report.when == "call" or report.failed):
        if report.when == "call" and report.passed:
            _OUTCOMES["passed"] += 1
        elif report.failed:
            _OUTCOMES["failed"] += 1


def pytest_sessionfinish(session, exitstatus):
    """Write reliability/report.json (and the README table) after a complete run of this package,
    when asked to (RELIABILITY_WRITE_REPORT=1, which `make reliability` sets)."""
    if os.environ.get(WRITE_REPORT_ENV) != "1":
        return
    modules = {p.name for p in _HERE.glob("test_*.py")}
    if _COLLECTOR is None or _DESELECTED or not modules <= _RAN:
        return
    from reliability.report import refresh_readme, write_report

    data = _COLLECTOR.report(dict(_OUTCOMES))
    write_report(data)
    refresh_readme(data)


@pytest.fixture(scope="package")
def crash_dir(stack_manager):
    path = stack_manager.layout.dir / "fault-crash-points"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="package")
def proxies(stack_manager):
    layout = stack_manager.layout
    made = {"storage": FaultProxy(layout.storage_port), "firestore": FaultProxy(layout.firestore_front_port)}
    yield made
    for proxy in made.values():
        proxy.cut()


@pytest.fixture(scope="package")
def fault_env(crash_dir, proxies) -> dict[str, dict[str, str]]:
    common = {"FAULT_CRASH_DIR": str(crash_dir), "RETRY_DEADLINE_SECONDS": RETRY_DEADLINE_SECONDS}
    return {
        "pass1_batch_processor": {**common, "PROCESSOR_LEASE_SECONDS": LEASE_SECONDS,
                                  "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{proxies['storage'].port}",
                                  "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{proxies['firestore'].port}"},
        # An open circuit (after an outage) lets one call try again after a second, not five minutes.
        "submit_batch": {**common, "SUBMIT_LEASE_SECONDS": SUBMIT_LEASE_SECONDS, "CIRCUIT_OPEN_SECONDS": "1"},
    }


@pytest.fixture(scope="package")
def functions(stack, stack_manager, fault_env):
    """The processor and submit_batch with the suite's settings for the package; afterwards the
    normal ones again (and every stack service running)."""
    for name, env in fault_env.items():
        stack_manager.stop(name)
        stack_manager.start(name, extra_env=env)
    yield stack
    for name in fault_env:
        stack_manager.stop(name)
        stack_manager.start(name)
    for name, ok in stack_manager.status().items():
        if not ok:
            stack_manager.stop(name)
            stack_manager.start(name)


@pytest.fixture
def arm(crash_dir):
    """arm(point, n): the n-th hit of the crash point SIGKILLs the function. Disarmed afterwards."""
    armed = []

    def set_point(point: str, n: int = 1) -> Path:
        path = crash_dir / point
        path.write_text(str(n))
        armed.append(path)
        return path

    yield set_point
    for path in armed:
        path.unlink(missing_ok=True)


@pytest.fixture
def uid() -> str:
    return f"r{uuid.uuid4().hex[:10]}"


@pytest.fixture
def new_run(functions, firestore_client, layout, put, uid):
    """new_run(files=2, per_file=5) -> (run_id, body, Expected): prediction files uploaded and a
    run document in PENDING_PROCESSING naming their directory, as poll_status leaves it."""
    from shared.jobstate import JobState, JobStore
    from tests.reliability.support import build_files

    def make(files: int = 2, per_file: int = 5, run_id: str | None = None):
        run_id = run_id or uid
        out_dir = f"gs://{layout.output_bucket}/runs/pass1/{run_id}/attempt-1/shard-00000/prediction-model-x"
        contents, exp = build_files(out_dir, run_id, files, per_file)
        for uri, data in contents.items():
            put(uri, data)
        store = JobStore(firestore_client, collection=layout.jobs_collection)
        store.create_or_get(run_id, "pass1")
        store.ref(run_id, "pass1").update({"state": JobState.PENDING_PROCESSING, "output_dirs": [out_dir],
                                            "jobs": [{"name": f"projects/p/locations/l/batchPredictionJobs/{run_id}",
                                                      "output_dir": out_dir, "attempt": 1}]})
        body = {"run_id": run_id, "batch_type": "pass1", "workflow_id": f"wf-{run_id}",
                "output_info": {"gcsOutputDirectory": out_dir}, "chunk_size": 4}
        return run_id, body, exp

    return make
