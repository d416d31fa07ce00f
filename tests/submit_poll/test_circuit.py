"""The failover circuit (batch_submit/circuit.py), table-driven: closed, open, half-open and closed
again, as a google.api_core Retry predicate. The store here keeps states in a dict and applies the
same transition (_after_failure) as the Firestore store does in its transaction. No stack."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry

from batch_submit.circuit import CircuitBreaker, _after_failure, circuit_key

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
THRESHOLD, OPEN_SECONDS = 3, 300.0
TRANSIENT = gexc.ServiceUnavailable("vertex is down")


class DictStore:
    """A CircuitStore in a dict; counts its writes."""

    def __init__(self, states: dict | None = None):
        self.states = dict(states or {})
        self.resets = 0

    def read(self, key):
        return dict(self.states.get(key, {}))

    def record_failure(self, key, now, threshold, open_seconds):
        self.states[key] = _after_failure(self.states.get(key, {}), now, threshold, open_seconds)
        return dict(self.states[key])

    def reset(self, key):
        self.resets += 1
        self.states[key] = {"failures": 0, "open_until": None}


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


def breaker(store: DictStore, clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(store, "gemini-2.5-flash", "us-central1", THRESHOLD, OPEN_SECONDS, clock)


OPEN_UNTIL = T0 + timedelta(seconds=OPEN_SECONDS)
# (name, state before, a failure at T0 -> state after)
TRANSITIONS = [
    ("closed, first failure", {}, {"failures": 1, "last_failure_at": T0, "open_until": None}),
    ("closed, below the threshold", {"failures": 1}, {"failures": 2, "last_failure_at": T0, "open_until": None}),
    ("closed, the threshold-th failure opens", {"failures": 2},
     {"failures": 0, "last_failure_at": T0, "open_until": OPEN_UNTIL, "opened_at": T0}),
    ("a reset circuit counts from zero", {"failures": 0, "open_until": None},
     {"failures": 1, "last_failure_at": T0, "open_until": None}),
    ("half-open: the first failure opens again", {"failures": 0, "open_until": T0 - timedelta(seconds=1)},
     {"failures": 0, "last_failure_at": T0, "open_until": OPEN_UNTIL, "opened_at": T0}),
]


@pytest.mark.parametrize("before, after", [t[1:] for t in TRANSITIONS], ids=[t[0] for t in TRANSITIONS])
def test_a_failure_moves_the_circuit(before, after):
    assert _after_failure(before, T0, THRESHOLD, OPEN_SECONDS) == after


def test_closed_open_half_open_closed():
    store, clock = DictStore(), Clock()
    circuit = breaker(store, clock)
    assert not circuit.is_open()
    # Closed: transient failures are retried until the threshold-th, which opens the circuit.
    assert [circuit.should_retry(TRANSIENT) for _ in range(THRESHOLD)] == [True] * (THRESHOLD - 1) + [False]
    assert circuit.is_open()
    # Open: another instance sees it open too (the state is in the store), until open_until.
    clock.now = T0 + timedelta(seconds=OPEN_SECONDS - 1)
    assert breaker(store, clock).is_open()
    # Half-open: after open_until one call may try; its failure opens the circuit again at once.
    clock.now = T0 + timedelta(seconds=OPEN_SECONDS)
    trial = breaker(store, clock)
    assert not trial.is_open()
    assert trial.should_retry(TRANSIENT) is False and trial.is_open()
    assert store.read(trial.key)["open_until"] == clock.now + timedelta(seconds=OPEN_SECONDS)
    # Half-open again, and this time the call succeeds: closed, counting from zero.
    clock.now += timedelta(seconds=OPEN_SECONDS)
    trial = breaker(store, clock)
    trial.record_success()
    assert store.read(trial.key) == {"failures": 0, "open_until": None}
    closed = breaker(store, clock)
    assert [closed.should_retry(TRANSIENT) for _ in range(THRESHOLD)] == [True] * (THRESHOLD - 1) + [False]


def test_a_success_on_a_clean_circuit_writes_nothing():
    store = DictStore()
    breaker(store, Clock()).record_success()
    assert store.resets == 0 and store.states == {}


def test_a_success_after_failures_resets_them():
    store = DictStore()
    circuit = breaker(store, Clock())
    assert circuit.should_retry(TRANSIENT)
    circuit.record_success()
    assert store.resets == 1 and store.read(circuit.key) == {"failures": 0, "open_until": None}


@pytest.mark.parametrize("exc", [gexc.InvalidArgument("bad request"), gexc.NotFound("no model"), ValueError("x")],
                         ids=["400", "404", "a bug"])
def test_a_terminal_error_is_not_retried_and_not_counted(exc):
    store = DictStore()
    circuit = breaker(store, Clock())
    assert circuit.should_retry(exc) is False
    assert store.states == {} and not circuit.is_open()


def test_as_a_retry_predicate_the_primary_gets_exactly_threshold_tries():
    store = DictStore()
    circuit = breaker(store, Clock())
    calls = []

    def create():
        calls.append(1)
        raise TRANSIENT

    retry = Retry(predicate=circuit.should_retry, initial=0.0, maximum=0.0, multiplier=1.0, timeout=30.0)
    with pytest.raises(gexc.ServiceUnavailable):
        retry(create)()
    assert len(calls) == THRESHOLD and circuit.is_open()


@pytest.mark.parametrize("model, location, key", [
    ("gemini-2.5-flash", "us-central1", "gemini-2.5-flash__us-central1"),
    ("publishers/google/models/gemini-2.0-flash-001", "europe-west4",
     "publishers_google_models_gemini-2.0-flash-001__europe-west4"),
    ("claude@2024", "global", "claude@2024__global"),
], ids=["plain", "a path has no slash", "at sign kept"])
def test_circuit_key_is_a_firestore_document_id(model, location, key):
    assert circuit_key(model, location) == key
