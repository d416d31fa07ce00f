"""Refresh one run from Vertex AI: ask for each unfinished job of the current attempt (one list call
by the run's labels when there are several), record what
came back, and move the run on (decide.next_state). Runs past the LLM stage are not touched.

Nothing is written until every job answered: a Vertex outage (503 after retries) leaves the run as
it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from shared.errors import Conflict
from shared.jobstate import LLM_ACTIVE_STATES, JobState, JobStore
from shared.logs import Logger
from shared.vertex import FINAL_JOB_STATES, VertexJobs, location_of, run_labels
from status_poll import decide
from status_poll.outputs import unlisted_outputs

LLM_DONE_STATES = frozenset({JobState.PENDING_PROCESSING, JobState.FAILED, JobState.CANCELLED})


class _AttemptChanged(Conflict):
    """A new attempt was submitted while we polled the previous one."""


@dataclass
class PollDeps:
    store: JobStore
    vertex: VertexJobs
    clock: Callable[[], datetime]
    log: Logger
    location: str
    storage: Callable[[], Any]  # a Storage client factory: only a run that finished needs one


# From this many unfinished jobs on, one list call per location (filtered by the attempt's labels)
# replaces a get per job: a 10M-transcript run has about 52 jobs, polled every few minutes for days.
LIST_FROM_JOBS = 3


def fetch_jobs(vertex: VertexJobs, jobs: list[dict], record: dict | None = None) -> dict[str, dict]:
    """The current Vertex view of each unfinished job, by name (final jobs never change). With
    LIST_FROM_JOBS or more, listed by the run attempt's labels; a job the listing misses is asked
    for by name (it may be gone: decide.not_found)."""
    from google.api_core.exceptions import NotFound

    pending = [job for job in jobs if job.get("state") not in FINAL_JOB_STATES]
    fresh = _listed(vertex, pending, record) if record is not None and len(pending) >= LIST_FROM_JOBS else {}
    for job in pending:
        if job["name"] in fresh:
            continue
        try:
            fresh[job["name"]] = vertex.get(job["name"])
        except NotFound:
            fresh[job["name"]] = decide.not_found(job)
    return fresh


def _listed(vertex: VertexJobs, pending: list[dict], record: dict) -> dict[str, dict]:
    wanted = {job["name"] for job in pending}
    labels = run_labels(record["run_id"], record["batch_type"], record.get("attempt"))
    found = {}
    for location in sorted({location_of(job["name"]) for job in pending}):
        for job in vertex.list_by_labels(location, labels):
            if job["name"] in wanted:
                found[job["name"]] = job
    return found


def refresh_run(deps: PollDeps, record: dict) -> dict:
    """The run after asking Vertex about its jobs (unchanged when it is not waiting on Vertex)."""
    if record["state"] not in LLM_ACTIVE_STATES:
        return record
    fresh = fetch_jobs(deps.vertex, decide.attempt_jobs(record), record)
    merged = decide.merge_jobs(decide.attempt_jobs(record), fresh)
    target, error = decide.next_state(record["state"], merged)
    if target == JobState.PENDING_PROCESSING:
        # Listed before the transaction: a Storage outage leaves the run as it was (503).
        for name, listing in unlisted_outputs(deps.storage(), merged).items():
            fresh.setdefault(name, {}).update(listing)
    now = deps.clock()

    def mutate(current: dict) -> dict:
        if current.get("attempt") != record.get("attempt"):
            raise _AttemptChanged("a new attempt was submitted meanwhile")
        jobs = decide.merge_jobs(current.get("jobs") or [], fresh)
        attempt = decide.attempt_jobs({**current, "jobs": jobs})
        stats, progress = decide.totals(attempt)
        changes = {"jobs": jobs, "completion_stats": stats, "progress": progress,
                   "llm_status": decide.llm_status(attempt), "polled_at": now}
        if target == JobState.PENDING_PROCESSING:
            changes["output_dirs"] = decide.output_dirs(jobs, current.get("output_dirs") or [])
        if target in LLM_DONE_STATES:
            changes["llm_completed_at"] = now
        if error:
            changes["last_error"] = error
        return changes

    try:
        updated = deps.store.transition(record["run_id"], record["batch_type"], target,
                                        allowed_from=LLM_ACTIVE_STATES, mutate=mutate)
    except Conflict:
        # The run moved on meanwhile (cancelled, processing started, a new attempt): answer that.
        return deps.store.require(record["run_id"], record["batch_type"])
    if updated["state"] != record["state"]:
        deps.log.info("run moved on", run_id=record["run_id"], batch_type=record["batch_type"],
                      state_from=record["state"], state_to=updated["state"], llm_status=updated.get("llm_status"))
    return updated
