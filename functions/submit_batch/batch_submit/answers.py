"""The answers of submit_batch (the workflow author's contract; docs/api.md)."""

from __future__ import annotations

from batch_submit.prepare import PrepareStats
from shared.jobstate import attempt_jobs

JOB_FIELDS = ("name", "state", "input_uri", "output_prefix", "shard", "attempt", "model", "location",
              "requests", "failover", "reattached")


def current_jobs(record: dict) -> list[dict]:
    """The jobs of the run's current attempt, as answered."""
    jobs = attempt_jobs(record)
    return [{field: job.get(field) for field in JOB_FIELDS} for job in sorted(jobs, key=lambda j: j.get("shard", 0))]


def _base(status: str, record: dict) -> dict:
    return {"status": status, "run_id": record["run_id"], "batch_type": record["batch_type"],
            "run_state": record["state"], "attempt": record.get("attempt"), "jobs": current_jobs(record)}


def submitted(record: dict, stats: PrepareStats) -> dict:
    """A new attempt was submitted (or its jobs reattached after a crash)."""
    jobs = current_jobs(record)
    return {**_base("submitted", record), "requests": stats.requests,
            "skipped_records": stats.skipped_records, "skipped_reasons": dict(stats.skipped),
            "model": record.get("model"), "prompt_version": record.get("prompt_version"),
            "source": record.get("source"), "failover": any(job["failover"] for job in jobs)}


def partial(record: dict, stats: PrepareStats, progress: dict) -> dict:
    """The call's time budget ended before every shard was done: call again (resume: true)."""
    jobs = sorted(progress.get("jobs") or [], key=lambda j: j.get("shard", 0))
    return {**_base("partial", record), "resume": True, "planning": not progress.get("planned"),
            "jobs": [{field: job.get(field) for field in JOB_FIELDS} for job in jobs],
            "shards": len(progress.get("shards") or []), "shards_written": len(progress.get("written") or []),
            "jobs_created": len(jobs), "requests": stats.requests, "skipped_records": stats.skipped_records,
            "skipped_reasons": dict(stats.skipped), "source": progress.get("source")}


def skipped(record: dict) -> dict:
    """The run was already submitted (or is past it): nothing was done."""
    return {**_base("skipped", record), "reason": f"run is already {record['state']}",
            "requests": record.get("requests", 0), "skipped_records": record.get("skipped_records", 0),
            "skipped_reasons": record.get("skipped_reasons") or {}, "model": record.get("model"),
            "prompt_version": record.get("prompt_version"), "source": record.get("source")}


def nothing_to_retry(record: dict) -> dict:
    """retry_failed found no unanswered request in the latest attempt."""
    return {**_base("nothing_to_retry", record), "reason": "no failed requests in the latest attempt",
            "requests": 0, "skipped_records": 0, "skipped_reasons": {}}
