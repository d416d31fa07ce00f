"""Job records on the Firestore emulator: transitions, transactions, leases."""

import threading
from datetime import datetime, timedelta, timezone

import pytest

from shared.errors import Conflict, NotFound
from shared.jobstate import FINAL_STATES, TRANSITIONS, JobStore, can_transition
from shared.jobstate import JobState as S


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(stack, firestore_client, clock):
    return JobStore(firestore_client, collection=stack["JOBS_COLLECTION"], clock=clock)


def test_table_covers_every_state_and_final_states_only_leave_by_resubmission_or_resume():
    assert set(TRANSITIONS) == {S.PENDING_SUBMISSION, S.SUBMITTED, S.RUNNING, S.PENDING_PROCESSING,
                                S.PROCESSING, S.COMPLETED, S.FAILED, S.CANCELLED}
    for state in FINAL_STATES - {S.FAILED}:
        assert TRANSITIONS[state] <= {S.PENDING_SUBMISSION, S.SUBMITTED}
    # A processing failure is resumed from its checkpoints (resume_failed), never a Vertex failure.
    assert TRANSITIONS[S.FAILED] == {S.PENDING_SUBMISSION, S.PROCESSING}
    assert not can_transition(S.COMPLETED, S.PROCESSING)


def test_create_or_get_creates_once(store):
    first, created = store.create_or_get("r1", "pass1", {"source": "x"})
    again, created_again = store.create_or_get("r1", "pass1", {"source": "y"})
    assert created and not created_again
    assert first["state"] == again["state"] == S.PENDING_SUBMISSION
    assert again["source"] == "x"


def test_concurrent_create_or_get_creates_exactly_one(store):
    results = []

    def worker():
        results.append(store.create_or_get("race", "pass1")[1])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(results) == [False, False, False, True]


def test_walk_through_the_lifecycle_records_times_and_history(store, clock):
    store.create_or_get("r2", "pass1")
    clock.advance(5)
    rec = store.transition("r2", "pass1", S.SUBMITTED, updates={"jobs": [{"name": "j1"}]})
    assert rec["submitted_at"] == clock.now and rec["jobs"] == [{"name": "j1"}]
    for target in (S.RUNNING, S.PENDING_PROCESSING, S.PROCESSING, S.COMPLETED):
        clock.advance(1)
        rec = store.transition("r2", "pass1", target)
    stored = store.get("r2", "pass1")
    assert stored["state"] == S.COMPLETED and stored["completed_at"] == clock.now
    assert [h["to"] for h in stored["history"]] == [S.PENDING_SUBMISSION, S.SUBMITTED, S.RUNNING,
                                                     S.PENDING_PROCESSING, S.PROCESSING, S.COMPLETED]


def test_illegal_transition_is_conflict_and_changes_nothing(store):
    store.create_or_get("r3", "pass1")
    with pytest.raises(Conflict) as info:
        store.transition("r3", "pass1", S.COMPLETED)
    assert info.value.details == {"state": S.PENDING_SUBMISSION, "target": S.COMPLETED}
    assert store.get("r3", "pass1")["state"] == S.PENDING_SUBMISSION


def test_allowed_from_narrows_sources(store):
    store.create_or_get("r4", "pass1")
    store.transition("r4", "pass1", S.SUBMITTED)
    with pytest.raises(Conflict):
        store.transition("r4", "pass1", S.FAILED, allowed_from={S.RUNNING})


def test_same_state_is_an_idempotent_update(store):
    store.create_or_get("r5", "pass1")
    store.transition("r5", "pass1", S.SUBMITTED)
    rec = store.transition("r5", "pass1", S.SUBMITTED, updates={"note": "retry"})
    assert rec["note"] == "retry" and len(rec["history"]) == 2


def test_unknown_run_is_not_found(store):
    with pytest.raises(NotFound):
        store.transition("nope", "pass1", S.SUBMITTED)
    with pytest.raises(NotFound):
        store.require("nope", "pass1")


def test_lease_excludes_others_until_it_expires(store, clock):
    store.create_or_get("r6", "pass1")
    store.acquire_lease("r6", "pass1", "worker-a", seconds=60)
    with pytest.raises(Conflict):
        store.acquire_lease("r6", "pass1", "worker-b", seconds=60)
    store.acquire_lease("r6", "pass1", "worker-a", seconds=60)  # renewal by the holder
    clock.advance(61)
    rec = store.acquire_lease("r6", "pass1", "worker-b", seconds=60)
    assert rec["lease"]["owner"] == "worker-b"
    store.release_lease("r6", "pass1", "worker-a")  # not the holder any more: no effect
    assert store.get("r6", "pass1")["lease"]["owner"] == "worker-b"
    store.release_lease("r6", "pass1", "worker-b")
    assert store.get("r6", "pass1")["lease"] is None


def test_list_in_states_oldest_first(store, clock):
    for run in ("a", "b", "c"):
        store.create_or_get(run, "pass1")
        clock.advance(1)
        store.transition(run, "pass1", S.SUBMITTED)
    clock.advance(1)
    store.transition("b", "pass1", S.RUNNING)
    found = store.list_in_states({S.SUBMITTED, S.RUNNING}, limit=2)
    assert [r["run_id"] for r in found] == ["a", "c"]
