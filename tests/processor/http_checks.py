"""Helpers of the processor's HTTP tests: inputs for the Vertex emulator, the answers' invariant,
what landed in BigQuery, and driving a unit through its resume calls."""

from __future__ import annotations

from collections import Counter

import orjson

from shared.keys import encode_key
from tests.processor.lines import request

OUTPUT, DEAD = "pass1_analysis", "pass1_dead_letter"
COUNT_FIELDS = ("processed_records", "inserted_rows", "repaired_records", "failed_records", "unmatched_records",
                "duplicate_records", "retry_requests")
# Calls a test makes at most to finish one unit (a loop that cannot end is a failure, not a hang).
MAX_CALLS = 60


def inputs(n: int, prefix: str = "tok", start: int = 0) -> list[dict]:
    """Input lines of a batch job ({"key", "request"}) for n distinct calls."""
    return [{"key": encode_key(f"{prefix}{i}", f"INT-{i}"), "request": request(i)} for i in range(start, start + n)]


def expected_analysis(i: int) -> dict:
    """What the emulator's deterministic model answers for request(i)."""
    from infra.local.vertex_emulator import model

    return model.analyse(model.extract_transcript(request(i)))


def counts(answer: dict) -> dict:
    """The count fields of an answer (what must add up across calls)."""
    return {field: answer.get(field, 0) for field in COUNT_FIELDS}


def assert_balanced(answer: dict) -> None:
    """processed = inserted + dead-lettered + duplicates + pending (records staged, their file not
    merged yet), in every answer; nothing pending once the answer is a success."""
    assert answer["processed_records"] == (answer["inserted_rows"] + answer["failed_records"]
                                           + answer["duplicate_records"] + answer.get("pending_records", 0)), answer
    if answer["status"] == "success":
        assert answer.get("pending_records", 0) == 0, answer


def landed(rows) -> tuple[list[dict], list[dict]]:
    """(output rows, dead-letter rows) in the stack's tables, in source order."""
    return (rows(OUTPUT, order_by="source_uri, line_number"), rows(DEAD, order_by="source_uri, line_number"))


def assert_landed(rows, answer: dict) -> tuple[list[dict], list[dict]]:
    """BigQuery holds exactly what the answer says: one output row per (run, composite key), as many
    as inserted, and as many dead letters as failed. Returns (output rows, dead rows)."""
    out, dead = landed(rows)
    per_key = Counter((r["run_id"], r["composite_key"]) for r in out)
    assert [k for k, n in per_key.items() if n > 1] == [], "a composite key landed twice"
    assert len(out) == answer["inserted_rows"], (len(out), answer)
    assert len(dead) == answer["failed_records"], (len(dead), answer)
    assert sum(1 for r in out if r["repaired"]) == answer["repaired_records"]
    assert sum(1 for r in out if r["lookup_status"] == "unmatched") == answer["unmatched_records"]
    assert_balanced(answer)
    return out, dead


def drive(proc, body: dict) -> list[dict]:
    """Call the processor with the same body until it answers success; every answer, in order."""
    answers = []
    for _ in range(MAX_CALLS):
        status, answer = proc(body)
        assert status == 200, answer
        answers.append(answer)
        assert_balanced(answer)
        if answer["status"] == "success":
            assert answer["resume"] is False
            return answers
        assert answer["status"] == "partial" and answer["resume"] is True, answer
    raise AssertionError(f"no success after {MAX_CALLS} calls: {answers[-1]}")


def payload_fields(row: dict, names) -> dict:
    """The answer fields of an output row (what the model said), for comparison."""
    return {name: row[name] for name in names}


def jsonl_objects(data: bytes) -> list[dict]:
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]
