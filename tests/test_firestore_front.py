"""The stack's Firestore front: a query without its composite index is refused as Firestore refuses it
(the Scheduler sweep included, answered by poll_status as a JSON error), everything else passes
through unchanged, streams included."""

from __future__ import annotations

import inspect
import re
import threading

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from infra.local.firestore_front import CHECKED, STREAM_STREAM, UNARY_STREAM, FirestoreFront
from shared.jobstate import JobState as S
from shared.jobstate import JobStore


@pytest.fixture
def bare_front(layout, tmp_path):
    """A second front on the same emulator, with an index file that has no index at all."""
    path = tmp_path / "indexes.json"
    path.write_text('{"indexes": [], "fieldOverrides": []}')
    front = FirestoreFront(f"127.0.0.1:{layout.firestore_port}", path).start()
    yield front
    front.stop()


def client_at(address: str, project: str, monkeypatch) -> firestore.Client:
    with monkeypatch.context() as env:
        env.setenv("FIRESTORE_EMULATOR_HOST", address)
        return firestore.Client(project=project)


@pytest.fixture
def two_active_runs(stack, firestore_client):
    store = JobStore(firestore_client, collection=stack["JOBS_COLLECTION"])
    for run in ("front-a", "front-b"):
        store.create_or_get(run, "pass1")
        store.transition(run, "pass1", S.SUBMITTED)
    return store


def test_a_sweep_without_its_index_is_refused_and_with_it_runs(stack, two_active_runs, bare_front, monkeypatch):
    bare = JobStore(client_at(bare_front.address, stack["GOOGLE_CLOUD_PROJECT"], monkeypatch),
                    collection=stack["JOBS_COLLECTION"])
    with pytest.raises(gexc.FailedPrecondition, match=r"^400 The query requires an index\. .*\"state\"") as info:
        bare.list_in_states({S.SUBMITTED, S.RUNNING}, limit=10)
    assert '"fieldPath":"updated_at","order":"ASCENDING"' in str(info.value)
    # The stack's own front reads infra/firestore/indexes.json, which has the sweep's index.
    assert {r["run_id"] for r in two_active_runs.list_in_states({S.SUBMITTED, S.RUNNING}, limit=10)} == {
        "front-a", "front-b"}


def test_poll_status_answers_a_missing_index_with_a_json_error(stack, stack_manager, two_active_runs, bare_front):
    stack_manager.stop("poll_status")
    try:
        stack_manager.start("poll_status", extra_env={"FIRESTORE_EMULATOR_HOST": bare_front.address})
        resp = requests.post(stack["POLL_STATUS_URL"], json={}, timeout=60)
        assert resp.status_code == 500 and resp.headers["Content-Type"].startswith("application/json")
        error = resp.json()["error"]
        assert error["code"] == "UPSTREAM_PRECONDITION_FAILED"
        assert error["message"].startswith("The query requires an index.")
    finally:
        stack_manager.stop("poll_status")
        stack_manager.start("poll_status")
    resp = requests.post(stack["POLL_STATUS_URL"], json={}, timeout=60)
    assert resp.status_code == 200 and resp.json()["swept"] == 2


def test_everything_else_passes_through(stack, firestore_client, two_active_runs):
    jobs = firestore_client.collection(stack["JOBS_COLLECTION"])
    # Unary calls, a transaction, a streamed batch get, an error answered by the emulator.
    snaps = firestore_client.get_all([jobs.document("pass1__front-a"), jobs.document("pass1__front-b")])
    assert sorted(s.get("run_id") for s in snaps) == ["front-a", "front-b"]
    with pytest.raises(gexc.AlreadyExists):
        jobs.document("pass1__front-a").create({"x": 1})
    # An aggregation: served by single-field indexes, refused when it needs a composite one.
    assert jobs.where(filter=FieldFilter("state", "==", S.SUBMITTED)).count().get()[0][0].value == 2
    with pytest.raises(gexc.FailedPrecondition, match="requires an index"):
        jobs.where(filter=FieldFilter("state", "==", S.SUBMITTED)).order_by("run_id").count().get()
    # A bidirectional stream (Listen): a change made after the listener started reaches it.
    seen, changed = [], threading.Event()

    def on_snapshot(docs, changes, read_time):
        seen.extend(d.to_dict().get("note") for d in docs)
        if "hello" in seen:
            changed.set()

    watch = jobs.document("pass1__front-b").on_snapshot(on_snapshot)
    try:
        jobs.document("pass1__front-b").update({"note": "hello"})
        assert changed.wait(20), f"the listener saw only {seen!r}"  # failed once under load: which state it saw
    finally:
        watch.unsubscribe()


def test_the_front_knows_the_cardinality_of_every_rpc_the_client_makes():
    """A streaming RPC forwarded as unary would break: compare with the client's own transport."""
    from google.cloud.firestore_v1.services.firestore.transports import grpc as transport

    source = inspect.getsource(transport)
    stubs = dict((m, kind) for kind, m in re.findall(
        r"\.(unary_unary|unary_stream|stream_stream|stream_unary)\(\s*\"/google\.firestore\.v1\.Firestore/(\w+)\"",
        source))
    assert len(stubs) > 10 and "stream_unary" not in stubs.values()
    assert {m for m, k in stubs.items() if k == "unary_stream"} == UNARY_STREAM
    assert {m for m, k in stubs.items() if k == "stream_stream"} == STREAM_STREAM
    assert CHECKED <= UNARY_STREAM
