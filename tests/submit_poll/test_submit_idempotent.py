"""Create or get: a run is submitted once, whatever arrives twice or at once; a FAILED
run is submitted again only when forced."""

from __future__ import annotations

import threading

import pytest

from tests.submit_poll.helpers import BATCH_TYPE, assert_error, transcript_records


def _body(uri: str, run_id: str, **extra) -> dict:
    return {"run_id": run_id, "batch_type": BATCH_TYPE, "source": {"uri": uri}, **extra}


@pytest.fixture
def resubmitted(write_jsonl, submit):
    """Run twice-1 submitted, then the same body again."""
    uri = write_jsonl("sources/twice.jsonl", transcript_records(3))
    first = submit(_body(uri, "twice-1"))
    second = submit(_body(uri, "twice-1"))
    return first, second


def test_second_submit_is_skipped_with_the_same_jobs(resubmitted, vertex_jobs, run_record):
    (status1, first), (status2, second) = resubmitted
    assert status1 == 200 and first["status"] == "submitted"
    assert status2 == 200, second
    assert second["status"] == "skipped" and second["run_state"] == "SUBMITTED"
    assert [j["name"] for j in second["jobs"]] == [j["name"] for j in first["jobs"]]
    assert second["requests"] == 3
    assert [j["name"] for j in vertex_jobs("twice-1")] == [j["name"] for j in first["jobs"]]
    assert run_record("twice-1")["attempt"] == 1


@pytest.fixture
def concurrent_submits(write_jsonl, submit):
    """Two threads submit run race-1 at the same moment."""
    uri = write_jsonl("sources/race.jsonl", transcript_records(4))
    barrier, answers = threading.Barrier(2), [None, None]

    def call(slot: int) -> None:
        barrier.wait()
        answers[slot] = submit(_body(uri, "race-1"))

    threads = [threading.Thread(target=call, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


def test_two_concurrent_submits_create_one_set_of_jobs(concurrent_submits, vertex_jobs, run_record):
    assert [status for status, _ in concurrent_submits] == [200, 200], concurrent_submits
    statuses = sorted(answer["status"] for _, answer in concurrent_submits)
    assert statuses == ["skipped", "submitted"]
    names = [[j["name"] for j in answer["jobs"]] for _, answer in concurrent_submits]
    assert names[0] == names[1] and len(names[0]) == 1
    assert [j["name"] for j in vertex_jobs("race-1")] == names[0]
    record = run_record("race-1")
    assert record["state"] == "SUBMITTED" and [j["name"] for j in record["jobs"]] == names[0]


@pytest.fixture
def failed_run(vertex_emulator, write_jsonl, submit, wait_done):
    """Run failing-1 whose only job failed (emulator job_failure_rules), polled to FAILED."""
    vertex_emulator.configure(job_failure_rules=[{"count": 1, "code": 500}])
    uri = write_jsonl("sources/failing.jsonl", transcript_records(2))
    status, first = submit(_body(uri, "failing-1"))
    assert status == 200 and first["status"] == "submitted", first
    assert wait_done("failing-1")[-1]["status"] == "FAILED"
    return uri, first


def test_failed_run_needs_force(failed_run, submit, vertex_jobs):
    uri, _ = failed_run
    details = assert_error(*submit(_body(uri, "failing-1")), 409, "CONFLICT")
    assert details == {"reason": "resubmission_needs_force", "state": "FAILED"}
    assert len(vertex_jobs("failing-1")) == 1


def test_force_resubmits_a_failed_run_as_a_new_attempt(stack, failed_run, submit, vertex_jobs, run_record, wait_done):
    uri, first = failed_run
    status, again = submit(_body(uri, "failing-1", force=True))
    assert status == 200, again
    assert again["status"] == "submitted" and again["attempt"] == 2
    [job] = again["jobs"]
    assert job["input_uri"] == f"gs://{stack['INPUT_BUCKET']}/runs/pass1/failing-1/attempt-2/input-00000.jsonl"
    assert job["output_prefix"].endswith("/failing-1/attempt-2/shard-00000/")
    jobs = vertex_jobs("failing-1")
    assert {j["name"] for j in jobs} == {first["jobs"][0]["name"], job["name"]}
    assert {j["labels"]["attempt"] for j in jobs} == {"1", "2"}
    record = run_record("failing-1")
    assert record["state"] == "SUBMITTED" and record["mode"] == "force"
    assert [a["attempt"] for a in record["attempts"]] == [1, 2]
    assert [h["to"] for h in record["history"]] == ["PENDING_SUBMISSION", "SUBMITTED", "FAILED",
                                                    "PENDING_SUBMISSION", "SUBMITTED"]
    last = wait_done("failing-1")[-1]
    assert last["status"] == "PENDING_PROCESSING" and last["attempt"] == 2
