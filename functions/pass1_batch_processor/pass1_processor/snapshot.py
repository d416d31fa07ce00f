"""The lookup, read once per run: a run-scoped snapshot of the lookup rows of the run's tokens.

On the run's first processor call, the key indexes submit wrote beside the input shards of the
run's prediction files (shared/layout.py) are read, their tokens written as NDJSON objects, loaded
into the run's keys table (one load job), and the snapshot built by one CTAS joining the lookup
table to those tokens (statements.snapshot_sql: the lookup matching rules). Both jobs have ids
derived from the scope and the key indexes: a racing first call or a replay waits on the same jobs.
What was built is recorded once on the scope document (a transaction: the first record stays), with
the run's processed_at lower bound (`since`) that every MERGE's ON clause uses.

Every file's MERGE joins the snapshot, so reruns and late chunks see the same enrichment. A file
whose key index was not part of the snapshot (a hand-made directory without key indexes, or an
output directory that joined the run later) joins the lookup table directly, restricted to its own
staged tokens: one lookup scan for that file, said in docs/architecture.md.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

import orjson

from pass1_processor.bqjobs import Jobs, job_id
from pass1_processor.discovery import PredictionFile
from pass1_processor.reader import blob_fetcher, iter_lines
from pass1_processor.staging import STAGING_FOLDER, RunTables, ensure_table, keys_schema, put_object, scope_digest
from pass1_processor.statements import TOKEN, snapshot_sql
from shared.identifiers import GcsPath, TableRef
from shared.keys import BadKey, decode_key
from shared.layout import input_for_output, key_index_of
from shared.retry import call_with_retry, transact

RECORD_FIELD = "write_path"


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
                    scope_key: str) -> Snapshot:
    """The scope's snapshot record, building the snapshot first when the scope has none (files():
    the scope's prediction files, listed only then)."""
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
    found = [uri for uri in indexes if _exists(storage, uri)]
    table = None
    if found:
        table = tables.snapshot
        _build(found, tables, lookup, lookup_columns, jobs, storage, scope_key)
    data = {"since": since, "snapshot": table.id if table else None, "key_indexes": found}
    return Snapshot.from_record(_record_once(firestore, doc_ref, data))


def _exists(storage, uri: str) -> bool:
    path = GcsPath(*uri[5:].split("/", 1))
    return bool(call_with_retry(storage.bucket(path.bucket).blob(path.name).exists, retry=None))


def _build(indexes: list[str], tables: RunTables, lookup: TableRef, lookup_columns, jobs: Jobs, storage,
           scope_key: str) -> None:
    bucket = GcsPath(*indexes[0][5:].split("/", 1)).bucket
    uris = []
    for uri in indexes:
        name = f"{STAGING_FOLDER}/{scope_digest(scope_key)}/keys/{hashlib.sha256(uri.encode()).hexdigest()[:24]}.ndjson"
        put_object(storage, bucket, name, _token_lines(storage, uri))
        uris.append(f"gs://{bucket}/{name}")
    created = ensure_table(jobs.client, tables.keys, keys_schema())
    identity = (scope_key, *indexes, created)
    jobs.load_uris(uris, tables.keys, keys_schema(), job_id("p1keys", *identity))
    jobs.query(snapshot_sql(lookup, tables.keys, tables.snapshot, lookup_columns), [],
               job_id("p1snap", *identity, tuple(lookup_columns)))


def _token_lines(storage, uri: str) -> list[bytes]:
    """The distinct tokens of one key index, one NDJSON line each (keys that do not decode are
    skipped: their lines dead-letter when they come back)."""
    path = GcsPath(*uri[5:].split("/", 1))
    blob = storage.bucket(path.bucket).blob(path.name)
    call_with_retry(blob.reload, retry=None)
    tokens = set()
    for _, data, _, too_long in iter_lines(blob_fetcher(blob, blob.generation), int(blob.size or 0), 0, 1):
        if too_long or not data.strip():
            continue
        try:
            tokens.add(decode_key(orjson.loads(data)["key"]).phone_token)
        except (orjson.JSONDecodeError, KeyError, TypeError, BadKey):
            continue
    # Built from orjson.dumps(token), not orjson.dumps({TOKEN: token}) kept as is: each small bytes
    # orjson returns may keep its whole output buffer (~3.7 KiB for a 40-byte line), which made
    # this list ~150 MiB for one 40,000-token key index (bench/scale.py, 1 GB run).
    head = b'{"' + TOKEN.encode() + b'":'
    return [head + orjson.dumps(t) + b"}" for t in sorted(tokens)]


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
