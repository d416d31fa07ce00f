"""Where the write path stages: NDJSON objects per chunk in Cloud Storage, run-scoped tables in BigQuery.

Objects are named by what they hold (scope, file and its generation, the chunk's first line), so a
chunk replayed after a crash overwrites its own objects and a file's load job reads exactly its
chunks (`rows-*` / `dead-*` under the file's prefix). They sit beside the output directories, in the
output bucket, under STAGING_FOLDER (outside every output directory, so discovery never sees them);
a lifecycle rule on that folder may delete them after a few days (they are not read once the file's
checkpoint is done).

Run-scoped tables (one set per run or ad hoc scope, in the output table's dataset, named by a digest
of the scope): the staging table every file of the run is loaded into, the keys table (the run's
tokens, from the key indexes) and the lookup snapshot. They expire after TABLE_DAYS.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable

from pass1_processor.checkpoint import file_doc_id
from pass1_processor.discovery import PredictionFile
from pass1_processor.statements import TOKEN, UNCONVERTED
from shared.faults import crash_point
from shared.identifiers import TableRef
from shared.retry import call_with_retry

STAGING_FOLDER = "_processor_staging"
TABLE_DAYS = 7


def scope_digest(scope_key: str) -> str:
    return hashlib.sha256(scope_key.encode("utf-8")).hexdigest()[:20]


@dataclass(frozen=True)
class FileStaging:
    """The staged objects of one prediction file."""

    bucket: str
    prefix: str  # ends with '/'

    @classmethod
    def of(cls, scope_key: str, file: PredictionFile) -> "FileStaging":
        name = f"{STAGING_FOLDER}/{scope_digest(scope_key)}/{file_doc_id(file.uri)}-{file.generation}/"
        return cls(file.path.bucket, name)

    def rows_name(self, first_line: int) -> str:
        return f"{self.prefix}rows-{first_line:010d}.ndjson"

    def dead_name(self, first_line: int) -> str:
        return f"{self.prefix}dead-{first_line:010d}.ndjson"

    @property
    def rows_uri(self) -> str:
        return f"gs://{self.bucket}/{self.prefix}rows-*"

    @property
    def dead_uri(self) -> str:
        return f"gs://{self.bucket}/{self.prefix}dead-*"


def put_object(storage, bucket: str, name: str, lines: Iterable[bytes]) -> None:
    """One NDJSON object (every line ends with a newline); an overwrite replaces it whole.

    The lines are written into one buffer as they come, so that lines made by a generator are freed
    one by one: a list of the lines and their joined copy are never held together (with the upload's
    own copies, that was four copies of a chunk's rows at once). getvalue() hands the buffer over
    without a copy once the buffer is released."""
    buffer = io.BytesIO()
    write = buffer.write
    for line in lines:
        write(line)
        write(b"\n")
    data = buffer.getvalue()
    del buffer, write
    blob = storage.bucket(bucket).blob(name)
    call_with_retry(blob.upload_from_string, data, content_type="application/x-ndjson", retry=None)
    crash_point("object_staged")  # one of a chunk's objects written, maybe not the others


@dataclass(frozen=True)
class RunTables:
    """The run-scoped tables of one scope."""

    staging: TableRef
    keys: TableRef
    snapshot: TableRef
    dead: TableRef  # staged dead letters (deadletters.py)

    @classmethod
    def of(cls, output: TableRef, scope_key: str) -> "RunTables":
        digest = scope_digest(scope_key)
        name = lambda kind: TableRef(output.project, output.dataset, f"_p1_{kind}_{digest}")  # noqa: E731
        return cls(name("stage"), name("keys"), name("lookup"), name("dead"))


# The staging table is clustered on source_uri: each file's MERGE and tally read its own blocks,
# not every file's rows (bench/cost.py).
STAGING_CLUSTERING = ["source_uri"]


def staging_schema(output_schema) -> list:
    """The output table's columns, all nullable (a staged row has no lookup columns yet), and the
    count of the row's unconverted values (the file's tally sums it over the rows it inserted)."""
    from google.cloud import bigquery

    fields = [bigquery.SchemaField(f.name, f.field_type, mode="REPEATED" if f.mode == "REPEATED" else "NULLABLE",
                                   fields=f.fields) for f in output_schema]
    return [*fields, bigquery.SchemaField(UNCONVERTED, "INT64")]


def nullable(schema) -> list:
    """The schema with every non-repeated field nullable (staged rows are checked at the MERGE)."""
    from google.cloud import bigquery

    return [bigquery.SchemaField(f.name, f.field_type, mode="REPEATED" if f.mode == "REPEATED" else "NULLABLE",
                                 fields=f.fields) for f in schema]


def keys_schema() -> list:
    from google.cloud import bigquery

    return [bigquery.SchemaField(TOKEN, "STRING")]


def ensure_table(client, ref: TableRef, schema, clustering: list[str] | None = None) -> str:
    """Create the table if it does not exist (racing callers both succeed); its creation time,
    which goes into the ids of the jobs that write it (a recreated table gets new job ids)."""
    from google.cloud import bigquery

    table = bigquery.Table(ref.id, schema=list(schema))
    table.expires = datetime.now(timezone.utc) + timedelta(days=TABLE_DAYS)
    if clustering:
        table.clustering_fields = clustering
    created = call_with_retry(client.create_table, table, exists_ok=True, retry=None)
    if created.created is None:
        created = call_with_retry(client.get_table, ref.id, retry=None)
    return created.created.isoformat() if created.created else ""
