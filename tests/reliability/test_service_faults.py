"""Service faults: BigQuery stopped and restarted mid-run, Storage and Firestore unreachable (during a
read, mid-run), Vertex AI answering 429/503 for a while, the time budget running out inside a chunk.
Each ends in a completed, exact run after retries, or in a clear 503 that leaves the run resumable."""

from __future__ import annotations

import random
import threading
import time

import pytest

from tests.reliability.conftest import SEED
from tests.reliability.support import drive, exactly_once, post


def _run_doc(firestore_client, layout, run_id: str) -> dict:
    from shared.jobstate import JobStore

    return JobStore(firestore_client, collection=layout.jobs_collection).get(run_id, "pass1")


def _one_chunk(url: str, body: dict) -> dict:
    status, answer = post(url, {**body, "time_budget_seconds": 0})
    assert status == 200 and answer["status"] == "partial", answer
    return answer


def _assert_clear_503(status, answer, firestore_client=None, layout=None, run_id=None) -> None:
    assert status == 503, (status, answer)
    assert answer["status"] == "error" and answer["error"]["code"] == "UPSTREAM_UNAVAILABLE", answer
    if firestore_client is not None:  # resumable: still PROCESSING, the error noted
        doc = _run_doc(firestore_client, layout, run_id)
        assert doc["state"] == "PROCESSING"


def test_bigquery_stopped_and_restarted_mid_run(new_run, functions, stack_manager, firestore_client,
                                                bigquery_client, layout, report):
    run_id, body, exp = new_run()
    url = functions["PASS1_BATCH_PROCESSOR_URL"]
    _one_chunk(url, body)
    report.fault_injected("bigquery_down")
    stack_manager.stop("bigquery")
    try:
        status, answer = post(url, body)
        _assert_clear_503(status, answer, firestore_client, layout, run_id)
    finally:
        stack_manager.start("bigquery")
    answer, _ = drive(url, body)
    exactly_once(bigquery_client, layout, run_id, exp, answer, report)
    report.fault_survived("bigquery_down")


@pytest.mark.parametrize("service", ["storage", "firestore"])
def test_service_unreachable_mid_run(service, new_run, functions, proxies, firestore_client, bigquery_client,
                                     layout, report):
    """Between two chunks of a run the service becomes unreachable: a 503, then the run resumes."""
    run_id, body, exp = new_run()
    url = functions["PASS1_BATCH_PROCESSOR_URL"]
    _one_chunk(url, body)
    report.fault_injected(f"{service}_down")
    proxies[service].cut()
    try:
        status, answer = post(url, body)
        _assert_clear_503(status, answer)
    finally:
        proxies[service].restore()
    assert _run_doc(firestore_client, layout, run_id)["state"] == "PROCESSING"
    answer, _ = drive(url, body)
    exactly_once(bigquery_client, layout, run_id, exp, answer, report)
    report.fault_survived(f"{service}_down")


@pytest.mark.parametrize("service", ["storage", "firestore"])
def test_service_cut_during_a_call(service, new_run, functions, proxies, bigquery_client, layout, report):
    """The connection drops while a call reads and writes (seeded moment): whatever the call
    answers (503, or 200 when it was already done), the rerun ends exact."""
    run_id, body, exp = new_run(files=3)
    url = functions["PASS1_BATCH_PROCESSOR_URL"]
    delay = random.Random(f"{SEED}-{service}").uniform(0.2, 0.8)
    first = {}
    caller = threading.Thread(target=lambda: first.update(answer=post(url, body)))
    report.fault_injected(f"{service}_cut_in_call")
    caller.start()
    time.sleep(delay)
    proxies[service].cut()
    time.sleep(0.5)
    proxies[service].restore()
    caller.join(60)
    status, answer = first["answer"]
    assert status in (200, 503), (status, answer)
    answer, _ = drive(url, body)
    exactly_once(bigquery_client, layout, run_id, exp, answer, report)
    report.fault_survived(f"{service}_cut_in_call")


def test_time_budget_runs_out_inside_a_chunk(new_run, functions, bigquery_client, layout, report):
    """A zero budget is spent inside the first chunk of every call: each call does one chunk and
    answers partial with cumulative counts; the run completes exactly."""
    run_id, body, exp = new_run()
    url = functions["PASS1_BATCH_PROCESSOR_URL"]
    report.fault_injected("time_budget")
    processed = []
    for _ in range(10):
        status, answer = post(url, {**body, "time_budget_seconds": 0})
        assert status == 200, answer
        processed.append(answer["processed_records"])
        if answer["status"] == "success":
            break
        assert answer["resume"] is True and answer["chunks"] == 1
    assert processed == sorted(processed) and len(processed) == 4  # 2 files x 2 chunks
    exactly_once(bigquery_client, layout, run_id, exp, answer, report)
    report.fault_survived("time_budget")


@pytest.fixture
def source(put, layout, uid):
    import orjson

    lines = [orjson.dumps({"phone_number_token": f"PHONE-{uid}-{i}", "interaction_id": f"INT-{uid}-{i}",
                           "transcript": f"Agent: Hello. Customer: my bill {uid} {i} is wrong."}) for i in range(3)]
    return put(f"gs://{layout.input_bucket}/sources/{uid}.jsonl", b"\n".join(lines) + b"\n")


def _vertex_jobs(job_client, layout, run_id):
    from shared.vertex import run_labels

    labels = run_labels(run_id, "pass1")
    parent = f"projects/{layout.project}/locations/{layout.location}"
    return [j for j in job_client.list_batch_prediction_jobs(parent=parent)
            if all(j.labels.get(k) == v for k, v in labels.items())]


def test_vertex_429_and_503_for_a_while(functions, source, uid, vertex_emulator, job_client, layout, report):
    """create answers 429 twice, get 503 three times: retries absorb both; one job."""
    vertex_emulator.configure(pace_seconds=0, api_faults=[{"method": "create", "code": 429, "count": 2},
                                                          {"method": "get", "code": 503, "count": 3}])
    report.fault_injected("vertex_429_503")
    status, answer = post(functions["SUBMIT_BATCH_URL"], {"run_id": uid, "batch_type": "pass1",
                                                          "source": {"uri": source}})
    assert status == 200 and answer["status"] == "submitted", answer
    status, polled = post(functions["POLL_STATUS_URL"], {"run_id": uid, "batch_type": "pass1"})
    assert status == 200 and polled["run_id"] == uid, polled
    left = {rule["method"]: rule["count"] for rule in vertex_emulator.config()["api_faults"]}
    assert left == {"create": 0, "get": 0}  # every fault was answered to a call, and retried
    assert len(_vertex_jobs(job_client, layout, uid)) == 1
    report.fault_survived("vertex_429_503")


def test_vertex_unavailable_longer_than_the_retries(functions, source, uid, vertex_emulator, job_client,
                                                    firestore_client, layout, report):
    """An outage longer than the retry deadline: a clear 503, the run left for a retry (no job, no
    lease), and the retried call submits exactly one job."""
    vertex_emulator.configure(pace_seconds=0, api_faults=[{"method": "create", "code": 503, "rate": 1.0}])
    url = functions["SUBMIT_BATCH_URL"]
    body = {"run_id": uid, "batch_type": "pass1", "source": {"uri": source}, "retry_deadline_seconds": 0.5}
    report.fault_injected("vertex_outage")
    status, answer = post(url, body)
    _assert_clear_503(status, answer)
    doc = _run_doc(firestore_client, layout, uid)
    assert doc["state"] == "PENDING_SUBMISSION" and doc.get("lease") is None
    assert _vertex_jobs(job_client, layout, uid) == []
    vertex_emulator.configure(api_faults=[])
    time.sleep(1.2)  # the open circuits (CIRCUIT_OPEN_SECONDS=1 here) let a call through again
    status, answer = post(url, body)
    assert status == 200 and answer["status"] == "submitted", answer
    assert len(_vertex_jobs(job_client, layout, uid)) == 1
    report.fault_survived("vertex_outage")


def test_run_document_locked_by_a_dead_transaction(new_run, functions, firestore_client, bigquery_client,
                                                   layout, report):
    """A holder killed inside a Firestore transaction leaves the run's document locked (the emulator,
    like Firestore, keeps the lock for 60 s): the processor answers 503 and the run stays resumable
    (it used to answer 500 and mark the run FAILED), then completes once the lock is gone."""
    run_id, body, exp = new_run()
    url = functions["PASS1_BATCH_PROCESSOR_URL"]
    _one_chunk(url, body)
    transaction = firestore_client.transaction()
    transaction._begin()  # what a killed holder leaves behind: an open transaction that read the run
    firestore_client.collection(layout.jobs_collection).document(f"pass1__{run_id}").get(transaction=transaction)
    report.fault_injected("firestore_lock")
    try:
        status, answer = post(url, body)
        _assert_clear_503(status, answer)
    finally:
        transaction._rollback()
    assert _run_doc(firestore_client, layout, run_id)["state"] == "PROCESSING"
    answer, _ = drive(url, body)
    exactly_once(bigquery_client, layout, run_id, exp, answer, report)
    report.fault_survived("firestore_lock")
