"""The transcripts of a run, streamed from their source one record at a time (never the whole
source in memory): a BigQuery table (optionally a date range) or a JSONL object in Cloud Storage.

Each record is a dict with phone_number_token, interaction_id and transcript (any may be missing);
a line that is not a JSON object comes out as INVALID, for the caller to count.
"""

from __future__ import annotations

from typing import Iterator

import orjson

from batch_submit.request import GcsSource, TableSource
from shared.retry import api_retry, call_with_retry

INVALID: dict = {"__invalid__": True}
# Rows fetched per BigQuery page: about 10 MB of transcripts at 10 KB each, a bounded working set.
BQ_PAGE_SIZE = 1000
# Read size for Cloud Storage objects; a multiple of 256 KiB.
GCS_CHUNK_BYTES = 4 * 1024 * 1024
COLUMNS = ("phone_number_token", "interaction_id", "transcript")


def records(source: TableSource | GcsSource) -> Iterator[dict]:
    """The source's records, in a deterministic order (a retried submit writes the same shards)."""
    if isinstance(source, TableSource):
        return table_records(source)
    return gcs_records(source)


def table_query(source: TableSource) -> tuple[str, list]:
    """The SQL text and its parameters. The table name was validated (TableRef) and is backquoted;
    the dates are query parameters. Ordered by key: deterministic shards, adjacent duplicates."""
    from google.cloud import bigquery

    where, params = [], []
    if source.date_from:
        where.append("call_date >= @date_from")
        params.append(bigquery.ScalarQueryParameter("date_from", "DATE", source.date_from))
    if source.date_to:
        where.append("call_date <= @date_to")
        params.append(bigquery.ScalarQueryParameter("date_to", "DATE", source.date_to))
    sql = f"SELECT {', '.join(COLUMNS)} FROM {source.table.sql}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY interaction_id, phone_number_token"
    return sql, params


def table_records(source: TableSource) -> Iterator[dict]:
    from google.cloud import bigquery

    from shared.clients import bigquery_client

    sql, params = table_query(source)
    client = bigquery_client()
    # retry/job_retry None: the client's own policies wait up to 600 s, past the function's timeout;
    # shared.retry bounds an outage (and the page fetches below use the same bounded policy).
    job = call_with_retry(client.query, sql, job_config=bigquery.QueryJobConfig(query_parameters=params),
                          retry=None, job_retry=None)
    # result() pages through the answer: one page of rows in memory at a time.
    for row in call_with_retry(job.result, page_size=BQ_PAGE_SIZE, retry=api_retry()):
        yield {column: row.get(column) for column in COLUMNS}


def gcs_records(source: GcsSource) -> Iterator[dict]:
    from shared.clients import storage_client

    blob = storage_client().bucket(source.path.bucket).blob(source.path.name)
    with blob.open("rb", chunk_size=GCS_CHUNK_BYTES) as stream:
        for line in stream:
            if not line.strip():
                continue
            yield _parse_line(line)


def _parse_line(line: bytes) -> dict:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return INVALID
    return value if isinstance(value, dict) else INVALID
