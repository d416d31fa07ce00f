"""A circuit breaker per (model, location), shared by every instance through Firestore (the failover design).

Each transient failure of a call to a target counts; `threshold` consecutive failures open the
circuit for `open_seconds`, during which callers go straight to the fallback. After that one call may
try the target again (half-open): a success closes the circuit, a failure opens it again at once.

The breaker plugs into a google.api_core Retry as its predicate (`should_retry`): the call is retried
while the error is transient and the circuit is closed, so the primary gets exactly `threshold`
tries before the caller fails over.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Callable, Protocol

from shared.errors import is_transient
from shared.retry import transact


class CircuitStore(Protocol):
    def read(self, key: str) -> dict: ...

    def record_failure(self, key: str, now: datetime, threshold: int, open_seconds: float) -> dict: ...

    def reset(self, key: str) -> None: ...


class CircuitBreaker:
    """The circuit of one (model, location)."""

    def __init__(self, store: CircuitStore, model: str, location: str, threshold: int,
                 open_seconds: float, clock: Callable[[], datetime]):
        self.key = circuit_key(model, location)
        self._store = store
        self._threshold = threshold
        self._open_seconds = open_seconds
        self._clock = clock
        self._state = store.read(self.key)

    def is_open(self) -> bool:
        until = self._state.get("open_until")
        return bool(until and until > self._clock())

    def should_retry(self, exc: BaseException) -> bool:
        """Retry predicate: count a transient failure; retry while the circuit stays closed."""
        if not is_transient(exc):
            return False
        self._state = self._store.record_failure(self.key, self._clock(), self._threshold, self._open_seconds)
        return not self.is_open()

    def record_success(self) -> None:
        if self._state.get("failures") or self._state.get("open_until"):
            self._store.reset(self.key)
            self._state = {}


def circuit_key(model: str, location: str) -> str:
    """A Firestore document id for the pair ('/' is not allowed in ids)."""
    return re.sub(r"[^A-Za-z0-9._@-]", "_", f"{model}__{location}")


def _after_failure(state: dict, now: datetime, threshold: int, open_seconds: float) -> dict:
    """The state after one more failure. A circuit that was opened and not closed by a success since
    (half-open) opens again at the first failure."""
    failures = int(state.get("failures") or 0) + 1
    new = {"failures": failures, "last_failure_at": now, "open_until": state.get("open_until")}
    if failures >= threshold or state.get("open_until") is not None:
        new.update(failures=0, open_until=now + timedelta(seconds=open_seconds), opened_at=now)
    return new


class FirestoreCircuitStore:
    """Circuit states in Firestore, one document per (model, location): every function instance
    sees the same circuit, which an in-memory breaker per instance would not give."""

    def __init__(self, client, collection: str):
        self._collection = client.collection(collection)
        self._client = client

    def read(self, key: str) -> dict:
        snap = self._collection.document(key).get()
        return snap.to_dict() or {} if snap.exists else {}

    def record_failure(self, key, now, threshold, open_seconds) -> dict:
        ref = self._collection.document(key)

        def txn(transaction):
            snap = ref.get(transaction=transaction)
            state = _after_failure(snap.to_dict() or {} if snap.exists else {}, now, threshold, open_seconds)
            transaction.set(ref, state, merge=True)
            return state

        return transact(self._client, txn, document=ref.path)

    def reset(self, key: str) -> None:
        self._collection.document(key).set({"failures": 0, "open_until": None})
