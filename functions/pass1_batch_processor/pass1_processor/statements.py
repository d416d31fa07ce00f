"""The SQL of the write path, as pure functions of table names and column lists (unit-tested).

- snapshot: the lookup rows of the run's tokens, once per run (CTAS), restricted to the run's window
  of the lookup's partition column when it has one (snapshot.py). The lookup matching rules:
  rows are matched on token *and* interaction id (a token with several rows matches only the row of
  its interaction); several rows for one pair keep one, deterministically (the smallest JSON text of
  its enrichment columns, as the per-chunk lookup used to pick).
- merge: the staged rows of a batch of files (@uris: the files a call staged) into the output
  table, insert-only. Its ON clause names run_id, a lower bound on processed_at (the partition
  column: BigQuery prunes partitions) and composite_key (with run_id, the clustering columns): a
  MERGE repeated after a crash inserts nothing, and a key already written for the run (from another
  file) is not written again. Within the batch, the first line of a key wins (files in URI order);
  a file staged twice (loaded by two batches) counts once.
- tally: what the batch's MERGE (this attempt or an earlier one) left in the output table, per file,
  counted from the table itself, so that it is the same whichever attempt asks.

Column names go into SQL text: only plain identifiers do (COLUMN); table names are TableRef.sql.
"""

from __future__ import annotations

import re
from typing import Sequence

from shared.identifiers import TableRef

COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")
TOKEN, INTERACTION = "phone_number_token", "interaction_id"
UNCONVERTED = "_unconverted"  # staging only: answer values kept in `extra` because they did not fit
LOOKUP_STATUS = "lookup_status"


def _ident(name: str) -> str:
    if not COLUMN.fullmatch(name):
        raise ValueError(f"unsafe column name {name!r}")
    return f"`{name}`"


def snapshot_sql(lookup: TableRef, keys: TableRef, snapshot: TableRef, columns: Sequence[str],
                 window_column: str | None = None) -> str:
    """CREATE OR REPLACE the run's lookup snapshot: token, interaction id and the enrichment
    columns, one row per pair, for the tokens in the run's keys table. Reads the lookup table once;
    with window_column (the lookup's partition column), only its rows in [@window_from, @window_to)
    or without a value: constant bounds, so BigQuery prunes the other partitions."""
    where = ""
    if window_column is not None:
        col = _ident(window_column)
        where = f"({col} >= @window_from AND {col} < @window_to OR {col} IS NULL) AND "
    body = _lookup_rows(lookup, columns, f"SELECT DISTINCT {_ident(TOKEN)} FROM {keys.sql}", where)
    return f"CREATE OR REPLACE TABLE {snapshot.sql} AS {body}"


def direct_lookup_sql(lookup: TableRef, staging: TableRef, columns: Sequence[str]) -> str:
    """The lookup rows of the staged tokens of the files @uris (files without a key index in the
    snapshot)."""
    return _lookup_rows(lookup, columns,
                        f"SELECT DISTINCT {_ident(TOKEN)} FROM {staging.sql} WHERE source_uri IN UNNEST(@uris)")


def _lookup_rows(lookup: TableRef, columns: Sequence[str], tokens_sql: str, where: str = "") -> str:
    wanted = [c for c in sorted(set(columns)) if c not in (TOKEN, INTERACTION)]
    select = ", ".join(_ident(c) for c in (TOKEN, INTERACTION, *wanted))
    rank = f"TO_JSON_STRING(STRUCT({', '.join(_ident(c) for c in wanted)}))" if wanted else "1"
    return (f"SELECT {select} FROM {lookup.sql} WHERE {where}{_ident(TOKEN)} IN ({tokens_sql}) "
            f"QUALIFY ROW_NUMBER() OVER (PARTITION BY {_ident(TOKEN)}, {_ident(INTERACTION)} ORDER BY {rank}) = 1")


def merge_sql(output: TableRef, staging: TableRef, lookup_source: str, output_columns: Sequence[str],
              lookup_columns: Sequence[str]) -> str:
    """Insert the staged rows of the files @uris whose key the run (@run, rows processed at or after
    @since) does not have yet, enriched from lookup_source (a table's SQL name or a parenthesised
    query with token, interaction id and lookup_columns)."""
    enrich = set(lookup_columns)
    parts = []
    for name in output_columns:
        if name in enrich:
            parts.append(f"L.{_ident(name)}")
        elif name == LOOKUP_STATUS:
            parts.append(f"IF(L.{_ident(TOKEN)} IS NULL, 'unmatched', 'matched') AS {_ident(name)}")
        else:
            parts.append(f"S.{_ident(name)}")
    columns = ", ".join(_ident(c) for c in output_columns)
    values = ", ".join(f"N.{_ident(c)}" for c in output_columns)
    staged = (f"SELECT * FROM {staging.sql} WHERE source_uri IN UNNEST(@uris) "
              "QUALIFY ROW_NUMBER() OVER (PARTITION BY composite_key ORDER BY source_uri, line_number) = 1")
    return (f"MERGE {output.sql} T USING (SELECT {', '.join(parts)} FROM ({staged}) S "
            f"LEFT JOIN {lookup_source} L ON L.{_ident(TOKEN)} = S.{_ident(TOKEN)} "
            f"AND L.{_ident(INTERACTION)} = S.{_ident(INTERACTION)}) N "
            "ON T.run_id = @run AND T.processed_at >= @since AND T.composite_key = N.composite_key "
            f"WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({values})")


def tally_sql(output: TableRef, staging: TableRef, output_columns: Sequence[str]) -> str:
    """Per file of @uris, its rows in the output table: inserted, unmatched, repaired, unconverted
    (a file without rows there has no row here)."""
    present = set(output_columns)
    unmatched = "COUNTIF(T.lookup_status = 'unmatched')" if LOOKUP_STATUS in present else "0"
    repaired = "COUNTIF(T.repaired)" if "repaired" in present else "0"
    return (f"SELECT T.source_uri, COUNT(*) AS inserted, {unmatched} AS unmatched, {repaired} AS repaired, "
            f"IFNULL(SUM(S.{UNCONVERTED}), 0) AS unconverted FROM {output.sql} T JOIN (SELECT source_uri, "
            f"composite_key, line_number, MAX({UNCONVERTED}) AS {UNCONVERTED} FROM {staging.sql} "
            "WHERE source_uri IN UNNEST(@uris) GROUP BY source_uri, composite_key, line_number) S "
            "ON S.source_uri = T.source_uri AND S.composite_key = T.composite_key "
            "AND S.line_number = T.line_number "
            "WHERE T.run_id = @run AND T.processed_at >= @since AND T.source_uri IN UNNEST(@uris) "
            "GROUP BY T.source_uri")


def dead_merge_sql(dead: TableRef, staging: TableRef, columns: Sequence[str]) -> str:
    """Insert the staged dead letters of the files @uris that the run's dead-letter table does not
    have yet (one row per source line; a file's dead letters staged twice land once)."""
    names = ", ".join(_ident(c) for c in columns)
    values = ", ".join(f"N.{_ident(c)}" for c in columns)
    staged = (f"SELECT {names} FROM {staging.sql} WHERE source_uri IN UNNEST(@uris) "
              "QUALIFY ROW_NUMBER() OVER (PARTITION BY source_uri, line_number ORDER BY reason) = 1")
    return (f"MERGE {dead.sql} T USING ({staged}) N "
            "ON T.run_id = @run AND T.processed_at >= @since AND T.source_uri = N.source_uri "
            "AND T.line_number = N.line_number "
            f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})")
