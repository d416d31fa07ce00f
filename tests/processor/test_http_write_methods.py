"""Both write methods (load jobs, streaming inserts) over the same awkward output: the same rows,
the same dead letters, the same counts; duplicates written once; rows the table refuses."""

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


def test_streaming_resumes_and_reruns_exactly(proc, put, out_dir, rows):
    put(f"{out_dir}/predictions.jsonl", jsonl(_awkward_lines()))
    body = {"output_info": {"gcsOutputDirectory": out_dir}, "chunk_size": 5, "time_budget_seconds": 0,
            "write_method": "streaming"}
    answers = drive(proc, body)
    assert [a["processed_records"] for a in answers] == [5, 10, 13]
    assert_landed(rows, answers[-1])
    before = landed(rows)
    status, again = proc(body)
    assert status == 200 and counts(again) == counts(answers[-1]) and landed(rows) == before


def test_same_outcome_with_either_method(proc, put, layout, uid, rows):
    """The same output under two directories, one per method (each its own ad hoc scope): the same
    counts and dead letters, and identical rows but for the run id and source uri."""
    landed_by = {}
    for method in ("load", "streaming"):
        out_dir = f"gs://{layout.output_bucket}/runs/pass1/{uid}-{method}/prediction-model-x"
        put(f"{out_dir}/predictions.jsonl", jsonl(_awkward_lines()))
        status, answer = proc({"output_info": {"gcsOutputDirectory": out_dir}, "chunk_size": 5,
                               "write_method": method})
        assert status == 200 and answer["status"] == "success" and answer["write_method"] == method, answer
        assert (answer["processed_records"], answer["inserted_rows"], answer["failed_records"],
                answer["duplicate_records"], answer["repaired_records"], answer["retry_requests"]) == (13, 8, 3, 2, 1, 1)
        assert_balanced(answer)
        run = answer["row_run_id"]
        out = [r for r in rows("pass1_analysis", order_by="line_number") if r["run_id"] == run]
        dead = [d for d in rows("pass1_dead_letter", order_by="line_number") if d["run_id"] == run]
        assert len(out) == len({r["composite_key"] for r in out}) == 8
        assert [r["line_number"] for r in out] == [1, 2, 3, 5, 6, 7, 8, 9]  # lines 4 and 13 repeat keys
        assert [(d["line_number"], d["reason"]) for d in dead] == [(10, "model_error"), (11, "bad_key"),
                                                                   (12, "not_an_object")]
        by_token = {r["phone_number_token"]: r for r in out}
        assert by_token["tokP"]["interaction_id"] == "INT-P" and by_token["tokC"]["repaired"] is True
        landed_by[method] = _without(out, ("processed_at", "run_id", "source_uri"))
    assert landed_by["load"] == landed_by["streaming"]


@pytest.fixture
def strict_table(bigquery_client, layout):
    """An output table with a required column the processor never fills: BigQuery refuses its rows."""
    from google.cloud import bigquery

    from infra.local.provision import load_schema, table_schemas

    schema = [*load_schema(table_schemas(layout)["pass1_analysis"]), bigquery.SchemaField("reviewer", "STRING", "REQUIRED")]
    bigquery_client.create_table(bigquery.Table(f"{layout.project}.{layout.dataset}.pass1_strict", schema=schema))
    return "pass1_strict"


def test_rows_refused_by_streaming_become_dead_letters(proc, put, out_dir, rows, strict_table):
    put(f"{out_dir}/predictions.jsonl", jsonl(many(3)))
    status, answer = proc({"output_info": {"gcsOutputDirectory": out_dir}, "output_table": strict_table,
                           "write_method": "streaming"})
    assert status == 200, answer
    assert (answer["processed_records"], answer["inserted_rows"], answer["failed_records"]) == (3, 0, 3)
    dead = rows("pass1_dead_letter", order_by="line_number")
    assert [(d["line_number"], d["reason"]) for d in dead] == [(1, "insert_rejected"), (2, "insert_rejected"),
                                                               (3, "insert_rejected")]
    assert all("reviewer" in d["detail"] for d in dead)
    assert rows(strict_table) == []


def test_a_load_the_table_refuses_is_a_json_500(proc, put, out_dir, rows, strict_table):
    put(f"{out_dir}/predictions.jsonl", jsonl(many(3)))
    status, answer = proc({"output_info": {"gcsOutputDirectory": out_dir}, "output_table": strict_table})
    assert status == 500 and answer["status"] == "error", answer
    assert answer["error"]["code"] == "INTERNAL" and answer["error"]["details"]["reason"] == "invalid"
    assert rows(strict_table) == [] and rows("pass1_dead_letter") == []
