"""The shard plan of a table source, built by BigQuery (set-based, never by reading the source in the
function): one query copies the run's source rows into a run-scoped table of the scratch dataset
(`<dataset>_scratch`, created by the deploy and the local provisioning in the dataset's location, with
a short default table expiration), each row with its hash bucket (FARM_FINGERPRINT of the trimmed
composite key modulo BUCKETS) and an upper bound of its request line's size. A second query sums the
buckets; the function packs contiguous buckets into shards of at most max_requests_per_job requests
and max_bytes_per_job bytes. A shard is then a bucket range: its rows are read back from the plan
table (clustered by bucket), ordered by key, when the shard is written.

Deterministic: the same key always lands in the same bucket, so duplicates of a key sit in one shard
(adjacent, as the order is by key), and a resumed call reads exactly the rows the plan holds, even if
the source table changed in between.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Iterator, NamedTuple

from batch_submit.request import TableSource
from batch_submit.sources import BQ_PAGE_SIZE, COLUMNS
from shared.errors import InternalError
from shared.identifiers import TableRef
from shared.retry import api_retry, call_with_retry

# Hash buckets of a plan: fine enough that one bucket (about 600 rows of a 10M-row run) is a small
# part of a 200,000-request shard, coarse enough that their sums come back in one page.
BUCKETS = 16384
STATS_PAGE_SIZE = BUCKETS
SCRATCH_SUFFIX = "_scratch"
CALL_DATE = "call_date"  # the source's partition column (DATE); its range per shard goes onto the key index
# Bytes a character may add to its request line: JSON escapes one byte for " \ and the newline, tab and
# carriage return characters, and < (the closing-tag guard of prompts.py adds a space); other control
# characters become \u00XX (5 more bytes).
_ESCAPED = r"""[^"\\<\x00-\x1f]"""
_CONTROL = r"[^\x00-\x08\x0b\x0c\x0e-\x1f]"


@dataclass(frozen=True)
class ShardRange:
    """One planned shard: buckets lo..hi (inclusive), rows and estimated bytes (upper bounds), and the
    call dates of its rows: the earliest and latest (ISO dates, None when no row has one) and how many
    rows have none. The dates go onto the shard's key index (shared/layout.py); a plan recorded
    before they existed has date_nulls None (unknown)."""

    index: int
    lo: int
    hi: int
    rows: int
    bytes: int
    date_min: str | None = None
    date_max: str | None = None
    date_nulls: int | None = None

    def to_dict(self) -> dict:
        return {"index": self.index, "lo": self.lo, "hi": self.hi, "rows": self.rows, "bytes": self.bytes,
                "date_min": self.date_min, "date_max": self.date_max, "date_nulls": self.date_nulls}

    @classmethod
    def from_dict(cls, value: dict) -> "ShardRange":
        nulls = value.get("date_nulls")
        return cls(int(value["index"]), int(value["lo"]), int(value["hi"]), int(value["rows"]), int(value["bytes"]),
                   value.get("date_min"), value.get("date_max"), None if nulls is None else int(nulls))


def scratch_dataset(dataset: str) -> str:
    return dataset + SCRATCH_SUFFIX


def plan_table(project: str, dataset: str, batch_type: str, run_id: str, attempt: int) -> TableRef:
    """The run attempt's plan table. Run ids may hold '.' and '-', which table ids may not: they
    become '_', and a hash of the exact run id keeps two such ids apart."""
    safe = re.sub(r"[^A-Za-z0-9_]", "_", run_id)[:60]
    digest = hashlib.sha256(f"{batch_type}/{run_id}".encode()).hexdigest()[:10]
    return TableRef.of(project, scratch_dataset(dataset), f"plan_{batch_type}_{safe}_{digest}_a{attempt}")


def plan_query(source: TableSource, destination: TableRef, line_overhead: int, max_chars: int) -> tuple[str, list]:
    """The CREATE TABLE ... AS SELECT of the plan, and its parameters. The source filter is on the
    partition column (call_date), so a dated run scans only its days; call_date is kept (bucket_sums
    reads each bucket's dates from it). A transcript over max_chars
    (skipped later) counts 0 bytes; every row counts as a request (an upper bound: skipped rows only
    make a shard smaller than planned)."""
    from google.cloud import bigquery

    where, params = [], [bigquery.ScalarQueryParameter("overhead", "INT64", line_overhead),
                         bigquery.ScalarQueryParameter("max_chars", "INT64", max_chars),
                         bigquery.ScalarQueryParameter("buckets", "INT64", BUCKETS)]
    if source.date_from:
        where.append("call_date >= @date_from")
        params.append(bigquery.ScalarQueryParameter("date_from", "DATE", source.date_from))
    if source.date_to:
        where.append("call_date <= @date_to")
        params.append(bigquery.ScalarQueryParameter("date_to", "DATE", source.date_to))
    key = "CONCAT(COALESCE(TRIM(phone_number_token), ''), '|', COALESCE(TRIM(interaction_id), ''))"
    text = "COALESCE(transcript, '')"
    # The key travels base64-encoded JSON of both ids: at most twice their bytes beyond the overhead.
    estimate = (f"@overhead + 2 * (BYTE_LENGTH(COALESCE(phone_number_token, '')) "
                f"+ BYTE_LENGTH(COALESCE(interaction_id, ''))) + IF(LENGTH({text}) > @max_chars, 0, "
                f"BYTE_LENGTH({text}) + LENGTH(REGEXP_REPLACE({text}, r'{_ESCAPED}', '')) "
                f"+ 4 * LENGTH(REGEXP_REPLACE({text}, r'{_CONTROL}', '')))")
    sql = (f"CREATE OR REPLACE TABLE {destination.sql} CLUSTER BY bucket AS "
           f"SELECT {', '.join(COLUMNS)}, {CALL_DATE}, MOD(ABS(FARM_FINGERPRINT({key})), @buckets) AS bucket, "
           f"{estimate} AS line_bytes FROM {source.table.sql}")
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql, params


def start_plan(client, source: TableSource, destination: TableRef, line_overhead: int, max_chars: int,
               job_id: str):
    """Start the plan query as job `job_id` (the plan table replaces one a crashed call may have
    left). The id is recorded in the run before the wait, so a call whose budget ends while BigQuery
    still plans leaves the job to the next call, which waits for the same job instead of starting over."""
    from google.api_core.exceptions import Conflict
    from google.cloud import bigquery

    sql, params = plan_query(source, destination, line_overhead, max_chars)
    try:
        return call_with_retry(client.query, sql, job_config=bigquery.QueryJobConfig(query_parameters=params),
                               job_id=job_id, retry=None, job_retry=None)
    except Conflict:  # our own earlier try of this very call created it
        return call_with_retry(client.get_job, job_id, retry=None)


def running_plan(client, job_id: str):
    """The recorded plan job, or None when it ended in an error (then a new one is started)."""
    job = call_with_retry(client.get_job, job_id, retry=None)
    return None if job.state == "DONE" and job.error_result else job


def wait_plan(job, timeout: float) -> bool:
    """True once the plan job is done (its error raised), False when `timeout` seconds pass first."""
    import concurrent.futures

    try:
        call_with_retry(job.result, timeout=max(0.1, timeout), retry=api_retry())
    except concurrent.futures.TimeoutError:
        return False
    return True


class BucketSum(NamedTuple):
    """One non-empty bucket of a plan: rows, bytes and its call dates (ISO; None: no row has one)."""

    bucket: int
    rows: int
    bytes: int
    date_min: str | None = None
    date_max: str | None = None
    date_nulls: int = 0


def bucket_sums(client, destination: TableRef) -> list[BucketSum]:
    """Every non-empty bucket, in bucket order (with its call dates: the same query, no extra job)."""
    sql = (f"SELECT bucket, COUNT(*) AS n, SUM(line_bytes) AS b, MIN({CALL_DATE}) AS dmin, "
           f"MAX({CALL_DATE}) AS dmax, COUNTIF({CALL_DATE} IS NULL) AS dnull FROM {destination.sql} "
           "GROUP BY bucket ORDER BY bucket")
    job = call_with_retry(client.query, sql, retry=None, job_retry=None)
    return [BucketSum(int(row["bucket"]), int(row["n"]), int(row["b"] or 0), _iso_date(row["dmin"]),
                      _iso_date(row["dmax"]), int(row["dnull"] or 0))
            for row in call_with_retry(job.result, page_size=STATS_PAGE_SIZE, retry=api_retry())]


def _iso_date(value) -> str | None:
    return None if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)


def pack(sums: list[BucketSum], max_requests: int, max_bytes: int) -> list[ShardRange]:
    """Contiguous buckets into shards, greedily: a shard closes before a bucket would take it past
    either limit. A bucket larger than a whole shard cannot be split: InternalError (only a limit far
    below Vertex's own could do that; the caller names it). A shard's dates span its buckets'."""
    shards: list[ShardRange] = []
    lo = rows = size = 0
    last = -1
    group: list[BucketSum] = []

    def close(hi: int) -> None:
        known = [d for s in group for d in (s.date_min, s.date_max) if d is not None]
        shards.append(ShardRange(len(shards), lo, hi, rows, size, min(known) if known else None,
                                 max(known) if known else None, sum(s.date_nulls for s in group)))

    for item in sums:
        item = BucketSum(*item)
        bucket, n, b = item.bucket, item.rows, item.bytes
        if n > max_requests or b > max_bytes:
            raise InternalError("one hash bucket of the plan exceeds a job's limits",
                                details={"reason": "bucket_too_large", "rows": n, "bytes": b})
        if rows and (rows + n > max_requests or size + b > max_bytes):
            close(last)
            lo, rows, size, group = last + 1, 0, 0, []
        rows, size, last = rows + n, size + b, bucket
        group.append(item)
    if rows:
        close(BUCKETS - 1)
    return shards


def shard_records(client, destination: TableRef, shard: ShardRange) -> Iterator[dict]:
    """The rows of one planned shard, ordered by the trimmed key (adjacent duplicates)."""
    from google.cloud import bigquery

    sql = (f"SELECT {', '.join(COLUMNS)} FROM {destination.sql} WHERE bucket BETWEEN @lo AND @hi "
           "ORDER BY TRIM(interaction_id), TRIM(phone_number_token)")
    params = [bigquery.ScalarQueryParameter("lo", "INT64", shard.lo),
              bigquery.ScalarQueryParameter("hi", "INT64", shard.hi)]
    job = call_with_retry(client.query, sql, job_config=bigquery.QueryJobConfig(query_parameters=params),
                          retry=None, job_retry=None)
    for row in call_with_retry(job.result, page_size=BQ_PAGE_SIZE, retry=api_retry()):
        yield {column: row.get(column) for column in COLUMNS}


def drop_plan(client, destination: TableRef) -> None:
    """Remove a plan that will not be used (a refused run); best effort, it expires anyway."""
    try:
        client.delete_table(destination.id, not_found_ok=True)
    except Exception:  # the scratch dataset's expiration removes it
        pass
