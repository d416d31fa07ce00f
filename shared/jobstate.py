"""The run's job record in Firestore: one document per (run_id, batch_type), the single source of
truth shared by submit_batch, poll_status and pass1_batch_processor.

Every state change runs in a Firestore transaction and is checked against TRANSITIONS; an illegal
one raises Conflict (409). Final states are an explicit set. A lease (owner + expiry) keeps two
processor invocations from working on the same run at once.

Document fields (all optional except state, run_id, batch_type, created_at, updated_at):
    state, run_id, batch_type, attempt (1 for the first submission, n+1 per retry_failed),
    created_at, updated_at, submitted_at, completed_at,
    jobs: [{name, state, input_uri, output_prefix, output_dir, attempt, model, location, requests}],
    input_uris, output_dirs, completion_stats, token_usage, progress, last_error, lease,
    processing (the processor's checkpoint), history: [{from, to, at}] (bounded),
    event_seq, last_event_at, events_meta (shared/events.py: the event log's counter and bookkeeping)

Every transaction here also appends the run's events (shared/events.py) in the same transaction:
state changes, jobs created or changed, completion, plus the explicit events a caller passes. When
one of them is a notification, its outbox document is published after the commit (shared/notify.py;
a lost publish is retried by the Scheduler sweep).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from shared import events as run_events
from shared.errors import Conflict, NotFound
from shared.lease import held_by_another, holds, lease_for
from shared.retry import call_with_retry, transact


class JobState:
    """States of a run (string constants: they are what Firestore stores and callers read)."""

    PENDING_SUBMISSION = "PENDING_SUBMISSION"
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    PENDING_PROCESSING = "PENDING_PROCESSING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


S = JobState
ALL_STATES = frozenset({S.PENDING_SUBMISSION, S.SUBMITTED, S.RUNNING, S.PENDING_PROCESSING,
                        S.PROCESSING, S.COMPLETED, S.FAILED, S.CANCELLED})
# Nothing moves a run out of these except an explicit resubmission (force, retry_failed).
FINAL_STATES = frozenset({S.COMPLETED, S.FAILED, S.CANCELLED})
# Runs whose Vertex jobs are still going: what a poll_status sweep refreshes.
LLM_ACTIVE_STATES = frozenset({S.SUBMITTED, S.RUNNING})
# Runs somebody is still working on: a sweep raises run.stalled for those without news.
ACTIVE_STATES = frozenset({S.PENDING_SUBMISSION, S.SUBMITTED, S.RUNNING, S.PENDING_PROCESSING, S.PROCESSING})
# A submit for a run in one of these answers "skipped": nothing is submitted twice.
SKIP_SUBMIT_STATES = frozenset({S.SUBMITTED, S.RUNNING, S.PENDING_PROCESSING, S.PROCESSING, S.COMPLETED})
# A forced resubmission may start over from these.
RESUBMITTABLE_STATES = frozenset({S.FAILED, S.CANCELLED})

TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING_SUBMISSION: frozenset({S.SUBMITTED, S.FAILED, S.CANCELLED}),
    S.SUBMITTED: frozenset({S.RUNNING, S.PENDING_PROCESSING, S.FAILED, S.CANCELLED}),
    S.RUNNING: frozenset({S.PENDING_PROCESSING, S.FAILED, S.CANCELLED}),
    # PENDING_PROCESSING -> SUBMITTED: a retry_failed attempt submitted before processing ran.
    S.PENDING_PROCESSING: frozenset({S.PROCESSING, S.SUBMITTED, S.FAILED, S.CANCELLED}),
    # PROCESSING -> PENDING_PROCESSING: new output arrived (a retry attempt) while processing.
    S.PROCESSING: frozenset({S.COMPLETED, S.FAILED, S.PENDING_PROCESSING, S.CANCELLED}),
    # COMPLETED -> SUBMITTED: retry_failed resubmits the requests the processor set aside.
    S.COMPLETED: frozenset({S.SUBMITTED}),
    # FAILED/CANCELLED -> PENDING_SUBMISSION: force resubmission. FAILED -> PROCESSING: the processor
    # resumes a run it failed itself, on an explicit resume_failed (the model's output is kept).
    S.FAILED: frozenset({S.PENDING_SUBMISSION, S.PROCESSING}),
    S.CANCELLED: frozenset({S.PENDING_SUBMISSION}),
}

HISTORY_LIMIT = 50


def can_transition(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def document_id(run_id: str, batch_type: str) -> str:
    """Deterministic id: a retry of any call finds the same document."""
    return f"{batch_type}__{run_id}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def attempt_jobs(record: dict, attempt: int | None = None) -> list[dict]:
    """The run's jobs of one attempt (default: the current one, the record's `attempt`)."""
    attempt = record.get("attempt") if attempt is None else attempt
    return [job for job in record.get("jobs") or [] if job.get("attempt") == attempt]


def _existing(transaction, ref, run_id: str, batch_type: str) -> dict:
    """The record as the transaction reads it; NotFound (404) when there is none."""
    snap = ref.get(transaction=transaction)
    if not snap.exists:
        raise NotFound(f"no run '{run_id}' of batch type '{batch_type}'",
                       details={"run_id": run_id, "batch_type": batch_type})
    return snap.to_dict()


class JobStore:
    """Reads and changes job records. `client` is a google.cloud.firestore.Client; `clock` returns an
    aware UTC datetime (injected in tests)."""

    def __init__(self, client=None, collection: str = "batch_jobs",
                 clock: Callable[[], datetime] = utcnow):
        if client is None:
            from shared.clients import firestore_client

            client = firestore_client()
        self._client = client
        self._collection = collection
        self._clock = clock

    # -- reads -----------------------------------------------------------------------------------
    def ref(self, run_id: str, batch_type: str):
        return self._client.collection(self._collection).document(document_id(run_id, batch_type))

    @property
    def collection(self) -> str:
        return self._collection

    @property
    def client(self):
        return self._client

    def outbox(self):
        """The notifications outbox collection (shared/notify.py)."""
        return self._client.collection(run_events.outbox_collection(self._collection))

    def get(self, run_id: str, batch_type: str) -> dict | None:
        # retry=None: the client's own retry waits 60 s on an outage; shared.retry bounds it (503).
        snap = call_with_retry(self.ref(run_id, batch_type).get, retry=None)
        return snap.to_dict() if snap.exists else None

    def require(self, run_id: str, batch_type: str) -> dict:
        record = self.get(run_id, batch_type)
        if record is None:
            raise NotFound(f"no run '{run_id}' of batch type '{batch_type}'",
                           details={"run_id": run_id, "batch_type": batch_type})
        return record

    def list_in_states(self, states: Iterable[str], limit: int) -> list[dict]:
        """Runs in any of states, oldest update first (a sweep refreshes the stalest first)."""
        return [snap.to_dict() for snap in self.states_query(states, limit).stream()]

    def recent(self, limit: int) -> list[dict]:
        """The most recently updated runs, newest first. An order on one field: Firestore's automatic
        single-field index serves it (no composite index)."""
        from google.cloud import firestore

        query = (self._client.collection(self._collection)
                 .order_by("updated_at", direction=firestore.Query.DESCENDING).limit(limit))
        return [snap.to_dict() for snap in call_with_retry(lambda: list(query.stream()))]

    def states_query(self, states: Iterable[str], limit: int):
        """The query of list_in_states. It needs the composite index (state, updated_at) of
        infra/firestore/indexes.json: Firestore refuses it without (the emulator never asks)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        return (self._client.collection(self._collection)
                .where(filter=FieldFilter("state", "in", sorted(states)))
                .order_by("updated_at").limit(limit))

    # -- changes (each one transaction) ----------------------------------------------------------
    def _run_transaction(self, fn: Callable[[Any], Any], ref):
        """fn(transaction) in one transaction on the record `ref` (shared.retry.transact), then the
        outbox it wrote is published."""
        pending: list[str] = []

        def body(transaction):
            pending.clear()  # a retried transaction starts over
            self._outbox_written = pending
            return fn(transaction)

        result = transact(self._client, body, document=ref.path)
        if pending:
            from shared.notify import publish_after_commit

            publish_after_commit(self, list(pending))
        return result

    def _write(self, transaction, ref, record: dict | None, changes: dict, explicit=()) -> dict:
        """transaction.update(ref, changes) plus the events of the change (same transaction)."""
        extra, outbox_ids = run_events.apply(transaction, ref, record, changes, explicit,
                                             self._clock(), self.outbox())
        changes.update(extra)
        self._outbox_written.extend(outbox_ids)
        transaction.update(ref, changes)
        return changes

    def create_or_get(self, run_id: str, batch_type: str, fields: dict | None = None) -> tuple[dict, bool]:
        """Create the record in PENDING_SUBMISSION, or return the existing one. (record, created)."""
        ref = self.ref(run_id, batch_type)

        def txn(transaction):
            snap = ref.get(transaction=transaction)
            if snap.exists:
                return snap.to_dict(), False
            now = self._clock()
            record = {"run_id": run_id, "batch_type": batch_type, "state": S.PENDING_SUBMISSION,
                      "attempt": 0, "jobs": [], "created_at": now, "updated_at": now,
                      "history": [{"from": None, "to": S.PENDING_SUBMISSION, "at": now}], **(fields or {})}
            transaction.create(ref, record)
            extra, _ = run_events.apply(transaction, ref, None, record, (), now, self.outbox())
            transaction.update(ref, extra)
            record.update(extra)
            return record, True

        return self._run_transaction(txn, ref)

    def transition(self, run_id: str, batch_type: str, target: str, *,
                   allowed_from: Iterable[str] | None = None, updates: dict | None = None,
                   mutate: Callable[[dict], dict] | None = None,
                   events: Iterable[run_events.Event] = ()) -> dict:
        """Move the run to `target` in one transaction and return the new record.

        allowed_from narrows the legal sources further (e.g. only PENDING_PROCESSING may start
        processing); mutate(record) -> extra updates computed from the current record.
        Moving to the state the run is already in is a no-op that applies the updates: retries of
        the same call must not fail.
        """
        ref = self.ref(run_id, batch_type)
        sources = frozenset(allowed_from) if allowed_from is not None else None

        def txn(transaction):
            record = _existing(transaction, ref, run_id, batch_type)
            current = record["state"]
            if current != target:
                if not can_transition(current, target) or (sources is not None and current not in sources):
                    raise Conflict(f"run '{run_id}' cannot move from {current} to {target}",
                                   details={"state": current, "target": target})
            changes = self._changes(record, target, updates, mutate)
            self._write(transaction, ref, record, changes, events)
            record.update(changes)
            return record

        return self._run_transaction(txn, ref)

    def update(self, run_id: str, batch_type: str, updates: dict | None = None,
               mutate: Callable[[dict], dict] | None = None,
               events: Iterable[run_events.Event] = ()) -> dict:
        """Change fields without changing state (progress, checkpoints, job states)."""
        ref = self.ref(run_id, batch_type)

        def txn(transaction):
            record = _existing(transaction, ref, run_id, batch_type)
            changes = {**(updates or {}), **(mutate(record) if mutate else {}), "updated_at": self._clock()}
            self._write(transaction, ref, record, changes, events)
            record.update(changes)
            return record

        return self._run_transaction(txn, ref)

    def add_events(self, run_id: str, batch_type: str, events: Iterable[run_events.Event]) -> dict | None:
        """Append explicit events (a file started, progress) in one transaction; writes nothing when
        every event is a repeat (`once`) or throttled. None for an unknown run."""
        ref = self.ref(run_id, batch_type)
        events = list(events)

        def txn(transaction):
            snap = ref.get(transaction=transaction)
            if not snap.exists:
                return None
            record = snap.to_dict()
            extra, outbox_ids = run_events.apply(transaction, ref, record, {}, events, self._clock(), self.outbox())
            if extra:
                transaction.update(ref, extra)
                self._outbox_written.extend(outbox_ids)
                record.update(extra)
            return record

        return self._run_transaction(txn, ref)

    def events_query(self, run_id: str, batch_type: str, after: int = 0):
        """The run's events after a sequence, in order. One inequality and an order on the same field:
        Firestore's automatic single-field index serves it."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        return (self.ref(run_id, batch_type).collection(run_events.EVENTS_COLLECTION)
                .where(filter=FieldFilter("sequence", ">", int(after))).order_by("sequence"))

    def list_events(self, run_id: str, batch_type: str, after: int = 0, limit: int = 100) -> list[dict]:
        query = self.events_query(run_id, batch_type, after).limit(limit)
        return [snap.to_dict() for snap in call_with_retry(lambda: list(query.stream()))]

    def last_sequence_before(self, run_id: str, batch_type: str, tail: int) -> int:
        """The `after` that yields the last `tail` events of the run."""
        record = self.get(run_id, batch_type) or {}
        return max(0, int(record.get("event_seq") or 0) - tail)

    def _changes(self, record: dict, target: str, updates: dict | None,
                 mutate: Callable[[dict], dict] | None) -> dict:
        now = self._clock()
        changes = {**(updates or {}), **(mutate(record) if mutate else {}), "updated_at": now}
        if record["state"] != target:
            changes["state"] = target
            history = list(record.get("history", []))[-(HISTORY_LIMIT - 1):]
            changes["history"] = history + [{"from": record["state"], "to": target, "at": now}]
            if target == S.SUBMITTED:
                changes.setdefault("submitted_at", now)
            if target in FINAL_STATES:
                changes.setdefault("completed_at", now)
        return changes

    # -- lease -----------------------------------------------------------------------------------
    def acquire_lease(self, run_id: str, batch_type: str, owner: str, seconds: float,
                      mutate: Callable[[dict], dict] | None = None) -> dict:
        """Take the run's lease for `seconds`, or raise Conflict while another owner holds it.
        An expired lease (its holder crashed or timed out) is taken over."""
        ref = self.ref(run_id, batch_type)

        def txn(transaction):
            record = _existing(transaction, ref, run_id, batch_type)
            now = self._clock()
            lease = record.get("lease")
            if held_by_another(lease, owner, now):
                raise Conflict(f"run '{run_id}' is being processed by another invocation",
                               details={"lease_expires_at": lease["expires_at"].isoformat()})
            changes = {"lease": lease_for(owner, now, seconds), "updated_at": now,
                       **(mutate(record) if mutate else {})}
            transaction.update(ref, changes)
            record.update(changes)
            return record

        return self._run_transaction(txn, ref)

    def release_lease(self, run_id: str, batch_type: str, owner: str) -> None:
        """Give the lease back if we still hold it (a takeover after expiry is not undone)."""
        ref = self.ref(run_id, batch_type)

        def txn(transaction):
            snap = ref.get(transaction=transaction)
            if snap.exists and holds(snap.to_dict().get("lease"), owner):
                transaction.update(ref, {"lease": None, "updated_at": self._clock()})

        self._run_transaction(txn, ref)
