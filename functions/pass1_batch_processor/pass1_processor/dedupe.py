"""What a run has already written: composite keys in the output table, lines in the dead letter.

Exactly once rests on these reads as much as on deterministic load job ids: before a chunk is
written, its keys already present for the run are read back. A key present from the same file and
line is this chunk's own row, written by an earlier attempt that crashed before its checkpoint: it
counts as inserted and is not written again. A key present from anywhere else is a duplicate.
"""

from __future__ import annotations

from typing import Iterable

from pass1_processor.bq import array_param, batches, query_rows, scalar_param
from shared.identifiers import TableRef

Origin = tuple[str | None, int | None]  # (source_uri, line_number) of the row already written


def existing_keys(table: TableRef, run_id: str, keys: Iterable[str], client=None) -> dict[str, Origin]:
    """composite_key -> where its row came from, for the keys already written for run_id."""
    sql = (f"SELECT composite_key, source_uri, line_number FROM {table.sql} "
           "WHERE run_id = @run AND composite_key IN UNNEST(@keys)")
    found: dict[str, Origin] = {}
    for part in batches(sorted(set(keys))):
        for row in query_rows(sql, [scalar_param("run", "STRING", run_id), array_param("keys", part)], client):
            origin = (row["source_uri"], row["line_number"])
            current = found.get(row["composite_key"])
            # Deterministic when a key is (wrongly) present twice: the earliest origin wins.
            if current is None or _order(origin) < _order(current):
                found[row["composite_key"]] = origin
    return found


def _order(origin: Origin) -> tuple[str, int]:
    return (origin[0] or "", origin[1] or 0)


def dead_lines_written(table: TableRef, run_id: str, source_uri: str, first: int, last: int,
                       client=None) -> set[int]:
    """Line numbers of source_uri in [first, last] already in the dead letter for run_id (read only
    when a chunk is replayed after a crash)."""
    sql = (f"SELECT DISTINCT line_number FROM {table.sql} WHERE run_id = @run AND source_uri = @uri "
           "AND line_number BETWEEN @first AND @last")
    params = [scalar_param("run", "STRING", run_id), scalar_param("uri", "STRING", source_uri),
              scalar_param("first", "INT64", first), scalar_param("last", "INT64", last)]
    return {row["line_number"] for row in query_rows(sql, params, client)}
