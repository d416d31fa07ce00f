"""Writing rows to BigQuery: load jobs with deterministic ids (default) or streaming inserts.

load: one NDJSON load job per (chunk, table). Its id is derived from what the chunk is, so a replay
after a crash asks for the same job: BigQuery answers 409 and the existing job is read instead of a
second load. A job that failed for a transient reason is retried under a derived id (`..._r1`, ...),
the same sequence on every replay.

streaming: insert_rows_json in batches with deterministic row ids. Rows refused as invalid are
returned to the caller (they become dead letters); the others are sent again, transient per-row
errors under the shared retry policy.
"""

from __future__ import annotations

import hashlib
import io
from typing import Sequence

import orjson

from pass1_processor.schema import TableInfo
from google.api_core.exceptions import RetryError

from shared.faults import crash_point
from shared.errors import TRANSIENT_REASONS, InternalError, UpstreamUnavailable, is_transient
from shared.retry import api_retry, call_with_retry

# A failed load under one id is retried under a new one at most this often; transient job failures
# are rare, and each failed load still counts against the table's 1,500 daily modifications.
MAX_LOAD_ATTEMPTS = 4
# Waiting for one load job: BigQuery loads a chunk in seconds; a stuck job ends the call with a 503
# and the chunk is replayed (same job id) by the next call.
LOAD_TIMEOUT_SECONDS = 300.0
# insertAll: requests over 10 MB fail and Google recommends about 500 rows per request.
STREAM_MAX_ROWS = 500
STREAM_MAX_BYTES = 5 * 1024 * 1024
# Per-row reasons of insertAll that mean "send this row again".
ROW_RETRY_REASONS = TRANSIENT_REASONS | {"timeout"}


def job_id(prefix: str, *parts: object) -> str:
    """A BigQuery job id (letters, digits, _ and -) determined by parts."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:40]
    return f"{prefix}_{digest}"


def row_id(*parts: object) -> str:
    """A deterministic insertAll row id (best-effort dedupe on BigQuery's side)."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:32]


def load_rows(info: TableInfo, rows: Sequence[dict], base_job_id: str, client=None) -> str:
    """Append rows with a load job (or find the one that already did); returns the id of the job
    that succeeded. Terminal job failures raise InternalError with BigQuery's errors."""
    return load_serialized(info, [orjson.dumps(row) for row in rows], base_job_id, client)


def load_serialized(info: TableInfo, rows: Sequence[bytes], base_job_id: str, client=None) -> str:
    """load_rows for rows already serialized, one JSON object each."""
    client = client or _client()
    data = b"\n".join([*rows, b""])  # every row ends with a newline; one allocation of the whole load
    for attempt in range(MAX_LOAD_ATTEMPTS):
        current = base_job_id if attempt == 0 else f"{base_job_id}_r{attempt}"
        job = _start_or_find(client, info, data, current)
        crash_point("load_started")  # the job runs on; its result is not seen
        if _finished_ok(job):
            crash_point("load_done")  # loaded, but no checkpoint says so
            return current
    raise InternalError(f"load into {info.ref.id} kept failing", details={"job_id": base_job_id})


def _client():
    from shared.clients import bigquery_client

    return bigquery_client()


def _start_or_find(client, info: TableInfo, data: bytes, current: str):
    from google.api_core import exceptions as gexc
    from google.cloud import bigquery

    config = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
                                    schema=list(info.schema), write_disposition="WRITE_APPEND",
                                    create_disposition="CREATE_NEVER")
    try:
        # A fresh stream per try: a retried upload must start from the first byte.
        # num_retries=0 / retry=None: the client's own retries wait minutes (up to 600 s) on an outage;
        # shared.retry alone bounds it, so that the call ends in a 503 within the function's budget.
        return call_with_retry(lambda: client.load_table_from_file(io.BytesIO(data), info.ref.id, num_retries=0,
                                                                   job_id=current, job_config=config))
    except gexc.Conflict:  # this chunk's job exists already (a replay, or our own retried request)
        return call_with_retry(client.get_job, current, retry=None)


def _finished_ok(job) -> bool:
    """Wait for the job: True when it loaded, False when it failed transiently (try a new id)."""
    from google.api_core import exceptions as gexc

    try:
        call_with_retry(job.result, retry=None, timeout=LOAD_TIMEOUT_SECONDS)
        return True
    except gexc.GoogleAPICallError as exc:
        error = job.error_result or {}
        if job.state == "DONE" and error.get("reason") in TRANSIENT_REASONS:
            return False
        if is_transient(exc):
            raise
        raise InternalError(f"load job {job.job_id} failed: {error.get('message') or exc}",
                            details={"job_id": job.job_id, "reason": error.get("reason"),
                                     "errors": (job.errors or [])[:5]}) from None


class _RowsToRetry(Exception):
    """Some rows of an insertAll request failed transiently; they are sent again."""


def stream_rows(info: TableInfo, rows: Sequence[dict], ids: Sequence[str], client=None) -> list[tuple[int, str]]:
    """Insert rows with insertAll; returns (index, message) of rows refused as invalid."""
    client = client or _client()
    rejected: list[tuple[int, str]] = []
    prepared = [_stream_ready(row, info.json_columns) for row in rows]
    for batch in _stream_batches(prepared):
        pending = {index: (prepared[index], ids[index]) for index in batch}
        try:
            api_retry().with_predicate(_retry_rows)(_insert_pending)(client, info, pending, rejected)
        except RetryError as exc:
            raise UpstreamUnavailable(f"streaming insert into {info.ref.id} still failing after retries",
                                      details={"type": type(exc.cause).__name__ if exc.cause else None}) from exc
    return rejected


def _retry_rows(exc: BaseException) -> bool:
    """Retry predicate: rows that failed transiently, or the request itself failed transiently."""
    return isinstance(exc, _RowsToRetry) or is_transient(exc)


def _insert_pending(client, info: TableInfo, pending: dict, rejected: list) -> None:
    """Send the pending rows until none is left; raise _RowsToRetry on transient row errors."""
    while pending:
        order = list(pending)
        errors = client.insert_rows_json(info.ref.id, [pending[i][0] for i in order],
                                         row_ids=[pending[i][1] for i in order], skip_invalid_rows=False,
                                         retry=None)
        retry_later, failed = False, set()
        for error in errors:
            index = order[error["index"]]
            reasons = {e.get("reason") for e in error.get("errors", [])}
            failed.add(index)
            if reasons <= {"stopped"}:
                continue  # valid, held back by another row's error: sent again below
            if reasons & ROW_RETRY_REASONS:
                retry_later = True
                continue
            message = "; ".join(str(e.get("message") or e.get("reason")) for e in error.get("errors", []))
            rejected.append((index, message[:1000]))
            pending.pop(index)
        for index in order:
            if index not in failed:
                pending.pop(index)
        if retry_later:
            raise _RowsToRetry(f"{len(pending)} rows to send again")


def _stream_ready(row: dict, json_columns: frozenset[str]) -> dict:
    """insertAll takes JSON columns as JSON text."""
    if not json_columns:
        return row
    out = dict(row)
    for name in json_columns:
        if out.get(name) is not None:
            out[name] = orjson.dumps(out[name]).decode()
    return out


def _stream_batches(rows: Sequence[dict]):
    batch, size = [], 0
    for index, row in enumerate(rows):
        row_bytes = len(orjson.dumps(row))
        if batch and (len(batch) >= STREAM_MAX_ROWS or size + row_bytes > STREAM_MAX_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(index)
        size += row_bytes
    if batch:
        yield batch
