"""The steps every attempt goes through, whatever its requests came from: write the input shards,
create (or reattach) the jobs, record the run SUBMITTED; on failure, give the run back."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable

from batch_submit.config import SubmitConfig
from batch_submit.jobs import JobCreator, RunAttempt, Target, targets
from batch_submit.prepare import REQUEST_TOO_LARGE, PrepareStats
from batch_submit.request import SubmitRequest
from batch_submit.shards import RequestEntry, Shard, ShardWriter
from shared.config import Settings
from shared.errors import Conflict, to_pipeline_error
from shared.identifiers import GcsPath
from shared.jobstate import JobState, JobStore
from shared.layout import attempt_prefix
from shared.lease import holds
from shared.logs import Logger
from shared.vertex import VertexJobs


@dataclass
class Deps:
    """What one submit call works with (built per call; clients are cached per process)."""

    settings: Settings
    config: SubmitConfig
    store: JobStore
    vertex: VertexJobs
    storage: Any
    clock: Callable[[], datetime]
    log: Logger
    breaker_for: Callable[[Target], Any]
    # The time budget's clock (sharded.Budget); tests inject one that advances per shard.
    monotonic: Callable[[], float] = time.monotonic


def write_shards(deps: Deps, req: SubmitRequest, attempt: int, entries: Iterable[RequestEntry],
                 stats: PrepareStats) -> list[Shard]:
    """Stream the entries into the attempt's input objects and key indexes; returns the shards written."""
    prefix = attempt_prefix(deps.settings.input_bucket, req.batch_type, req.run_id, attempt)
    writer = ShardWriter(deps.storage.bucket(deps.settings.input_bucket), prefix, attempt,
                         req.max_requests_per_job, req.max_bytes_per_job)
    try:
        for entry in entries:
            if not writer.write(entry):
                stats.skipped[REQUEST_TOO_LARGE] += 1
    except BaseException:
        writer.abort()
        raise
    shards = writer.close()
    stats.requests = sum(shard.requests for shard in shards)
    deps.log.info("input written", shards=len(shards), requests=stats.requests,
                  skipped_records=stats.skipped_records, skipped_reasons=dict(stats.skipped))
    return shards


def create_jobs(deps: Deps, req: SubmitRequest, attempt: int, output_base: GcsPath,
                shards: list[Shard], model: str) -> list[dict]:
    """One job per shard on `model` (or the fallback), reattached when it already exists."""
    run = RunAttempt(req.run_id, req.batch_type, attempt, output_base)
    target_list = targets(model, deps.settings.location, deps.config.fallback_model,
                          deps.config.fallback_location)
    creator = JobCreator(deps.vertex, run, target_list, deps.breaker_for, deps.log)
    return [creator.job_for(shard) for shard in shards]


def record_submitted(deps: Deps, req: SubmitRequest, owner: str, attempt: int, jobs: list[dict],
                     stats: PrepareStats, allowed_from: Iterable[str], extra: dict) -> dict:
    """Move the run to SUBMITTED with its jobs, if we still hold its lease."""
    now = deps.clock()
    summary = {"attempt": attempt, "mode": extra.get("mode", req.mode), "requests": stats.requests,
               "skipped_records": stats.skipped_records, "jobs": [job["name"] for job in jobs], "submitted_at": now}

    def mutate(current: dict) -> dict:
        if not holds(current.get("lease"), owner):
            raise Conflict(f"run '{req.run_id}' was taken over by another call", details={"reason": "lease_lost"})
        others = [job for job in current.get("jobs") or [] if job.get("attempt") != attempt]
        attempts = [a for a in current.get("attempts") or [] if a.get("attempt") != attempt] + [summary]
        return {**extra, "attempt": attempt, "jobs": others + jobs, "attempts": attempts, "lease": None,
                "input_uris": [job["input_uri"] for job in jobs], "requests": stats.requests,
                "skipped_records": stats.skipped_records, "skipped_reasons": dict(stats.skipped),
                "last_submit_error": None, "submitted_at": now}

    try:
        return deps.store.transition(req.run_id, req.batch_type, JobState.SUBMITTED,
                                     allowed_from=allowed_from, mutate=mutate)
    except Conflict:
        _cancel_if_run_cancelled(deps, req, jobs)
        raise


def _cancel_if_run_cancelled(deps: Deps, req: SubmitRequest, jobs: list[dict]) -> None:
    """The run was cancelled while we submitted: the jobs we just made must not run for nothing."""
    current = deps.store.get(req.run_id, req.batch_type)
    if current and current["state"] == JobState.CANCELLED:
        for job in jobs:
            deps.vertex.cancel(job["name"])
        deps.log.warning("run cancelled during submission; its new jobs were cancelled", jobs=len(jobs))


def release(deps: Deps, req: SubmitRequest, owner: str, exc: BaseException) -> None:
    """After a failure: drop our lease and note the error, leaving the run as it was (resumable: a
    retried call overwrites the same input objects and reattaches to the jobs already made)."""
    err = to_pipeline_error(exc)
    info = {"code": err.code, "message": err.message, "at": deps.clock(), "mode": req.mode}

    def mutate(current: dict) -> dict:
        if not holds(current.get("lease"), owner):
            return {}
        return {"lease": None, "last_submit_error": info}

    try:
        deps.store.update(req.run_id, req.batch_type, mutate=mutate)
    except Exception as release_exc:  # the original error is what the caller must see
        deps.log.error("could not release the run after a failure", error_type=type(release_exc).__name__)
