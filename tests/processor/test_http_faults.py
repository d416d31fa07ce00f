"""Every fault the Vertex emulator injects, run as a real batch job and processed through HTTP: the
answer's counts, the repaired flag, the dead-letter reason, the retry requests of failed rows, and
what landed in BigQuery."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.processor.http_checks import assert_landed, expected_analysis, inputs, jsonl_objects

N = 6
SEED = 7
ANSWER_FIELDS = tuple(expected_analysis(0))


def _index(row: dict) -> int:
    return int(row["phone_number_token"].removeprefix("tok"))


def _process(proc, out_dir: str, **extra) -> dict:
    status, answer = proc({"output_info": {"gcsOutputDirectory": out_dir}, **extra})
    assert status == 200, answer
    assert answer["status"] == "success" and answer["resume"] is False
    assert answer["processed_records"] == N
    return answer


def _single_quoted(value):
    """What a text fault 'single_quotes' leaves of a value once repaired: its double quotes are gone."""
    if isinstance(value, str):
        return value.replace('"', "'")
    if isinstance(value, list):
        return [_single_quoted(v) for v in value]
    return value


@pytest.mark.parametrize("fault", ["fenced", "prose", "split_parts"])
def test_wrapped_or_split_text_lands_unrepaired(fault, proc, vertex_job, rows):
    """Fences and prose are stripped and split parts joined; none of that is a repair."""
    out_dir, _ = vertex_job(inputs(N), seed=SEED, **{fault: 1.0})
    answer = _process(proc, out_dir)
    assert (answer["inserted_rows"], answer["repaired_records"], answer["failed_records"]) == (N, 0, 0)
    out, dead = assert_landed(rows, answer)
    assert dead == []
    for row in out:
        assert {f: row[f] for f in ANSWER_FIELDS} == expected_analysis(_index(row))
        assert (row["repaired"], row["finish_reason"], row["extra"]) == (False, "STOP", None)


def test_trailing_comma_is_repaired(proc, vertex_job, rows):
    out_dir, _ = vertex_job(inputs(N), seed=SEED, trailing_comma=1.0)
    answer = _process(proc, out_dir)
    assert (answer["inserted_rows"], answer["repaired_records"], answer["failed_records"]) == (N, N, 0)
    out, _ = assert_landed(rows, answer)
    for row in out:
        assert {f: row[f] for f in ANSWER_FIELDS} == expected_analysis(_index(row))
        assert row["repaired"] is True


def test_single_quotes_are_repaired(proc, vertex_job, rows):
    out_dir, _ = vertex_job(inputs(N), seed=SEED, single_quotes=1.0)
    answer = _process(proc, out_dir)
    assert (answer["inserted_rows"], answer["repaired_records"], answer["failed_records"]) == (N, N, 0)
    out, _ = assert_landed(rows, answer)
    for row in out:
        expected = {k: _single_quoted(v) for k, v in expected_analysis(_index(row)).items()}
        assert {f: row[f] for f in ANSWER_FIELDS} == expected
        assert row["repaired"] is True


def test_truncated_answers_keep_what_was_said(proc, vertex_job, rows):
    """Text cut short (MAX_TOKENS) is repaired into the fields it holds, flagged repaired; a text cut
    before any field would be dead-lettered as truncated, never inserted half-empty."""
    out_dir, _ = vertex_job(inputs(N), seed=SEED, truncated=1.0)
    answer = _process(proc, out_dir)
    assert answer["inserted_rows"] + answer["failed_records"] == N
    assert answer["repaired_records"] == answer["inserted_rows"] > 0
    out, dead = assert_landed(rows, answer)
    assert {d["reason"] for d in dead} <= {"truncated"}
    for row in out:
        assert (row["repaired"], row["finish_reason"]) == (True, "MAX_TOKENS")
        expected = expected_analysis(_index(row))
        assert row["summary"] and expected["summary"].startswith(row["summary"])
        # Fields after the cut are absent (null or an empty list), never invented.
        present = [f for f in ANSWER_FIELDS if row[f] not in (None, [])]
        assert present == [f for f in ANSWER_FIELDS if f in present]
        for field in present[:-1]:  # only the last field present may be cut
            assert row[field] == expected[field]


def test_no_parts_are_dead_lettered_as_empty_response(proc, vertex_job, rows):
    out_dir, _ = vertex_job(inputs(N), seed=SEED, no_parts=1.0)
    answer = _process(proc, out_dir)
    assert (answer["inserted_rows"], answer["failed_records"], answer["retry_requests"]) == (0, N, 0)
    out, dead = assert_landed(rows, answer)
    assert out == []
    assert [d["line_number"] for d in dead] == list(range(1, N + 1))
    assert {d["reason"] for d in dead} == {"empty_response"}
    assert all(d["composite_key"] and d["raw"] and d["detail"].startswith("no text parts") for d in dead)


@pytest.mark.parametrize("fault, reason, detail", [
    ("blocked", "prompt_blocked", "the prompt was blocked: blockReason "),
    ("safety", "finish_safety", "stopped by a content filter: finishReason SAFETY; blocked: HARM_CATEGORY_"),
    ("recitation", "finish_recitation", "stopped for recitation: finishReason RECITATION"),
])
def test_filtered_answers_are_dead_lettered_and_not_set_aside(fault, reason, detail, proc, vertex_job, rows,
                                                              list_objects):
    """A blocked prompt or an answer a filter stopped: a dead letter with its reason and tokens, and
    no retry (the same request would be stopped again)."""
    out_dir, _ = vertex_job(inputs(N), seed=SEED, **{fault: 1.0})
    answer = _process(proc, out_dir)
    assert (answer["inserted_rows"], answer["failed_records"], answer["retry_requests"]) == (0, N, 0)
    _, dead = assert_landed(rows, answer)
    assert {d["reason"] for d in dead} == {reason}
    assert all(d["composite_key"] and detail in d["detail"] for d in dead)
    assert not [u for u in list_objects(out_dir + "/") if "/retry/" in u]
    assert answer["token_usage"]["prompt"] > 0 and answer["token_usage"]["candidates"] == 0


def test_failed_rows_are_dead_lettered_and_set_aside_for_retry(proc, vertex_job, rows, list_objects, read_object):
    """row_error: reason model_error, and the keys of the rows written next to the output (the
    retry batch takes their requests from the input: the echo in the line is rewritten)."""
    sent = inputs(N)
    out_dir, _ = vertex_job(sent, seed=SEED, row_error=1.0)
    answer = _process(proc, out_dir)
    assert (answer["inserted_rows"], answer["failed_records"], answer["retry_requests"]) == (0, N, N)
    _, dead = assert_landed(rows, answer)
    assert {d["reason"] for d in dead} == {"model_error"}
    assert sorted(d["composite_key"] for d in dead) == sorted(s["key"] for s in sent)
    retry_files = [u for u in list_objects(out_dir + "/") if "/retry/" in u]
    assert len(retry_files) == 1 and retry_files[0].startswith(f"{out_dir}/retry/")
    retried = jsonl_objects(read_object(retry_files[0]))
    assert sorted(retried, key=lambda r: r["key"]) == sorted(({"key": s["key"]} for s in sent), key=lambda r: r["key"])


def test_mixed_faults_add_up(proc, vertex_job, rows, list_objects, read_object):
    """All row faults at once over a larger job: every line is accounted for exactly once and each
    kind of failure matches the raw output."""
    n = 40
    out_dir, _ = vertex_job(inputs(n), seed=SEED, fenced=0.3, prose=0.3, trailing_comma=0.3, single_quotes=0.2,
                            truncated=0.2, no_parts=0.15, split_parts=0.3, row_error=0.2, blocked=0.1, safety=0.1,
                            recitation=0.1)
    status, answer = proc({"output_info": {"gcsOutputDirectory": out_dir}, "chunk_size": 20})
    assert status == 200 and answer["status"] == "success", answer
    assert answer["processed_records"] == n
    out, dead = assert_landed(rows, answer)
    raw = jsonl_objects(read_object(answer["files"][0]))
    failed_rows = [r for r in raw if "response" not in r]
    candidates = [r["response"]["candidates"][0] for r in raw if "candidates" in r.get("response", {})]
    finishes = Counter(c["finishReason"] for c in candidates)
    no_parts = [c for c in candidates if c["finishReason"] in ("STOP", "OTHER") and "parts" not in c["content"]]
    reasons = Counter(d["reason"] for d in dead)
    assert reasons["model_error"] == len(failed_rows) == answer["retry_requests"] > 0
    assert reasons["empty_response"] == len(no_parts) > 0
    assert reasons["prompt_blocked"] == sum(1 for r in raw if "promptFeedback" in r.get("response", {})) > 0
    assert (reasons["finish_safety"], reasons["finish_recitation"]) == (finishes["SAFETY"], finishes["RECITATION"])
    assert reasons["finish_safety"] > 0 and reasons["finish_recitation"] > 0
    assert set(reasons) <= {"model_error", "empty_response", "truncated", "prompt_blocked", "finish_safety",
                            "finish_recitation"}
    assert answer["repaired_records"] > 0
    retried = [obj for uri in list_objects(out_dir + "/") if "/retry/" in uri for obj in jsonl_objects(read_object(uri))]
    assert sorted(r["key"] for r in retried) == sorted(r["key"] for r in failed_rows)
    assert len({r["composite_key"] for r in out} | {d["composite_key"] for d in dead}) == n


def test_failed_job_has_no_output_and_answers_404(proc, vertex_job, make_run, uid, firestore_client):
    """job_failure: the job ends FAILED with an output directory but no prediction file; the run
    is left where it was."""
    out_dir, _ = vertex_job(inputs(N), seed=SEED, job_failure=1.0)
    status, answer = proc({"output_info": {"gcsOutputDirectory": out_dir}})
    assert status == 404 and answer["error"]["code"] == "NOT_FOUND", answer
    assert answer["error"]["details"]["output_dirs"] == [out_dir]
    make_run(uid, [out_dir])
    status, answer = proc({"run_id": uid, "batch_type": "pass1"})
    assert status == 404 and answer["error"]["code"] == "NOT_FOUND", answer
    assert make_run.store.get(uid, "pass1")["state"] == "PENDING_PROCESSING"
