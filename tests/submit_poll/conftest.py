"""Fixtures of the submit_batch / poll_status tests: transcripts in a gs:// JSONL or in the BigQuery
transcripts table, calls to the two functions served by the stack, and views of what landed on the
Vertex AI emulator, in Storage and in Firestore."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parents[2]
# The functions' packages, for the few pure tests (deployed, each sits beside its main.py).
for _function in ("submit_batch", "poll_status"):
    sys.path.insert(0, str(REPO / "functions" / _function))

from tests.submit_poll.helpers import BATCH_TYPE, POLL_INTERVAL_SECONDS, WAIT_DONE_SECONDS


@pytest.fixture
def write_jsonl(stack, storage_client):
    """write_jsonl(name, rows, bucket=INPUT_BUCKET) -> gs:// URI of a JSONL object with the rows
    (a row that is bytes is written as it is: an invalid line)."""

    def write(name: str, rows: list, bucket: str | None = None) -> str:
        bucket = bucket or stack["INPUT_BUCKET"]
        lines = [row if isinstance(row, bytes) else orjson.dumps(row) for row in rows]
        storage_client.bucket(bucket).blob(name).upload_from_string(b"\n".join(lines) + b"\n")
        return f"gs://{bucket}/{name}"

    return write


@pytest.fixture
def load_transcripts(stack, bigquery_client):
    """load_transcripts(rows) appends rows to the stack's transcripts table (a load job, as the
    sample data tool does)."""
    from tools.sample_data.writers import BigQueryLoader, load_schema

    table = f"{stack['GOOGLE_CLOUD_PROJECT']}.{stack['BQ_DATASET']}.{stack['TRANSCRIPTS_TABLE']}"

    def load(rows: list[dict]) -> None:
        loader = BigQueryLoader(table, load_schema("transcripts"), bigquery_client)
        for row in rows:
            loader.write({"language": "en", **row})
        loader.close()

    return load


@pytest.fixture
def submit(stack, http):
    """submit(body) -> (status, answer) from submit_batch."""
    return lambda body, **kw: http.post(stack["SUBMIT_BATCH_URL"], body, **kw)


@pytest.fixture
def poll(stack, http):
    """poll(run_id) GETs poll_status with query parameters; poll(body=...) POSTs JSON."""

    def call(run_id: str | None = None, *, body: dict | None = None, **params):
        if body is not None:
            return http.post(stack["POLL_STATUS_URL"], body)
        query = {"batch_type": BATCH_TYPE, **params}
        if run_id is not None:
            query["run_id"] = run_id
        return http.get(stack["POLL_STATUS_URL"], params=query)

    return call


@pytest.fixture
def wait_done(poll):
    """wait_done(run_id) polls until `done`; returns every answer seen, in order."""

    def wait(run_id: str) -> list[dict]:
        seen, deadline = [], time.monotonic() + WAIT_DONE_SECONDS
        while time.monotonic() < deadline:
            status, answer = poll(run_id)
            assert status == 200, answer
            seen.append(answer)
            if answer["done"]:
                return seen
            time.sleep(POLL_INTERVAL_SECONDS)
        raise AssertionError(f"run {run_id} not done after {WAIT_DONE_SECONDS}s: {seen[-1]}")

    return wait


@pytest.fixture
def vertex_jobs(stack, job_client):
    """vertex_jobs(run_id) -> every emulator job labelled with the run, as shared.vertex dicts. Listed
    with the real aiplatform client, whose proto JSON is what the REST API sends."""
    import json

    from shared.vertex import job_to_dict, labels_filter, run_labels

    def as_dict(job) -> dict:
        return job_to_dict(json.loads(type(job).to_json(job, use_integers_for_enums=False)))

    parent = f"projects/{stack['GOOGLE_CLOUD_PROJECT']}/locations/{stack['VERTEX_AI_LOCATION']}"

    def jobs(run_id: str, location: str | None = None) -> list[dict]:
        where = parent if location is None else parent.rsplit("/", 1)[0] + f"/{location}"
        listed = job_client.list_batch_prediction_jobs(
            request={"parent": where, "filter": labels_filter(run_labels(run_id, BATCH_TYPE))})
        return sorted((as_dict(job) for job in listed), key=lambda job: job["name"])

    return jobs


@pytest.fixture
def run_record(stack, firestore_client):
    """run_record(run_id) -> the run's Firestore document (None when there is none)."""
    from shared.jobstate import document_id

    def record(run_id: str) -> dict | None:
        snap = firestore_client.collection(stack["JOBS_COLLECTION"]).document(document_id(run_id, BATCH_TYPE)).get()
        return snap.to_dict() if snap.exists else None

    return record
