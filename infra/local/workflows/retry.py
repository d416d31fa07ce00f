"""Retry policies of `try/retry`: the predefined ones and custom backoff, as Workflows defines them.

This is the interpreted program's own policy, so it follows Workflows to the letter: a predicate on the
exception, `max_retries` repeats of the whole try block, and a deterministic backoff (initial delay,
multiplied after each retry, capped), without jitter. google.api_core's Retry (jitter, a deadline
instead of a count) cannot express that, hence a small loop in the executor using these numbers.
`parse_policy` turns a try step's `retry` YAML into one of these, refusing what is not supported.
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


def _expression_name(raw: Any) -> str | None:
    return raw[2:-1].strip() if isinstance(raw, str) and raw.startswith("${") and raw.endswith("}") else None


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def parse_policy(raw: Any, error: Callable[[str], Exception]) -> RetryPolicy:
    """A try step's `retry`: `${http.default_retry}`, `${http.default_retry_non_idempotent}`, or a
    custom policy map; `error(message)` builds the loader's refusal, naming the step."""
    name = _expression_name(raw)
    if name is not None:
        if name not in POLICIES:
            raise error(f"retry policy {raw!r} is not supported (supported: {sorted(POLICIES)})")
        return POLICIES[name]
    keys = {"predicate", "max_retries", "backoff"}
    if not isinstance(raw, dict) or set(raw) != keys:
        raise error(f"a custom retry policy needs exactly {sorted(keys)}, got {raw!r}")
    predicate = _expression_name(raw["predicate"])
    if predicate not in PREDICATES:
        raise error(f"retry predicate {raw['predicate']!r} is not supported (supported: "
                    f"{sorted(PREDICATES)}; custom predicate subworkflows are not)")
    backoff = raw["backoff"]
    numbers = {"initial_delay", "max_delay", "multiplier"}
    if not isinstance(backoff, dict) or set(backoff) != numbers or not all(_positive(backoff[k]) for k in numbers):
        raise error(f"retry backoff needs positive literal numbers {sorted(numbers)}, got {backoff!r}")
    retries = raw["max_retries"]
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise error(f"max_retries must be a literal integer >= 0, got {retries!r}")
    initial, maximum, multiplier = (float(backoff[k]) for k in ("initial_delay", "max_delay", "multiplier"))
    return RetryPolicy("custom", PREDICATES[predicate], retries, initial, maximum, multiplier)
