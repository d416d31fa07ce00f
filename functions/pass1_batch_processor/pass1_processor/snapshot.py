"""The lookup, read once per run: a run-scoped snapshot of the lookup rows of the run's tokens.

On the run's first processor call, the key indexes submit wrote beside the input shards of the
run's prediction files (shared/layout.py; each line carries its row's phone_number_token) are loaded
as they are into the run's keys table (one load job that keeps that field alone: the function reads
none of them), and the snapshot is built by one CTAS joining the lookup table to those tokens
(statements.snapshot_sql: the lookup matching rules). Both jobs have ids derived from the scope and
the key indexes: a racing first call or a replay waits on the same jobs.
What was built is recorded once on the scope document (a transaction: the first record stays), with
the run's processed_at lower bound (`since`) that every MERGE's ON clause uses.

The snapshot reads only the lookup partitions the run can match when it can tell which: the lookup
table is partitioned on a column (its metadata, read with its schema) and every key index found
carries its shard's call dates (custom metadata submit writes from its plan, shared/layout.py, with
no transcript lacking one). The CTAS then filters the partition column to [earliest call date - 1
day, latest + 2 days) or NULL, bounds as query parameters (constants: BigQuery prunes on them); the
slack covers time zones (call_date is a local date, started_at a UTC time). A lookup row outside the
window is not in the snapshot: its output row is unmatched (docs/architecture.md). Otherwise (no
partition column, a key index without dates) the whole lookup table is read, as before. The window
goes into the CTAS's job id and onto the scope's record (`lookup_window`).

Every file's MERGE joins the snapshot, so reruns and late chunks see the same enrichment. A file
whose key index was not part of the snapshot (a hand-made directory without key indexes, or an
output directory that joined the run later) joins the lookup table directly, restricted to its own
staged tokens: one lookup scan for that file, said in docs/architecture.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Callable

from pass1_processor.bqjobs import Jobs, job_id
from pass1_processor.discovery import PredictionFile
from pass1_processor.staging import RunTables, ensure_table, keys_schema
from pass1_processor.statements import snapshot_sql
from shared.identifiers import GcsPath, TableRef
from shared.layout import dates_of_key_index, input_for_output, key_index_of
from shared.retry import call_with_retry, transact

RECORD_FIELD = "write_path"
# Days read before the earliest and after the latest call date: a call of local day D starts between
# D-1 10:00 and D+1 12:00 UTC (UTC+14 to UTC-12), inside [D-1, D+2).
WINDOW_DAYS_BEFORE, WINDOW_DAYS_AFTER = 1, 2
WINDOW_TYPES = frozenset({"TIMESTAMP", "DATE", "DATETIME"})  # partition column types a window applies to


@dataclass(frozen=True)
class LookupWindow:
    """The days of the lookup's partition column the snapshot reads: [start, end)."""

    column: str
    column_type: str
    start: date
    end: date

    def params(self) -> list:
        from google.cloud import bigquery

        def bound(day: date):
            if self.column_type == "DATE":
                return day
            moment = datetime(day.year, day.month, day.day)
            return moment.replace(tzinfo=timezone.utc) if self.column_type == "TIMESTAMP" else moment

        return [bigquery.ScalarQueryParameter("window_from", self.column_type, bound(self.start)),
                bigquery.ScalarQueryParameter("window_to", self.column_type, bound(self.end))]

    def to_record(self) -> dict:
        return {"column": self.column, "from": self.start.isoformat(), "to": self.end.isoformat()}


def lookup_window(partition: tuple[str, str] | None, dates: list[tuple[str, str] | None]) -> LookupWindow | None:
    """The snapshot's window from the lookup's partition column and each key index's call dates
    (None for one without them); None (read everything) unless both are known."""
    if partition is None or partition[1] not in WINDOW_TYPES or not dates or any(d is None for d in dates):
        return None
    first = min(date.fromisoformat(d[0]) for d in dates if d is not None)
    last = max(date.fromisoformat(d[1]) for d in dates if d is not None)
    return LookupWindow(partition[0], partition[1], first - timedelta(days=WINDOW_DAYS_BEFORE),
                        last + timedelta(days=WINDOW_DAYS_AFTER))


@dataclass(frozen=True)
class Snapshot:
    """What every file's MERGE of the scope uses."""

    since: datetime                  # rows of the scope have processed_at >= since
    table: TableRef | None           # None: no key index was found, every file joins the lookup
    key_indexes: frozenset[str]      # the key indexes (gs:// URIs) whose tokens it holds

    def covers(self, file: PredictionFile, input_bucket: str) -> bool:
        index = key_index_uri(file, input_bucket)
        return self.table is not None and index is not None and index in self.key_indexes

    @classmethod
    def from_record(cls, data: dict) -> "Snapshot":
        table = data.get("snapshot")
        return cls(data["since"], TableRef(*table.split(".")) if table else None,
                   frozenset(data.get("key_indexes") or []))


def key_index_uri(file: PredictionFile, input_bucket: str) -> str | None:
    shard = input_for_output(file.path, input_bucket)
    return key_index_of(shard).uri if shard is not None else None


def ensure_snapshot(firestore, doc_ref, record: dict | None, files: Callable[[], list[PredictionFile]],
                    input_bucket: str,
                    tables: RunTables, lookup: TableRef, lookup_columns, jobs: Jobs, storage,
                    scope_key: str, lookup_partition: tuple[str, str] | None = None) -> Snapshot:
    """The scope's snapshot record, building the snapshot first when the scope has none (files():
    the scope's prediction files, listed only then; lookup_partition: the lookup's partition column
    and its type, None when it has none)."""
    existing = (record or {}).get(RECORD_FIELD)
    if existing is None:
        snap = call_with_retry(doc_ref.get)
        existing = (snap.to_dict() or {}).get(RECORD_FIELD) if snap.exists else None
    if existing is not None:
        return Snapshot.from_record(existing)
    now = datetime.now(timezone.utc)
    # A day before the first call: clocks of instances may differ; partitions are days anyway.
    since = datetime(now.year, now.month, now.day, tzinfo=timezone.utc) - timedelta(days=1)
    indexes = sorted({uri for uri in (key_index_uri(f, input_bucket) for f in files()) if uri})
    metadata = {uri: _key_index_metadata(storage, uri) for uri in indexes}
    found = [uri for uri in indexes if metadata[uri] is not None]
    table = window = None
    if found:
        table = tables.snapshot
        window = lookup_window(lookup_partition, [dates_of_key_index(metadata[uri]) for uri in found])
        _build(found, tables, lookup, lookup_columns, jobs, scope_key, window)
    data = {"since": since, "snapshot": table.id if table else None, "key_indexes": found,
            "lookup_window": window.to_record() if window else None}
    return Snapshot.from_record(_record_once(firestore, doc_ref, data))


def _key_index_metadata(storage, uri: str) -> dict | None:
    """A key index's custom metadata ({} when it has none), or None when it does not exist (one
    request, as an existence check)."""
    path = GcsPath(*uri[5:].split("/", 1))
    blob = call_with_retry(storage.bucket(path.bucket).get_blob, path.name, retry=None)
    return None if blob is None else dict(blob.metadata or {})


def _build(indexes: list[str], tables: RunTables, lookup: TableRef, lookup_columns, jobs: Jobs,
           scope_key: str, window: LookupWindow | None) -> None:
    # The key indexes themselves are the keys table's source: each line carries its row's token
    # (shared/layout.py), and the load keeps that field alone. Nothing is read here.
    created = ensure_table(jobs.client, tables.keys, keys_schema())
    identity = (scope_key, *indexes, created)
    jobs.load_uris(indexes, tables.keys, keys_schema(), job_id("p1keys", *identity), ignore_unknown_values=True)
    snap_identity = (*identity, tuple(lookup_columns)) + ((tuple(window.to_record().items()),) if window else ())
    jobs.query(snapshot_sql(lookup, tables.keys, tables.snapshot, lookup_columns, window.column if window else None),
               window.params() if window else [], job_id("p1snap", *snap_identity))


def _record_once(firestore_client, doc_ref, data: dict) -> dict:
    """Store the record unless a racing call stored one first; the stored one is returned."""

    def txn(transaction):
        snap = doc_ref.get(transaction=transaction)
        current = (snap.to_dict() or {}).get(RECORD_FIELD) if snap.exists else None
        if current is not None:
            return current
        transaction.set(doc_ref, {RECORD_FIELD: data}, merge=True)
        return data

    return transact(firestore_client, txn, document=doc_ref.path)
