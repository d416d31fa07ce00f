"""The transcripts of a run's JSONL object in Cloud Storage, streamed one record at a time (never the
whole object in memory), and the names the table plan (plan.py) shares with it.

Each record is a dict with phone_number_token, interaction_id and transcript (any may be missing);
a line that is not a JSON object comes out as INVALID, for the caller to count.
"""

from __future__ import annotations

from typing import Iterator

import orjson

from batch_submit.request import GcsSource

INVALID: dict = {"__invalid__": True}
# Rows fetched per BigQuery page: about 10 MB of transcripts at 10 KB each, a bounded working set.
BQ_PAGE_SIZE = 1000
# Read size for Cloud Storage objects; a multiple of 256 KiB.
GCS_CHUNK_BYTES = 4 * 1024 * 1024
COLUMNS = ("phone_number_token", "interaction_id", "transcript")


def records(source: GcsSource) -> Iterator[dict]:
    """The records of a JSONL object, in file order (a retried submit writes the same shards). A
    table source is never read here: BigQuery plans and shards it (plan.py, sharded.py)."""
    return gcs_records(source)


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
