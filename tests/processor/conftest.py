"""Fixtures of the processor tests: synthetic prediction files in the Storage emulator, lookup rows,
run documents, Vertex emulator jobs, and restarts of the processor with a test environment."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The processor's package, for the pure unit tests (deployed, it sits beside main.py).
sys.path.insert(0, str(REPO / "functions" / "pass1_batch_processor"))

MODEL = "publishers/google/models/gemini-2.5-flash"
# Polling a Vertex emulator job: it runs in milliseconds with pace 0.
JOB_POLL_SECONDS = 0.1
JOB_WAIT_SECONDS = 60.0


@pytest.fixture
def proc(stack, http):
    """proc(body) -> (status, answer) from the processor under test."""
    url = stack["PASS1_BATCH_PROCESSOR_URL"]
    return lambda body, **kw: http.post(url, body, **kw)


@pytest.fixture
def uid() -> str:
    """A run id unique to the test (job ids and scopes never collide across tests)."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def out_dir(layout, uid) -> str:
    """A fresh output directory, laid out as a Vertex job's."""
    return f"gs://{layout.output_bucket}/runs/pass1/{uid}/attempt-1/shard-00000/prediction-model-2025-01-01T00:00:00Z"


@pytest.fixture
def list_objects(storage_client):
    def names(uri_prefix: str) -> list[str]:
        bucket, _, prefix = uri_prefix[5:].partition("/")
        return sorted(f"gs://{bucket}/{b.name}" for b in storage_client.list_blobs(bucket, prefix=prefix))

    return names


@pytest.fixture
def seed_lookup(bigquery_client, layout):
    """seed_lookup(rows): add rows to the lookup table (a load job: visible at once)."""
    from google.cloud import bigquery

    def load(rows: list[dict]) -> None:
        table = f"{layout.project}.{layout.dataset}.{layout.lookup_table}"
        config = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON", write_disposition="WRITE_APPEND")
        bigquery_client.load_table_from_json(rows, table, job_config=config).result()

    return load


@pytest.fixture
def make_run(firestore_client, stack):
    """make_run(run_id, dirs, state=..., jobs=...): a run document as poll_status leaves it."""
    from shared.jobstate import JobState, JobStore

    store = JobStore(firestore_client, collection=stack["JOBS_COLLECTION"])

    def create(run_id: str, dirs: list[str], state: str = JobState.PENDING_PROCESSING, jobs=None) -> dict:
        store.create_or_get(run_id, "pass1")
        store.ref(run_id, "pass1").update({
            "state": state, "output_dirs": dirs,
            "jobs": jobs if jobs is not None else [{"name": f"projects/p/locations/l/batchPredictionJobs/{i}",
                                                   "output_dir": d, "attempt": 1} for i, d in enumerate(dirs)],
        })
        return store.get(run_id, "pass1")

    create.store = store
    return create


@pytest.fixture
def vertex_job(job_client, vertex_emulator, put, storage_client, layout, uid):
    """vertex_job(inputs, **emulator_settings) -> (output_dir, job_name): run a batch job on the
    Vertex emulator over input lines ({"key", "request"}) and wait until it is final.

    key_index=True writes the input as submit_batch does: each request labelled with its row id and
    the key index beside the shard (key_metadata: its custom metadata, the call dates submit puts
    there). subdir puts the output one folder deeper (two jobs of one shard)."""
    from google.cloud.aiplatform_v1 import types

    def run(inputs: list[dict], key_index: bool = False, subdir: str = "", key_metadata: dict | None = None,
            **settings) -> tuple[str, str]:
        from tests.processor.lines import jsonl, key_index_of, with_row_ids

        vertex_emulator.configure(**settings)
        input_uri = f"gs://{layout.input_bucket}/runs/pass1/{uid}/attempt-1/input-00000.jsonl"
        if key_index:
            inputs = with_row_ids(inputs, attempt=1, shard=0)
            index_uri = put(input_uri.removesuffix(".jsonl") + ".keys.jsonl", jsonl(key_index_of(inputs)))
            if key_metadata:
                blob = storage_client.bucket(layout.input_bucket).blob(index_uri[5:].partition("/")[2])
                blob.metadata = key_metadata
                blob.patch()
        put(input_uri, jsonl(inputs))
        prefix = f"gs://{layout.output_bucket}/runs/pass1/{uid}/attempt-1/shard-00000/" + (f"{subdir}/" if subdir else "")
        parent = f"projects/{layout.project}/locations/{layout.location}"
        job = job_client.create_batch_prediction_job(parent=parent, batch_prediction_job=types.BatchPredictionJob(
            display_name=uid, model=MODEL,
            input_config={"instances_format": "jsonl", "gcs_source": {"uris": [input_uri]}},
            output_config={"predictions_format": "jsonl", "gcs_destination": {"output_uri_prefix": prefix}}))
        deadline = time.monotonic() + JOB_WAIT_SECONDS
        while job.state.name not in ("JOB_STATE_SUCCEEDED", "JOB_STATE_PARTIALLY_SUCCEEDED", "JOB_STATE_FAILED"):
            assert time.monotonic() < deadline, f"emulator job stuck in {job.state.name}"
            time.sleep(JOB_POLL_SECONDS)
            job = job_client.get_batch_prediction_job(name=job.name)
        return job.output_info.gcs_output_directory, job.name

    return run


@pytest.fixture
def restart_processor(stack_manager):
    """restart_processor(**env): run the processor with extra environment for this test; the
    normal processor is back afterwards."""
    changed = []

    def restart(**env: str) -> None:
        saved = {k: os.environ.get(k) for k in env}
        changed.append(saved)
        os.environ.update({k: str(v) for k, v in env.items()})
        try:
            stack_manager.stop("pass1_batch_processor")
            stack_manager.start("pass1_batch_processor")
        finally:
            _restore(saved)

    yield restart
    if changed:
        stack_manager.stop("pass1_batch_processor")
        stack_manager.start("pass1_batch_processor")


def _restore(saved: dict) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextlib.contextmanager
def service_stopped(stack_manager, name: str):
    """Stop a stack service for the block; always started again."""
    stack_manager.stop(name)
    try:
        yield
    finally:
        stack_manager.start(name)


@pytest.fixture
def stopped(stack_manager):
    return lambda name: service_stopped(stack_manager, name)
