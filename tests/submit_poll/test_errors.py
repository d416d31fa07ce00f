"""Every error code of submit_batch and poll_status, in the seed-003 shape
{status: "error", error: {code, message, details}, request_id, timestamp}."""

from __future__ import annotations

import pytest

from tests.submit_poll.helpers import BATCH_TYPE, assert_error, transcript_records


def _body(stack, **fields) -> dict:
    body = {"run_id": "err-1", "batch_type": BATCH_TYPE,
            "source": {"uri": f"gs://{stack['INPUT_BUCKET']}/sources/errors.jsonl"}}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


# Two refusals over HTTP, for the envelope on the stack (status, body shape, nothing written); the
# whole table of bad bodies is unit-tested in test_submit_request.py.
# (name, changes to a valid body, the field the 400 names)
BAD_SUBMITS = [
    ("unknown field", {"forse": True}, "forse"),
    ("gs:// outside the configured buckets", {"source": {"uri": "gs://someone-elses-bucket/data.jsonl"}}, "source.uri"),
]


@pytest.mark.parametrize("changes, field", [c[1:] for c in BAD_SUBMITS], ids=[c[0] for c in BAD_SUBMITS])
def test_submit_refuses_a_bad_body_with_400(stack, submit, run_record, changes, field):
    details = assert_error(*submit(_body(stack, **changes)), 400, "VALIDATION_ERROR")
    assert details["field"] == field
    assert run_record("err-1") is None


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b'"text"'], ids=["not JSON", "an array", "a string"])
def test_submit_refuses_a_body_that_is_not_a_json_object(stack, http, data):
    status, answer = http.post(stack["SUBMIT_BATCH_URL"], data=data, headers={"Content-Type": "application/json"})
    assert assert_error(status, answer, 400, "VALIDATION_ERROR")["field"] == "body"


def test_submit_of_a_source_without_any_transcript_is_400(stack, write_jsonl, submit, run_record):
    uri = write_jsonl("sources/empty.jsonl", [{**transcript_records(1)[0], "transcript": ""}])
    details = assert_error(*submit(_body(stack, source={"uri": uri})), 400, "VALIDATION_ERROR")
    assert details["reason"] == "no_requests" and details["skipped_reasons"] == {"empty_transcript": 1}
    record = run_record("err-1")
    assert record["state"] == "PENDING_SUBMISSION" and record["lease"] is None  # a corrected source may follow


def test_submit_answers_405_to_get(stack, http):
    details = assert_error(*http.get(stack["SUBMIT_BATCH_URL"], params={"run_id": "x"}), 405, "METHOD_NOT_ALLOWED")
    assert details == {"allowed": ["POST"]}


BAD_POLLS = [
    ("run_id bad format", {"run_id": "a b"}, "run_id"),
    ("limit not a number", {"limit": "many"}, "limit"),
    ("limit too large", {"limit": "100000"}, "limit"),
    ("action unknown", {"run_id": "x", "action": "delete"}, "action"),
    ("unknown parameter", {"run": "x"}, "run"),
]


@pytest.mark.parametrize("params, field", [c[1:] for c in BAD_POLLS], ids=[c[0] for c in BAD_POLLS])
def test_poll_refuses_bad_parameters_with_400(stack, http, params, field):
    details = assert_error(*http.get(stack["POLL_STATUS_URL"], params=params), 400, "VALIDATION_ERROR")
    assert details["field"] == field


def test_poll_refuses_wrong_json_types_with_400(stack, http):
    details = assert_error(*http.post(stack["POLL_STATUS_URL"], {"run_id": ["x"]}), 400, "VALIDATION_ERROR")
    assert details["field"] == "run_id"
    status, answer = http.post(stack["POLL_STATUS_URL"], data=b"{", headers={"Content-Type": "application/json"})
    assert assert_error(status, answer, 400, "VALIDATION_ERROR")["field"] == "body"


def test_poll_of_an_unknown_run_is_404(poll):
    details = assert_error(*poll("no-such-run"), 404, "NOT_FOUND")
    assert details == {"run_id": "no-such-run", "batch_type": "pass1"}


def test_cancel_and_retry_of_an_unknown_run_are_404(poll, submit):
    assert_error(*poll(body={"run_id": "no-such-run", "action": "cancel"}), 404, "NOT_FOUND")
    assert_error(*submit({"run_id": "no-such-run", "batch_type": BATCH_TYPE, "mode": "retry_failed"}), 404, "NOT_FOUND")


@pytest.fixture
def vertex_down(vertex_emulator):
    """Every Vertex API call answers 503, for longer than any retry deadline."""
    vertex_emulator.configure(api_faults=[{"method": "*", "code": 503, "count": 100_000}])


def test_submit_during_a_vertex_outage_is_503_and_resumable(stack, write_jsonl, vertex_emulator, vertex_down, submit,
                                                            run_record, vertex_jobs):
    uri = write_jsonl("sources/outage.jsonl", transcript_records(2))
    body = {"run_id": "outage-1", "batch_type": BATCH_TYPE, "source": {"uri": uri}, "retry_deadline_seconds": 0.5}
    details = assert_error(*submit(body), 503, "UPSTREAM_UNAVAILABLE")
    assert details == {"type": "ServiceUnavailable", "service": "vertex"}
    record = run_record("outage-1")
    assert record["state"] == "PENDING_SUBMISSION" and record["lease"] is None
    assert record["last_submit_error"]["code"] == "UPSTREAM_UNAVAILABLE"
    vertex_emulator.configure(api_faults=[])
    assert vertex_jobs("outage-1") == []
    status, answer = submit(body)
    assert status == 200 and answer["status"] == "submitted", answer
    assert len(vertex_jobs("outage-1")) == 1


def test_submit_when_every_create_fails_names_what_was_tried(stack, write_jsonl, vertex_emulator, submit):
    vertex_emulator.configure(api_faults=[{"method": "create", "code": 503, "count": 100_000}])
    uri = write_jsonl("sources/outage.jsonl", transcript_records(2))
    details = assert_error(*submit({"run_id": "outage-2", "batch_type": BATCH_TYPE, "source": {"uri": uri},
                                    "retry_deadline_seconds": 0.5}), 503, "UPSTREAM_UNAVAILABLE")
    assert [(t["model"], t["error"]) for t in details["tried"]] == [
        ("gemini-2.5-flash", "ServiceUnavailable"), ("gemini-2.5-flash-lite", "ServiceUnavailable")]


@pytest.fixture
def submitted_run(write_jsonl, submit, run_record):
    """Run outage-3 submitted (not yet polled); returns its record."""
    uri = write_jsonl("sources/outage-3.jsonl", transcript_records(2))
    status, answer = submit({"run_id": "outage-3", "batch_type": BATCH_TYPE, "source": {"uri": uri}})
    assert status == 200, answer
    return run_record("outage-3")


def test_poll_during_a_vertex_outage_is_503_and_leaves_the_run(submitted_run, vertex_emulator, poll, run_record):
    vertex_emulator.configure(api_faults=[{"method": "get", "code": 503, "count": 100_000}])
    details = assert_error(*poll("outage-3", retry_deadline_seconds="0.5"), 503, "UPSTREAM_UNAVAILABLE")
    assert details["service"] == "vertex"
    assert run_record("outage-3") == submitted_run
    vertex_emulator.configure(api_faults=[])
    status, answer = poll("outage-3")
    assert status == 200 and answer["status"] in ("RUNNING", "PENDING_PROCESSING"), answer


def test_sweep_during_a_vertex_outage_is_503(submitted_run, vertex_emulator, poll, run_record):
    vertex_emulator.configure(api_faults=[{"method": "get", "code": 503, "count": 100_000}])
    details = assert_error(*poll(retry_deadline_seconds="0.5"), 503, "UPSTREAM_UNAVAILABLE")
    assert details["refreshed"] == 0
    assert run_record("outage-3") == submitted_run
