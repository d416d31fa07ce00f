"""A staged file into BigQuery: one load, one MERGE, one tally, and its dead letters; exactly once.

Once every chunk of a file is staged (its checkpoint's offset is at the end, nothing pending):
1. load: the file's `rows-*` objects into the run's staging table, under a job id derived from the
   scope, the file (uri, generation) and the staging table's creation time: a repeat finds the job
   (409) and adds nothing;
2. MERGE: the file's staged rows into the output table, insert-only, joined to the run's lookup
   snapshot (statements.merge_sql); a repeat inserts nothing, since its ON clause finds the rows;
3. tally: the file's rows in the output table (statements.tally_sql), the same whichever attempt
   asks; counts.file_counts turns it into the file's final counts;
Then the checkpoint is done (its dead letters land once per run, deadletters.py) (filework.py). A crash
anywhere in between repeats the steps, each a no-op when done already.
"""

from __future__ import annotations

from dataclasses import dataclass

from pass1_processor.bqjobs import Jobs, job_id
from pass1_processor.counts import Counts, file_counts
from pass1_processor.discovery import PredictionFile
from pass1_processor.snapshot import Snapshot
from pass1_processor.staging import FileStaging, RunTables
from pass1_processor.statements import direct_lookup_sql, merge_sql, tally_sql
from shared.faults import crash_point, pause_point


@dataclass(frozen=True)
class WritePath:
    """The run's BigQuery side, ready for its files' merges (made once per call, service.py)."""

    tables: RunTables
    staging_created: str
    staging_schema: tuple
    snapshot: Snapshot
    input_bucket: str
    dead_created: str = ""
    dead_schema: tuple = ()


def merge_file(target, file: PredictionFile, staged: Counts) -> Counts:
    """Load, merge and tally one staged file; returns what the file adds to its staged counts."""
    write: WritePath = target.write
    jobs: Jobs = target.jobs
    plan = target.plan
    output = plan.output
    staging = FileStaging.of(target.scope_key, file)
    # Each job's id names the tables it writes, by creation time: a recreated table gets new jobs,
    # the others keep theirs (the staging table must not be loaded twice because another changed).
    output_created, _ = target.table_versions
    file_identity = (target.scope_key, file.uri, file.generation)
    params = _params(target.run_id, write.snapshot.since, file.uri)
    delta = Counts()
    if staged.processed - staged.failed > 0:
        jobs.load_uris([staging.rows_uri], write.tables.staging, write.staging_schema,
                       job_id("p1stage", *file_identity, write.staging_created))
        crash_point("staged_loaded")  # loaded, not merged
        pause_point("merge")  # tests line up two calls here: both loaded, neither merged
        if write.snapshot.covers(file, write.input_bucket):
            lookup = write.snapshot.table.sql
        else:
            lookup = f"({direct_lookup_sql(target.lookup_table, write.tables.staging, plan.lookup_columns)})"
        columns = [f.name for f in output.schema]
        jobs.query(merge_sql(output.ref, write.tables.staging, lookup, columns, plan.lookup_columns), params,
                   job_id("p1merge", *file_identity, write.staging_created, output_created), kind="dml")
        crash_point("merged")  # merged, not tallied
        [row] = jobs.read(tally_sql(output.ref, write.tables.staging, columns), params)
        delta = file_counts(staged, int(row["inserted"]), int(row["unmatched"]), int(row["repaired"]),
                            int(row["unconverted"]))
    return delta  # the file's dead letters land with the run's (deadletters.py)


def _params(run_id: str, since, uri: str) -> list:
    from google.cloud import bigquery

    return [bigquery.ScalarQueryParameter("run", "STRING", run_id),
            bigquery.ScalarQueryParameter("since", "TIMESTAMP", since),
            bigquery.ScalarQueryParameter("uri", "STRING", uri)]
