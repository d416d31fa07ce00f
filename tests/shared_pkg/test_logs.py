"""The structured logger: personal data dropped, long strings bounded, tracebacks kept whole enough."""

import io
import json

from shared.logs import MAX_STACK, MAX_STRING, Logger


def logged(**fields) -> dict:
    stream = io.StringIO()
    Logger(stream, run_id="r1").error("boom", **fields)
    return json.loads(stream.getvalue())


def test_personal_fields_are_dropped_at_any_depth():
    entry = logged(phone_token="tok-1", detail={"transcript": "hello", "reason": "bad_key"})
    assert entry["run_id"] == "r1" and entry["severity"] == "ERROR" and entry["message"] == "boom"
    assert "phone_token" not in entry and entry["detail"] == {"reason": "bad_key"}


def test_long_strings_are_cut_but_a_stack_keeps_its_end():
    stack = "Traceback (most recent call last):\n" + "  frame\n" * 400 + "ValueError: the cause"
    entry = logged(note="x" * 2000, stack=stack)
    assert entry["note"] == "x" * MAX_STRING + "..."
    assert len(stack) < MAX_STACK and entry["stack"] == stack
    long_entry = logged(stack="frame\n" * 3000 + "ValueError: the cause")
    assert long_entry["stack"].endswith("ValueError: the cause")
    assert len(long_entry["stack"]) == MAX_STACK + 3
