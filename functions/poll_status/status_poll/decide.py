"""Pure decisions of a poll: what the jobs of the current attempt mean for the run, merged job
entries, totals. No I/O here, so that every rule has a unit test."""

from __future__ import annotations

from shared.jobstate import JobState, attempt_jobs  # noqa: F401  (part of the poll's pure core)
from shared.vertex import (
    CANCELLED_JOB_STATES,
    FAILED,
    FINAL_JOB_STATES,
    STARTED_JOB_STATES,
    SUCCEEDED_JOB_STATES,
    least_advanced,
)

# The job fields a poll refreshes from Vertex.
REFRESHED = ("state", "output_dir", "completion_stats", "error", "start_time", "end_time", "update_time",
             "output_files")


def next_state(current: str, jobs: list[dict]) -> tuple[str, dict | None]:
    """(the run's state, its error) given its current state and the current attempt's jobs.

    All final and at least one succeeded -> PENDING_PROCESSING; all final, none succeeded: all
    cancelled -> CANCELLED, else FAILED with the jobs' errors; some job started (or some ended while
    others wait) -> RUNNING; all still queued -> unchanged. A RUNNING run never goes back.
    """
    states = [job.get("state") for job in jobs]
    if not jobs:
        return current, None
    if all(state in FINAL_JOB_STATES for state in states):
        if any(state in SUCCEEDED_JOB_STATES for state in states):
            return JobState.PENDING_PROCESSING, None
        if all(state in CANCELLED_JOB_STATES for state in states):
            return JobState.CANCELLED, {"code": "VERTEX_JOB_CANCELLED", "message": "every Vertex AI job was cancelled"}
        return JobState.FAILED, _failure(jobs)
    if current == JobState.RUNNING or any(s in STARTED_JOB_STATES | FINAL_JOB_STATES for s in states):
        return JobState.RUNNING, None
    return current, None


def _failure(jobs: list[dict]) -> dict:
    failed = [{"job": job["name"], "state": job.get("state"), "error": job.get("error")} for job in jobs]
    first = next((job.get("error") for job in jobs if job.get("error")), None) or {}
    message = first.get("message") or "every Vertex AI job failed"
    return {"code": "VERTEX_JOB_FAILED", "message": message[:1000], "details": {"jobs": failed}}


def not_found(job: dict) -> dict:
    """What a job Vertex no longer knows counts as: failed, with the reason."""
    return {"name": job["name"], "state": FAILED, "error": {"code": 5, "message": "Vertex AI job not found"}}


def merge_jobs(record_jobs: list[dict], fresh: dict[str, dict]) -> list[dict]:
    """The record's jobs with the refreshed fields of those in `fresh` (by name), and per-job progress."""
    merged = []
    for job in record_jobs:
        update = fresh.get(job.get("name", ""))
        if update is not None:
            job = {**job, **{key: update.get(key) for key in REFRESHED if key in update}}
            job["progress"] = job_progress(job)
        merged.append(job)
    return merged


def job_progress(job: dict) -> dict:
    stats = job.get("completion_stats") or {}
    requests = int(job.get("requests") or 0)
    processed = int(stats.get("successful") or 0) + int(stats.get("failed") or 0)
    if job.get("state") in SUCCEEDED_JOB_STATES:
        processed = max(processed, requests - int(stats.get("incomplete") or 0))
    return {"requests": requests, "processed": processed,
            "fraction": round(min(processed / requests, 1.0), 4) if requests else None}


def totals(jobs: list[dict]) -> tuple[dict, dict]:
    """(completion_stats, progress) of a set of jobs."""
    stats = {"successful": 0, "failed": 0, "incomplete": 0}
    for job in jobs:
        for key in stats:
            stats[key] += int((job.get("completion_stats") or {}).get(key) or 0)
    requests = sum(int(job.get("requests") or 0) for job in jobs)
    processed = sum((job.get("progress") or job_progress(job))["processed"] for job in jobs)
    progress = {"requests": requests, "processed": processed,
                "fraction": round(min(processed / requests, 1.0), 4) if requests else None,
                "jobs_total": len(jobs), "jobs_final": sum(job.get("state") in FINAL_JOB_STATES for job in jobs)}
    return stats, progress


def output_dirs(jobs: list[dict], known: list[str]) -> list[str]:
    """Known output directories plus those of succeeded jobs, in order, without duplicates."""
    found = [job["output_dir"] for job in jobs if job.get("output_dir") and job.get("state") in SUCCEEDED_JOB_STATES]
    return list(dict.fromkeys([*known, *found]))


def llm_status(jobs: list[dict]) -> str | None:
    return least_advanced(job.get("state") for job in jobs)
