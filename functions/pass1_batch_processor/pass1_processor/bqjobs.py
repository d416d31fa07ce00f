"""BigQuery jobs with deterministic ids, counted by kind (query, load, dml) with bytes processed.

A job id derived from what the job is makes a repeat (a replay after a crash, a racing caller)
ask for the same job: BigQuery answers 409 and the existing job is awaited instead of a second one.
A job that failed for a transient reason (including a concurrent DML conflict, shared/errors.py) is
retried under a derived id (`..._r1`, ...), the same sequence on every replay.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from shared.errors import TRANSIENT_REASONS, InternalError, is_transient
from shared.faults import crash_point
from shared.retry import call_with_retry

MAX_ATTEMPTS = 4
JOB_TIMEOUT_SECONDS = 300.0
KINDS = ("query", "load", "dml")


def job_id(prefix: str, *parts: object) -> str:
    """A BigQuery job id (letters, digits, _ and -) determined by parts."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:40]
    return f"{prefix}_{digest}"


@dataclass
class JobCounter:
    """The jobs one call submitted (a 409 for a job that exists already is not a new job)."""

    counts: dict = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    bytes_processed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, job) -> None:
        with self._lock:
            self.counts[kind] += 1
            self.bytes_processed += int(getattr(job, "total_bytes_processed", None) or 0)

    def report(self) -> dict:
        return {"bigquery_jobs": dict(self.counts), "bytes_processed": self.bytes_processed}


@dataclass
class Jobs:
    """Submits the write path's jobs through one client, counting them."""

    client: Any  # google.cloud.bigquery.Client
    counter: JobCounter = field(default_factory=JobCounter)

    def query(self, sql: str, params: Sequence, base_id: str, kind: str = "query") -> object:
        """Run a statement under a deterministic id; returns the finished job."""
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(query_parameters=list(params))
        return self._run(kind, base_id, lambda current: self.client.query(
            sql, job_config=config, job_id=current, retry=None, job_retry=None))

    def read(self, sql: str, params: Sequence) -> list:
        """A read-only query (no job id: a read is repeated safely); its rows."""
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(query_parameters=list(params))
        job = call_with_retry(lambda: self.client.query(sql, job_config=config, retry=None, job_retry=None))
        rows = call_with_retry(job.result, retry=None, timeout=JOB_TIMEOUT_SECONDS)
        self.counter.add("query", job)
        return list(rows)

    def load_uris(self, uris: Sequence[str], table, schema, base_id: str,
                  ignore_unknown_values: bool = False) -> object:
        """Append NDJSON objects to a table (CREATE_NEVER: the table is made beforehand).
        ignore_unknown_values: load only the schema's fields of objects that hold more (BigQuery
        fails the job on a field the schema lacks otherwise)."""
        from google.cloud import bigquery

        config = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
                                        schema=list(schema), write_disposition="WRITE_APPEND",
                                        create_disposition="CREATE_NEVER",
                                        ignore_unknown_values=ignore_unknown_values)
        return self._run("load", base_id, lambda current: self.client.load_table_from_uri(
            list(uris), table.id, job_id=current, job_config=config, retry=None))

    def _run(self, kind: str, base_id: str, start: Callable[[str], object]):
        from google.api_core import exceptions as gexc

        for attempt in range(MAX_ATTEMPTS):
            current = base_id if attempt == 0 else f"{base_id}_r{attempt}"
            try:
                job = call_with_retry(start, current)
                new = True
            except gexc.Conflict:  # the job exists: a replay, a racing caller or our own retried request
                job = call_with_retry(self.client.get_job, current, retry=None)
                new = False
            crash_point(f"{kind}_job_started")  # the job runs on; its result is not seen
            if self._finished_ok(job):
                if new:
                    self.counter.add(kind, job)
                return job
        raise InternalError(f"BigQuery {kind} job kept failing", details={"job_id": base_id})

    @staticmethod
    def _finished_ok(job) -> bool:
        """Wait for the job: True when it succeeded, False when it failed transiently."""
        from google.api_core import exceptions as gexc

        try:
            call_with_retry(job.result, retry=None, timeout=JOB_TIMEOUT_SECONDS)
            return True
        except gexc.GoogleAPICallError as exc:
            # The job's error_result, or (not fetched yet when the result call failed) the call's own.
            error = job.error_result or next(iter(getattr(exc, "errors", None) or []), None) or {}
            if job.state == "DONE" and (error.get("reason") in TRANSIENT_REASONS or is_transient(exc)):
                return False
            if is_transient(exc):
                raise
            raise InternalError(f"BigQuery job {job.job_id} failed: {error.get('message') or exc}",
                                details={"job_id": job.job_id, "reason": error.get("reason"),
                                         "errors": (job.errors or [])[:5]}) from None

