"""Where generated rows go: JSON lines (a local file or a gs:// object) and BigQuery load jobs.

Both writers take rows one at a time and hold at most one bounded batch in memory, so any number
of rows streams through. Clients come from shared.clients, which points them at the emulators
when the environment says so (STORAGE_EMULATOR_HOST, BIGQUERY_EMULATOR_HOST).
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import orjson

from shared.retry import call_with_retry

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "infra" / "schemas"
# Writes to the file or object are grouped into blocks of about this size: one write per row would
# spend more time in the storage client than in generating the row.
WRITE_BLOCK_BYTES = 1 << 20
# Resumable upload chunk for gs:// objects (a multiple of 256 KiB, as the API requires).
GCS_CHUNK_BYTES = 8 << 20
# A load job per this many rows or bytes, whichever comes first. Bytes stay under the client's
# 5 MiB multipart limit (one request per job); rows keep the number of jobs well under BigQuery's
# 1,500 table modifications per table per day for hundreds of thousands of rows.
LOAD_BATCH_ROWS = 50_000
LOAD_BATCH_BYTES = 4 << 20
# How long one load job may take to finish once submitted.
LOAD_JOB_TIMEOUT_SECONDS = 300.0


class JsonlWriter:
    """Rows as JSON lines to a local path or to gs://bucket/object (streamed resumable upload)."""

    def __init__(self, destination: str, storage_client=None, chunk_bytes: int = GCS_CHUNK_BYTES):
        self.destination = destination
        self.rows = 0
        self.bytes = 0
        self._block: list[bytes] = []
        self._block_bytes = 0
        self._file = _open_destination(destination, storage_client, chunk_bytes)

    def write(self, row: dict) -> None:
        line = orjson.dumps(row) + b"\n"
        self._block.append(line)
        self._block_bytes += len(line)
        self.rows += 1
        if self._block_bytes >= WRITE_BLOCK_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._block:
            self._file.write(b"".join(self._block))
            self.bytes += self._block_bytes
            self._block, self._block_bytes = [], 0

    def close(self) -> None:
        """Write what is left and finish the file or the upload."""
        self._flush()
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        elif not self.destination.startswith("gs://"):
            self._file.close()
        # A gs:// upload left unfinished never becomes an object: nothing half-written appears.


def _open_destination(destination: str, storage_client, chunk_bytes: int):
    if not destination.startswith("gs://"):
        path = Path(destination)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("wb")
    from shared.identifiers import parse_gcs_uri
    from shared.retry import api_retry

    target = parse_gcs_uri(destination, "destination")
    if not target.name:
        raise ValueError(f"{destination} names a bucket, not an object")
    if storage_client is None:
        from shared.clients import storage_client as make_client

        storage_client = make_client()
    blob = storage_client.bucket(target.bucket).blob(target.name)
    # Overwriting sample data is harmless, so every chunk may be retried on transient errors.
    return blob.open("wb", chunk_size=chunk_bytes, content_type="application/jsonl",
                     retry=api_retry())


def load_schema(table_kind: str) -> list:
    """The BigQuery schema kept in infra/schemas/<table_kind>.json, as SchemaField objects."""
    from google.cloud.bigquery import SchemaField

    fields = orjson.loads((SCHEMA_DIR / f"{table_kind}.json").read_bytes())
    return [SchemaField.from_api_repr(field) for field in fields]


class BigQueryLoader:
    """Appends rows to a BigQuery table with NEWLINE_DELIMITED_JSON load jobs, one per batch.

    Each batch has its own job id; a retried submission that finds its job id taken (409) waits for
    that job instead of loading the batch twice. `replace=True` truncates the table with the first
    batch (or when closing an empty loader).
    """

    def __init__(self, table_id: str, schema: list, client=None, replace: bool = False,
                 batch_rows: int = LOAD_BATCH_ROWS, batch_bytes: int = LOAD_BATCH_BYTES):
        if client is None:
            from shared.clients import bigquery_client

            client = bigquery_client()
        self.table_id = table_id
        self.rows = 0
        self.jobs: list[str] = []
        self._client = client
        self._schema = schema
        self._replace = replace
        self._batch_rows, self._batch_bytes = batch_rows, batch_bytes
        self._buffer = io.BytesIO()
        self._buffered_rows = 0
        self._run_id = f"sample_data_{uuid.uuid4().hex[:12]}"

    def write(self, row: dict) -> None:
        line = orjson.dumps(row) + b"\n"
        if self._buffered_rows and self._buffer.tell() + len(line) > self._batch_bytes:
            self.flush()
        self._buffer.write(line)
        self._buffered_rows += 1
        self.rows += 1
        if self._buffered_rows >= self._batch_rows:
            self.flush()

    def flush(self) -> None:
        """Load what is buffered as one job and wait for it."""
        if not self._buffered_rows and not (self._replace and not self.jobs):
            return
        payload = self._buffer.getvalue()
        job_id = f"{self._run_id}_{self.table_id.rsplit('.', 1)[-1]}_{len(self.jobs):05d}"
        call_with_retry(self._load_once, payload, job_id)
        self.jobs.append(job_id)
        self._buffer = io.BytesIO()
        self._buffered_rows = 0

    def close(self) -> None:
        self.flush()

    def _load_once(self, payload: bytes, job_id: str) -> None:
        from google.api_core.exceptions import Conflict
        from google.cloud import bigquery

        truncate = self._replace and not self.jobs
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
            schema=self._schema,
            write_disposition="WRITE_TRUNCATE" if truncate else "WRITE_APPEND",
            create_disposition="CREATE_IF_NEEDED",
        )
        try:
            job = self._client.load_table_from_file(io.BytesIO(payload), self.table_id, job_id=job_id,
                                                    job_config=config, size=len(payload))
        except Conflict:
            # An earlier attempt reached BigQuery before its answer was lost: that job is ours.
            job = self._client.get_job(job_id)
        job.result(timeout=LOAD_JOB_TIMEOUT_SECONDS)
