"""Structured JSON logs for Cloud Logging: one JSON object per line on stdout, with `severity` and
`message`, plus the request's context (run_id, workflow_id, request_id).

Phone tokens, transcripts, model text and composite keys (base64 of the phone token) never reach a
log: fields with those names are dropped and free text is never logged from data.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import orjson

# Field names whose values are personal data or carry it. Dropped wherever they appear.
REDACTED_FIELDS = frozenset({
    "phone_token", "phone_number_token", "phone_number", "transcript", "text", "raw", "key",
    "composite_key", "request", "response", "content", "prompt", "tokens",
})
MAX_STRING = 500
# A traceback is only useful whole; its end (the raising frame and the message) matters most.
MAX_STACK = 8000
_write_lock = threading.Lock()


def _clean(value: Any, depth: int = 0) -> Any:
    if depth > 4:
        return "..."
    if isinstance(value, dict):
        return {k: _tail(v) if k == "stack" else _clean(v, depth + 1)
                for k, v in value.items() if k not in REDACTED_FIELDS}
    if isinstance(value, (list, tuple)):
        return [_clean(v, depth + 1) for v in list(value)[:50]]
    if isinstance(value, str) and len(value) > MAX_STRING:
        return value[:MAX_STRING] + "..."
    return value


def _tail(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_STACK:
        return "..." + value[-MAX_STACK:]
    return value


class Logger:
    """A logger bound to some context fields; cheap to derive with bind()."""

    def __init__(self, stream=None, **context: Any):
        self._stream = stream
        self._context = context

    def bind(self, **context: Any) -> "Logger":
        return Logger(self._stream, **{**self._context, **context})

    def log(self, severity: str, message: str, **fields: Any) -> None:
        entry = {"severity": severity, "message": message, "time": time.time(),
                 **_clean({**self._context, **fields})}
        line = orjson.dumps(entry, default=str) + b"\n"
        stream = self._stream or sys.stdout
        with _write_lock:
            stream.buffer.write(line) if hasattr(stream, "buffer") else stream.write(line.decode())
            stream.flush()

    def debug(self, message: str, **fields: Any) -> None:
        self.log("DEBUG", message, **fields)

    def info(self, message: str, **fields: Any) -> None:
        self.log("INFO", message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self.log("WARNING", message, **fields)

    def error(self, message: str, **fields: Any) -> None:
        self.log("ERROR", message, **fields)


def get_logger(**context: Any) -> Logger:
    return Logger(**context)
