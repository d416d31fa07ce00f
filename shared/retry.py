"""Retry policies for calls to Google APIs (one call at a time), and the one Firestore transaction.

Retrying a call is not retrying a job: a failed Vertex job or a failed load job is a new attempt with
its own identity, decided by the caller (see shared/jobstate.py and the processor's writer). These
policies only cover a single API call that failed for a transient reason (shared.errors.is_transient).

The policies are module-level values (google.api_core's Retry is immutable): a caller that needs
another budget takes a copy with `.with_timeout()`, one that narrows what is retried a copy with
`.with_predicate()`. Retries running out (RetryError) become a 503 in one place:
shared.errors.retries_exhausted.

Delays follow google-cloud-bigquery's DEFAULT_RETRY: start at 1 s, double, cap at 32 s. Deadlines are
shorter than the functions' time budget so that a still-failing service ends in a clean 503 with the
run left resumable, instead of the platform killing the function mid-write.
"""

from __future__ import annotations

import os
import threading
import zlib
from contextlib import nullcontext
from typing import Any, Callable

from google.api_core.exceptions import RetryError
from google.api_core.retry import Retry

from shared.errors import is_transient, retries_exhausted

# First wait: long enough for a 429 burst window to pass, short enough to be unnoticed otherwise.
INITIAL_DELAY_SECONDS = 1.0
# Doubling keeps the number of calls to an overloaded service logarithmic in the outage length.
MULTIPLIER = 2.0
# 32 s cap: the Vertex/BigQuery quota windows refill within a minute.
MAXIMUM_DELAY_SECONDS = 32.0
# Total time one call may spend retrying. 120 s leaves most of a 540 s function budget for work.
DEFAULT_DEADLINE_SECONDS = 120.0


def _env_seconds(name: str, default: float) -> float:
    """A delay or deadline from the environment (tests and the reliability suite shrink them when
    they start a function), else the default. Read once, when this module is imported."""
    value = os.environ.get(name)
    return float(value) if value else default


# Every transient failure of one API call (rate limits, outages, dropped connections, Firestore
# contention, concurrent DML): the policy of every call in this project unless a caller says otherwise.
DEFAULT_RETRY = Retry(
    predicate=is_transient,
    initial=_env_seconds("RETRY_INITIAL_DELAY_SECONDS", INITIAL_DELAY_SECONDS),
    maximum=_env_seconds("RETRY_MAXIMUM_DELAY_SECONDS", MAXIMUM_DELAY_SECONDS),
    multiplier=MULTIPLIER,
    timeout=_env_seconds("RETRY_DEADLINE_SECONDS", DEFAULT_DEADLINE_SECONDS),
)


def api_retry(deadline: float | None = None) -> Retry:
    """DEFAULT_RETRY, or a copy of it with another total budget (`deadline` seconds)."""
    return DEFAULT_RETRY if deadline is None else DEFAULT_RETRY.with_timeout(deadline)


def run_with(policy: Retry, fn: Callable[[], Any], service: str | None = None) -> Any:
    """fn() under `policy`; transient errors left when its budget is spent -> UpstreamUnavailable (503)."""
    try:
        return policy(fn)()
    except RetryError as exc:
        raise retries_exhausted(exc, service) from exc


def call_with_retry(fn, *args, deadline: float | None = None, **kwargs):
    """Run fn(*args, **kwargs) under api_retry(deadline); retries running out -> UpstreamUnavailable."""
    return run_with(api_retry(deadline), lambda: fn(*args, **kwargs))


# Transactions of this process on one document run one at a time (striped locks, by path). Firestore
# (and its emulator) lock a document a transaction has read: two threads of one instance changing
# the same document (a run record from the call thread and the merge lane) would only abort or wait
# for each other, and were seen to do so until the retry deadline. Between instances, contention is
# left to the client's own reruns and the retry below. 64 stripes: a few documents per call.
_DOCUMENT_LOCKS = tuple(threading.Lock() for _ in range(64))


def document_lock(path: str) -> threading.Lock:
    """The process's lock for transactions on the document at `path`."""
    return _DOCUMENT_LOCKS[zlib.crc32(path.encode("utf-8")) % len(_DOCUMENT_LOCKS)]


def transact(client, fn: Callable[[Any], Any], deadline: float | None = None, *,
             document: str | None = None) -> Any:
    """fn(transaction) in one Firestore transaction of `client`, and its result.

    google-cloud-firestore reruns fn itself when the commit aborts on contention (a few attempts,
    then a ValueError that is_transient counts as transient); the whole transaction is also retried
    under DEFAULT_RETRY, so an outage or a document held by a crashed holder's transaction ends in a
    503 after the deadline, like any other call. fn may therefore run more than once: it must
    compute its writes from what it reads in the transaction, and start over each time.
    `document`: the path of the document the transaction changes; this process's transactions on it
    then run one at a time (document_lock). A transaction must not start another one inside it.
    """
    from google.cloud import firestore

    @firestore.transactional
    def body(transaction):
        return fn(transaction)

    def attempt():
        with document_lock(document) if document else nullcontext():
            return body(client.transaction())

    return call_with_retry(attempt, deadline=deadline)
