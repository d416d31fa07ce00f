"""Dead letters into BigQuery: once per run (at completion) or per ad hoc call, not once per file.

Each chunk stages its dead letters as an object (`dead-*` under the file's staging prefix). When a
run completes (or an ad hoc call has finished its files), the files with dead letters that were not
loaded yet are loaded by one job into the run's dead-letter staging table, and one insert-only MERGE
moves the not-yet-merged files' rows into `pass1_dead_letter` (ON run_id, processed_at >= since,
source_uri, line_number: a repeat inserts nothing). Which files were staged and merged is recorded on
the scope document (`dead_letters`, a union in a transaction) after each step; a crash between a
step and its record repeats the step, which is a no-op (the load's job id is derived from the set of
files it loads; the MERGE finds its rows). So two jobs per run, whatever the number of files.
"""

from __future__ import annotations

from pass1_processor.bqjobs import Jobs, job_id
from pass1_processor.checkpoint import file_doc_id
from pass1_processor.discovery import PredictionFile
from pass1_processor.staging import FileStaging
from pass1_processor.statements import dead_merge_sql
from shared.faults import crash_point
from shared.retry import call_with_retry, transact

RECORD_FIELD = "dead_letters"


def file_key(file: PredictionFile) -> str:
    return f"{file_doc_id(file.uri)}-{file.generation}"


def land_dead_letters(target, firestore, doc_ref, files: list[PredictionFile]) -> None:
    """Load and merge the staged dead letters of `files` (done files with dead letters)."""
    if not files:
        return
    write, jobs = target.write, target.jobs
    record = _read(doc_ref)
    staged, merged = set(record.get("staged") or []), set(record.get("merged") or [])
    by_key = {file_key(f): f for f in files}
    to_load = sorted(k for k in by_key if k not in staged)
    if to_load:
        uris = [FileStaging.of(target.scope_key, by_key[k]).dead_uri for k in to_load]
        jobs.load_uris(uris, write.tables.dead, write.dead_schema,
                       job_id("p1deadstage", target.scope_key, *to_load, write.dead_created))
        crash_point("dead_staged")
        _add(firestore, doc_ref, "staged", to_load)
    to_merge = sorted(k for k in by_key if k not in merged)
    if to_merge:
        _merge(target, jobs, [by_key[k].uri for k in to_merge], to_merge)
        crash_point("dead_loaded")
        _add(firestore, doc_ref, "merged", to_merge)


def _merge(target, jobs: Jobs, uris: list[str], keys: list[str]) -> None:
    from google.cloud import bigquery

    write, dead = target.write, target.plan.dead
    columns = [f.name for f in dead.schema]
    params = [bigquery.ScalarQueryParameter("run", "STRING", target.run_id),
              bigquery.ScalarQueryParameter("since", "TIMESTAMP", write.snapshot.since),
              bigquery.ArrayQueryParameter("uris", "STRING", uris)]
    jobs.query(dead_merge_sql(dead.ref, write.tables.dead, columns), params,
               job_id("p1deadmerge", target.scope_key, *keys, write.dead_created, *target.table_versions),
               kind="dml")


def _read(doc_ref) -> dict:
    snap = call_with_retry(doc_ref.get)
    return ((snap.to_dict() or {}).get(RECORD_FIELD) or {}) if snap.exists else {}


def _add(firestore, doc_ref, name: str, keys: list[str]) -> None:
    """Union keys into the record's list `name` (a transaction: racing calls keep both)."""

    def txn(transaction):
        snap = doc_ref.get(transaction=transaction)
        record = ((snap.to_dict() or {}).get(RECORD_FIELD) or {}) if snap.exists else {}
        current = set(record.get(name) or [])
        transaction.set(doc_ref, {RECORD_FIELD: {**record, name: sorted(current | set(keys))}}, merge=True)

    transact(firestore, txn, document=doc_ref.path)
