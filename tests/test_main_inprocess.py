"""Each function's main.py served in this process (functions_framework create_app().test_client()),
without the stack: the exact status and JSON body of the answers given at the door (wrong method,
a body that is not a JSON object, one too large, a field refused). The happy paths need the
emulators and are tested over HTTP on the stack (tests/submit_poll, tests/processor)."""

from __future__ import annotations

import pytest

# The Cloud Trace header gives the call its request_id, so that the whole body can be compared.
TRACE = {"X-Cloud-Trace-Context": "trace0001/1;o=1"}
NOT_JSON = ("request body is not valid JSON", {"position": 1, "field": "body"})
NOT_AN_OBJECT = ("request body must be a JSON object", {"field": "body"})
SUBMIT_FIELDS = ["batch_type", "force", "max_bytes_per_job", "max_requests_per_job", "max_requests_per_run",
                 "max_transcript_chars", "mode", "model", "output_prefix", "prompt_version", "retry_deadline_seconds",
                 "run_id", "source", "wait_seconds"]
POLL_FIELDS = ["action", "batch_type", "jobs", "limit", "retry_deadline_seconds", "run_id"]
GOOD_DIR = "gs://local-project-batch-output/runs/pass1/x/prediction-model-1"


def error_body(code: str, message: str, details: dict) -> dict:
    return {"status": "error", "error": {"code": code, "message": message, "details": details},
            "request_id": "trace0001"}


def answer(resp) -> tuple[int, dict]:
    """(status, JSON body without its two clock fields, which are checked for shape)."""
    assert resp.headers["Content-Type"].startswith("application/json"), resp.data[:300]
    body = resp.get_json()
    assert body.pop("timestamp").endswith("Z")
    assert isinstance(body.pop("processing_time_seconds"), (int, float))
    return resp.status_code, body


# (name, function, HTTP method, request keywords, status, code, message, details)
ANSWERS = [
    ("submit: GET", "submit_batch", "get", {}, 405, "METHOD_NOT_ALLOWED", "GET is not allowed; use POST",
     {"allowed": ["POST"]}),
    ("submit: not JSON", "submit_batch", "post", {"data": b"{not json"}, 400, "VALIDATION_ERROR", *NOT_JSON),
    ("submit: an array", "submit_batch", "post", {"data": b"[1, 2]"}, 400, "VALIDATION_ERROR", *NOT_AN_OBJECT),
    ("submit: a string", "submit_batch", "post", {"data": b'"text"'}, 400, "VALIDATION_ERROR", *NOT_AN_OBJECT),
    ("submit: unknown field", "submit_batch", "post", {"json": {"run_id": "r1", "forse": True}}, 400,
     "VALIDATION_ERROR", "unknown field(s): forse", {"field": "forse", "allowed": SUBMIT_FIELDS}),
    ("submit: bucket not configured", "submit_batch", "post",
     {"json": {"run_id": "r1", "source": {"uri": "gs://someone-elses-bucket/x"}}}, 400, "VALIDATION_ERROR",
     "'source.uri' is outside the configured buckets", {"field": "source.uri", "bucket": "someone-elses-bucket"}),
    ("submit: no run_id", "submit_batch", "post", {"json": {}}, 400, "VALIDATION_ERROR", "'run_id' is required",
     {"field": "run_id"}),
    ("poll: PUT", "poll_status", "put", {}, 405, "METHOD_NOT_ALLOWED", "PUT is not allowed; use GET or POST",
     {"allowed": ["GET", "POST"]}),
    ("poll: not JSON", "poll_status", "post", {"data": b"{"}, 400, "VALIDATION_ERROR", *NOT_JSON),
    ("poll: unknown parameter", "poll_status", "get", {"query_string": {"run": "x"}}, 400, "VALIDATION_ERROR",
     "unknown field(s): run", {"field": "run", "allowed": POLL_FIELDS}),
    ("poll: limit not a number", "poll_status", "get", {"query_string": {"limit": "many"}}, 400,
     "VALIDATION_ERROR", "'limit' must be a number", {"field": "limit"}),
    ("poll: run_id a list", "poll_status", "post", {"json": {"run_id": ["x"]}}, 400, "VALIDATION_ERROR",
     "'run_id' must be a string", {"field": "run_id"}),
    ("processor: GET", "pass1_batch_processor", "get", {}, 405, "METHOD_NOT_ALLOWED",
     "GET is not allowed; use POST", {"allowed": ["POST"]}),
    ("processor: not JSON", "pass1_batch_processor", "post", {"data": b"{not json"}, 400, "VALIDATION_ERROR",
     *NOT_JSON),
    ("processor: an array", "pass1_batch_processor", "post", {"data": b"[1, 2]"}, 400, "VALIDATION_ERROR",
     *NOT_AN_OBJECT),
    ("processor: no output_info, no run", "pass1_batch_processor", "post", {"json": {}}, 400, "VALIDATION_ERROR",
     "'output_info' is required when no run_id is given", {"field": "output_info"}),
    ("processor: output_info wrong type", "pass1_batch_processor", "post", {"json": {"output_info": 42}}, 400,
     "VALIDATION_ERROR", "'output_info' must be an object, a gs:// URI or a list of them", {"field": "output_info"}),
    ("processor: chunk_size zero", "pass1_batch_processor", "post",
     {"json": {"output_info": {"gcsOutputDirectory": GOOD_DIR}, "chunk_size": 0}}, 400, "VALIDATION_ERROR",
     "'chunk_size' must be at least 1", {"field": "chunk_size"}),
]


@pytest.mark.parametrize("function, method, request_kw, status, code, message, details", [a[1:] for a in ANSWERS],
                         ids=[a[0] for a in ANSWERS])
def test_the_answer_at_the_door(function_client, function, method, request_kw, status, code, message, details):
    resp = getattr(function_client(function), method)("/", headers=TRACE, **request_kw)
    assert answer(resp) == (status, error_body(code, message, details))


@pytest.mark.parametrize("function", ["submit_batch", "poll_status", "pass1_batch_processor"])
def test_a_body_over_the_limit_is_413(function_client, monkeypatch, function):
    monkeypatch.setenv("MAX_REQUEST_BYTES", "64")
    resp = function_client(function).post("/", headers=TRACE, json={"run_id": "r" * 100})
    assert answer(resp) == (413, error_body("PAYLOAD_TOO_LARGE", "request body is larger than 64 bytes",
                                            {"max_bytes": 64}))


def test_without_a_trace_header_the_request_id_is_made_up(function_client):
    body = function_client("submit_batch").get("/").get_json()
    assert body["request_id"].startswith("req_") and len(body["request_id"]) == 20
