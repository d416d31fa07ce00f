"""The HTTP envelope every function answers through: JSON in, JSON out, never an HTML page.

    @json_endpoint(methods=("POST",))
    def handle(body: dict, ctx: RequestContext) -> dict | tuple[int, dict]: ...

The handler gets the parsed JSON object (GET: the query parameters) and returns the answer. Any
PipelineError becomes its status and stable code; anything else becomes 500 INTERNAL, logged with
its traceback but answered without it.
"""

from __future__ import annotations

import functools
import os
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import orjson

from shared.errors import MethodNotAllowed, PayloadTooLarge, PipelineError, ValidationError, to_pipeline_error
from shared.logs import Logger, get_logger

# Requests are small control messages (ids, locations, tuning); 1 MiB is generous and keeps a
# hostile body from costing memory. Override with MAX_REQUEST_BYTES.
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024


@dataclass
class RequestContext:
    """What a handler knows about the call besides its body."""

    request_id: str
    method: str
    started: float
    headers: dict[str, str]
    log: Logger
    extra: dict[str, Any] = field(default_factory=dict)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def request_id_of(request) -> str:
    """The Cloud Trace id of the call, else a fresh req_<hex> (also for non-JSON answers)."""
    return _request_id(request)


def _request_id(request) -> str:
    trace = request.headers.get("X-Cloud-Trace-Context", "")
    return trace.split("/")[0] if trace else f"req_{uuid.uuid4().hex[:16]}"


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_body(request, method: str, max_bytes: int) -> dict:
    if method == "GET":
        return {k: v for k, v in request.args.items()}
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge(f"request body is larger than {max_bytes} bytes",
                              details={"max_bytes": max_bytes})
    raw = request.get_data(cache=False)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"request body is larger than {max_bytes} bytes",
                              details={"max_bytes": max_bytes})
    if not raw.strip():
        body: Any = {}
    else:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValidationError("request body is not valid JSON", field="body",
                                  details={"position": exc.pos}) from None
    if not isinstance(body, dict):
        raise ValidationError("request body must be a JSON object", field="body")
    return body


def error_payload(err: PipelineError, ctx_request_id: str, elapsed: float) -> dict:
    """The error shape of every function (docs/api.md)."""
    return {
        "status": "error",
        "error": {"code": err.code, "message": err.message, "details": err.details},
        "request_id": ctx_request_id,
        "timestamp": _now_iso(),
        "processing_time_seconds": round(elapsed, 3),
    }


def _respond(status: int, payload: dict):
    return (orjson.dumps(payload, default=str), status, {"Content-Type": "application/json"})


def error_response(exc: BaseException, log, request_id: str, started: float):
    """Log a failed request once (stack only for 5xx) and answer it in the error shape.

    Call it from inside the `except` block that caught `exc`, so the stack is the right one."""
    err = to_pipeline_error(exc)
    fields = {"code": err.code, "http_status": err.http_status, "error_type": type(exc).__name__}
    if err.http_status >= 500:
        fields["stack"] = traceback.format_exc(limit=20)
    log.log("ERROR" if err.http_status >= 500 else "WARNING", err.message, **fields)
    return _respond(err.http_status, error_payload(err, request_id, time.monotonic() - started))


def json_endpoint(methods: tuple[str, ...] = ("POST",), name: str | None = None):
    """Wrap a handler(body, ctx) into a functions-framework HTTP entry point."""

    def decorate(handler: Callable[[dict, RequestContext], Any]):
        function_name = name or handler.__name__

        @functools.wraps(handler)
        def entry(request):
            started = time.monotonic()
            request_id = _request_id(request)
            log = get_logger(function=function_name, request_id=request_id)
            ctx = RequestContext(request_id, request.method.upper(), started, dict(request.headers), log)
            try:
                if ctx.method not in methods:
                    raise MethodNotAllowed(f"{ctx.method} is not allowed; use {' or '.join(methods)}",
                                           details={"allowed": list(methods)})
                max_bytes = int(os.environ.get("MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES))
                body = _parse_body(request, ctx.method, max_bytes)
                result = handler(body, ctx)
                status, payload = result if isinstance(result, tuple) else (200, result)
                payload.setdefault("request_id", request_id)
                return _respond(status, payload)
            except Exception as exc:  # the envelope is the one place that catches everything
                return error_response(exc, log, request_id, started)

        return entry

    return decorate
