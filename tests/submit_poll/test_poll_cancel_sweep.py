"""action "cancel" cancels a run's Vertex jobs and marks it CANCELLED; a call without run_id (the
Cloud Scheduler sweep) refreshes the active runs, a bounded number per call."""

from __future__ import annotations

import time

import pytest

from tests.submit_poll.helpers import BATCH_TYPE, assert_error, transcript_records

JOB_WAIT_SECONDS = 20.0


def _submit(write_jsonl, submit, run_id: str, n: int = 2, **extra) -> dict:
    uri = write_jsonl(f"sources/{run_id}.jsonl", transcript_records(n))
    status, answer = submit({"run_id": run_id, "batch_type": BATCH_TYPE, "source": {"uri": uri}, **extra})
    assert status == 200 and answer["status"] == "submitted", answer
    return answer


def _wait_job_state(job_client, name: str, states: set[str]) -> str:
    deadline = time.monotonic() + JOB_WAIT_SECONDS
    while time.monotonic() < deadline:
        state = job_client.get_batch_prediction_job(name=name).state.name
        if state in states:
            return state
        time.sleep(0.05)
    raise AssertionError(f"{name} still {state}")


@pytest.fixture
def running_run(vertex_emulator, write_jsonl, submit, poll, job_client):
    """Run stall-1: its job processes one row of two, then waits (emulator stall_after_rows) in RUNNING;
    polled once so that the run is RUNNING too."""
    vertex_emulator.configure(stall_after_rows=1)
    answer = _submit(write_jsonl, submit, "stall-1")
    _wait_job_state(job_client, answer["jobs"][0]["name"], {"JOB_STATE_RUNNING"})
    status, polled = poll("stall-1")
    assert status == 200 and polled["status"] == "RUNNING", polled
    return answer


def test_cancel_cancels_the_jobs_and_the_run(running_run, poll, job_client, run_record):
    status, answer = poll(body={"run_id": "stall-1", "batch_type": BATCH_TYPE, "action": "cancel"})
    assert status == 200, answer
    assert (answer["status"], answer["done"], answer["succeeded"]) == ("CANCELLED", True, False)
    assert answer["error"]["code"] == "CANCELLED"
    name = running_run["jobs"][0]["name"]
    assert _wait_job_state(job_client, name, {"JOB_STATE_CANCELLED"}) == "JOB_STATE_CANCELLED"
    # A later poll leaves the cancelled run alone; a second cancel answers it as it is.
    assert poll("stall-1")[1]["status"] == "CANCELLED"
    again = poll(body={"run_id": "stall-1", "batch_type": BATCH_TYPE, "action": "cancel"})
    assert again[0] == 200 and again[1]["status"] == "CANCELLED"
    assert [h["to"] for h in run_record("stall-1")["history"]][-1] == "CANCELLED"


def test_cancel_needs_post(running_run, poll):
    details = assert_error(*poll("stall-1", action="cancel"), 405, "METHOD_NOT_ALLOWED")
    assert details == {"allowed": ["POST"]}
    assert poll("stall-1")[1]["status"] == "RUNNING"


def test_cancel_of_a_failed_run_is_a_conflict(vertex_emulator, write_jsonl, submit, wait_done, poll):
    vertex_emulator.configure(job_failure_rules=[{"count": 1, "code": 500}])
    _submit(write_jsonl, submit, "done-1")
    assert wait_done("done-1")[-1]["status"] == "FAILED"
    details = assert_error(*poll(body={"run_id": "done-1", "action": "cancel"}), 409, "CONFLICT")
    assert details == {"reason": "not_cancellable", "state": "FAILED"}


@pytest.fixture
def three_active_runs(write_jsonl, submit, job_client):
    """Runs sweep-a, sweep-b, sweep-c submitted (in that order) and their jobs finished on Vertex;
    nobody polled them, so they are still SUBMITTED."""
    answers = [_submit(write_jsonl, submit, run_id) for run_id in ("sweep-a", "sweep-b", "sweep-c")]
    for answer in answers:
        _wait_job_state(job_client, answer["jobs"][0]["name"], {"JOB_STATE_SUCCEEDED"})
    return answers


def test_sweep_refreshes_active_runs_a_bounded_number_per_call(three_active_runs, poll, http, stack, run_record):
    status, first = poll(limit="2")
    assert status == 200, first
    assert (first["status"], first["swept"], first["limit"], first["more"]) == ("swept", 2, 2, True)
    # The stalest first: the two submitted first.
    assert [(r["run_id"], r["status"], r["done"]) for r in first["runs"]] == [
        ("sweep-a", "PENDING_PROCESSING", True), ("sweep-b", "PENDING_PROCESSING", True)]
    assert run_record("sweep-c")["state"] == "SUBMITTED"
    # What Cloud Scheduler sends: POST {} (infra/scheduler/jobs.json).
    status, second = http.post(stack["POLL_STATUS_URL"], {})
    assert status == 200, second
    assert (second["swept"], second["more"]) == (1, False)
    assert [(r["run_id"], r["status"]) for r in second["runs"]] == [("sweep-c", "PENDING_PROCESSING")]
    assert second["runs"][0]["output_info"][0]["files"]
    status, third = http.post(stack["POLL_STATUS_URL"], {})
    assert (status, third["swept"], third["runs"]) == (200, 0, [])
