"""The write path (stage, load, MERGE) over awkward output: the expected rows, dead letters and
counts, duplicates written once, a resumed and a repeated run exact; rows the table refuses; the
removed `streaming` write method refused with its stable reason."""

from __future__ import annotations

import base64

import orjson
import pytest

from shared.keys import encode_key
from tests.processor.http_checks import assert_balanced, assert_landed, counts, drive, landed
from tests.processor.lines import analysis, duplicate_of, failed, jsonl, many, success


def _awkward_lines() -> list:
    """13 lines: 6 plain, a duplicate in the same chunk and one in a later chunk, a pipe
    key in the standard alphabet without padding, a line cut short (recovered by the regex
    fallback), a failed row, a bad key, and an array instead of an object."""
    lines = many(6)
    pipe_key = base64.b64encode(b"tokP|INT-P").decode().rstrip("=")
    cut = orjson.dumps({"key": encode_key("tokC", "INT-C"), **success("tokC", "INT-C", analysis(9), i=9)})
    cut = cut[:cut.index(b'"usageMetadata"') + 20]
    return [*lines[:3], duplicate_of(lines[0]), *lines[3:],
            success("tokP", "INT-P", analysis(7), key=pipe_key, i=7),
            cut,
            failed("tokF", "INT-F", i=8),
            success("tokB", "INT-B", analysis(8), key="not base64 at all!", i=8),
            success("tokA", "INT-A", text="[1, 2, 3]"),
            duplicate_of(lines[5])]


def _without(rows_: list[dict], ignored) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ignored} for r in rows_]


def test_the_write_path_resumes_and_reruns_exactly(proc, put, out_dir, rows):
    put(f"{out_dir}/predictions.jsonl", jsonl(_awkward_lines()))
    body = {"output_info": {"gcsOutputDirectory": out_dir}, "chunk_size": 5, "time_budget_seconds": 0}
    answers = drive(proc, body)
    assert [a["processed_records"] for a in answers] == [5, 10, 13]
    assert [a["pending_records"] for a in answers] == [5, 9, 0]  # staged, not merged until the file ends
    assert_landed(rows, answers[-1])
    before = landed(rows)
    status, again = proc(body)
    assert status == 200 and counts(again) == counts(answers[-1]) and landed(rows) == before


def test_awkward_output_lands_as_expected(proc, put, out_dir, rows):
    put(f"{out_dir}/predictions.jsonl", jsonl(_awkward_lines()))
    status, answer = proc({"output_info": {"gcsOutputDirectory": out_dir}, "chunk_size": 5})
    assert status == 200 and answer["status"] == "success" and answer["write_method"] == "load", answer
    assert (answer["processed_records"], answer["inserted_rows"], answer["failed_records"],
            answer["duplicate_records"], answer["repaired_records"], answer["retry_requests"]) == (13, 8, 3, 2, 1, 1)
    assert_balanced(answer)
    # the file: one load of the staged rows, one MERGE, one tally; its dead letters: one load, one MERGE
    assert answer["bigquery_jobs"] == {"query": 1, "load": 2, "dml": 2}, answer
    out, dead = landed(rows)
    assert len(out) == len({r["composite_key"] for r in out}) == 8
    assert [r["line_number"] for r in out] == [1, 2, 3, 5, 6, 7, 8, 9]  # lines 4 and 13 repeat keys
    assert [(d["line_number"], d["reason"]) for d in dead] == [(10, "model_error"), (11, "bad_key"),
                                                               (12, "not_an_object")]
    by_token = {r["phone_number_token"]: r for r in out}
    assert by_token["tokP"]["interaction_id"] == "INT-P" and by_token["tokC"]["repaired"] is True


@pytest.mark.stateless
def test_streaming_is_refused_with_a_stable_reason(proc, out_dir):
    status, answer = proc({"output_info": {"gcsOutputDirectory": out_dir}, "write_method": "streaming"})
    assert status == 400, answer
    assert answer["error"]["code"] == "VALIDATION_ERROR"
    assert answer["error"]["details"] == {"field": "write_method", "reason": "write_method_removed"}


@pytest.fixture
def strict_table(bigquery_client, layout):
    """An output table with a required column the processor never fills: BigQuery refuses its rows."""
    from google.cloud import bigquery

    from infra.local.provision import load_schema, table_schemas

    schema = [*load_schema(table_schemas(layout)["pass1_analysis"]), bigquery.SchemaField("reviewer", "STRING", "REQUIRED")]
    bigquery_client.create_table(bigquery.Table(f"{layout.project}.{layout.dataset}.pass1_strict", schema=schema))
    return "pass1_strict"


def test_rows_the_table_refuses_are_a_json_500(proc, put, out_dir, rows, strict_table):
    put(f"{out_dir}/predictions.jsonl", jsonl(many(3)))
    status, answer = proc({"output_info": {"gcsOutputDirectory": out_dir}, "output_table": strict_table})
    assert status == 500 and answer["status"] == "error", answer
    assert answer["error"]["code"] == "INTERNAL" and answer["error"]["details"]["reason"] in ("invalid", "invalidQuery"), answer
    assert rows(strict_table) == [] and rows("pass1_dead_letter") == []


def test_a_calls_staged_files_go_to_bigquery_in_batches(proc, put, out_dir, rows):
    """Three files staged by one call go to BigQuery in one batch (mergelane.py: fewer than 50,000
    lines wait, so the call's last batch takes them all): one load, one MERGE and one tally; a key in
    two files lands once, from the first file, and counts as the second file's duplicate."""
    lines = many(9)
    put(f"{out_dir}/predictions_00001.jsonl", jsonl(lines[:3]))
    put(f"{out_dir}/predictions_00002.jsonl", jsonl([*lines[3:6], duplicate_of(lines[0])]))
    put(f"{out_dir}/predictions_00003.jsonl", jsonl([*lines[6:], failed("tokF", "INT-F", i=9)]))
    status, answer = proc({"output_info": {"gcsOutputDirectory": out_dir}, "chunk_size": 2})
    assert status == 200 and answer["status"] == "success" and answer["files_done"] == 3, answer
    assert (answer["processed_records"], answer["inserted_rows"], answer["failed_records"],
            answer["duplicate_records"]) == (11, 9, 1, 1)
    jobs = answer["bigquery_jobs"]
    # One tally, one staged load, one MERGE; the dead letters' load and MERGE (no key index here: no
    # snapshot jobs).
    assert jobs == {"query": 1, "load": 2, "dml": 2}, jobs
    out, _ = assert_landed(rows, answer)
    first = [r for r in out if r["composite_key"] == lines[0]["key"]]
    assert [r["source_uri"].rsplit("/", 1)[1] for r in first] == ["predictions_00001.jsonl"]
