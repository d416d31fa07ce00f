"""Enrichment from the lookup table: hits, misses (lookup_status 'unmatched', lookup columns null),
and several lookup rows per phone token, matched on the token AND the interaction id."""

from __future__ import annotations

from datetime import datetime, timezone

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
