"""The write path's SQL (pass1_processor/statements.py), as text: what prunes, what it inserts, what
it refuses to put into SQL. Its semantics run against the emulator in the HTTP tests."""

from __future__ import annotations

import pytest

from pass1_processor.statements import direct_lookup_sql, merge_sql, snapshot_sql, tally_sql
from shared.identifiers import TableRef

OUT, STAGE = TableRef("p", "d", "pass1_analysis"), TableRef("p", "d", "_p1_stage_x")
LOOKUP, KEYS, SNAP = TableRef("p", "d", "interaction_lookup"), TableRef("p", "d", "_p1_keys_x"), TableRef("p", "d", "_p1_lookup_x")
COLUMNS = ["composite_key", "run_id", "phone_number_token", "interaction_id", "agent_id", "lookup_status",
           "summary", "processed_at", "source_uri", "line_number", "repaired"]


def test_the_merge_prunes_on_run_partition_and_key_and_only_inserts():
    sql = merge_sql(OUT, STAGE, SNAP.sql, COLUMNS, ["agent_id"])
    assert "ON T.run_id = @run AND T.processed_at >= @since AND T.composite_key = N.composite_key" in sql
    assert "WHEN NOT MATCHED THEN INSERT" in sql and "WHEN MATCHED" not in sql
    assert "WHERE source_uri IN UNNEST(@uris)" in sql  # the batch's staged rows
    # the first line of a key wins, files in URI order; a file staged twice counts once
    assert "QUALIFY ROW_NUMBER() OVER (PARTITION BY composite_key ORDER BY source_uri, line_number) = 1" in sql
    assert "L.`agent_id`" in sql and "IF(L.`phone_number_token` IS NULL, 'unmatched', 'matched')" in sql
    assert "AND L.`interaction_id` = S.`interaction_id`" in sql  # token AND interaction id


def test_the_snapshot_reads_only_the_needed_columns_once_with_a_deterministic_tie_break():
    sql = snapshot_sql(LOOKUP, KEYS, SNAP, ["queue_name", "agent_id"])
    assert sql.startswith(f"CREATE OR REPLACE TABLE {SNAP.sql} AS SELECT `phone_number_token`, `interaction_id`, "
                          "`agent_id`, `queue_name` FROM")
    assert f"IN (SELECT DISTINCT `phone_number_token` FROM {KEYS.sql})" in sql
    assert "ORDER BY TO_JSON_STRING(STRUCT(`agent_id`, `queue_name`))) = 1" in sql
    assert "WHERE source_uri IN UNNEST(@uris)" in direct_lookup_sql(LOOKUP, STAGE, ["agent_id"])


def test_the_snapshot_with_a_window_filters_the_partition_column_on_constant_bounds_or_null():
    sql = snapshot_sql(LOOKUP, KEYS, SNAP, ["agent_id"], "started_at")
    assert sql == (f"CREATE OR REPLACE TABLE {SNAP.sql} AS SELECT `phone_number_token`, `interaction_id`, `agent_id` "
                   f"FROM {LOOKUP.sql} WHERE (`started_at` >= @window_from AND `started_at` < @window_to "
                   f"OR `started_at` IS NULL) AND `phone_number_token` IN (SELECT DISTINCT `phone_number_token` "
                   f"FROM {KEYS.sql}) QUALIFY ROW_NUMBER() OVER (PARTITION BY `phone_number_token`, "
                   "`interaction_id` ORDER BY TO_JSON_STRING(STRUCT(`agent_id`))) = 1")
    # without a window: the same statement without the partition filter (the whole lookup)
    assert snapshot_sql(LOOKUP, KEYS, SNAP, ["agent_id"]) == sql.replace(
        "(`started_at` >= @window_from AND `started_at` < @window_to OR `started_at` IS NULL) AND ", "")
    with pytest.raises(ValueError):
        snapshot_sql(LOOKUP, KEYS, SNAP, ["agent_id"], "started_at; DROP")


def test_the_tally_counts_each_files_rows_in_the_output_table():
    sql = tally_sql(OUT, STAGE, COLUMNS)
    assert sql.startswith("SELECT T.source_uri, COUNT(*) AS inserted")
    assert "COUNTIF(T.lookup_status = 'unmatched')" in sql and "COUNTIF(T.repaired)" in sql
    assert "WHERE T.run_id = @run AND T.processed_at >= @since AND T.source_uri IN UNNEST(@uris)" in sql
    assert sql.endswith("GROUP BY T.source_uri")
    # staged rows grouped per line: a file loaded twice into staging is not counted twice
    assert "GROUP BY source_uri, composite_key, line_number) S" in sql
    small = tally_sql(OUT, STAGE, ["composite_key", "run_id", "processed_at", "source_uri", "line_number"])
    assert "0 AS unmatched" in small and "0 AS repaired" in small


@pytest.mark.parametrize("bad", ["a`b", "x; DROP TABLE t", "1abc", ""])
def test_unsafe_column_names_never_reach_sql(bad):
    with pytest.raises(ValueError):
        merge_sql(OUT, STAGE, SNAP.sql, [*COLUMNS, bad], [])
    with pytest.raises(ValueError):
        snapshot_sql(LOOKUP, KEYS, SNAP, [bad])
