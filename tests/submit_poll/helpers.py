"""Plain helpers of the submit_batch / poll_status tests (no fixtures)."""

from __future__ import annotations

from datetime import date

import orjson

BATCH_TYPE = "pass1"
# An emulator job with pace 0 ends in milliseconds; a run with several jobs in well under a second.
POLL_INTERVAL_SECONDS = 0.05
WAIT_DONE_SECONDS = 30.0


def transcript_records(n: int, start: int = 0, call_date: date | None = None) -> list[dict]:
    """n distinct transcript records (phone_number_token, interaction_id, transcript[, call_date])."""
    rows = []
    for i in range(start, start + n):
        row = {"phone_number_token": f"tok_{i:06d}", "interaction_id": f"INT-20240101-{i:06d}",
               "transcript": f"Agent: Thank you for calling, how can I help?\n"
                             f"Customer: My bill {i} is higher than last month, please check it."}
        if call_date is not None:
            row["call_date"] = call_date.isoformat()
        rows.append(row)
    return rows


def read_jsonl(storage_client, uri: str) -> list[dict]:
    bucket, name = uri[len("gs://"):].split("/", 1)
    data = storage_client.bucket(bucket).blob(name).download_as_bytes()
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


def assert_error(status: int, answer: dict, http_status: int, code: str) -> dict:
    """The seed-003 error shape with this status and code; returns error.details."""
    assert status == http_status, answer
    assert set(answer) >= {"status", "error", "request_id", "timestamp"}, answer
    assert answer["status"] == "error"
    assert set(answer["error"]) == {"code", "message", "details"}
    assert answer["error"]["code"] == code
    assert isinstance(answer["error"]["message"], str) and answer["error"]["message"]
    assert isinstance(answer["error"]["details"], dict)
    assert answer["request_id"] and answer["timestamp"].endswith("Z")
    return answer["error"]["details"]
