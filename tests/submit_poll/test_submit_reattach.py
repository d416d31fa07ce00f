"""A crash between creating a Vertex job and recording it: the next submit finds the job by the
run's labels and reattaches to it instead of creating a second one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.submit_poll.helpers import BATCH_TYPE, assert_error, transcript_records


def _crash(stack, storage_client, firestore_client, run_id: str, lease_expires: datetime) -> dict:
    """What a submitter that crashed right after creating the job leaves behind: the attempt's input
    file, the labelled job on Vertex, and the run in PENDING_SUBMISSION with its lease and no job."""
    from batch_submit.prepare import PrepareStats, request_entries
    from batch_submit.prompts import load_prompt
    from batch_submit.shards import request_line
    from shared.jobstate import JobStore
    from shared.layout import row_id
    from shared.vertex import VertexJobs, run_labels
    from shared.vertex_rest import BatchJobsRest

    entries = request_entries(transcript_records(3), load_prompt(BATCH_TYPE, "v1"), 100_000, PrepareStats())
    lines = [request_line(entry, row_id(1, 0, n)) for n, entry in enumerate(entries, 1)]
    name = f"runs/pass1/{run_id}/attempt-1/input-00000.jsonl"
    storage_client.bucket(stack["INPUT_BUCKET"]).blob(name).upload_from_string(b"".join(lines))
    rest = BatchJobsRest(stack["VERTEX_AI_ENDPOINT"], requests.Session())
    job = VertexJobs(stack["GOOGLE_CLOUD_PROJECT"], client_for=lambda location: rest).create(
        location=stack["VERTEX_AI_LOCATION"], model="gemini-2.5-flash", display_name=f"pass1-{run_id}-a1-s00000",
        input_uris=[f"gs://{stack['INPUT_BUCKET']}/{name}"],
        output_prefix=f"gs://{stack['OUTPUT_BUCKET']}/runs/pass1/{run_id}/attempt-1/shard-00000/",
        labels=run_labels(run_id, BATCH_TYPE, 1, 0))
    store = JobStore(client=firestore_client, collection=stack["JOBS_COLLECTION"])
    lease = {"owner": "req_crashed", "acquired_at": lease_expires - timedelta(minutes=10), "expires_at": lease_expires}
    store.create_or_get(run_id, BATCH_TYPE, fields={"attempt": 1, "lease": lease})
    return job


@pytest.fixture
def crashed_run(stack, storage_client, firestore_client, write_jsonl):
    """Run crash-1 abandoned by a crashed submitter (its lease expired), and its source."""
    job = _crash(stack, storage_client, firestore_client, "crash-1",
                 datetime.now(timezone.utc) - timedelta(seconds=1))
    return job, write_jsonl("sources/crash.jsonl", transcript_records(3))


def test_submit_after_a_crash_reattaches_to_the_job(crashed_run, submit, vertex_jobs, run_record):
    job, uri = crashed_run
    status, answer = submit({"run_id": "crash-1", "batch_type": BATCH_TYPE, "source": {"uri": uri}})
    assert status == 200, answer
    assert answer["status"] == "submitted" and answer["requests"] == 3
    [answered] = answer["jobs"]
    assert answered["name"] == job["name"] and answered["reattached"] is True
    assert answered["input_uri"] == job["input_uris"][0] and answered["output_prefix"] == job["output_prefix"]
    assert [j["name"] for j in vertex_jobs("crash-1")] == [job["name"]]
    record = run_record("crash-1")
    assert record["state"] == "SUBMITTED" and [j["name"] for j in record["jobs"]] == [job["name"]]
    assert record["jobs"][0]["reattached"] is True and record["lease"] is None


@pytest.fixture
def live_submitter(stack, storage_client, firestore_client, write_jsonl):
    """Run busy-1 held by a submitter that is still alive (its lease runs ten more minutes)."""
    _crash(stack, storage_client, firestore_client, "busy-1",
           datetime.now(timezone.utc) + timedelta(minutes=10))
    return write_jsonl("sources/busy.jsonl", transcript_records(3))


def test_submit_while_another_call_holds_the_run_is_a_conflict(live_submitter, submit, vertex_jobs, run_record):
    status, answer = submit({"run_id": "busy-1", "batch_type": BATCH_TYPE, "source": {"uri": live_submitter},
                             "wait_seconds": 0.3})
    details = assert_error(status, answer, 409, "CONFLICT")
    assert details["reason"] == "submission_in_progress" and details["state"] == "PENDING_SUBMISSION"
    assert len(vertex_jobs("busy-1")) == 1
    assert run_record("busy-1")["lease"]["owner"] == "req_crashed"
