"""action "cancel": cancel the run's Vertex AI jobs and mark the run CANCELLED.

Jobs are the unfinished ones in the run document plus any unfinished job labelled with the run's
identity (one orphaned by a crashed submitter). Vertex cancels asynchronously (CANCELLING, then
CANCELLED); the run is CANCELLED at once. A run that cannot be cancelled (COMPLETED, FAILED) is a
409; one already CANCELLED is answered as it is.
"""

from __future__ import annotations

from shared.errors import Conflict
from shared.jobstate import ALL_STATES, JobState, can_transition
from shared.vertex import ACTIVE_JOB_STATES, FINAL_JOB_STATES, run_labels
from status_poll import decide
from status_poll.refresh import PollDeps

CANCELLABLE = frozenset(s for s in ALL_STATES if can_transition(s, JobState.CANCELLED))


def jobs_to_cancel(deps: PollDeps, record: dict) -> list[str]:
    """Names of every unfinished job of the run, recorded or orphaned."""
    names = [job["name"] for job in record.get("jobs") or [] if job.get("state") not in FINAL_JOB_STATES]
    locations = dict.fromkeys([deps.location, *(job.get("location") for job in record.get("jobs") or [])])
    labels = run_labels(record["run_id"], record["batch_type"])
    for location in filter(None, locations):
        names += [job["name"] for job in deps.vertex.list_by_labels(location, labels)
                  if job["state"] in ACTIVE_JOB_STATES]
    return list(dict.fromkeys(names))


def cancel_run(deps: PollDeps, record: dict) -> dict:
    """Cancel the run; returns the new record."""
    from google.api_core.exceptions import NotFound

    state = record["state"]
    if state == JobState.CANCELLED:
        return record
    if state not in CANCELLABLE:
        raise Conflict(f"run '{record['run_id']}' is {state} and cannot be cancelled",
                       details={"reason": "not_cancellable", "state": state})
    fresh = {}
    for name in jobs_to_cancel(deps, record):
        deps.vertex.cancel(name)
        try:
            fresh[name] = deps.vertex.get(name)
        except NotFound:
            continue
    now = deps.clock()

    def mutate(current: dict) -> dict:
        return {"jobs": decide.merge_jobs(current.get("jobs") or [], fresh), "cancelled_at": now,
                "last_error": {"code": "CANCELLED", "message": "cancelled by request"}}

    updated = deps.store.transition(record["run_id"], record["batch_type"], JobState.CANCELLED,
                                    allowed_from=CANCELLABLE, mutate=mutate)
    deps.log.info("run cancelled", run_id=record["run_id"], batch_type=record["batch_type"],
                  state_from=state, jobs_cancelled=len(fresh))
    return updated
