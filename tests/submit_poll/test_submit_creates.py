"""A submit creates the run's Vertex AI job on the emulator and its input file in the real Gemini
batch format, from a gs:// JSONL or from the BigQuery transcripts table."""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta

import pytest

from tests.submit_poll.helpers import BATCH_TYPE, read_jsonl, transcript_records

PROMPT_DIR = __import__("pathlib").Path(__file__).resolve().parents[2] / "functions" / "submit_batch" / "prompts" / "pass1" / "v1"


def _key(phone: str, interaction: str) -> dict:
    return {"phone_token": phone, "interaction_id": interaction}


@pytest.fixture
def gcs_submission(stack, write_jsonl, submit):
    """A JSONL of 5 good records, one empty, one blank, one oversized, one without a phone token
    and one line that is not JSON, submitted as run gcs-1 with max_transcript_chars=500."""
    good = transcript_records(5)
    bad = [{**transcript_records(1, 100)[0], "transcript": ""},
           {**transcript_records(1, 101)[0], "transcript": "   \n "},
           {**transcript_records(1, 102)[0], "transcript": "word " * 200},
           {**transcript_records(1, 103)[0], "phone_number_token": None},
           b"{not json"]
    uri = write_jsonl("sources/gcs-1.jsonl", good[:3] + bad + good[3:])
    status, answer = submit({"run_id": "gcs-1", "batch_type": BATCH_TYPE, "source": {"uri": uri},
                             "max_transcript_chars": 500})
    assert status == 200, answer
    return {"answer": answer, "good": good, "uri": uri}


def test_answer_names_the_job_and_counts_skipped_records(stack, gcs_submission):
    answer = gcs_submission["answer"]
    assert answer["status"] == "submitted" and answer["run_id"] == "gcs-1" and answer["batch_type"] == BATCH_TYPE
    assert answer["requests"] == 5
    assert answer["skipped_records"] == 5
    assert answer["skipped_reasons"] == {"empty_transcript": 2, "transcript_too_long": 1,
                                         "missing_phone_token": 1, "invalid_record": 1}
    assert answer["request_id"]
    [job] = answer["jobs"]
    input_uri = f"gs://{stack['INPUT_BUCKET']}/runs/pass1/gcs-1/attempt-1/input-00000.jsonl"
    output_prefix = f"gs://{stack['OUTPUT_BUCKET']}/runs/pass1/gcs-1/attempt-1/shard-00000/"
    assert job["input_uri"] == input_uri and job["output_prefix"] == output_prefix
    assert job["name"].startswith(f"projects/{stack['GOOGLE_CLOUD_PROJECT']}/locations/us-central1/batchPredictionJobs/")
    assert job["state"].startswith("JOB_STATE_") and job["requests"] == 5


def test_the_job_exists_on_vertex_with_the_run_labels(stack, gcs_submission, vertex_jobs):
    [answered] = gcs_submission["answer"]["jobs"]
    [job] = vertex_jobs("gcs-1")
    assert job["name"] == answered["name"]
    assert job["labels"] == {"pipeline": "call-analytics", "run_id": "gcs-1", "batch_type": "pass1",
                             "attempt": "1", "shard": "00000"}
    assert job["input_uris"] == [answered["input_uri"]]
    assert job["output_prefix"] == answered["output_prefix"]
    assert job["model"] == "gemini-2.5-flash"


def test_input_lines_are_gemini_batch_requests_with_composite_keys(stack, storage_client, gcs_submission):
    [job] = gcs_submission["answer"]["jobs"]
    lines = read_jsonl(storage_client, job["input_uri"])
    good = gcs_submission["good"]
    assert len(lines) == 5
    keys = [json.loads(base64.urlsafe_b64decode(line["key"])) for line in lines]
    assert sorted(keys, key=lambda k: k["interaction_id"]) == [
        _key(r["phone_number_token"], r["interaction_id"]) for r in good]
    schema = json.loads((PROMPT_DIR / "response_schema.json").read_text())
    system = (PROMPT_DIR / "system_instruction.txt").read_text().strip()
    by_id = {r["interaction_id"]: r for r in good}
    for number, (line, key) in enumerate(zip(lines, keys), 1):
        assert set(line) == {"key", "request"}
        request = line["request"]
        assert set(request) == {"contents", "systemInstruction", "generationConfig", "labels"}
        assert request["labels"] == {"row_id": f"a1-s00000-r{number:06d}"}
        [content] = request["contents"]
        assert content["role"] == "user"
        assert by_id[key["interaction_id"]]["transcript"] in content["parts"][0]["text"]
        assert request["systemInstruction"] == {"parts": [{"text": system}]}
        config = request["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert config["responseSchema"] == schema


def test_run_record_is_submitted_with_its_job(stack, gcs_submission, run_record):
    record = run_record("gcs-1")
    [job] = gcs_submission["answer"]["jobs"]
    assert record["state"] == "SUBMITTED" and record["attempt"] == 1
    assert [j["name"] for j in record["jobs"]] == [job["name"]]
    assert record["input_uris"] == [job["input_uri"]]
    assert record["source"] == {"uri": gcs_submission["uri"]}
    assert record["requests"] == 5 and record["skipped_records"] == 5
    assert record["created_at"] <= record["submitted_at"] <= record["updated_at"]
    assert record["lease"] is None


@pytest.fixture
def table_submission(stack, load_transcripts, submit):
    """Transcripts on three days (2, 3 and 4 records; one of day 2 empty), submitted for days 2 and 3."""
    day1, day2, day3 = date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)
    rows = (transcript_records(2, 0, day1) + transcript_records(3, 10, day2) + transcript_records(4, 20, day3))
    rows[2]["transcript"] = ""
    load_transcripts(rows)
    status, answer = submit({"run_id": "table-1", "batch_type": BATCH_TYPE,
                             "source": {"table": stack["TRANSCRIPTS_TABLE"], "date_from": day2.isoformat(),
                                        "date_to": day3.isoformat()}})
    assert status == 200, answer
    return {"answer": answer, "sent": rows[3:]}


def test_table_source_sends_the_date_range_only(stack, storage_client, table_submission, run_record):
    answer = table_submission["answer"]
    assert answer["status"] == "submitted"
    assert answer["requests"] == 6 and answer["skipped_reasons"] == {"empty_transcript": 1}
    [job] = answer["jobs"]
    keys = sorted(json.loads(base64.urlsafe_b64decode(line["key"]))["interaction_id"]
                  for line in read_jsonl(storage_client, job["input_uri"]))
    assert keys == sorted(r["interaction_id"] for r in table_submission["sent"])
    source = run_record("table-1")["source"]
    assert source == {"table": f"{stack['GOOGLE_CLOUD_PROJECT']}.{stack['BQ_DATASET']}.{stack['TRANSCRIPTS_TABLE']}",
                      "date_from": "2024-03-02", "date_to": "2024-03-03"}


def _key_index_metadata(storage_client, input_uri: str) -> dict:
    bucket, _, name = input_uri[5:].partition("/")
    return storage_client.bucket(bucket).get_blob(name.removesuffix(".jsonl") + ".keys.jsonl").metadata


def test_the_key_index_carries_the_call_dates_of_its_shard(stack, storage_client, table_submission):
    """The plan's bucket sums give each shard its rows' call dates; they go onto the key index as
    custom metadata (shared/layout.py), for the processor's lookup snapshot."""
    [job] = table_submission["answer"]["jobs"]
    assert _key_index_metadata(storage_client, job["input_uri"]) == {
        "call_date_min": "2024-03-02", "call_date_max": "2024-03-03", "call_date_nulls": "0"}


@pytest.fixture
def undated_submission(stack, load_transcripts, submit):
    """An undated table run over transcripts of two days and one without a call_date."""
    rows = transcript_records(2, 0, date(2024, 3, 1)) + transcript_records(1, 10, date(2024, 3, 4)) + transcript_records(1, 20)
    load_transcripts(rows)
    status, answer = submit({"run_id": "table-undated", "batch_type": BATCH_TYPE,
                             "source": {"table": stack["TRANSCRIPTS_TABLE"]}})
    assert status == 200 and answer["requests"] == 4, answer
    return answer


def test_a_transcript_without_a_call_date_is_counted_on_the_key_index(stack, storage_client, undated_submission):
    [job] = undated_submission["jobs"]
    assert _key_index_metadata(storage_client, job["input_uri"]) == {
        "call_date_min": "2024-03-01", "call_date_max": "2024-03-04", "call_date_nulls": "1"}


@pytest.fixture
def nightly_submission(stack, load_transcripts, submit):
    """Transcripts of the last four days (UTC, today included), submitted as the nightly Scheduler
    job does: source {"table": "transcripts", "days_back": 1}."""
    from datetime import datetime, timezone

    today = datetime.now(timezone.utc).date()
    rows = []
    for back in range(4):
        rows += transcript_records(2, 10 * back, today - timedelta(days=back))
    load_transcripts(rows)
    status, answer = submit({"run_id": "nightly-1", "batch_type": BATCH_TYPE,
                             "source": {"table": "transcripts", "days_back": 1}})
    assert status == 200, answer
    return {"answer": answer, "rows": rows}


def test_days_back_reads_the_whole_days_before_today(stack, storage_client, nightly_submission):
    answer = nightly_submission["answer"]
    # The range is resolved by the function's clock; check it is one whole day, then that exactly
    # that day's rows were sent (robust to a run that crosses midnight).
    day = date.fromisoformat(answer["source"]["date_from"])
    assert answer["source"]["date_to"] == day.isoformat()
    expected = sorted(r["interaction_id"] for r in nightly_submission["rows"] if r["call_date"] == day.isoformat())
    assert len(expected) == 2 and answer["requests"] == 2
    [job] = answer["jobs"]
    keys = sorted(json.loads(base64.urlsafe_b64decode(line["key"]))["interaction_id"]
                  for line in read_jsonl(storage_client, job["input_uri"]))
    assert keys == expected


def test_scheduler_nightly_body_is_accepted_by_submit():
    """The nightly job's workflow argument carries a source submit_batch accepts, resolved from an
    injected 'today' to yesterday."""
    from pathlib import Path

    from batch_submit.config import SubmitConfig
    from batch_submit.request import parse_submit
    from shared.config import Settings

    jobs = json.loads((Path(__file__).resolve().parents[2] / "infra" / "scheduler" / "jobs.json").read_text())
    [nightly] = [job for job in jobs if job["name"] == "pass1-nightly"]
    argument = json.loads(nightly["body"]["argument"])
    settings = Settings(project="my-project", input_bucket="in", output_bucket="out", allowed_buckets=frozenset({"in", "out"}))
    req = parse_submit({"run_id": "nightly-2024-03-05", "batch_type": argument["batch_type"],
                        "source": argument["source"]}, settings, SubmitConfig(), today=date(2024, 3, 5))
    assert (req.source.table.id, req.source.date_from, req.source.date_to) == (
        "my-project.call_analytics.transcripts", date(2024, 3, 4), date(2024, 3, 4))
    week = parse_submit({"run_id": "w", "batch_type": "pass1", "source": {"table": "transcripts", "days_back": 7}},
                        settings, SubmitConfig(), today=date(2024, 3, 1))
    assert (week.source.date_from, week.source.date_to) == (date(2024, 2, 23), date(2024, 2, 29))
