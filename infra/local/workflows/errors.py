"""What can go wrong: a definition this executor refuses, a Workflows exception, a failed execution.

Two worlds meet here. A Workflows exception (`WorkflowError`) is a value inside the program: a map like
`{"tags": ["HttpError"], "code": 503, "message": ...}` or whatever `raise` raised, which `try/except`
catches and `retry` predicates inspect. A `WorkflowSyntaxError` is outside the program: the definition
uses something this executor does not know or breaks a rule Workflows checks at deploy time; nothing in
the workflow can catch it.
"""

from __future__ import annotations

import json
from typing import Any


class WorkflowSyntaxError(ValueError):
    """The definition uses a construct this executor does not support, or misuses one.

    Raised at load time wherever the rule can be checked statically (validate.py), else when the step
    runs (for example a shared variable not yet assigned when its parallel step starts). Never
    catchable by the workflow.
    """


class WorkflowError(Exception):
    """A Workflows exception in flight. `value` is what `except: {as: e}` binds."""

    def __init__(self, value: Any):
        super().__init__(describe(value))
        self.value = value


class WorkflowFailed(RuntimeError):
    """The execution ended with an unhandled Workflows exception (`error`, as Workflows reports it)."""

    def __init__(self, error: Any):
        super().__init__(describe(error))
        self.error = error


def error_map(tag: str, message: str, **extra: Any) -> dict:
    """A Workflows error map with one tag, as the runtime raises them."""
    return {"tags": [tag], "message": message, **extra}


def fail(tag: str, message: str, **extra: Any) -> WorkflowError:
    """A WorkflowError ready to raise: `raise fail("TypeError", "...")`."""
    return WorkflowError(error_map(tag, message, **extra))


def describe(value: Any) -> str:
    """A one-line text for a Workflows exception value (map, string or anything raised)."""
    if isinstance(value, dict):
        tags = ",".join(str(t) for t in value.get("tags") or [])
        message = value.get("message")
        text = message if isinstance(message, str) else json.dumps(value, default=str)[:500]
        return f"[{tags}] {text}" if tags else text
    return value if isinstance(value, str) else json.dumps(value, default=str)[:500]
