"""Claim a run for submission (create or get, in one transaction).

- No record yet: it is created in PENDING_SUBMISSION with our lease, in the same transaction.
- SUBMITTED, RUNNING, PENDING_PROCESSING, PROCESSING, COMPLETED: nothing to do; the caller answers
  "skipped" with the existing jobs.
- FAILED or CANCELLED: 409 unless `force`, which starts attempt n+1 (back to PENDING_SUBMISSION).
- PENDING_SUBMISSION: an earlier submitter crashed or gave up (its lease expired or was released):
  we take over, and reattach to whatever jobs it created. If a live submitter holds it (two calls at
  once), we wait for it (bounded) and then answer what it did: "skipped" with its jobs. Still held
  when the wait ends: 409 CONFLICT, reason submission_in_progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from google.api_core.exceptions import RetryError
from google.api_core.retry import Retry, if_exception_type

from shared.errors import Conflict
from shared.jobstate import RESUBMITTABLE_STATES, SKIP_SUBMIT_STATES, JobState, JobStore
from shared.lease import held_by_another, lease_for

# Waiting for a concurrent submitter: first look again after half a second, then less often; a
# submission takes seconds to minutes, so five seconds between looks costs little.
WAIT_INITIAL_SECONDS = 0.5
WAIT_MAXIMUM_SECONDS = 5.0
WAIT_MULTIPLIER = 1.5


class SubmissionInProgress(Conflict):
    """Another live call holds the run's submission lease."""


# Looking again while another call submits the run. The budget is the request's wait_seconds
# (WAIT_FOR_SUBMITTER.with_timeout(...)); when it runs out the caller answers 409, not 503: the
# service is fine, the run is busy.
WAIT_FOR_SUBMITTER = Retry(predicate=if_exception_type(SubmissionInProgress), initial=WAIT_INITIAL_SECONDS,
                           maximum=WAIT_MAXIMUM_SECONDS, multiplier=WAIT_MULTIPLIER)


@dataclass(frozen=True)
class Claim:
    record: dict
    proceed: bool  # False: the run is already submitted (or past it): answer skipped
    created: bool = False
    forced: bool = False  # a FAILED or CANCELLED run restarted as a new attempt


def claim_for_submit(store: JobStore, run_id: str, batch_type: str, *, owner: str, force: bool,
                     lease_seconds: float, wait_seconds: float, fields: dict,
                     clock: Callable[[], datetime]) -> Claim:
    """Claim the run, waiting up to wait_seconds for a concurrent submitter to finish."""
    policy = WAIT_FOR_SUBMITTER.with_timeout(wait_seconds)

    def once() -> Claim:
        return _claim_once(store, run_id, batch_type, owner, force, lease_seconds, fields, clock)

    try:
        return policy(once)()
    except RetryError as exc:
        busy = exc.cause if isinstance(exc.cause, SubmissionInProgress) else None
        raise Conflict(f"run '{run_id}' is being submitted by another call",
                       details={"reason": "submission_in_progress", "state": JobState.PENDING_SUBMISSION,
                                **(busy.details if busy else {})}) from exc


def _claim_once(store, run_id, batch_type, owner, force, lease_seconds, fields, clock) -> Claim:
    now = clock()
    record, created = store.create_or_get(run_id, batch_type,
                                          fields={**fields, "attempt": 1,
                                                  "lease": lease_for(owner, now, lease_seconds)})
    if created:
        return Claim(record, proceed=True, created=True)
    state = record["state"]
    if state in SKIP_SUBMIT_STATES:
        return Claim(record, proceed=False)
    if state in RESUBMITTABLE_STATES and not force:
        raise Conflict(f"run '{run_id}' is {state}; pass \"force\": true to submit it again as a new attempt",
                       details={"reason": "resubmission_needs_force", "state": state})

    def take(current: dict) -> dict:
        lease = current.get("lease")
        if current["state"] == JobState.PENDING_SUBMISSION and held_by_another(lease, owner, now):
            assert lease is not None  # held by another: there is a lease
            raise SubmissionInProgress(f"run '{run_id}' is being submitted by another call",
                                       details={"lease_expires_at": lease["expires_at"].isoformat()})
        changes = {**fields, "lease": lease_for(owner, now, lease_seconds)}
        if current["state"] in RESUBMITTABLE_STATES:
            changes.update(attempt=int(current.get("attempt") or 0) + 1, last_error=None, completed_at=None,
                           forced_at=now)
        return changes

    try:
        record = store.transition(run_id, batch_type, JobState.PENDING_SUBMISSION,
                                  allowed_from=RESUBMITTABLE_STATES | {JobState.PENDING_SUBMISSION}, mutate=take)
    except SubmissionInProgress:
        raise
    except Conflict:
        # Another call finished the submission between our read and our transaction.
        current = store.require(run_id, batch_type)
        if current["state"] in SKIP_SUBMIT_STATES:
            return Claim(current, proceed=False)
        raise
    return Claim(record, proceed=True, forced=state in RESUBMITTABLE_STATES)
