"""Retry policies for calls to Google APIs (one call at a time).

Retrying a call is not retrying a job: a failed Vertex job or a failed load job is a new attempt with
its own identity, decided by the caller (see shared/jobstate.py and the processor's writer). These
policies only cover a single API call that failed for a transient reason (shared.errors.is_transient).

Delays follow google-cloud-bigquery's DEFAULT_RETRY: start at 1 s, double, cap at 32 s. Deadlines are
shorter than the functions' time budget so that a still-failing service ends in a clean 503 with the
run left resumable, instead of the platform killing the function mid-write.
"""

from __future__ import annotations

import os

from shared.errors import UpstreamUnavailable, is_transient

# First wait: long enough for a 429 burst window to pass, short enough to be unnoticed otherwise.
INITIAL_DELAY_SECONDS = 1.0
# Doubling keeps the number of calls to an overloaded service logarithmic in the outage length.
MULTIPLIER = 2.0
# 32 s cap: the Vertex/BigQuery quota windows refill within a minute.
MAXIMUM_DELAY_SECONDS = 32.0
# Total time one call may spend retrying. 120 s leaves most of a 540 s function budget for work.
DEFAULT_DEADLINE_SECONDS = 120.0


def _env_float(name: str, default: float) -> float:
    """Deadlines can be shortened from the environment (tests, impatient callers); never lengthened
    past what the caller asked."""
    value = os.environ.get(name)
    return float(value) if value else default


def api_retry(deadline: float | None = None):
    """A google.api_core Retry for one API call, retrying only transient errors."""
    from google.api_core.retry import Retry

    return Retry(
        predicate=is_transient,
        initial=_env_float("RETRY_INITIAL_DELAY_SECONDS", INITIAL_DELAY_SECONDS),
        maximum=_env_float("RETRY_MAXIMUM_DELAY_SECONDS", MAXIMUM_DELAY_SECONDS),
        multiplier=MULTIPLIER,
        timeout=deadline if deadline is not None else _env_float("RETRY_DEADLINE_SECONDS", DEFAULT_DEADLINE_SECONDS),
    )


def call_with_retry(fn, *args, deadline: float | None = None, **kwargs):
    """Run fn(*args, **kwargs) under api_retry; transient errors left after the deadline surface
    as google.api_core.exceptions.RetryError, which callers map to UpstreamUnavailable."""
    from google.api_core.exceptions import RetryError

    try:
        return api_retry(deadline)(fn)(*args, **kwargs)
    except RetryError as exc:
        cause = exc.cause
        raise UpstreamUnavailable(
            f"still failing after retries: {type(cause).__name__ if cause else 'timeout'}",
            details={"type": type(cause).__name__ if cause else None},
        ) from exc
