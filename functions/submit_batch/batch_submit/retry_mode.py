"""mode "retry_failed": claim the finished run, gather attempt n's unanswered requests, submit them
as attempt n+1 (see retry_failed.py for where they come from).

- SUBMITTED or RUNNING: an attempt is in flight: "skipped".
- COMPLETED or PENDING_PROCESSING: look for requests to retry; none -> 200 "nothing_to_retry";
  some, but attempt n+1 would pass MAX_ATTEMPTS -> 409 CONFLICT, reason max_attempts_reached.
- Any other state -> 409 CONFLICT, reason not_retryable (PROCESSING: wait for the processor;
  FAILED/CANCELLED: use force).
Two concurrent calls: the second waits for the first (bounded) and answers "skipped".
"""

from __future__ import annotations

from batch_submit import answers
from batch_submit.claim import WAIT_FOR_SUBMITTER, SubmissionInProgress
from batch_submit.prepare import PrepareStats
from batch_submit.request import SubmitRequest
from batch_submit.retry_failed import RetrySource, retry_entries, retry_sources
from batch_submit.submission import Deps, create_jobs, record_submitted, release, write_shards
from shared.errors import Conflict
from shared.identifiers import parse_gcs_uri
from shared.jobstate import JobState

RETRYABLE_FROM = frozenset({JobState.COMPLETED, JobState.PENDING_PROCESSING})
IN_FLIGHT = frozenset({JobState.SUBMITTED, JobState.RUNNING})


def submit_retry(deps: Deps, req: SubmitRequest, owner: str) -> dict:
    """Submit attempt n's unanswered requests as attempt n+1."""
    from google.api_core.exceptions import RetryError

    policy = WAIT_FOR_SUBMITTER.with_timeout(req.wait_seconds)
    try:
        return policy(lambda: _retry_once(deps, req, owner))()
    except RetryError as exc:
        raise Conflict(f"run '{req.run_id}' is being resubmitted by another call",
                       details={"reason": "submission_in_progress"}) from exc


def _retry_once(deps: Deps, req: SubmitRequest, owner: str) -> dict:
    record = deps.store.require(req.run_id, req.batch_type)
    state, attempt = record["state"], int(record.get("attempt") or 0)
    if state in IN_FLIGHT:
        return answers.skipped(record)
    if state not in RETRYABLE_FROM:
        raise Conflict(f"run '{req.run_id}' is {state}; retry_failed needs a COMPLETED or PENDING_PROCESSING run",
                       details={"reason": "not_retryable", "state": state})
    sources = retry_sources(record, deps.storage)
    if not sources:
        return answers.nothing_to_retry(record)
    if attempt + 1 > deps.config.max_attempts:
        raise Conflict(f"run '{req.run_id}' has had {attempt} attempt(s), the maximum is {deps.config.max_attempts}",
                       details={"reason": "max_attempts_reached", "attempt": attempt,
                                "max_attempts": deps.config.max_attempts,
                                "retry_files": sum(s.files for s in sources)})
    _take_lease(deps, req, owner, state, attempt)
    try:
        return _submit(deps, req, owner, record, attempt + 1, sources)
    except Exception as exc:
        release(deps, req, owner, exc)
        raise


def _take_lease(deps: Deps, req: SubmitRequest, owner: str, state: str, attempt: int) -> None:
    """Hold the run while we resubmit; a holder that is alive makes us wait (SubmissionInProgress)."""

    def unchanged(current: dict) -> dict:
        if current["state"] != state or int(current.get("attempt") or 0) != attempt:
            raise SubmissionInProgress("the run changed while we looked at it")  # look again
        return {}

    try:
        deps.store.acquire_lease(req.run_id, req.batch_type, owner, deps.config.lease_seconds, mutate=unchanged)
    except SubmissionInProgress:
        raise
    except Conflict as exc:
        raise SubmissionInProgress(exc.message, details=exc.details) from exc


def _submit(deps: Deps, req: SubmitRequest, owner: str, record: dict, attempt: int,
            sources: list[RetrySource]) -> dict:
    stats = PrepareStats()
    shards = write_shards(deps, req, attempt, retry_entries(sources, deps.storage, stats), stats)
    if not shards:  # the files named no request of the inputs
        deps.store.release_lease(req.run_id, req.batch_type, owner)
        return answers.nothing_to_retry(record)
    output_base = parse_gcs_uri(record.get("output_base") or f"gs://{deps.settings.output_bucket}/runs", "output_base")
    model = req.model or record.get("model") or deps.config.model
    jobs = create_jobs(deps, req, attempt, output_base, shards, model)
    extra = {"mode": "retry_failed", "retry_of_attempt": attempt - 1, "retry_inputs": sum(s.files for s in sources),
             "model": model}
    new = record_submitted(deps, req, owner, attempt, jobs, stats, RETRYABLE_FROM, extra)
    deps.log.info("failed requests resubmitted", attempt=attempt, jobs=len(jobs), requests=stats.requests)
    return answers.submitted(new, stats)
