"""mode "retry_failed": the rows the processor set aside under <gcsOutputDirectory>/retry/ (their keys)
and the input of a job that failed as a whole are submitted as the run's next attempt, up to the
configured maximum (3 attempts). The requests are copied from the attempt's own input shards."""

from __future__ import annotations

import pytest

from tests.submit_poll.helpers import BATCH_TYPE, assert_error, read_jsonl, transcript_records

RETRY = {"run_id": "retry-1", "batch_type": BATCH_TYPE, "mode": "retry_failed"}


def _set_aside(storage_client, entry: dict, lines: list[dict]) -> str:
    """Write what the processor sets aside: the keys of the lines, under <dir>/retry/."""
    import orjson

    bucket, prefix = entry["gcsOutputDirectory"][len("gs://"):].split("/", 1)
    name = f"{prefix}/retry/keys-00000.jsonl"
    data = b"".join(orjson.dumps({"key": line["key"]}) + b"\n" for line in lines)
    storage_client.bucket(bucket).blob(name).upload_from_string(data)
    return f"gs://{bucket}/{name}"


@pytest.fixture
def processed_run(write_jsonl, submit, wait_done, storage_client):
    """Run retry-1 (3 requests) polled to PENDING_PROCESSING; returns (its input lines, last poll)."""
    uri = write_jsonl("sources/retry.jsonl", transcript_records(3))
    status, answer = submit({"run_id": "retry-1", "batch_type": BATCH_TYPE, "source": {"uri": uri}})
    assert status == 200, answer
    last = wait_done("retry-1")[-1]
    assert last["status"] == "PENDING_PROCESSING"
    return read_jsonl(storage_client, answer["jobs"][0]["input_uri"]), last


def _resent(lines: list[dict], attempt: int) -> list[dict]:
    """The input lines as attempt `attempt` sends them again: the same keys and requests, each with
    the row id of its new place (one shard)."""
    return [{"key": line["key"], "request": {**line["request"], "labels": {"row_id": f"a{attempt}-s00000-r{n:06d}"}}}
            for n, line in enumerate(lines, 1)]


def _latest_entry(poll_answer: dict) -> dict:
    return max(poll_answer["output_info"], key=lambda e: e["attempt"])


def test_set_aside_requests_are_submitted_as_attempt_two(stack, processed_run, storage_client, submit, vertex_jobs,
                                                         run_record, wait_done):
    lines, last = processed_run
    _set_aside(storage_client, _latest_entry(last), lines[:2])
    status, answer = submit(RETRY)
    assert status == 200, answer
    assert (answer["status"], answer["attempt"], answer["requests"]) == ("submitted", 2, 2)
    [job] = answer["jobs"]
    assert job["input_uri"] == f"gs://{stack['INPUT_BUCKET']}/runs/pass1/retry-1/attempt-2/input-00000.jsonl"
    assert read_jsonl(storage_client, job["input_uri"]) == _resent(lines[:2], 2)
    assert sorted(j["labels"]["attempt"] for j in vertex_jobs("retry-1")) == ["1", "2"]
    record = run_record("retry-1")
    assert (record["state"], record["mode"], record["retry_of_attempt"]) == ("SUBMITTED", "retry_failed", 1)
    final = wait_done("retry-1")[-1]
    assert (final["status"], final["attempt"]) == ("PENDING_PROCESSING", 2)
    assert sorted(e["attempt"] for e in final["output_info"]) == [1, 2]
    assert final["completion_stats"]["successful"] == 2  # the current attempt's jobs


def test_the_retry_batch_resends_the_original_requests_not_their_echo(
        stack, http, vertex_emulator, write_jsonl, submit, wait_done, storage_client, rows, layout):
    """End to end: the processor sets aside the keys of the rows Vertex failed, and retry_failed
    copies those requests from the attempt's input shard. Vertex AI (and the emulator) echo each
    request rewritten (nulls added, keys sorted): resending the echo would send another request."""
    vertex_emulator.configure(seed=3, row_error=0.5)
    uri = write_jsonl("sources/echo.jsonl", transcript_records(10))
    status, first = submit({"run_id": "echo-1", "batch_type": BATCH_TYPE, "source": {"uri": uri}})
    assert status == 200, first
    assert wait_done("echo-1")[-1]["status"] == "PENDING_PROCESSING"
    status, processed = http.post(stack["PASS1_BATCH_PROCESSOR_URL"], {"run_id": "echo-1", "batch_type": BATCH_TYPE})
    assert status == 200 and processed["status"] == "success", processed
    failed = sorted(d["composite_key"] for d in rows(layout.dead_letter_table) if d["reason"] == "model_error")
    assert 0 < len(failed) == processed["retry_requests"] < 10
    sent = {line["key"]: line for line in read_jsonl(storage_client, first["jobs"][0]["input_uri"])}

    status, answer = submit({**RETRY, "run_id": "echo-1"})
    assert status == 200 and (answer["attempt"], answer["requests"]) == (2, len(failed)), answer
    resent = read_jsonl(storage_client, answer["jobs"][0]["input_uri"])
    assert sorted(line["key"] for line in resent) == failed
    assert resent == _resent([sent[line["key"]] for line in resent], 2)


def test_only_rows_vertex_failed_are_retried_not_blocked_or_filtered_ones(
        stack, http, vertex_emulator, write_jsonl, submit, wait_done, storage_client, rows, layout):
    """An error status is retried; a blocked prompt or a filtered answer would be stopped again: it
    stays a dead letter with its reason, and the retry batch does not send it."""
    vertex_emulator.configure(seed=4, row_error=0.3, blocked=0.25, safety=0.25)
    uri = write_jsonl("sources/filtered.jsonl", transcript_records(16))
    assert submit({"run_id": "filtered-1", "batch_type": BATCH_TYPE, "source": {"uri": uri}})[0] == 200
    assert wait_done("filtered-1")[-1]["status"] == "PENDING_PROCESSING"
    status, processed = http.post(stack["PASS1_BATCH_PROCESSOR_URL"], {"run_id": "filtered-1", "batch_type": BATCH_TYPE})
    assert status == 200 and processed["status"] == "success", processed
    by_reason: dict[str, list[str]] = {}
    for dead in rows(layout.dead_letter_table):
        by_reason.setdefault(dead["reason"], []).append(dead["composite_key"])
    assert all(by_reason.get(r) for r in ("model_error", "prompt_blocked", "finish_safety")), by_reason

    status, answer = submit({**RETRY, "run_id": "filtered-1"})
    assert status == 200 and answer["requests"] == len(by_reason["model_error"]) == processed["retry_requests"]
    resent = {line["key"] for line in read_jsonl(storage_client, answer["jobs"][0]["input_uri"])}
    assert resent == set(by_reason["model_error"])


def test_a_set_aside_key_the_input_does_not_hold_is_counted_not_sent(stack, processed_run, storage_client, submit):
    from shared.keys import encode_key

    lines, last = processed_run
    _set_aside(storage_client, _latest_entry(last), [lines[1], {"key": encode_key("tok_elsewhere", "INT-0")}])
    status, answer = submit(RETRY)
    assert status == 200 and (answer["requests"], answer["skipped_reasons"]) == (1, {"retry_key_not_in_input": 1})
    assert read_jsonl(storage_client, answer["jobs"][0]["input_uri"]) == _resent(lines[1:2], 2)


def test_retry_while_the_attempt_is_in_flight_is_skipped(processed_run, storage_client, submit, vertex_jobs):
    lines, last = processed_run
    _set_aside(storage_client, _latest_entry(last), lines[:1])
    first = submit(RETRY)[1]
    status, again = submit(RETRY)
    assert status == 200 and again["status"] == "skipped" and again["attempt"] == 2
    assert [j["name"] for j in again["jobs"]] == [j["name"] for j in first["jobs"]]
    assert len(vertex_jobs("retry-1")) == 2


def test_nothing_set_aside_answers_zero_requests(processed_run, submit, vertex_jobs, run_record):
    status, answer = submit(RETRY)
    assert status == 200, answer
    assert (answer["status"], answer["requests"], answer["attempt"]) == ("nothing_to_retry", 0, 1)
    assert len(vertex_jobs("retry-1")) == 1
    assert run_record("retry-1")["state"] == "PENDING_PROCESSING"


def test_beyond_the_maximum_attempts_is_a_conflict(processed_run, storage_client, submit, wait_done, vertex_jobs):
    lines, last = processed_run
    for attempt in (2, 3):
        _set_aside(storage_client, _latest_entry(last), lines[:1])
        status, answer = submit(RETRY)
        assert status == 200 and answer["attempt"] == attempt, answer
        last = wait_done("retry-1")[-1]
    _set_aside(storage_client, _latest_entry(last), lines[:1])
    details = assert_error(*submit(RETRY), 409, "CONFLICT")
    assert (details["reason"], details["attempt"], details["max_attempts"]) == ("max_attempts_reached", 3, 3)
    assert len(vertex_jobs("retry-1")) == 3


def test_a_job_failed_as_a_whole_is_resubmitted(vertex_emulator, write_jsonl, submit, wait_done, storage_client):
    vertex_emulator.configure(job_failure_rules=[{"count": 1, "code": 500}])
    uri = write_jsonl("sources/retry-2.jsonl", transcript_records(2))
    first = submit({"run_id": "retry-2", "batch_type": BATCH_TYPE, "source": {"uri": uri},
                    "max_requests_per_job": 1})[1]
    assert wait_done("retry-2")[-1]["status"] == "PENDING_PROCESSING"
    status, answer = submit({**RETRY, "run_id": "retry-2"})
    assert status == 200 and (answer["attempt"], answer["requests"]) == (2, 1), answer
    failed_input = first["jobs"][0]["input_uri"]  # the first job created is the one that failed
    assert read_jsonl(storage_client, answer["jobs"][0]["input_uri"]) == _resent(read_jsonl(storage_client, failed_input), 2)


def test_retry_of_a_failed_run_is_refused(vertex_emulator, write_jsonl, submit, wait_done):
    vertex_emulator.configure(job_failure_rules=[{"count": 1, "code": 500}])
    uri = write_jsonl("sources/retry-3.jsonl", transcript_records(1))
    submit({"run_id": "retry-3", "batch_type": BATCH_TYPE, "source": {"uri": uri}})
    assert wait_done("retry-3")[-1]["status"] == "FAILED"
    details = assert_error(*submit({**RETRY, "run_id": "retry-3"}), 409, "CONFLICT")
    assert details == {"reason": "not_retryable", "state": "FAILED"}
