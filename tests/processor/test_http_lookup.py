"""Enrichment from the lookup table: hits, misses (lookup_status 'unmatched', lookup columns null),
and several lookup rows per phone token, matched on the token AND the interaction id."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.processor.http_checks import assert_landed
from tests.processor.lines import analysis, jsonl, success

LOOKUP_COLUMNS = ("agent_id", "queue_name", "channel", "started_at", "duration_seconds", "customer_segment")


def _lookup_row(token: str, interaction: str, n: int) -> dict:
    return {"phone_number_token": token, "interaction_id": interaction, "agent_id": f"agent-{n}",
            "queue_name": f"queue-{n}", "channel": "voice", "started_at": f"2025-01-0{n}T10:00:00Z",
            "duration_seconds": 60 * n, "customer_segment": f"segment-{n}"}


def _as_landed(row: dict) -> dict:
    """A lookup row as BigQuery gives it back in the output row."""
    out = {c: row[c] for c in LOOKUP_COLUMNS}
    out["started_at"] = datetime.fromisoformat(row["started_at"].replace("Z", "+00:00")).astimezone(timezone.utc)
    return out


def test_hits_misses_and_several_rows_per_token(proc, put, out_dir, seed_lookup, rows):
    seeded = {
        # one row: a plain hit
        "hit": _lookup_row("tok-hit", "INT-1", 1),
        # one phone number, three calls: only the row of the output line's interaction may match
        "multi": _lookup_row("tok-multi", "INT-2", 2),
        "multi-other-a": _lookup_row("tok-multi", "INT-20", 3),
        "multi-other-b": _lookup_row("tok-multi", "INT-21", 4),
        # the token is known, but for another interaction: not a match
        "wrong-interaction": _lookup_row("tok-known", "INT-99", 5),
    }
    seed_lookup(list(seeded.values()))
    lines = [success("tok-hit", "INT-1", analysis(1), i=1),
             success("tok-multi", "INT-2", analysis(2), i=2),
             success("tok-multi", "INT-21", analysis(3), i=3),   # the same number, another call
             success("tok-known", "INT-3", analysis(4), i=4),
             success("tok-none", "INT-4", analysis(5), i=5)]
    put(f"{out_dir}/predictions.jsonl", jsonl(lines))
    status, answer = proc({"output_info": {"gcsOutputDirectory": out_dir}})
    assert status == 200 and answer["status"] == "success", answer
    assert (answer["inserted_rows"], answer["unmatched_records"]) == (5, 2)
    out, _ = assert_landed(rows, answer)
    by_pair = {(r["phone_number_token"], r["interaction_id"]): r for r in out}
    expected = {("tok-hit", "INT-1"): seeded["hit"], ("tok-multi", "INT-2"): seeded["multi"],
                ("tok-multi", "INT-21"): seeded["multi-other-b"]}
    for pair, row in by_pair.items():
        if pair in expected:
            assert row["lookup_status"] == "matched"
            assert {c: row[c] for c in LOOKUP_COLUMNS} == _as_landed(expected[pair]), pair
        else:
            assert row["lookup_status"] == "unmatched"
            assert {c: row[c] for c in LOOKUP_COLUMNS} == dict.fromkeys(LOOKUP_COLUMNS), pair
    assert sorted(p for p, r in by_pair.items() if r["lookup_status"] == "unmatched") == [
        ("tok-known", "INT-3"), ("tok-none", "INT-4")]


def test_lookup_is_per_chunk(proc, put, out_dir, seed_lookup, rows):
    """Tokens spread over several chunks each find their own lookup row."""
    seed_lookup([_lookup_row(f"tok{i}", f"INT-{i}", 1 + i % 9) for i in range(0, 12, 2)])
    put(f"{out_dir}/predictions.jsonl", jsonl(success(f"tok{i}", f"INT-{i}", analysis(i), i=i) for i in range(12)))
    status, answer = proc({"output_info": {"gcsOutputDirectory": out_dir}, "chunk_size": 5})
    assert status == 200 and answer["chunks"] == 3, answer
    assert (answer["inserted_rows"], answer["unmatched_records"]) == (12, 6)
    out, _ = assert_landed(rows, answer)
    for row in out:
        i = int(row["phone_number_token"][3:])
        assert row["lookup_status"] == ("matched" if i % 2 == 0 else "unmatched")
        assert row["agent_id"] == (f"agent-{1 + i % 9}" if i % 2 == 0 else None)


def test_the_lookup_is_read_once_per_run_through_its_snapshot(proc, vertex_job, seed_lookup, rows, make_run, uid):
    """With the key index submit writes, the run's first call builds the lookup snapshot (one load
    of the run's tokens, one CTAS over the lookup); every file's MERGE joins it, and a later call
    of the same run builds nothing again."""
    from tests.processor.http_checks import inputs

    seed_lookup([_lookup_row("tok1", "INT-1", 1), _lookup_row("tok1", "INT-9", 2), _lookup_row("tok4", "INT-4", 3)])
    out_dir, _ = vertex_job(inputs(6), key_index=True, seed=1)
    make_run(uid, [out_dir])
    body = {"run_id": uid, "batch_type": "pass1", "chunk_size": 2, "time_budget_seconds": 0}
    status, first = proc(body)
    assert status == 200 and first["status"] == "partial", first
    assert first["bigquery_jobs"] == {"query": 1, "load": 1, "dml": 0}, first  # the snapshot: keys load + CTAS
    record = make_run.store.get(uid, "pass1")
    assert record["write_path"]["key_indexes"] and record["write_path"]["snapshot"]
    status, second = proc({**body, "time_budget_seconds": 60})
    assert status == 200 and second["status"] == "success", second
    # the file's load, MERGE and tally: nothing about the lookup again
    assert second["bigquery_jobs"] == {"query": 1, "load": 1, "dml": 1}, second
    assert (second["inserted_rows"], second["unmatched_records"]) == (6, 4)
    out, _ = assert_landed(rows, second)
    matched = {r["phone_number_token"]: r["agent_id"] for r in out if r["lookup_status"] == "matched"}
    assert matched == {"tok1": "agent-1", "tok4": "agent-3"}
    assert make_run.store.get(uid, "pass1")["bigquery"]["jobs"] == {"query": 2, "load": 2, "dml": 1}


def _timed_row(token: str, interaction: str, agent: str, started_at: str | None) -> dict:
    return {"phone_number_token": token, "interaction_id": interaction, "agent_id": agent, "queue_name": "q",
            "channel": "voice", "started_at": started_at, "duration_seconds": 60, "customer_segment": "s"}


# The run's transcripts are all of 2025-01-05: the snapshot reads started_at in [01-04, 01-07) or NULL.
DATED_KEY_INDEX = {"call_date_min": "2025-01-05", "call_date_max": "2025-01-05", "call_date_nulls": "0"}
WINDOW_ROWS = [
    _timed_row("tok0", "INT-0", "in-late", "2025-01-06T23:00:00Z"),     # inside, near the end
    _timed_row("tok1", "INT-1", "before", "2025-01-03T23:59:59Z"),      # a second before the window
    _timed_row("tok2", "INT-2", "after", "2025-01-07T00:00:00Z"),       # the window's end is exclusive
    _timed_row("tok3", "INT-3", "no-time", None),                       # no started_at: always read
    _timed_row("tok4", "INT-4", "in-first", "2025-01-04T00:00:00Z"),    # the window's first instant
    _timed_row("tok5", "INT-5", "in-day", "2025-01-05T12:00:00Z"),      # two rows for one pair: the one
    _timed_row("tok5", "INT-5", "a-old", "2024-12-01T12:00:00Z"),       # outside would win the tie-break
]


@pytest.fixture
def windowed_run(proc, vertex_job, seed_lookup, make_run, uid):
    """A run of 7 calls whose key index says they are all of 2025-01-05, over WINDOW_ROWS (tok6 has
    no lookup row); its answer once done."""
    from tests.processor.http_checks import inputs

    seed_lookup(WINDOW_ROWS)
    out_dir, _ = vertex_job(inputs(7), key_index=True, key_metadata=DATED_KEY_INDEX, seed=1)
    make_run(uid, [out_dir])
    status, answer = proc({"run_id": uid, "batch_type": "pass1", "time_budget_seconds": 60})
    assert status == 200 and answer["status"] == "success", answer
    return answer


def _snapshot_rows(bigquery_client, record: dict) -> dict:
    rows = bigquery_client.query(f"SELECT * FROM `{record['write_path']['snapshot']}`").result()
    return {(r["phone_number_token"], r["interaction_id"]): r["agent_id"] for r in rows}


def test_the_snapshot_reads_only_the_lookup_rows_of_the_runs_days(windowed_run, bigquery_client, make_run, uid, rows):
    """With the call dates on the key index and the lookup partitioned on started_at, the snapshot
    holds the run's lookup rows in [first day - 1, last day + 2) and those without a started_at;
    a row outside is not in it, and its output row is unmatched."""
    record = make_run.store.get(uid, "pass1")
    assert record["write_path"]["lookup_window"] == {"column": "started_at", "from": "2025-01-04", "to": "2025-01-07"}
    assert _snapshot_rows(bigquery_client, record) == {("tok0", "INT-0"): "in-late", ("tok3", "INT-3"): "no-time",
                                                       ("tok4", "INT-4"): "in-first", ("tok5", "INT-5"): "in-day"}
    assert (windowed_run["inserted_rows"], windowed_run["unmatched_records"]) == (7, 3)
    out, _ = assert_landed(rows, windowed_run)
    assert {r["phone_number_token"]: (r["lookup_status"], r["agent_id"]) for r in out} == {
        "tok0": ("matched", "in-late"), "tok1": ("unmatched", None), "tok2": ("unmatched", None),
        "tok3": ("matched", "no-time"), "tok4": ("matched", "in-first"), "tok5": ("matched", "in-day"),
        "tok6": ("unmatched", None)}


@pytest.fixture
def undated_run(proc, vertex_job, seed_lookup, make_run, uid):
    """The same run, its key index without call dates (a JSONL source, an older submit)."""
    from tests.processor.http_checks import inputs

    seed_lookup(WINDOW_ROWS)
    out_dir, _ = vertex_job(inputs(7), key_index=True, seed=1)
    make_run(uid, [out_dir])
    status, answer = proc({"run_id": uid, "batch_type": "pass1", "time_budget_seconds": 60})
    assert status == 200 and answer["status"] == "success", answer
    return answer


def test_without_call_dates_the_snapshot_reads_the_whole_lookup(undated_run, bigquery_client, make_run, uid):
    record = make_run.store.get(uid, "pass1")
    assert record["write_path"]["lookup_window"] is None
    assert _snapshot_rows(bigquery_client, record) == {
        ("tok0", "INT-0"): "in-late", ("tok1", "INT-1"): "before", ("tok2", "INT-2"): "after",
        ("tok3", "INT-3"): "no-time", ("tok4", "INT-4"): "in-first", ("tok5", "INT-5"): "a-old"}
    assert (undated_run["inserted_rows"], undated_run["unmatched_records"]) == (7, 1)
