"""Retry policies of `try/retry`: the predefined ones and custom backoff, as Workflows defines them.

This is the interpreted program's own policy, so it follows Workflows to the letter: a predicate on the
exception, `max_retries` repeats of the whole try block, and a deterministic backoff (initial delay,
multiplied after each retry, capped), without jitter. google.api_core's Retry (jitter, a deadline
instead of a count) cannot express that, hence a small loop in the executor using these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

# http.default_retry and http.default_retry_non_idempotent (Workflows reference): 5 retries, backoff
# starting at 1 s, x1.25 per retry, capped at 60 s.
DEFAULT_MAX_RETRIES = 5
DEFAULT_INITIAL_DELAY = 1.0
DEFAULT_MAX_DELAY = 60.0
DEFAULT_MULTIPLIER = 1.25

_IDEMPOTENT_CODES = (429, 502, 503, 504)
_NON_IDEMPOTENT_CODES = (429, 503)
# A connection that broke, never opened, or a call that timed out: for an idempotent target the call
# may simply be repeated.
_TRANSPORT_TAGS = ("ConnectionError", "ConnectionFailedError", "TimeoutError")


def _tags(error: Any) -> list:
    return error.get("tags") or [] if isinstance(error, dict) else []


def default_retry_predicate(error: Any) -> bool:
    """http.default_retry_predicate: 429, 502, 503, 504 and transport errors."""
    tags = _tags(error)
    if "HttpError" in tags:
        return error.get("code") in _IDEMPOTENT_CODES
    return any(tag in tags for tag in _TRANSPORT_TAGS)


def default_retry_predicate_non_idempotent(error: Any) -> bool:
    """http.default_retry_predicate_non_idempotent: only 429 and 503, where the server did nothing."""
    return "HttpError" in _tags(error) and error.get("code") in _NON_IDEMPOTENT_CODES


PREDICATES: dict[str, Callable[[Any], bool]] = {
    "http.default_retry_predicate": default_retry_predicate,
    "http.default_retry_predicate_non_idempotent": default_retry_predicate_non_idempotent,
}


@dataclass(frozen=True)
class RetryPolicy:
    """When to repeat a try block and how long to wait before each repeat."""

    name: str
    predicate: Callable[[Any], bool]
    max_retries: int
    initial_delay: float
    max_delay: float
    multiplier: float

    def delays(self) -> Iterator[float]:
        """The wait before retry 1, 2, ... max_retries."""
        delay = self.initial_delay
        for _ in range(self.max_retries):
            yield min(delay, self.max_delay)
            delay *= self.multiplier


def _predefined(name: str, predicate: Callable[[Any], bool]) -> RetryPolicy:
    return RetryPolicy(name, predicate, DEFAULT_MAX_RETRIES, DEFAULT_INITIAL_DELAY, DEFAULT_MAX_DELAY,
                       DEFAULT_MULTIPLIER)


POLICIES: dict[str, RetryPolicy] = {
    "http.default_retry": _predefined("http.default_retry", default_retry_predicate),
    "http.default_retry_non_idempotent": _predefined(
        "http.default_retry_non_idempotent", default_retry_predicate_non_idempotent
    ),
}
