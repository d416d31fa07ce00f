"""The one place where errors are named and classified.

Every error the functions answer with is a PipelineError: it carries a stable code and an HTTP
status. Exceptions raised by Google clients and the network are classified once, here, as transient
(worth retrying, 503 when retries run out) or terminal.
"""

from __future__ import annotations

from typing import Any


class PipelineError(Exception):
    """Base of every error the functions answer with."""

    code = "INTERNAL"
    http_status = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ValidationError(PipelineError):
    """The request is malformed; details name the bad field."""

    code, http_status = "VALIDATION_ERROR", 400

    def __init__(self, message: str, *, field: str | None = None, details: dict[str, Any] | None = None):
        merged = dict(details or {})
        if field:
            merged.setdefault("field", field)
        super().__init__(message, details=merged)
        self.field = field


class PayloadTooLarge(PipelineError):
    code, http_status = "PAYLOAD_TOO_LARGE", 413


class MethodNotAllowed(PipelineError):
    code, http_status = "METHOD_NOT_ALLOWED", 405


class NotFound(PipelineError):
    code, http_status = "NOT_FOUND", 404


class Conflict(PipelineError):
    """Another invocation holds the run, or the run's state forbids the change."""

    code, http_status = "CONFLICT", 409


class UpstreamUnavailable(PipelineError):
    """A Google service kept failing after retries; the work is left resumable."""

    code, http_status = "UPSTREAM_UNAVAILABLE", 503


class UpstreamPreconditionFailed(PipelineError):
    """A Google service refused the call for a reason no retry fixes: Firestore's "The query requires
    an index" (the deploy lacks a composite index) is the one seen. A deployment defect, terminal;
    the message keeps the service's own words, which name what is missing."""

    code, http_status = "UPSTREAM_PRECONDITION_FAILED", 500


class InternalError(PipelineError):
    code, http_status = "INTERNAL", 500


# --- classification of errors raised by clients ------------------------------------------------

# BigQuery puts the cause in errors[].reason; these reasons are documented as retryable
# (https://cloud.google.com/bigquery/docs/error-messages).
TRANSIENT_REASONS = frozenset({
    "backendError", "rateLimitExceeded", "internalError", "badGateway", "jobBackendError",
    "jobInternalError", "jobRateLimitExceeded",
})


def _transient_types() -> tuple[type[BaseException], ...]:
    """Exception types that mean 'try again later', by type. Built lazily: importing
    google.api_core costs cold-start time in code paths that never see an error."""
    import requests
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    return (
        gexc.TooManyRequests,        # 429: quota or rate limit; also ResourceExhausted
        gexc.ResourceExhausted,
        gexc.InternalServerError,    # 500
        gexc.BadGateway,             # 502
        gexc.ServiceUnavailable,     # 503
        gexc.GatewayTimeout,         # 504
        gexc.DeadlineExceeded,
        gexc.Aborted,                # Firestore transaction contention
        auth_exc.TransportError,
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
        ConnectionError,             # builtin: resets, refused, broken pipes
        TimeoutError,
    )


_TRANSIENT: tuple[type[BaseException], ...] | None = None
# What google-cloud-firestore raises (a ValueError) when a transaction kept aborting on contention.
FIRESTORE_CONTENTION = "Failed to commit transaction in"
# Two DML statements (or table creations) on one table at the same moment: BigQuery fails one
# ("Could not serialize access to table ... due to concurrent update"); the local emulator words
# the same conflict as a failed DuckLake commit. Run again, it succeeds.
CONCURRENT_DML = ("due to concurrent update", "Failed to commit DuckLake transaction")


def is_transient(exc: BaseException) -> bool:
    """True when exc is worth retrying: a rate limit, an outage, a dropped connection."""
    global _TRANSIENT
    if _TRANSIENT is None:
        _TRANSIENT = _transient_types()
    if isinstance(exc, UpstreamUnavailable):
        return True
    if isinstance(exc, PipelineError):
        return False
    if isinstance(exc, _TRANSIENT):
        return True
    if isinstance(exc, ValueError) and str(exc).startswith(FIRESTORE_CONTENTION):
        return True  # a document stayed locked (e.g. by a crashed holder's transaction): try later
    if _bigquery_reason(exc) in TRANSIENT_REASONS:
        return True
    text = str(exc)
    return any(marker in text for marker in CONCURRENT_DML)


def _bigquery_reason(exc: BaseException) -> str | None:
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return errors[0].get("reason")
    return None


def to_pipeline_error(exc: BaseException) -> PipelineError:
    """Map any exception to the error the caller sees. Transient -> 503, so that a caller's
    retry policy (Workflows http.default_retry) tries again; the rest keep their meaning."""
    if isinstance(exc, PipelineError):
        return exc
    from google.api_core import exceptions as gexc

    name = type(exc).__name__
    if isinstance(exc, gexc.RetryError):  # a retry policy's deadline passed on a transient error
        return retries_exhausted(exc)
    if is_transient(exc):
        return UpstreamUnavailable(f"upstream service unavailable: {name}",
                                   details={"type": name, "reason": _bigquery_reason(exc)})
    if isinstance(exc, gexc.NotFound):
        return NotFound(_short(exc), details={"type": name})
    if isinstance(exc, gexc.Conflict):
        return Conflict(_short(exc), details={"type": name})
    if isinstance(exc, gexc.FailedPrecondition):
        # Long enough for the index Firestore asks for (it comes as a link or, locally, as JSON).
        return UpstreamPreconditionFailed(_short(exc, limit=1000), details={"type": name})
    return InternalError(f"internal error: {name}", details={"type": name})


# How a service is named in a message (details carry the short name).
SERVICE_NAMES = {"vertex": "Vertex AI"}


def retries_exhausted(exc: BaseException, service: str | None = None) -> UpstreamUnavailable:
    """The 503 for a retry policy whose budget ran out (a google.api_core RetryError): the last
    transient error is named (or "timeout" when there was none), and the service when known."""
    cause = getattr(exc, "cause", None)
    name = type(cause).__name__ if cause else None
    label = f"{SERVICE_NAMES.get(service, service)} " if service else ""
    return UpstreamUnavailable(f"{label}still failing after retries: {name or 'timeout'}",
                               details={"type": name, **({"service": service} if service else {})})


def _short(exc: BaseException, limit: int = 300) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return text[:limit]
