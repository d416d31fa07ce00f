"""Staged files into BigQuery, a batch at a time: one load, one MERGE, one tally; exactly once.

Once every chunk of a file is staged (its checkpoint's offset is at the end, nothing pending), the
file waits for the call's next batch (mergelane.py: the files staged while the previous batch ran,
at most MAX_BATCH_FILES), which goes to BigQuery together:
1. load: the files' `rows-*` objects into the run's staging table, under a job id derived from the
   scope, the batch's files (uri, generation) and the staging table's creation time: a repeat finds
   the job (409) and adds nothing; a file loaded again by another batch (a crash, then a call that
   batched it differently) is staged twice, which the MERGE and the tally count once;
2. MERGE: the batch's staged rows into the output table, insert-only, joined to the run's lookup
   snapshot (statements.merge_sql); a repeat inserts nothing, since its ON clause finds the rows;
3. tally: per file, its rows in the output table (statements.tally_sql), the same whichever attempt
   asks; counts.file_counts turns it into each file's final counts.
Then each file's checkpoint is done (filework.py; its dead letters land once per run, deadletters.py).
A crash anywhere in between repeats the steps, each a no-op when done already. Batches are formed by
the call's merge lane (mergelane.py): at most 3 jobs per file, fewer when files wait together.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

from pass1_processor.bqjobs import Jobs, job_id
from pass1_processor.counts import Counts, file_counts
from pass1_processor.discovery import PredictionFile
from pass1_processor.snapshot import Snapshot
from pass1_processor.staging import FileStaging, RunTables
from pass1_processor.statements import direct_lookup_sql, merge_sql, tally_sql
from shared.faults import crash_point, pause_point

# Files per batch. A load job takes at most 10,000 source URIs and a query's text and parameters at
# most 1 MB (each file is one URI, ~120 bytes in @uris): 500 stays far inside both.
MAX_BATCH_FILES = 500


@dataclass(frozen=True)
class WritePath:
    """The run's BigQuery side, ready for its files' merges (made once per call, service.py)."""

    tables: RunTables
    staging_created: str
    staging_schema: tuple
    snapshot_build: Future  # of the run's Snapshot: built beside the call's first staging (service._ready)
    input_bucket: str
    dead_created: str = ""
    dead_schema: tuple = ()

    @property
    def snapshot(self) -> Snapshot:
        """The run's snapshot (waits for its build; raises the build's error)."""
        return self.snapshot_build.result()


@dataclass(frozen=True)
class StagedFile:
    """A file staged to its end, its checkpoint not done yet: what its final commit needs."""

    file: PredictionFile
    offset: int
    next_line: int
    counts: Counts  # the staged counts (counts.staged_counts, summed over its chunks)

    @property
    def has_rows(self) -> bool:
        return self.counts.processed - self.counts.failed > 0


def merge_files(target, batch: list[StagedFile]) -> dict[str, Counts]:
    """Load, merge and tally a batch of staged files; what each file (by uri) adds to its staged counts."""
    deltas = {s.file.uri: Counts() for s in batch}
    with_rows = sorted((s for s in batch if s.has_rows), key=lambda s: s.file.uri)
    if not with_rows:
        return deltas  # its dead letters land with the run's (deadletters.py)
    write: WritePath = target.write
    jobs: Jobs = target.jobs
    plan = target.plan
    output = plan.output
    # Each job's id names the tables it writes, by creation time: a recreated table gets new jobs,
    # the others keep theirs (the staging table must not be loaded twice because another changed).
    output_created, _ = target.table_versions
    identity = (target.scope_key, *((s.file.uri, s.file.generation) for s in with_rows), write.staging_created)
    jobs.load_uris([FileStaging.of(target.scope_key, s.file).rows_uri for s in with_rows], write.tables.staging,
                   write.staging_schema, job_id("p1stage", *identity))
    crash_point("staged_loaded")  # loaded, not merged
    pause_point("merge")  # tests line up two calls here: both loaded, neither merged
    columns = [f.name for f in output.schema]
    for lookup, files in _by_lookup(target, with_rows).items():
        uris = [s.file.uri for s in files]
        jobs.query(merge_sql(output.ref, write.tables.staging, lookup, columns, plan.lookup_columns),
                   _params(target.run_id, write.snapshot.since, uris),
                   job_id("p1merge", target.scope_key, *uris, *(s.file.generation for s in files),
                          write.staging_created, output_created), kind="dml")
    crash_point("merged")  # merged, not tallied
    rows = jobs.read(tally_sql(output.ref, write.tables.staging, columns),
                     _params(target.run_id, write.snapshot.since, [s.file.uri for s in with_rows]))
    found = {row["source_uri"]: row for row in rows}
    for staged in with_rows:
        row = found.get(staged.file.uri) or {}
        deltas[staged.file.uri] = file_counts(staged.counts, int(row.get("inserted") or 0),
                                              int(row.get("unmatched") or 0), int(row.get("repaired") or 0),
                                              int(row.get("unconverted") or 0))
    return deltas


def _by_lookup(target, files: list[StagedFile]) -> dict[str, list[StagedFile]]:
    """The batch's files by what their MERGE joins: the run's snapshot, or (files whose key index is
    not in it) the lookup table restricted to their staged tokens."""
    write: WritePath = target.write
    groups: dict[str, list[StagedFile]] = {}
    direct = f"({direct_lookup_sql(target.lookup_table, write.tables.staging, target.plan.lookup_columns)})"
    for staged in files:
        covered = write.snapshot.covers(staged.file, write.input_bucket)
        groups.setdefault(write.snapshot.table.sql if covered else direct, []).append(staged)
    return groups


def _params(run_id: str, since, uris: list[str]) -> list:
    from google.cloud import bigquery

    return [bigquery.ScalarQueryParameter("run", "STRING", run_id),
            bigquery.ScalarQueryParameter("since", "TIMESTAMP", since),
            bigquery.ArrayQueryParameter("uris", "STRING", uris)]
