"""One run total: the run record is the one source of a run's totals. With a key that two
files' MERGEs both wrote, reconciled on completion (pass1_processor/reconcile.py), the completing
answer, the run record, poll_status's run_totals, a repeated call's answer and the workflow's summary
(infra/workflows/pass1.yaml) all say 8 processed, 7 rows, 1 duplicate; the per-file units' own counts
(what the workflow used to add up) say 8 rows.

The race that makes such a key (two MERGEs side by side, each blind to the other's row) is one BigQuery
allows and the local emulator does not (it commits MERGEs one after the other): it is made here by
moving the first file's rows before the run's processed_at lower bound (`since`, snapshot.py), which
hides them from the second file's MERGE exactly as a concurrent MERGE would not have seen them."""

from __future__ import annotations

from infra.local.layout import REPO_ROOT
from infra.local.workflows import load_workflow, run_workflow
from tests.processor.http_checks import landed
from tests.processor.lines import analysis, jsonl, many, success

PASS1 = REPO_ROOT / "infra" / "workflows" / "pass1.yaml"
COUNTS = ("processed_records", "inserted_rows", "duplicate_records", "failed_records")


def _hide_from_later_merges(bigquery_client, layout, run_id: str, uri: str) -> None:
    """The file's rows, three days before `since`: a later MERGE's ON clause does not see them."""
    from google.cloud import bigquery

    table = f"`{layout.project}.{layout.dataset}.{layout.output_table}`"
    params = [bigquery.ScalarQueryParameter("run", "STRING", run_id),
              bigquery.ScalarQueryParameter("uri", "STRING", uri)]
    bigquery_client.query(f"UPDATE {table} SET processed_at = TIMESTAMP_SUB(processed_at, INTERVAL 72 HOUR) "
                          "WHERE run_id = @run AND source_uri = @uri",
                          job_config=bigquery.QueryJobConfig(query_parameters=params)).result()


def test_a_reconciled_duplicate_gives_one_run_total_everywhere(proc, put, out_dir, make_run, uid, rows, stack, layout,
                                                               bigquery_client, http):
    files = [f"{out_dir}/predictions_{i:05d}.jsonl" for i in (1, 2)]
    shared = success("tok-shared", "INT-S", analysis(99), i=99)
    put(files[0], jsonl(many(3) + [shared]))            # the shared key at line 4 of the first file
    put(files[1], jsonl([shared] + many(3, start=3)))   # and at line 1 of the second
    # poll_status lists the files of the job: the workflow makes one unit per file.
    make_run(uid, [out_dir], jobs=[{"name": "projects/p/locations/l/batchPredictionJobs/1", "output_dir": out_dir,
                                    "attempt": 1, "output_files": files}])
    make_run.store.ref(uid, "pass1").update({"attempt": 1})  # as submit_batch leaves it
    base = {"run_id": uid, "batch_type": "pass1"}

    status, first = proc({**base, "files": [files[0]]})
    assert status == 200 and (first["inserted_rows"], first["run_totals"]) == (4, None), first
    _hide_from_later_merges(bigquery_client, layout, uid, files[0])
    status, second = proc(base)  # the whole run: writes the shared key again from file 2, completes the run
    assert status == 200 and second["status"] == "success", second

    # The unit is the run: its counts are the run's, reconciled.
    expected = {"processed_records": 8, "inserted_rows": 7, "duplicate_records": 1, "failed_records": 0}
    run_totals = second["run_totals"]
    assert {k: run_totals[k] for k in COUNTS} == expected and run_totals["reconciled_extras"] == 1
    assert {k: second[k] for k in COUNTS} == expected
    record = make_run.store.get(uid, "pass1")
    assert record["state"] == "COMPLETED"
    processing = record["processing"]
    assert (processing["processed"], processing["inserted"], processing["duplicates"],
            processing["reconciled_extras"]) == (8, 7, 1, 1)
    out, _ = landed(rows)
    assert len(out) == len({r["composite_key"] for r in out}) == 7

    status, polled = http.get(stack["POLL_STATUS_URL"], params={**base, "jobs": "false"})
    assert status == 200 and polled["run_totals"] == run_totals
    status, again = proc(base)  # the whole run, repeated: answered from the record
    assert status == 200 and again["already_completed"] and again["run_totals"] == run_totals
    assert {k: again[k] for k in COUNTS} == expected

    events: list[dict] = []
    summary = run_workflow(load_workflow(PASS1), {**base, "source": {"table": layout.transcripts_table},
                                                  "poll_initial_seconds": 0.2, "poll_max_seconds": 1,
                                                  "deadline_seconds": 120, "process_concurrency": 2},
                           env=dict(stack), on_event=lambda e: events.append(e) if e["type"] == "log" else None)
    logs = [e["json"] for e in events if isinstance(e.get("json"), dict)]
    units = [log for log in logs if log.get("event") == "process_answer"]
    # One unit per file, answered from its checkpoint (4 + 4 rows for 7 keys): what the summary added up.
    assert sorted((u["files"][0], u["inserted_rows"]) for u in units) == [(files[0], 4), (files[1], 4)]
    assert (summary["processed"], summary["rows_landed"], summary["duplicates"],
            summary["dead_lettered"]) == (8, 7, 1, 0)
    assert summary["attempt_details"][0]["counts"]["inserted_rows"] == 7
