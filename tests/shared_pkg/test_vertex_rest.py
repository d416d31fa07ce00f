"""shared.vertex over its REST client (shared.vertex_rest), against the Vertex AI emulator.

The dicts VertexJobs answers must be the ones it answered through google-cloud-aiplatform: every
job read here is also read with the real aiplatform client and converted the way shared.vertex used
to (proto_dict below), and both must be equal. Jobs run at pace 0; a test that needs a job to stay
active uses the emulator's stall_after_rows hook instead of timing.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import pytest
import requests
from google.api_core import exceptions as gexc

from shared import clients, errors
from shared.vertex import CANCELLED, FINAL_JOB_STATES, QUEUED, VertexJobs, job_to_dict, labels_filter, rfc3339_to_iso
from shared.vertex_rest import BatchJobsRest, regional_endpoint

MODEL = "gemini-2.5-flash"
ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
POLL_LIMIT_SECONDS = 60  # a safety net against a hung job, not a timing assertion
TIMEOUT = 10.0


class RecordingSession(requests.Session):
    """A real requests session that remembers what it sent (method, path, query, timeout)."""

    def __init__(self):
        super().__init__()
        self.sent: list[dict] = []

    def request(self, method, url, **kwargs):
        self.sent.append({"method": method, "url": url, "params": dict(kwargs.get("params") or {}),
                          "timeout": kwargs.get("timeout")})
        return super().request(method, url, **kwargs)


@pytest.fixture
def session():
    with RecordingSession() as recording:
        yield recording


@pytest.fixture
def rest(stack, session):
    return BatchJobsRest(stack["VERTEX_AI_ENDPOINT"], session)


@pytest.fixture
def vertex(stack, rest):
    return VertexJobs(stack["GOOGLE_CLOUD_PROJECT"], client_for=lambda location: rest, deadline=5.0)


@pytest.fixture
def make_job(stack, put, vertex):
    """make_job(run_id, rows=1) -> a new job's dict, created through VertexJobs."""

    def make(run_id: str, rows: int = 1) -> dict:
        lines = "".join(json.dumps({"key": f"k{i}", "request": {"contents": [
            {"role": "user", "parts": [{"text": f"Customer: refund for order {i}."}]}]}}) + "\n" for i in range(rows))
        uri = put(f"gs://{stack['INPUT_BUCKET']}/{run_id}/input.jsonl", lines.encode())
        return vertex.create(location=stack["VERTEX_AI_LOCATION"], model=MODEL, display_name=f"test-{run_id}",
                             input_uris=[uri], output_prefix=f"gs://{stack['OUTPUT_BUCKET']}/{run_id}/",
                             labels={"run_id": run_id, "batch_type": "pass1"})

    return make


def wait_final(vertex: VertexJobs, name: str) -> dict:
    deadline = time.monotonic() + POLL_LIMIT_SECONDS
    while time.monotonic() < deadline:
        job = vertex.get(name)
        if job["state"] in FINAL_JOB_STATES:
            return job
        time.sleep(0.02)
    raise AssertionError(f"{name} not final after {POLL_LIMIT_SECONDS}s")


def proto_dict(job) -> dict:
    """What shared.vertex.job_to_dict answered for an aiplatform_v1 BatchPredictionJob (proto-plus)."""
    pb = type(job).pb(job)

    def when(field):
        return getattr(pb, field).ToDatetime().isoformat(timespec="milliseconds") + "Z" if pb.HasField(field) else None

    stats = pb.completion_stats
    return {
        "name": pb.name, "display_name": pb.display_name, "state": job.state.name,
        "model": pb.model.rsplit("/", 1)[-1] if pb.model else None,
        "location": pb.name.split("/")[3] if pb.name else None, "labels": dict(pb.labels),
        "input_uris": list(pb.input_config.gcs_source.uris),
        "output_prefix": pb.output_config.gcs_destination.output_uri_prefix or None,
        "output_dir": pb.output_info.gcs_output_directory or None,
        "completion_stats": {"successful": stats.successful_count, "failed": stats.failed_count,
                             "incomplete": stats.incomplete_count},
        "error": ({"code": pb.error.code, "message": pb.error.message}
                  if pb.HasField("error") and pb.error.code else None),
        "create_time": when("create_time"), "start_time": when("start_time"), "end_time": when("end_time"),
        "update_time": when("update_time"),
    }


# ---- create / get ---------------------------------------------------------------------------


def test_create_answers_the_new_job(stack, make_job, session, job_client):
    job = make_job("create-1")
    location, project = stack["VERTEX_AI_LOCATION"], stack["GOOGLE_CLOUD_PROJECT"]
    assert re.fullmatch(rf"projects/{project}/locations/{location}/batchPredictionJobs/\d{{19}}", job["name"])
    assert ISO_MILLIS.match(job["create_time"]) and job["update_time"] == job["create_time"]
    assert job == {
        "name": job["name"], "display_name": "test-create-1", "state": QUEUED, "model": MODEL, "location": location,
        "labels": {"run_id": "create-1", "batch_type": "pass1"},
        "input_uris": [f"gs://{stack['INPUT_BUCKET']}/create-1/input.jsonl"],
        "output_prefix": f"gs://{stack['OUTPUT_BUCKET']}/create-1/", "output_dir": None,
        "completion_stats": {"successful": 0, "failed": 0, "incomplete": 0}, "error": None,
        "create_time": job["create_time"], "start_time": None, "end_time": None, "update_time": job["create_time"],
    }
    [sent] = session.sent
    assert sent["method"] == "POST" and sent["timeout"] == 30.0
    assert sent["url"] == _url(stack, f"projects/{project}/locations/{location}/batchPredictionJobs")
    # The real client reads back the same job the REST body described.
    real = job_client.get_batch_prediction_job(name=job["name"])
    assert real.model == f"publishers/google/models/{MODEL}" and real.display_name == "test-create-1"


def test_get_of_a_finished_job_matches_the_aiplatform_client(vertex, make_job, job_client, vertex_emulator):
    vertex_emulator.configure(row_error=0.5, seed=7)
    done = wait_final(vertex, make_job("get-1", rows=8)["name"])
    assert done["state"] in {"JOB_STATE_SUCCEEDED", "JOB_STATE_PARTIALLY_SUCCEEDED"}
    stats = done["completion_stats"]
    assert stats["successful"] + stats["failed"] == 8 and stats["failed"] > 0 and stats["incomplete"] == 0
    assert all(isinstance(count, int) for count in stats.values())
    assert done["output_dir"].startswith(done["output_prefix"] + "prediction-model-")
    assert all(ISO_MILLIS.match(done[f]) for f in ("create_time", "start_time", "end_time", "update_time"))
    assert done == proto_dict(job_client.get_batch_prediction_job(name=done["name"]))


def test_a_failed_job_carries_its_error(vertex, make_job, job_client, vertex_emulator):
    vertex_emulator.configure(job_failure_rules=[{"count": 1, "code": 503, "message": "backend went away"}])
    failed = wait_final(vertex, make_job("fail-1")["name"])
    assert failed["state"] == "JOB_STATE_FAILED"
    assert failed["error"] == {"code": 14, "message": "backend went away"}
    assert failed == proto_dict(job_client.get_batch_prediction_job(name=failed["name"]))


def test_get_of_a_missing_job_is_not_found(stack, vertex):
    name = (f"projects/{stack['GOOGLE_CLOUD_PROJECT']}/locations/{stack['VERTEX_AI_LOCATION']}"
            "/batchPredictionJobs/1234567890123456789")
    with pytest.raises(gexc.NotFound) as caught:
        vertex.get(name)
    assert caught.value.code == 404
    assert caught.value.message == f"GET {_url(stack, name)}: The BatchPredictionJob does not exist: {name}"
    mapped = errors.to_pipeline_error(caught.value)
    assert (type(mapped), mapped.http_status) == (errors.NotFound, 404)


def _url(stack, name):
    return f"{stack['VERTEX_AI_ENDPOINT']}/v1/{name}"


# ---- list -------------------------------------------------------------------------------------


def test_list_follows_every_page(stack, rest, vertex, make_job, session, job_client):
    made = [make_job("page-1")["name"] for _ in range(3)]
    make_job("page-2")  # another run: filtered out
    parent = vertex.parent(stack["VERTEX_AI_LOCATION"])
    session.sent.clear()
    listed = rest.list(parent, filter=labels_filter({"run_id": "page-1"}), page_size=1, timeout=TIMEOUT)
    assert sorted(job["name"] for job in listed) == sorted(made)
    assert [sent["params"].get("pageToken") is not None for sent in session.sent] == [False, True, True]
    assert {sent["params"]["pageSize"] for sent in session.sent} == {1}
    newest_first = vertex.list_by_labels(stack["VERTEX_AI_LOCATION"], {"run_id": "page-1"})
    assert sorted(job["name"] for job in newest_first) == sorted(made)
    times = [job["create_time"] for job in newest_first]
    assert times == sorted(times, reverse=True)
    assert newest_first == sorted((proto_dict(job_client.get_batch_prediction_job(name=job["name"]))
                                   for job in newest_first), key=lambda job: job["create_time"], reverse=True)


def test_list_with_no_match_is_empty(stack, vertex):
    assert vertex.list_by_labels(stack["VERTEX_AI_LOCATION"], {"run_id": "nobody"}) == []


# ---- cancel -----------------------------------------------------------------------------------


def test_cancel_of_an_active_job_then_of_a_final_one(stack, rest, vertex, make_job, vertex_emulator):
    vertex_emulator.configure(stall_after_rows=1)  # the job waits for the cancel after one row
    job = make_job("cancel-1", rows=3)
    assert vertex.cancel(job["name"]) is None
    cancelled = wait_final(vertex, job["name"])
    assert cancelled["state"] == CANCELLED
    # Cancelling again: Vertex says FAILED_PRECONDITION; VertexJobs leaves the job as it is.
    with pytest.raises(gexc.FailedPrecondition) as caught:
        rest.cancel(job["name"], timeout=TIMEOUT)
    assert isinstance(caught.value, gexc.BadRequest) and caught.value.code == 400
    assert "already in state JOB_STATE_CANCELLED" in caught.value.message
    assert vertex.cancel(job["name"]) is None
    assert vertex.get(job["name"])["state"] == CANCELLED


def test_a_plain_bad_request_stays_bad_request(stack, rest, vertex):
    parent = vertex.parent(stack["VERTEX_AI_LOCATION"])
    with pytest.raises(gexc.BadRequest) as caught:
        rest.list(parent, filter="nonsense ~ 1", page_size=10, timeout=TIMEOUT)
    assert type(caught.value) is gexc.BadRequest and "Unsupported filter" in caught.value.message
    assert errors.is_transient(caught.value) is False


# ---- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("code, error_type", [(429, gexc.TooManyRequests), (503, gexc.ServiceUnavailable)])
def test_quota_and_outage_answers_are_transient_and_retried(stack, rest, vertex, make_job, vertex_emulator,
                                                            code, error_type):
    job = make_job("fault-1")
    vertex_emulator.configure(api_faults=[{"method": "get", "code": code, "count": 2}])
    with pytest.raises(error_type) as caught:
        rest.get(job["name"], timeout=TIMEOUT)
    assert type(caught.value) is error_type and caught.value.code == code
    assert errors.is_transient(caught.value) is True
    assert vertex.get(job["name"])["name"] == job["name"]  # the second fault is retried away
    assert vertex_emulator.config()["api_faults"][0]["count"] == 0


def test_a_fault_that_lasts_ends_in_upstream_unavailable(stack, make_job, rest, vertex_emulator):
    job = make_job("fault-2")
    vertex_emulator.configure(api_faults=[{"method": "get", "code": 429, "rate": 1.0}])
    impatient = VertexJobs(stack["GOOGLE_CLOUD_PROJECT"], client_for=lambda location: rest, deadline=0.3)
    with pytest.raises(errors.UpstreamUnavailable) as caught:
        impatient.get(job["name"])
    assert caught.value.details == {"type": "TooManyRequests", "service": "vertex"}


def test_create_429_reaches_a_caller_that_does_not_retry(stack, vertex, vertex_emulator):
    """submit_batch's circuit breaker narrows the retry predicate and fails over on the 429 itself."""
    from google.api_core.retry import Retry

    vertex_emulator.configure(api_faults=[{"method": "create", "code": 429, "count": 1}])
    with pytest.raises(gexc.TooManyRequests) as caught:
        vertex.create(location=stack["VERTEX_AI_LOCATION"], model=MODEL, display_name="x", input_uris=["gs://b/o"],
                      output_prefix="gs://b/p/", labels={"run_id": "x"}, retry=Retry(predicate=lambda exc: False))
    assert caught.value.code == 429 and errors.is_transient(caught.value) is True


def test_connection_refused_and_read_timeout_are_transient():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(requests.ConnectionError) as refused:
        BatchJobsRest(f"http://127.0.0.1:{closed_port}", requests.Session()).get(
            "projects/p/locations/l/batchPredictionJobs/1", timeout=TIMEOUT)
    assert errors.is_transient(refused.value) is True
    with _silent_server() as port, pytest.raises(requests.Timeout) as timed_out:
        BatchJobsRest(f"http://127.0.0.1:{port}", requests.Session()).get(
            "projects/p/locations/l/batchPredictionJobs/1", timeout=0.2)
    assert errors.is_transient(timed_out.value) is True


class _silent_server:
    """A listening socket that accepts connections and never answers."""

    def __enter__(self) -> int:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(4)
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self._sock.getsockname()[1]

    def _accept(self):
        try:
            while True:
                self._held.append(self._sock.accept()[0])
        except OSError:
            return

    def __exit__(self, *exc):
        self._sock.close()
        for conn in self._held:
            conn.close()


# ---- JSON -> dict -----------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("2026-01-02T03:04:05Z", "2026-01-02T03:04:05.000Z"),
    ("2026-01-02T03:04:05.1Z", "2026-01-02T03:04:05.100Z"),
    ("2026-01-02T03:04:05.123Z", "2026-01-02T03:04:05.123Z"),
    ("2026-01-02T03:04:05.123456Z", "2026-01-02T03:04:05.123Z"),
    ("2026-01-02T03:04:05.999999999Z", "2026-01-02T03:04:05.999Z"),
    ("2026-01-02T01:04:05.5+02:00", "2026-01-01T23:04:05.500Z"),
    ("2026-01-02t03:04:05.25z", "2026-01-02T03:04:05.250Z"),
    (None, None),
    ("", None),
])
def test_timestamps_become_iso_milliseconds_utc(text, expected):
    assert rfc3339_to_iso(text) == expected


@pytest.mark.parametrize("text", ["2026-01-02 03:04:05Z", "2026-01-02T03:04:05.1234567890Z", "yesterday",
                                  "2026-01-02T03:04:05"])
def test_a_malformed_timestamp_is_refused(text):
    with pytest.raises(ValueError, match="not an RFC 3339 timestamp"):
        rfc3339_to_iso(text)


def test_job_to_dict_fills_what_proto_json_leaves_out():
    assert job_to_dict({}) == {
        "name": "", "display_name": "", "state": "JOB_STATE_UNSPECIFIED", "model": None, "location": None,
        "labels": {}, "input_uris": [], "output_prefix": None, "output_dir": None,
        "completion_stats": {"successful": 0, "failed": 0, "incomplete": 0}, "error": None,
        "create_time": None, "start_time": None, "end_time": None, "update_time": None,
    }


def test_job_to_dict_reads_int64_strings_and_the_error():
    job = job_to_dict({"name": "projects/p/locations/europe-west4/batchPredictionJobs/9",
                       "model": "publishers/google/models/gemini-2.5-pro", "state": "JOB_STATE_FAILED",
                       "completionStats": {"successfulCount": "9007199254740993", "failedCount": "2"},
                       "error": {"code": 13, "message": "internal"}, "endTime": "2026-05-06T07:08:09.123456789Z"})
    assert job["completion_stats"] == {"successful": 9007199254740993, "failed": 2, "incomplete": 0}
    assert job["error"] == {"code": 13, "message": "internal"}
    assert (job["model"], job["location"], job["end_time"]) == ("gemini-2.5-pro", "europe-west4",
                                                                "2026-05-06T07:08:09.123Z")
    assert job_to_dict({"error": {"code": 0, "message": ""}})["error"] is None


# ---- endpoints and sessions -------------------------------------------------------------------


@pytest.fixture
def fresh_clients():
    clients.vertex_jobs_client.cache_clear()
    clients._vertex_session.cache_clear()
    yield clients
    clients.vertex_jobs_client.cache_clear()
    clients._vertex_session.cache_clear()


def test_the_emulator_gets_a_plain_session(monkeypatch, fresh_clients):
    monkeypatch.setenv("VERTEX_AI_ENDPOINT", "http://127.0.0.1:9/")
    client = fresh_clients.vertex_jobs_client("us-central1")
    assert client.endpoint == "http://127.0.0.1:9"
    assert type(client._session) is requests.Session


def test_google_gets_the_regional_endpoint_and_default_credentials(monkeypatch, tmp_path, fresh_clients):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.auth.transport.requests import AuthorizedSession

    # A service account key file, as on a developer's machine: google.auth.default() reads it
    # without any network call, and such credentials take the scope they are given.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    creds = tmp_path / "sa.json"
    creds.write_text(json.dumps({"type": "service_account", "project_id": "p", "private_key_id": "k1",
                                 "private_key": key, "client_email": "sa@p.iam.gserviceaccount.com",
                                 "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token"}))
    monkeypatch.delenv("VERTEX_AI_ENDPOINT", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(creds))
    client = fresh_clients.vertex_jobs_client("europe-west4")
    assert client.endpoint == regional_endpoint("europe-west4") == "https://europe-west4-aiplatform.googleapis.com"
    assert isinstance(client._session, AuthorizedSession)
    assert client._session.credentials.scopes == ["https://www.googleapis.com/auth/cloud-platform"]
    assert fresh_clients.vertex_jobs_client("us-central1")._session is client._session


def test_a_vertex_call_imports_no_aiplatform(stack):
    """The point of the REST client: a function's first Vertex call leaves google-cloud-aiplatform
    (about 1 s of cold start) unimported."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    script = textwrap.dedent("""
        import os, sys
        from shared.vertex import VertexJobs
        VertexJobs(os.environ["GOOGLE_CLOUD_PROJECT"]).list_by_labels(os.environ["VERTEX_AI_LOCATION"], {"run_id": "x"})
        print(sorted(m for m in sys.modules if "aiplatform" in m))
    """)
    repo = Path(__file__).resolve().parents[2]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo), **stack}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "[]"
