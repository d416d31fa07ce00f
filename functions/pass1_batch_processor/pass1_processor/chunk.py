"""One chunk of a file, from extracted lines to staged objects and the counts to commit.

read -> extract -> convert (filework.py, as lines come) -> stage -> count. A chunk writes nothing to
BigQuery: its output rows and its dead letters become one NDJSON object each in Cloud Storage
(staging.py), named by the file and the chunk's first line, and its failed model requests a retry
file. A chunk replayed after a crash (the checkpoint's pending range) overwrites the same objects,
so staging is idempotent by name. The file's rows reach BigQuery once the file is staged
(filemerge.py: one load, one MERGE); the counts a chunk commits are those it knows alone: lines
processed, dead letters, retry requests, tokens (counts.staged_counts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pass1_processor.counts import Counts, staged_counts
from pass1_processor.discovery import PredictionFile
from pass1_processor.extract import DeadLetter, Record
from pass1_processor.pools import pool
from pass1_processor.retry_requests import write_retry_requests
from pass1_processor.rows import RowContext, RowPlan
from pass1_processor.staging import FileStaging, put_object
from shared.faults import crash_point
from shared.identifiers import TableRef

# A chunk's Storage writes, side by side: three at most per chunk.
IO_POOL, IO_WORKERS = "chunk-io", 12


@dataclass(frozen=True)
class WriteTarget:
    """Where and how a call writes: shared by all its chunks. Clients are passed in (storage for
    the staged objects, jobs for BigQuery, see bqjobs.py)."""

    plan: RowPlan
    lookup_table: TableRef
    write_method: str
    scope_key: str      # identifies the run (or ad hoc scope) in job ids and staging names
    run_id: str         # the run_id written in rows (a synthetic one for ad hoc scopes)
    batch_type: str
    table_versions: tuple = ()  # creation times of the tables: a recreated table gets new job ids
    storage: object = None
    jobs: object = None         # bqjobs.Jobs
    write: object = None        # filemerge.WritePath, set once the run's tables and snapshot are ready


@dataclass
class Chunk:
    """Extracted lines of one byte range of a file."""

    file: PredictionFile
    start: int
    end: int
    first_line: int
    last_line: int
    outcomes: list = field(default_factory=list)  # Record | DeadLetter, in line order
    replay: bool = False
    started: float = 0.0  # time.monotonic() when its extraction began (the budget's chunk time)


def process_chunk(target: WriteTarget, chunk: Chunk, processed_at: str) -> Counts:
    """Stage the chunk's rows, dead letters and retry requests (side by side); return its counts."""
    records, dead, tokens = _sort_outcomes(target.plan, chunk)
    processed = len(chunk.outcomes)
    # Memory: the chunk's records are held from here on by `records` alone, and the staged rows are
    # made as put_object writes them (a generator, which holds the last reference to the records):
    # each record and its row are freed as the object is written, so none of them is held while it
    # is uploaded.
    chunk.outcomes = []
    ctx = RowContext(target.run_id, target.batch_type, chunk.file.output_dir.batch_job, chunk.file.uri, processed_at)
    staging = FileStaging.of(target.scope_key, chunk.file)
    context = target.plan.context_fragment(ctx)
    rows = _drain(records, lambda r: target.plan.staged_row(r, context))
    del records
    # The rows object is written even when empty: the file's load reads `rows-*`, which must match.
    calls = [lambda: put_object(target.storage, staging.bucket, staging.rows_name(chunk.first_line), rows),
             lambda: _set_aside(target, chunk, dead)]
    if dead:
        dead_rows = (target.plan.dead_row_bytes(d, ctx) for d in dead)
        calls.append(lambda: put_object(target.storage, staging.bucket, staging.dead_name(chunk.first_line),
                                        dead_rows))
    _together(*calls)
    crash_point("chunk_staged")
    return staged_counts(processed, dead, tokens)


def _drain(items: list, make):
    """make(item) for each item, in order, each item dropped from the list once made (the list is
    emptied): the caller's last reference to the items goes with them."""
    items.reverse()
    pop = items.pop
    while items:
        yield make(pop())


def _sort_outcomes(plan: RowPlan, chunk: Chunk) -> tuple[list[Record], list[DeadLetter], Counts]:
    """Records and dead letters of the chunk, in line order, and the token counts of both, in one
    pass. A record not prepared yet (filework prepares them as they are extracted) is prepared here,
    and may turn into a dead letter."""
    records: list[Record] = []
    dead: list[DeadLetter] = []
    counts = Counts()
    prompt = candidates = total = 0
    for index, outcome in enumerate(chunk.outcomes):
        if type(outcome) is Record and outcome.fragment is None:
            outcome = chunk.outcomes[index] = plan.prepare(outcome)
        (records if type(outcome) is Record else dead).append(outcome)
        prompt += outcome.prompt_tokens or 0
        candidates += outcome.candidates_tokens or 0
        total += outcome.total_tokens or 0
    counts.prompt_tokens, counts.candidates_tokens, counts.total_tokens = prompt, candidates, total
    return records, dead, counts


def _set_aside(target: WriteTarget, chunk: Chunk, dead: list[DeadLetter]) -> None:
    """Write the chunk's failed model requests for a retry batch."""
    write_retry_requests(chunk.file, chunk.first_line, [d.retry_request for d in dead if d.retry_request is not None],
                         client=target.storage)


def _together(*calls):
    """Run independent Storage writes side by side; results in order; the first error raised."""
    if len(calls) == 1:
        return [calls[0]()]
    futures = [pool(IO_POOL, IO_WORKERS).submit(call) for call in calls]
    return [f.result() for f in futures]


