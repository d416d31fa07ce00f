"""One chunk of a file, from extracted lines to written rows and the counts to commit.

The same function serves a first pass and a replay after a crash (the checkpoint's pending range):
keys already written from these very lines count as inserted and are not written again; keys
written from elsewhere count as duplicates; dead letters already present for these lines are not
written again. The counts it returns are therefore the same whichever attempt finishes the chunk.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import orjson

from pass1_processor.counts import Counts
from pass1_processor.dedupe import dead_lines_written, existing_keys
from pass1_processor.discovery import PredictionFile
from pass1_processor.extract import RAW_LIMIT, DeadLetter, Record
from pass1_processor.lookup import fetch_lookup
from pass1_processor.retry_requests import write_retry_requests
from pass1_processor.rows import RowContext, RowPlan
from pass1_processor.writer import job_id, load_rows, load_serialized, row_id, stream_rows
from shared.faults import crash_point, pause_point
from shared.identifiers import TableRef


@dataclass(frozen=True)
class WriteTarget:
    """Where and how a call writes: shared by all its chunks."""

    plan: RowPlan
    lookup_table: TableRef
    write_method: str
    scope_key: str      # identifies the run (or ad hoc scope) in job ids
    run_id: str         # the run_id written in rows (a synthetic one for ad hoc scopes)
    batch_type: str
    table_versions: tuple = ()  # creation times of the tables: a recreated table gets new job ids


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


def process_chunk(target: WriteTarget, chunk: Chunk, processed_at: str) -> Counts:
    """Write the chunk's rows and dead letters exactly once; return its counts.

    BigQuery round trips dominate a chunk's time, so independent ones run side by side: the dedupe
    and lookup reads, then (load) the output load, the dead-letter load and the retry file."""
    records, dead, counts = _sort_outcomes(target.plan, chunk)
    ctx = RowContext(target.run_id, target.batch_type, chunk.file.output_dir.batch_job, chunk.file.uri, processed_at)
    present, looked_up = _together(
        lambda: existing_keys(target.plan.output.ref, target.run_id, [r.composite_key for r in records])
        if records else {},
        lambda: fetch_lookup(target.lookup_table, {r.phone_token for r in records}, target.plan.lookup_columns)
        if records else {})
    crash_point("reads")
    pause_point("reads")  # tests line up two calls here: both have read, neither has written
    keep, already, counts.duplicates = _dedupe(chunk, records, present)
    rows, stats = _rows(target.plan, keep, ctx, looked_up)
    _, already_stats = _rows(target.plan, already, ctx, looked_up)
    counts.retry_requests = sum(1 for d in dead if d.retry_request is not None)
    if target.write_method == "streaming":  # refused rows become dead letters: output first
        rejected = _write_output(target, chunk, rows, keep)
        dead.extend(_rejected_to_dead(keep, rejected))
        _together(lambda: _set_aside(chunk, dead), lambda: _write_dead(target, chunk, dead, ctx))
    else:
        rejected = []
        _together(lambda: _write_output(target, chunk, rows, keep), lambda: _set_aside(chunk, dead),
                  lambda: _write_dead(target, chunk, dead, ctx))
    crash_point("chunk_written")
    skip = {i for i, _ in rejected}
    counts.inserted = len(keep) - len(rejected) + len(already)
    counts.repaired = sum(1 for i, r in enumerate(keep) if r.repaired and i not in skip) \
        + sum(1 for r in already if r.repaired)
    counts.unmatched = stats.unmatched(skip) + already_stats.unmatched(set())
    counts.unconverted = stats.unconverted(skip) + already_stats.unconverted(set())
    counts.failed = len(dead)
    counts.processed = len(chunk.outcomes)
    return counts


def _together(*calls):
    """Run independent BigQuery/Storage calls side by side; results in order; the first error raised."""
    if len(calls) == 1:
        return [calls[0]()]
    futures = [_pool().submit(call) for call in calls]
    return [f.result() for f in futures]


_POOL = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            # Three calls per chunk at most; a few concurrent requests per instance share the pool.
            _POOL = ThreadPoolExecutor(max_workers=12, thread_name_prefix="chunk-io")
        return _POOL


def _sort_outcomes(plan: RowPlan, chunk: Chunk) -> tuple[list[Record], list[DeadLetter], Counts]:
    """Records and dead letters of the chunk, in line order, and the token counts of both, in one
    pass. A record not prepared yet (filework prepares them as they are extracted) is prepared here,
    and may turn into a dead letter."""
    records, dead, counts = [], [], Counts()
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


def _dedupe(chunk: Chunk, records: list[Record], present: dict) -> tuple[list[Record], list[Record], int]:
    """(records to write, records already written from these very lines, duplicates)."""
    keep, already, seen, duplicates = [], [], set(), 0
    uri = chunk.file.uri
    for record in records:
        key = record.composite_key
        origin = present.get(key)
        if key in seen:
            duplicates += 1
        elif origin is None:
            keep.append(record)
        elif origin == (uri, record.line_number):
            already.append(record)  # written by a crashed attempt of this chunk
        else:
            duplicates += 1
        seen.add(key)
    return keep, already, duplicates


@dataclass
class _RowStats:
    unmatched_at: list[int]
    unconverted_at: list[int]

    def unmatched(self, skip: set[int]) -> int:
        return sum(1 for i in self.unmatched_at if i not in skip)

    def unconverted(self, skip: set[int]) -> int:
        return sum(n for i, n in enumerate(self.unconverted_at) if i not in skip)


def _rows(plan: RowPlan, records: list[Record], ctx: RowContext, looked_up: dict) -> tuple[list[bytes], _RowStats]:
    """The output rows of prepared records, serialized, with what they count."""
    rows, stats = [], _RowStats([], [])
    context = plan.context_fragment(ctx)
    for index, record in enumerate(records):
        found = looked_up.get((record.phone_token, record.interaction_id))
        rows.append(plan.row_bytes(record, context, found))
        stats.unconverted_at.append(record.unconverted)
        if found is None:
            stats.unmatched_at.append(index)
    return rows, stats


def _write_output(target: WriteTarget, chunk: Chunk, rows: list[bytes], records: list[Record]) -> list[tuple[int, str]]:
    """Write output rows; returns rows refused by a streaming insert (index, message)."""
    if not rows:
        return []
    info = target.plan.output
    if target.write_method == "streaming":
        ids = [row_id(target.run_id, r.composite_key) for r in records]
        return stream_rows(info, [orjson.loads(row) for row in rows], ids)
    load_serialized(info, rows, _chunk_job_id("p1out", target, chunk, info.ref))
    return []


def _rejected_to_dead(records: list[Record], rejected: list[tuple[int, str]]) -> list[DeadLetter]:
    """Rows BigQuery refused become dead letters: never lost."""
    out = []
    for index, message in rejected:
        record = records[index]
        raw = (record.fragment + b"}")[:RAW_LIMIT].decode("utf-8", "replace")  # the row's own columns
        out.append(DeadLetter(record.line_number, "insert_rejected", message, record.composite_key, raw))
    return out


def _set_aside(chunk: Chunk, dead: list[DeadLetter]) -> None:
    """Write the chunk's failed model requests for a retry batch."""
    write_retry_requests(chunk.file, chunk.first_line, [d.retry_request for d in dead if d.retry_request is not None])


def _write_dead(target: WriteTarget, chunk: Chunk, dead: list[DeadLetter], ctx: RowContext) -> None:
    if not dead:
        return
    info = target.plan.dead
    if chunk.replay:  # a crashed attempt may have written some of them
        written = dead_lines_written(info.ref, target.run_id, chunk.file.uri, chunk.first_line, chunk.last_line)
        dead = [d for d in dead if d.line_number not in written]
        if not dead:
            return
    rows = [target.plan.dead_row(d, ctx) for d in dead]
    if target.write_method == "streaming":
        rejected = stream_rows(info, rows, [row_id(target.run_id, chunk.file.uri, d.line_number, d.reason)
                                            for d in dead])
        if rejected:
            from shared.errors import InternalError

            raise InternalError("the dead-letter table refused rows", details={"errors": [m for _, m in rejected[:5]]})
        return
    load_rows(info, rows, _chunk_job_id("p1dead", target, chunk, info.ref))


def _chunk_job_id(prefix: str, target: WriteTarget, chunk: Chunk, table: TableRef) -> str:
    return job_id(prefix, target.scope_key, chunk.file.uri, chunk.first_line, chunk.last_line, table.id,
                  *target.table_versions)
