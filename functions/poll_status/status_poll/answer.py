"""The poll_status answer of one run (the contract a Workflows `switch` or an HTTP sensor reads).

done: the LLM stage is over (every Vertex job of the current attempt ended, or the run is past it,
      failed or was cancelled). succeeded: done, and there is output to process
      (PENDING_PROCESSING, PROCESSING, COMPLETED).
run_totals: the run record's totals as the processor stored them at its last completion (reconciled;
      shared/totals.py), null before; the workflow's summary reads them here.
"""

from __future__ import annotations

from datetime import datetime

from shared.jobstate import JobState
from shared.totals import run_totals
from status_poll import decide

DONE_STATES = frozenset({JobState.PENDING_PROCESSING, JobState.PROCESSING, JobState.COMPLETED,
                         JobState.FAILED, JobState.CANCELLED})
SUCCEEDED_STATES = frozenset({JobState.PENDING_PROCESSING, JobState.PROCESSING, JobState.COMPLETED})
JOB_FIELDS = ("name", "state", "attempt", "shard", "model", "location", "input_uri", "output_prefix",
              "output_dir", "requests", "completion_stats", "progress", "error", "failover")


def _iso(value) -> str | None:
    if not isinstance(value, datetime):
        return value
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _seconds(start, end) -> float | None:
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return None
    return round((end - start).total_seconds(), 3)


def output_info(record: dict) -> list[dict]:
    """Every output directory of the run (all attempts) with its job, attempt and prediction files
    ("files" only when they were listed: an entry without it is processed as a whole directory)."""
    entries = []
    for job in record.get("jobs") or []:
        if job.get("output_dir") and job["output_dir"] in (record.get("output_dirs") or []):
            entry = {"gcsOutputDirectory": job["output_dir"], "job": job["name"], "attempt": job.get("attempt")}
            if job.get("output_files") is not None:
                entry["files"] = list(job["output_files"])
            entries.append(entry)
    return entries


def status_answer(record: dict, now: datetime, with_jobs: bool = True) -> dict:
    """The answer for one run (without the per-job list when with_jobs is False; job_count stays)."""
    state = record["state"]
    jobs = decide.attempt_jobs(record)
    stats, progress = decide.totals(jobs)
    answer = {
        "run_id": record["run_id"], "batch_type": record["batch_type"], "status": state,
        "llm_status": decide.llm_status(jobs), "done": state in DONE_STATES, "succeeded": state in SUCCEEDED_STATES,
        "attempt": record.get("attempt"), "output_info": output_info(record),
        "completion_stats": stats, "progress": progress, "run_totals": run_totals(record),
        "error": record.get("last_error") or record.get("last_submit_error"),
        "jobs": [{field: _iso(job.get(field)) for field in JOB_FIELDS} for job in jobs],
        "created_at": _iso(record.get("created_at")), "updated_at": _iso(record.get("updated_at")),
        "submitted_at": _iso(record.get("submitted_at")), "completed_at": _iso(record.get("completed_at")),
        "duration_seconds": _seconds(record.get("created_at"), record.get("completed_at") or now),
        "llm_duration_seconds": _seconds(record.get("submitted_at"), record.get("llm_completed_at") or now),
        "job_count": len(jobs),
    }
    if not with_jobs:
        del answer["jobs"]
    return answer
