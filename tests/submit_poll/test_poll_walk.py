"""poll_status walks a run through its states from what Vertex says, and answers what a Workflows
`switch` branches on (done, succeeded) and what the processor needs (output_info)."""

from __future__ import annotations

import pytest

from tests.submit_poll.helpers import BATCH_TYPE, transcript_records

# A short pause between emulator job states, so that a polling loop sees each of them.
PACE_SECONDS = 0.5


def _submit(write_jsonl, submit, run_id: str, n: int, **extra) -> dict:
    uri = write_jsonl(f"sources/{run_id}.jsonl", transcript_records(n))
    status, answer = submit({"run_id": run_id, "batch_type": BATCH_TYPE, "source": {"uri": uri}, **extra})
    assert status == 200 and answer["status"] == "submitted", answer
    return answer


@pytest.fixture
def walked_run(vertex_emulator, write_jsonl, submit, wait_done):
    """Run walk-1 (3 requests, 2 rows per prediction file) polled with GET until done, on a paced
    emulator; returns (the submit answer, every poll answer)."""
    vertex_emulator.configure(pace_seconds=PACE_SECONDS, rows_per_file=2)
    answer = _submit(write_jsonl, submit, "walk-1", 3)
    return answer, wait_done("walk-1")


def test_poll_walks_submitted_running_pending_processing(walked_run, run_record):
    _, seen = walked_run
    states = [a["status"] for a in seen]
    assert states[0] == "SUBMITTED" and states[-1] == "PENDING_PROCESSING"
    assert "RUNNING" in states
    order = {"SUBMITTED": 0, "RUNNING": 1, "PENDING_PROCESSING": 2}
    assert [order[s] for s in states] == sorted(order[s] for s in states)  # never backwards
    first_running = next(a for a in seen if a["status"] == "RUNNING")
    assert first_running["llm_status"] in ("JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED")
    assert all((a["done"], a["succeeded"]) == (False, False) for a in seen[:-1])
    history = [h["to"] for h in run_record("walk-1")["history"]]
    assert history == ["PENDING_SUBMISSION", "SUBMITTED", "RUNNING", "PENDING_PROCESSING"]


def test_final_answer_carries_what_the_processor_needs(stack, walked_run, storage_client):
    submitted, seen = walked_run
    last = seen[-1]
    assert (last["run_id"], last["batch_type"], last["done"], last["succeeded"]) == ("walk-1", "pass1", True, True)
    assert last["llm_status"] == "JOB_STATE_SUCCEEDED" and last["attempt"] == 1
    assert last["completion_stats"] == {"successful": 3, "failed": 0, "incomplete": 0}
    assert last["progress"]["requests"] == 3 and last["progress"]["processed"] == 3
    assert last["progress"]["fraction"] == 1.0
    [entry] = last["output_info"]
    [job] = submitted["jobs"]
    assert entry["job"] == job["name"] and entry["attempt"] == 1
    directory = entry["gcsOutputDirectory"]
    assert directory.startswith(job["output_prefix"] + "prediction-model-")
    bucket, prefix = directory[len("gs://"):].split("/", 1)
    on_storage = sorted(f"gs://{bucket}/{b.name}" for b in storage_client.list_blobs(bucket, prefix=prefix + "/"))
    assert entry["files"] == on_storage
    assert [f.rsplit("/", 1)[1] for f in entry["files"]] == ["predictions_00001.jsonl", "predictions_00002.jsonl"]
    assert last["error"] is None
    assert last["created_at"] <= last["updated_at"] and last["duration_seconds"] >= 0


def test_post_json_answers_like_get(walked_run, poll):
    _, seen = walked_run
    status, answer = poll(body={"run_id": "walk-1", "batch_type": BATCH_TYPE})
    assert status == 200
    stable = ("run_id", "status", "llm_status", "done", "succeeded", "attempt", "output_info", "completion_stats")
    assert {k: answer[k] for k in stable} == {k: seen[-1][k] for k in stable}


@pytest.fixture
def all_jobs_failed(vertex_emulator, write_jsonl, submit, wait_done):
    """Run fail-all-1 of two jobs, both failing on Vertex (emulator job_failure_rules)."""
    vertex_emulator.configure(job_failure_rules=[{"count": 2, "code": 500, "message": "injected failure"}])
    _submit(write_jsonl, submit, "fail-all-1", 2, max_requests_per_job=1)
    return wait_done("fail-all-1")


def test_all_jobs_failed_marks_the_run_failed(all_jobs_failed, run_record):
    last = all_jobs_failed[-1]
    assert (last["status"], last["done"], last["succeeded"]) == ("FAILED", True, False)
    assert last["llm_status"] == "JOB_STATE_FAILED" and last["output_info"] == []
    assert last["error"]["code"] == "VERTEX_JOB_FAILED" and "injected failure" in last["error"]["message"]
    assert len(last["error"]["details"]["jobs"]) == 2
    record = run_record("fail-all-1")
    assert record["state"] == "FAILED" and record["completed_at"] is not None


def test_one_failed_job_of_two_still_goes_to_processing(vertex_emulator, write_jsonl, submit, wait_done):
    vertex_emulator.configure(job_failure_rules=[{"count": 1, "code": 500}])
    answer = _submit(write_jsonl, submit, "fail-one-1", 2, max_requests_per_job=1)
    last = wait_done("fail-one-1")[-1]
    assert (last["status"], last["succeeded"]) == ("PENDING_PROCESSING", True)
    assert last["llm_status"] == "JOB_STATE_FAILED"  # the least advanced of the two: a failure is never hidden
    [entry] = last["output_info"]
    assert entry["job"] == answer["jobs"][1]["name"]


def test_prediction_files_are_the_directorys_own_prediction_objects(stack, storage_client):
    """Listed as poll_status lists them (status_poll.outputs): not the processor's retry/ folder, not
    other objects, not a sibling directory sharing the name's prefix."""
    from shared.clients import storage_client as shared_storage_client
    from status_poll.outputs import prediction_files

    bucket = storage_client.bucket(stack["OUTPUT_BUCKET"])
    for name in ("d/pred-1/predictions_00002.jsonl", "d/pred-1/predictions_00001.jsonl", "d/pred-1/retry/keys-00000.jsonl",
                 "d/pred-1/retry/predictions.jsonl", "d/pred-1/incremental.txt", "d/pred-10/predictions.jsonl"):
        bucket.blob(name).upload_from_string(b"{}\n")
    base = f"gs://{stack['OUTPUT_BUCKET']}/d/pred-1"
    assert prediction_files(shared_storage_client(), base) == [f"{base}/predictions_00001.jsonl",
                                                               f"{base}/predictions_00002.jsonl"]
