"""Exactly once across calls: a rerun of a completed run, a time budget that forces partial answers,
a processor killed mid-way, a crash between a chunk's writes, units of one run, and tables
re-created under the same run."""

from __future__ import annotations

import threading
import time

from pass1_processor.checkpoint import FILES_COLLECTION, file_doc_id
from tests.processor.http_checks import DEAD, assert_landed, counts, drive, landed
from tests.processor.lines import duplicate_of, failed, jsonl, many

KILL_WAIT_SECONDS = 60.0
LEASE_SECONDS = 3


def _dir_body(out_dir: str, **extra) -> dict:
    return {"output_info": {"gcsOutputDirectory": out_dir}, **extra}


def dead_letter_table(bigquery_client, layout, *, broken: bool) -> None:
    """Re-create the dead-letter table: broken, with a required column the processor does not fill
    (every dead-letter load fails), or as the schema in infra/ has it."""
    from google.cloud import bigquery

    from infra.local.provision import load_schema, table_schemas

    table = f"{layout.project}.{layout.dataset}.{DEAD}"
    schema = load_schema(table_schemas(layout)[DEAD])
    if broken:
        schema = [*schema, bigquery.SchemaField("triage", "STRING", "REQUIRED")]
    bigquery_client.delete_table(table)
    bigquery_client.create_table(bigquery.Table(table, schema=schema))


def _file_doc(make_run, run_id: str, uri: str):
    return make_run.store.ref(run_id, "pass1").collection(FILES_COLLECTION).document(file_doc_id(uri))


def test_rerun_of_completed_run_writes_nothing(proc, put, out_dir, make_run, uid, rows):
    lines = many(8)
    lines[3] = failed("tok3", "INT-3", i=3)
    put(f"{out_dir}/predictions.jsonl", jsonl(lines))
    make_run(uid, [out_dir])
    body = {"run_id": uid, "batch_type": "pass1", "workflow_id": "wf-1"}
    status, first = proc(body)
    assert status == 200 and first["status"] == "success", first
    assert (first["processed_records"], first["inserted_rows"], first["failed_records"]) == (8, 7, 1)
    assert first["workflow_id"] == "wf-1" and first["run_id"] == uid
    record = make_run.store.get(uid, "pass1")
    assert record["state"] == "COMPLETED"
    assert {k: record["processing"][k] for k in ("processed", "inserted", "failed", "duplicates")} == {
        "processed": 8, "inserted": 7, "failed": 1, "duplicates": 0}
    before = landed(rows)
    status, again = proc(body)
    assert status == 200 and again["status"] == "success" and again["already_completed"] is True, again
    assert counts(again) == counts(first) and again["files"] == first["files"]
    assert landed(rows) == before


def test_rerun_without_run_id_writes_nothing(proc, put, out_dir, rows):
    put(f"{out_dir}/predictions.jsonl", jsonl(many(5)))
    status, first = proc(_dir_body(out_dir))
    assert status == 200 and first["inserted_rows"] == 5
    before = landed(rows)
    status, again = proc(_dir_body(out_dir))
    assert status == 200 and again["status"] == "success" and counts(again) == counts(first)
    assert again["chunks"] == 0
    assert landed(rows) == before


def test_time_budget_forces_partial_then_resume_is_exact(proc, put, out_dir, make_run, uid, rows):
    """One chunk per call: every answer is the running total, the run is PROCESSING until the last
    chunk, and the totals equal a single call's."""
    lines = many(17)
    lines[5] = failed("tok5", "INT-5", i=5)
    lines[12] = duplicate_of(lines[2])
    put(f"{out_dir}/predictions.jsonl", jsonl(lines))
    make_run(uid, [out_dir])
    body = {"run_id": uid, "batch_type": "pass1", "chunk_size": 5, "time_budget_seconds": 0}
    answers = drive(proc, body)
    assert [a["processed_records"] for a in answers] == [5, 10, 15, 17]
    assert [a["status"] for a in answers] == ["partial"] * 3 + ["success"]
    final = answers[-1]
    assert (final["inserted_rows"], final["failed_records"], final["duplicate_records"]) == (15, 1, 1)
    assert_landed(rows, final)
    record = make_run.store.get(uid, "pass1")
    assert record["state"] == "COMPLETED" and record["processing"]["inserted"] == 15


def test_partial_run_is_processing_between_calls(proc, put, out_dir, make_run, uid):
    put(f"{out_dir}/predictions.jsonl", jsonl(many(6)))
    make_run(uid, [out_dir])
    status, answer = proc({"run_id": uid, "batch_type": "pass1", "chunk_size": 4, "time_budget_seconds": 0})
    assert status == 200 and (answer["status"], answer["resume"]) == ("partial", True), answer
    assert make_run.store.get(uid, "pass1")["state"] == "PROCESSING"


def test_processor_killed_mid_way_then_called_again(proc, put, out_dir, make_run, uid, rows, stack_manager,
                                                    restart_processor):
    """SIGKILL of the function process while it writes; the next call (once the dead invocation's
    lease lapses) ends with exactly the expected rows and counts."""
    restart_processor(PROCESSOR_LEASE_SECONDS=str(LEASE_SECONDS))
    lines = many(30)
    for i in (7, 13, 26):
        lines[i] = failed(f"tok{i}", f"INT-{i}", i=i)
    uri = put(f"{out_dir}/predictions.jsonl", jsonl(lines))
    make_run(uid, [out_dir])
    body = {"run_id": uid, "batch_type": "pass1", "chunk_size": 5}
    outcome = {}
    caller = threading.Thread(target=lambda: outcome.setdefault("call", _call_quietly(proc, body)))
    caller.start()
    doc = _file_doc(make_run, uid, uri)
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    while True:  # kill while a chunk is being written, after at least one was committed
        snap = doc.get().to_dict() or {}
        if snap.get("offset") and snap.get("pending"):
            break
        assert time.monotonic() < deadline and caller.is_alive(), f"no chunk in flight: {snap}, {outcome}"
        time.sleep(0.02)
    stack_manager.kill("pass1_batch_processor")
    caller.join(30)
    assert isinstance(outcome["call"], Exception), f"the call was not killed mid-way: {outcome}"
    restart_processor(PROCESSOR_LEASE_SECONDS=str(LEASE_SECONDS))
    statuses = []
    for _ in range(40):  # 409 while the killed invocation's lease is live, then the work resumes
        status, answer = proc(body)
        statuses.append(status)
        if status != 409:
            break
        assert answer["error"]["code"] == "CONFLICT"
        time.sleep(0.5)
    assert status == 200 and answer["status"] == "success", (statuses, answer)
    assert (answer["processed_records"], answer["inserted_rows"], answer["failed_records"],
            answer["duplicate_records"], answer["retry_requests"]) == (30, 27, 3, 0, 3)
    out, dead = assert_landed(rows, answer)
    assert sorted(r["line_number"] for r in out) == [n for n in range(1, 31) if n - 1 not in (7, 13, 26)]
    assert [d["line_number"] for d in dead] == [8, 14, 27]
    assert make_run.store.get(uid, "pass1")["state"] == "COMPLETED"


def _call_quietly(proc, body):
    try:
        return proc(body, timeout=60)
    except Exception as exc:  # the killed call: its connection drops
        return exc


def test_crash_between_a_chunks_writes_is_replayed_exactly(proc, put, out_dir, rows, bigquery_client, layout):
    """The file's dead-letter load fails after its MERGE landed the output rows (the dead-letter
    table has a required column the processor does not know): a JSON 500, the file not done. Once
    the table is fixed, the next call repeats the file's steps: the load and MERGE add nothing, the
    rows already written count once, nothing lands twice."""
    dead_letter_table(bigquery_client, layout, broken=True)
    lines = many(10)
    lines[5] = failed("tok5", "INT-5", i=5)
    lines[8] = failed("tok8", "INT-8", i=8)
    put(f"{out_dir}/predictions.jsonl", jsonl(lines))
    body = _dir_body(out_dir, chunk_size=4)
    status, answer = proc(body)
    assert status == 500 and answer["status"] == "error" and answer["error"]["code"] == "INTERNAL", answer
    out, dead = landed(rows)
    assert [r["line_number"] for r in out] == [1, 2, 3, 4, 5, 7, 8, 10]  # the file's output rows landed
    assert dead == []
    dead_letter_table(bigquery_client, layout, broken=False)
    status, answer = proc(body)
    assert status == 200 and answer["status"] == "success", answer
    assert (answer["processed_records"], answer["inserted_rows"], answer["failed_records"],
            answer["duplicate_records"]) == (10, 8, 2, 0)
    out, dead = assert_landed(rows, answer)
    assert [r["line_number"] for r in out] == [1, 2, 3, 4, 5, 7, 8, 10]
    assert [d["line_number"] for d in dead] == [6, 9]


def test_units_of_one_run_complete_exactly_once(proc, put, out_dir, make_run, uid, rows):
    """Two disjoint `files` units of one run: counts cumulative per unit over its resume calls, the
    run completes with the last, a key seen in both files lands once, and a completed unit called
    again answers its own totals."""
    first, second = f"{out_dir}/predictions_00001.jsonl", f"{out_dir}/predictions_00002.jsonl"
    lines_a = many(7)
    lines_b = many(5, start=7) + [duplicate_of(lines_a[0])]
    put(first, jsonl(lines_a))
    put(second, jsonl(lines_b))
    make_run(uid, [out_dir])
    base = {"run_id": uid, "batch_type": "pass1", "output_info": {"gcsOutputDirectory": out_dir},
            "chunk_size": 3, "time_budget_seconds": 0}
    unit_a = drive(proc, {**base, "files": [first]})
    assert [a["processed_records"] for a in unit_a] == [3, 6, 7]
    assert all(a["files"] == [first] for a in unit_a)
    assert make_run.store.get(uid, "pass1")["state"] == "PROCESSING"
    unit_b = drive(proc, {**base, "files": [second]})
    assert [a["processed_records"] for a in unit_b] == [3, 6]
    assert (unit_b[-1]["inserted_rows"], unit_b[-1]["duplicate_records"]) == (5, 1)
    record = make_run.store.get(uid, "pass1")
    assert record["state"] == "COMPLETED"
    assert record["processing"]["processed"] == 13 and record["processing"]["inserted"] == 12
    out, _ = landed(rows)
    assert len(out) == len({r["composite_key"] for r in out}) == 12
    assert {r["source_uri"] for r in out if r["phone_number_token"] == "tok0"} == {first}
    status, again = proc({**base, "files": [first]})
    assert status == 200 and again["already_completed"] is True
    assert counts(again) == counts(unit_a[-1])
    status, whole = proc({"run_id": uid, "batch_type": "pass1"})
    assert status == 200 and whole["processed_records"] == 13 and whole["inserted_rows"] == 12


def test_parallel_units_both_complete(proc, put, out_dir, make_run, uid, rows):
    """Disjoint units processed side by side: both succeed, the run completes once, every row once."""
    files = [f"{out_dir}/predictions_{i:05d}.jsonl" for i in (1, 2)]
    put(files[0], jsonl(many(8)))
    put(files[1], jsonl(many(8, start=8)))
    make_run(uid, [out_dir])
    base = {"run_id": uid, "batch_type": "pass1", "output_info": {"gcsOutputDirectory": out_dir},
            "chunk_size": 3, "time_budget_seconds": 0}
    results = {}
    threads = [threading.Thread(target=lambda f=f: results.setdefault(f, drive(proc, {**base, "files": [f]})))
               for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(results[f][-1]["inserted_rows"] == 8 for f in files), results
    assert make_run.store.get(uid, "pass1")["state"] == "COMPLETED"
    out, _ = landed(rows)
    assert len(out) == len({r["composite_key"] for r in out}) == 16


def test_recreated_tables_are_loaded_again(proc, put, out_dir, rows, layout):
    """The same output processed again after its tables were dropped and re-created (and its
    checkpoints forgotten): the rows land again. Load job ids carry the tables' creation times; the
    BigQuery emulator (like BigQuery) remembers job ids, so without them nothing would be loaded."""
    from infra.local import provision

    lines = many(4) + [failed("tok4", "INT-4", i=4)]
    put(f"{out_dir}/predictions.jsonl", jsonl(lines))
    status, first = proc(_dir_body(out_dir))
    assert status == 200 and (first["inserted_rows"], first["failed_records"]) == (4, 1)
    provision.reset_firestore(layout)
    provision.reset_tables(layout)
    assert landed(rows) == ([], [])
    status, again = proc(_dir_body(out_dir))
    assert status == 200 and counts(again) == counts(first), again
    out, dead = assert_landed(rows, again)
    assert (len(out), len(dead)) == (4, 1)
    assert {r["run_id"] for r in out} == {first["row_run_id"]}


def test_a_run_failed_by_the_processor_resumes_on_resume_failed(proc, put, out_dir, make_run, uid, rows,
                                                                 bigquery_client, layout, firestore_client):
    """A terminal error fails the run (500, FAILED, last_error.stage processing); a plain call is then
    a 409; once the table is fixed, resume_failed carries on from the checkpoints, exactly once."""
    dead_letter_table(bigquery_client, layout, broken=True)
    lines = many(10)
    lines[5] = failed("tok5", "INT-5", i=5)
    put(f"{out_dir}/predictions.jsonl", jsonl(lines))
    make_run(uid, [out_dir])
    body = {"run_id": uid, "batch_type": "pass1", "chunk_size": 4}

    status, answer = proc(body)
    assert status == 500 and answer["error"]["code"] == "INTERNAL", answer
    record = make_run.store.get(uid, "pass1")
    assert record["state"] == "FAILED" and record["last_error"]["stage"] == "processing"
    status, answer = proc(body)
    assert status == 409 and answer["error"]["code"] == "CONFLICT", answer

    dead_letter_table(bigquery_client, layout, broken=False)
    status, answer = proc({**body, "resume_failed": True})
    assert status == 200 and answer["status"] == "success", answer
    assert (answer["processed_records"], answer["inserted_rows"], answer["failed_records"]) == (10, 9, 1)
    out, dead = assert_landed(rows, answer)
    assert [r["line_number"] for r in out] == [1, 2, 3, 4, 5, 7, 8, 9, 10]
    assert [d["line_number"] for d in dead] == [6]
    assert make_run.store.get(uid, "pass1")["state"] == "COMPLETED"


def test_resume_failed_does_not_reopen_a_run_vertex_failed(proc, put, out_dir, make_run, uid):
    put(f"{out_dir}/predictions.jsonl", jsonl(many(3)))
    make_run(uid, [out_dir], state="FAILED")
    status, answer = proc({"run_id": uid, "batch_type": "pass1", "resume_failed": True})
    assert status == 409 and answer["error"]["details"]["state"] == "FAILED", answer
