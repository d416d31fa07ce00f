"""Bad input: hostile requests to each function and hostile prediction output. Each gets a clear error
code, or a dead-letter row with its reason, within a bounded time (every call has a client timeout)
and memory, and the function keeps serving afterwards."""

from __future__ import annotations

import base64

import orjson
import pytest

from shared.keys import encode_key
from tests.reliability.support import failed_line, jsonl, post, success_line

MAX_BODY = 1024 * 1024  # shared/http.py: DEFAULT_MAX_REQUEST_BYTES
CALL_TIMEOUT = 60        # a call that does not answer within this is a failure (bounded time)
GOOD = "gs://local-project-batch-output/runs/x/prediction-model-x"
EVIL = "gs://evil-bucket-elsewhere/runs/x"


def _chunked(data: bytes):
    """A body sent with Transfer-Encoding: chunked (no Content-Length to refuse it by)."""
    for start in range(0, len(data), 65536):
        yield data[start:start + 65536]


# (id, function, body: dict | bytes | generator factory, expected status, expected code, field)
CORPUS = [
    # bodies that are not JSON objects
    ("proc-not-json", "proc", b"run_id=1&x=2", 400, "VALIDATION_ERROR", "body"),
    ("submit-not-json", "submit", b"{'run_id': 'single quotes'}", 400, "VALIDATION_ERROR", "body"),
    ("poll-not-json", "poll", b"<xml/>", 400, "VALIDATION_ERROR", "body"),
    ("proc-array", "proc", b"[1, 2, 3]", 400, "VALIDATION_ERROR", "body"),
    ("submit-string", "submit", b'"run"', 400, "VALIDATION_ERROR", "body"),
    ("proc-non-utf8", "proc", b'{"run_id": "\xff\xfe\xfa"}', 400, "VALIDATION_ERROR", "body"),
    ("submit-non-utf8", "submit", b'{"run_id": "r1", "source": {"uri": "gs://a/\xc3\x28"}}', 400, "VALIDATION_ERROR", "body"),
    ("proc-deep-nesting", "proc", b"[" * 200_000 + b"]" * 200_000, 400, "VALIDATION_ERROR", "body"),
    ("submit-deep-nesting", "submit", b'{"a":' * 5000 + b"1" + b"}" * 5000, 400, "VALIDATION_ERROR", "body"),
    # wrong types
    ("proc-run-id-number", "proc", {"run_id": 5}, 400, "VALIDATION_ERROR", "run_id"),
    ("proc-chunk-size-text", "proc", {"output_info": GOOD, "chunk_size": "ten"}, 400, "VALIDATION_ERROR", "chunk_size"),
    ("proc-chunk-size-bool", "proc", {"output_info": GOOD, "chunk_size": True}, 400, "VALIDATION_ERROR", "chunk_size"),
    ("proc-output-info-number", "proc", {"output_info": 12}, 400, "VALIDATION_ERROR", "output_info"),
    ("proc-files-string", "proc", {"output_info": GOOD, "files": GOOD + "/predictions.jsonl"}, 400,
     "VALIDATION_ERROR", "files"),
    ("proc-budget-negative", "proc", {"output_info": GOOD, "time_budget_seconds": -1}, 400, "VALIDATION_ERROR",
     "time_budget_seconds"),
    ("submit-source-string", "submit", {"run_id": "r1", "source": "transcripts"}, 400, "VALIDATION_ERROR", "source"),
    ("submit-force-text", "submit", {"run_id": "r1", "source": {"table": "transcripts"}, "force": "yes"}, 400,
     "VALIDATION_ERROR", "force"),
    ("submit-unknown-field", "submit", {"run_id": "r1", "source": {"table": "transcripts"}, "forse": True}, 400,
     "VALIDATION_ERROR", "forse"),
    ("submit-run-id-path", "submit", {"run_id": "../../etc", "source": {"table": "transcripts"}}, 400,
     "VALIDATION_ERROR", "run_id"),
    ("submit-run-id-long", "submit", {"run_id": "r" * 300, "source": {"table": "transcripts"}}, 400,
     "VALIDATION_ERROR", "run_id"),
    ("poll-limit-text", "poll", {"limit": "many"}, 400, "VALIDATION_ERROR", "limit"),
    # identifiers that would be SQL
    ("proc-table-injection", "proc", {"output_info": GOOD, "output_table": "t; DROP TABLE x"}, 400,
     "VALIDATION_ERROR", "output_table"),
    ("proc-table-backtick", "proc", {"output_info": GOOD, "lookup_table": "t` UNION SELECT 1 --"}, 400,
     "VALIDATION_ERROR", "lookup_table"),
    ("proc-dataset-backtick", "proc", {"output_info": GOOD, "dataset": "ds`.x"}, 400, "VALIDATION_ERROR", "dataset"),
    ("proc-project-injection", "proc", {"output_info": GOOD, "project_id": "p; DROP"}, 400, "VALIDATION_ERROR",
     "project_id"),
    ("submit-table-injection", "submit", {"run_id": "r1", "source": {"table": "ds.t; DROP TABLE x"}}, 400,
     "VALIDATION_ERROR", "source.table"),
    ("submit-table-backticks", "submit", {"run_id": "r1", "source": {"table": "`local-project.ds.t`"}}, 400,
     "VALIDATION_ERROR", "project_id"),  # the first part refused names its field
    ("submit-date-injection", "submit", {"run_id": "r1", "source": {"table": "transcripts",
                                                                    "date_from": "2024-01-01' OR 1=1"}}, 400,
     "VALIDATION_ERROR", "source.date_from"),
    # locations outside the configured buckets
    ("proc-output-outside", "proc", {"output_info": {"gcsOutputDirectory": EVIL}}, 400, "VALIDATION_ERROR",
     "output_info"),
    ("proc-files-outside", "proc", {"output_info": GOOD, "files": [EVIL + "/predictions.jsonl"]}, 400,
     "VALIDATION_ERROR", "files"),
    ("proc-dotdot", "proc", {"output_info": GOOD + "/../../other"}, 400, "VALIDATION_ERROR", "output_info"),
    ("proc-not-gs", "proc", {"output_info": "https://example.com/x"}, 400, "VALIDATION_ERROR", "output_info"),
    ("submit-source-outside", "submit", {"run_id": "r1", "source": {"uri": EVIL + "/t.jsonl"}}, 400,
     "VALIDATION_ERROR", "source.uri"),
    ("submit-output-outside", "submit", {"run_id": "r1", "source": {"table": "transcripts"}, "output_prefix": EVIL},
     400, "VALIDATION_ERROR", "output_prefix"),
    # sizes
    ("proc-oversized", "proc", b'{"pad": "' + b"x" * MAX_BODY + b'"}', 413, "PAYLOAD_TOO_LARGE", None),
    ("submit-oversized", "submit", b'{"pad": "' + b"x" * MAX_BODY + b'"}', 413, "PAYLOAD_TOO_LARGE", None),
    ("poll-oversized", "poll", b'{"pad": "' + b"x" * MAX_BODY + b'"}', 413, "PAYLOAD_TOO_LARGE", None),
    ("proc-oversized-chunked", "proc", lambda: _chunked(b'{"pad": "' + b"x" * (3 * MAX_BODY) + b'"}'), 413,
     "PAYLOAD_TOO_LARGE", None),
    ("submit-huge-list", "proc", {"output_info": [GOOD + f"/d{i}" for i in range(1001)]}, 400, "VALIDATION_ERROR",
     "output_info"),
]


def _serves(functions, which: str) -> None:
    """A well-formed request after the hostile one gets its normal answer."""
    if which == "poll":
        status, answer = post(functions["POLL_STATUS_URL"], {"run_id": "no-such-run"}, timeout=CALL_TIMEOUT)
        assert (status, answer["error"]["code"]) == (404, "NOT_FOUND"), answer
    else:
        url = functions["PASS1_BATCH_PROCESSOR_URL" if which == "proc" else "SUBMIT_BATCH_URL"]
        status, answer = post(url, {}, timeout=CALL_TIMEOUT)
        assert status == 400 and answer["error"]["details"]["field"] == ("output_info" if which == "proc" else "run_id")


@pytest.mark.stateless
@pytest.mark.parametrize("case", CORPUS, ids=[c[0] for c in CORPUS])
def test_hostile_request_is_refused_clearly(case, functions, report):
    name, which, body, status, code, field = case
    url = functions[{"proc": "PASS1_BATCH_PROCESSOR_URL", "submit": "SUBMIT_BATCH_URL", "poll": "POLL_STATUS_URL"}[which]]
    report.bad_input_tried("request")
    if isinstance(body, dict):
        got, answer = post(url, body, timeout=CALL_TIMEOUT)
    else:
        data = body() if callable(body) else body
        got, answer = post(url, data=data, headers={"Content-Type": "application/json"}, timeout=CALL_TIMEOUT)
    assert got == status, (got, answer)
    assert answer["status"] == "error" and answer["error"]["code"] == code, answer
    if field is not None:
        assert answer["error"]["details"].get("field") == field, answer
    _serves(functions, which)
    report.bad_input_handled("request")


# --- hostile prediction output ---------------------------------------------------------------------

def _hostile_lines(tag: str) -> list[tuple[bytes | dict, str | None]]:
    """(line, dead-letter reason) pairs; reason None for a line that must become a row."""
    key = encode_key(f"PHONE-{tag}-ok", f"INT-{tag}-ok")
    bad_key = encode_key(f"PHONE-{tag}-x", f"INT-{tag}-x")
    return [
        (success_line(f"PHONE-{tag}-ok", f"INT-{tag}-ok", 1), None),
        (jsonl([success_line(f"PHONE-{tag}-u", f"INT-{tag}-u", 2)])[:-1].replace(b"Call 2", b"Call \xff\xfe 2"),
         "unparseable_line"),                                              # non-UTF-8 bytes
        (b'{"key": "' + bad_key.encode() + b'", "response": ' + b"[" * 3000 + b"]" * 3000 + b"}",
         "unparseable_line"),                                              # nested deeper than any parser allows
        (success_line(f"PHONE-{tag}-s", f"INT-{tag}-s", 3, text='{"a": [1, {"b": "x' * 1700),
         "invalid_json"),                                                  # makes json_repair slow
        (success_line("t", "i", 4, key="!!!not*base64!!!"), "bad_key"),   # invalid base64
        (success_line("t", "i", 5, key=base64.urlsafe_b64encode(b"not json").decode()), "bad_key"),
        ({k: v for k, v in success_line("t", "i", 6).items() if k != "key"}, "missing_key"),
        (b"[1, 2, 3]", "unparseable_line"),                               # a JSON array line
        (jsonl([success_line(f"PHONE-{tag}-c", f"INT-{tag}-c", 7)])[:120], "unparseable_line"),  # cut short
        (success_line(f"PHONE-{tag}-a", f"INT-{tag}-a", 8, text="[1, 2]"), "not_an_object"),
        (failed_line(f"PHONE-{tag}-f", f"INT-{tag}-f"), "model_error"),
        (success_line(f"PHONE-{tag}-t", f"INT-{tag}-t", 9, text="Sure! " + "x" * 100), "invalid_json"),
    ], key


def _huge_line(tag: str, size: int = 20 * 1024 * 1024) -> bytes:
    """A 20 MB line: a well-formed prediction whose model text is 20 MB of non-JSON."""
    line = success_line(f"PHONE-{tag}-h", f"INT-{tag}-h", 10, text="")
    head, tail = orjson.dumps(line).split(b'"text":""', 1)
    return head + b'"text":"' + b"y" * size + b'"' + tail


def test_hostile_prediction_output(functions, put, layout, uid, bigquery_client, report):
    """One file of hostile lines, a 20 MB line, a zero-byte file: every line ends as a row or a
    dead letter with its reason, in bounded memory, and the function serves afterwards."""
    out_dir = f"gs://{layout.output_bucket}/runs/pass1/{uid}/attempt-1/shard-00000/prediction-model-x"
    lines, good_key = _hostile_lines(uid)
    huge_ok = success_line(f"PHONE-{uid}-after", f"INT-{uid}-after", 11)
    put(f"{out_dir}/predictions_00001.jsonl", jsonl([line for line, _ in lines]))
    put(f"{out_dir}/predictions_00002.jsonl", _huge_line(uid) + b"\n" + jsonl([huge_ok]))
    put(f"{out_dir}/predictions_00003.jsonl", b"")
    expected_dead = {(f"{out_dir}/predictions_00001.jsonl", n + 1): reason
                     for n, (_, reason) in enumerate(lines) if reason}
    expected_dead[(f"{out_dir}/predictions_00002.jsonl", 1)] = "invalid_json"
    for _ in expected_dead:
        report.bad_input_tried("prediction_line")
    report.bad_input_tried("zero_byte_file")
    status, answer = post(functions["PASS1_BATCH_PROCESSOR_URL"], {"output_info": out_dir, "chunk_size": 50},
                          timeout=CALL_TIMEOUT * 2)
    assert status == 200 and answer["status"] == "success", answer
    assert answer["memory"]["peak_rss_mb"] < 1024, answer["memory"]  # 20 MB line: far below the 2 GiB function
    run = answer["row_run_id"]
    keys = _column(bigquery_client, layout, layout.output_table, "composite_key", run)
    dead = _column(bigquery_client, layout, layout.dead_letter_table, "source_uri, line_number, reason", run)
    got_dead = {(u, n): r for u, n, r in dead}
    for where, reason in expected_dead.items():
        if got_dead.get(where) == reason:
            report.bad_input_handled("prediction_line")
    assert got_dead == expected_dead
    assert sorted(k for (k,) in keys) == sorted([good_key, encode_key(f"PHONE-{uid}-after", f"INT-{uid}-after")])
    assert answer["processed_records"] == len(lines) + 2 == answer["inserted_rows"] + answer["failed_records"]
    assert len(answer["files"]) == 3  # the zero-byte file is a file, done with nothing in it
    report.bad_input_handled("zero_byte_file")
    _serves(functions, "proc")


def _column(bigquery_client, layout, table: str, columns: str, run_id: str) -> list[tuple]:
    from google.cloud import bigquery

    sql = f"SELECT {columns} FROM `{layout.project}.{layout.dataset}.{table}` WHERE run_id = @run"
    config = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("run", "STRING", run_id)])
    return [tuple(row.values()) for row in bigquery_client.query(sql, job_config=config).result()]


def test_empty_output_directory(functions, layout, uid, report):
    report.bad_input_tried("empty_output_dir")
    out_dir = f"gs://{layout.output_bucket}/runs/pass1/{uid}/attempt-1/empty"
    status, answer = post(functions["PASS1_BATCH_PROCESSOR_URL"], {"output_info": out_dir}, timeout=CALL_TIMEOUT)
    assert (status, answer["error"]["code"]) == (404, "NOT_FOUND"), answer
    _serves(functions, "proc")
    report.bad_input_handled("empty_output_dir")


def test_hostile_transcript_source(functions, put, layout, uid, report):
    """A submit source with non-JSON, non-UTF-8, wrong types, missing fields and an over-long
    transcript: the bad records are skipped and counted, the good one is submitted."""
    good = {"phone_number_token": f"PHONE-{uid}-1", "interaction_id": f"INT-{uid}-1",
            "transcript": "Agent: Hello. Customer: my bill is wrong."}
    bad = [b"not json at all", b'{"phone_number_token": "\xff\xfe", "interaction_id": "x", "transcript": "y"}',
           orjson.dumps({"phone_number_token": 5, "interaction_id": [], "transcript": {"a": 1}}),
           orjson.dumps({"interaction_id": "no-token", "transcript": "hello"}),
           orjson.dumps([1, 2, 3]),
           orjson.dumps({"phone_number_token": f"PHONE-{uid}-2", "interaction_id": f"INT-{uid}-2",
                         "transcript": "z" * 200_001})]
    for _ in bad:
        report.bad_input_tried("transcript_record")
    uri = put(f"gs://{layout.input_bucket}/sources/{uid}.jsonl", b"\n".join([orjson.dumps(good), *bad]) + b"\n")
    status, answer = post(functions["SUBMIT_BATCH_URL"], {"run_id": uid, "batch_type": "pass1",
                                                          "source": {"uri": uri}}, timeout=CALL_TIMEOUT)
    assert status == 200 and answer["status"] == "submitted", answer
    assert answer["requests"] == 1 and answer["skipped_records"] == len(bad), answer
    for _ in bad:
        report.bad_input_handled("transcript_record")
