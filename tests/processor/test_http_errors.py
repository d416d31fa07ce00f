"""Every error code of the processor, as JSON with a stable code: 400 VALIDATION_ERROR, 404
NOT_FOUND, 405, 409 CONFLICT, 503 UPSTREAM_UNAVAILABLE and 500 INTERNAL (never an HTML page)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import requests

from pass1_processor.checkpoint import FILES_COLLECTION, file_doc_id
from tests.processor.http_checks import assert_landed, landed
from tests.processor.lines import jsonl, many

GOOD_DIR = "gs://local-project-batch-output/runs/pass1/x/prediction-model-1"
ERROR_KEYS = {"status", "error", "request_id", "timestamp", "processing_time_seconds"}


def _assert_error(status: int, answer: dict, expected_status: int, code: str) -> dict:
    assert status == expected_status, answer
    assert set(answer) == ERROR_KEYS and answer["status"] == "error", answer
    assert answer["error"]["code"] == code and answer["error"]["message"], answer
    return answer["error"]


BAD_BODIES = [
    ("table with SQL", {"output_table": "pass1_analysis; DROP TABLE x"}, "output_table"),
    ("dotted table with SQL", {"lookup_table": "ds.t; DROP TABLE x"}, "lookup_table"),
    ("table with backquote", {"dead_letter_table": "t`--"}, "dead_letter_table"),
    ("bad dataset", {"dataset": "call-analytics; --"}, "dataset"),
    ("bad project", {"project_id": "Bad Project"}, "project_id"),
    ("not gs://", {"output_info": {"gcsOutputDirectory": "https://storage.googleapis.com/b/x"}}, "output_info"),
    ("bad bucket name", {"output_info": {"gcsOutputDirectory": "gs://Bad_Bucket!/x"}}, "output_info"),
    ("bucket not configured", {"output_info": {"gcsOutputDirectory": "gs://someone-elses-bucket/x"}}, "output_info"),
    ("whole bucket", {"output_info": {"gcsOutputDirectory": "gs://local-project-batch-output"}}, "output_info"),
    ("dot-dot path", {"output_info": {"gcsOutputDirectory": "gs://local-project-batch-output/a/../b"}}, "output_info"),
    ("output_info wrong type", {"output_info": 42}, "output_info"),
    ("no output_info, no run", {"output_info": None}, "output_info"),
    ("chunk_size as text", {"chunk_size": "100"}, "chunk_size"),
    ("chunk_size zero", {"chunk_size": 0}, "chunk_size"),
    ("chunk_size bool", {"chunk_size": True}, "chunk_size"),
    ("threshold out of range", {"memory_threshold_percent": 150}, "memory_threshold_percent"),
    ("budget negative", {"time_budget_seconds": -1}, "time_budget_seconds"),
    ("unknown write method", {"write_method": "fast"}, "write_method"),
    ("files not a list", {"files": f"{GOOD_DIR}/predictions.jsonl"}, "files"),
    ("files empty", {"files": []}, "files"),
    ("files not predictions", {"files": [f"{GOOD_DIR}/notes.txt"]}, "files"),
    ("run_id with spaces", {"run_id": "run 1; drop", "batch_type": "pass1"}, "run_id"),
    ("workflow_id wrong type", {"workflow_id": ["w"]}, "workflow_id"),
]


def test_bad_fields_are_400_naming_the_field(proc, rows, firestore_client):
    """One test for all cases: none of them touches a service, so no reset is needed in between."""
    for case, change, field in BAD_BODIES:
        body = {k: v for k, v in {"output_info": {"gcsOutputDirectory": GOOD_DIR}, **change}.items() if v is not None}
        error = _assert_error(*proc(body), 400, "VALIDATION_ERROR")
        assert error["details"]["field"] == field, (case, error)
    assert landed(rows) == ([], []) and list(firestore_client.collections()) == []


def test_bad_json_and_non_object_bodies_are_400(stack, http):
    url = stack["PASS1_BATCH_PROCESSOR_URL"]
    for data in (b"{not json", b'{"output_info": ', b"[1, 2]", b'"text"'):
        error = _assert_error(*http.post(url, data=data, headers={"Content-Type": "application/json"}),
                              400, "VALIDATION_ERROR")
        assert error["details"]["field"] == "body"


def test_wrong_method_is_json_405(stack):
    resp = requests.get(stack["PASS1_BATCH_PROCESSOR_URL"], timeout=30)
    assert resp.status_code == 405 and resp.headers["Content-Type"].startswith("application/json")
    assert resp.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_no_output_files_is_404(proc, put, out_dir):
    error = _assert_error(*proc({"output_info": {"gcsOutputDirectory": out_dir}}), 404, "NOT_FOUND")
    assert error["details"]["output_dirs"] == [out_dir]
    put(f"{out_dir}/notes.txt", b"not a prediction file\n")
    put(f"{out_dir}/retry/keys-x.jsonl", jsonl(many(1)))
    _assert_error(*proc({"output_info": {"gcsOutputDirectory": out_dir}}), 404, "NOT_FOUND")


def test_missing_requested_file_is_404(proc, put, out_dir):
    put(f"{out_dir}/predictions_00001.jsonl", jsonl(many(1)))
    error = _assert_error(*proc({"output_info": {"gcsOutputDirectory": out_dir},
                                 "files": [f"{out_dir}/predictions_00002.jsonl"]}), 404, "NOT_FOUND")
    assert error["details"]["uri"] == f"{out_dir}/predictions_00002.jsonl"


def test_unknown_run_is_404(proc, uid):
    error = _assert_error(*proc({"run_id": uid, "batch_type": "pass1"}), 404, "NOT_FOUND")
    assert uid in error["message"]


def test_run_without_output_is_404(proc, make_run, uid):
    make_run(uid, [], jobs=[])
    _assert_error(*proc({"run_id": uid, "batch_type": "pass1"}), 404, "NOT_FOUND")


def test_unknown_table_is_404(proc, put, out_dir):
    put(f"{out_dir}/predictions.jsonl", jsonl(many(1)))
    error = _assert_error(*proc({"output_info": {"gcsOutputDirectory": out_dir}, "lookup_table": "no_such_table"}),
                          404, "NOT_FOUND")
    assert error["details"]["table"].endswith(".no_such_table")


def test_lease_held_by_another_invocation_is_409(proc, put, out_dir, make_run, uid, rows):
    """Another invocation holds the file's lease: 409, nothing written; once it lapses, the call works."""
    uri = put(f"{out_dir}/predictions.jsonl", jsonl(many(4)))
    make_run(uid, [out_dir])
    doc = make_run.store.ref(uid, "pass1").collection(FILES_COLLECTION).document(file_doc_id(uri))
    now = datetime.now(timezone.utc)
    doc.set({"uri": uri, "offset": 0, "next_line": 1, "done": False, "pending": None, "counts": {},
             "lease": {"owner": "another-invocation", "expires_at": now + timedelta(minutes=5)}})
    body = {"run_id": uid, "batch_type": "pass1"}
    error = _assert_error(*proc(body), 409, "CONFLICT")
    assert error["details"]["files"] == [uri]
    assert landed(rows) == ([], [])
    doc.update({"lease.expires_at": now - timedelta(seconds=1)})
    status, answer = proc(body)
    assert status == 200 and answer["status"] == "success" and answer["inserted_rows"] == 4
    assert_landed(rows, answer)


def test_run_not_ready_is_409(proc, put, out_dir, make_run, uid):
    put(f"{out_dir}/predictions.jsonl", jsonl(many(1)))
    for state in ("RUNNING", "FAILED", "CANCELLED"):
        make_run(uid, [out_dir], state=state)
        error = _assert_error(*proc({"run_id": uid, "batch_type": "pass1"}), 409, "CONFLICT")
        assert error["details"]["state"] == state


def test_bigquery_down_is_503_and_the_run_stays_resumable(proc, put, out_dir, make_run, uid, rows, stopped,
                                                          restart_processor, layout):
    """BigQuery stops answering after the first chunk: the next call retries, gives up with a 503
    within its retry deadline, and the run resumes exactly once BigQuery is back."""
    from infra.local import provision

    restart_processor(RETRY_DEADLINE_SECONDS="2")
    put(f"{out_dir}/predictions.jsonl", jsonl(many(9)))
    make_run(uid, [out_dir])
    body = {"run_id": uid, "batch_type": "pass1", "chunk_size": 4, "time_budget_seconds": 0}
    status, first = proc(body)
    assert status == 200 and first["status"] == "partial", first
    with stopped("bigquery"):
        error = _assert_error(*proc(body), 503, "UPSTREAM_UNAVAILABLE")
        assert error["details"]["type"]
    provision.provision(layout)  # the emulator keeps its data dir; make sure the stack is whole
    record = make_run.store.get(uid, "pass1")
    assert record["state"] == "PROCESSING"
    answers = [first]
    while answers[-1]["status"] == "partial":
        status, answer = proc(body)
        assert status == 200, answer
        answers.append(answer)
    assert answers[-1]["processed_records"] == answers[-1]["inserted_rows"] == 9
    assert_landed(rows, answers[-1])
