"""The Vertex AI batch prediction emulator, driven through the real aiplatform_v1 REST client.

Jobs run at pace 0; where a test must catch a job mid-run it uses the emulator's `stall_after_rows`
hook (the job stops after N rows until cancelled) instead of timing.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from google.api_core import exceptions
from google.api_core.retry import Retry, if_exception_type

from infra.local.vertex_emulator import model
from infra.local.vertex_emulator.control import EmulatorControl, EmulatorControlError

REPO = Path(__file__).resolve().parents[1]
MODEL = "publishers/google/models/gemini-2.5-flash"
FALLBACK_MODEL = "publishers/google/models/gemini-2.5-pro"
FINAL = {"JOB_STATE_SUCCEEDED", "JOB_STATE_PARTIALLY_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}
ANALYSIS_FIELDS = {"summary", "sentiment", "customer_intent", "resolution_status", "topics",
                   "agent_performance_score", "compliance_flags", "follow_up_required"}
FOLDER = re.compile(r"/prediction-model-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
ROW_STATUS = re.compile(r'^(Bad Request|Too Many Requests|Internal Server Error): (\{.*\})$')
POLL_SECONDS = 0.02
POLL_LIMIT_SECONDS = 60  # a safety net against a hung job, not a timing assertion

SCENARIOS = (
    "Customer: I was charged twice on my bill and I want a refund for order {i}.\n"
    "Agent: I am sorry. I have processed the refund, you are all set.\nCustomer: Thank you, that is great.",
    "Customer: I want to cancel my service, account {i}. This is unacceptable and I am angry.\n"
    "Agent: Let me transfer you to a supervisor.\nCustomer: Fine.",
    "Customer: My internet has an outage again at site {i} and the router keeps blinking.\n"
    "Agent: I ran a reset and it is working now.\nCustomer: Thanks.",
    "Customer: I would like to upgrade my plan to the premium package, line {i}.\n"
    "Agent: The upgrade is applied.\nCustomer: Perfect.",
)


# ---- helpers ----------------------------------------------------------------------------------


def transcript(i):
    return "Agent: Hello, this call is recorded.\n" + SCENARIOS[i % len(SCENARIOS)].format(i=i)


def input_line(i):
    prompt = ("Analyse the call below. Answer JSON with sentiment, customer_intent (for example cancellation "
              "or billing_dispute) and resolution_status (resolved, unresolved or escalated).\n\n"
              f"<transcript>\n{transcript(i)}\n</transcript>")
    return {"key": f"key-{i:04d}", "id": i,
            "request": {"contents": [{"role": "user", "parts": [{"text": prompt}]}],
                        "systemInstruction": {"parts": [{"text": "You analyse customer calls."}]},
                        "generationConfig": {"responseMimeType": "application/json", "temperature": 0}}}


def upload(storage_client, bucket, name, lines):
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    storage_client.bucket(bucket).blob(name).upload_from_string(text)
    return f"gs://{bucket}/{name}"


def create(job_client, stack, uris, prefix, labels=None, model_name=MODEL, location=None):
    location = location or stack["VERTEX_AI_LOCATION"]
    return job_client.create_batch_prediction_job(
        parent=f"projects/{stack['GOOGLE_CLOUD_PROJECT']}/locations/{location}",
        batch_prediction_job={
            "display_name": "emulator-test",
            "model": model_name,
            "input_config": {"instances_format": "jsonl", "gcs_source": {"uris": list(uris)}},
            "output_config": {"predictions_format": "jsonl", "gcs_destination": {"output_uri_prefix": prefix}},
            "labels": labels or {"run_id": "test", "batch_type": "pass1"},
        })


def wait_until(job_client, name, done):
    deadline = time.monotonic() + POLL_LIMIT_SECONDS
    while True:
        job = job_client.get_batch_prediction_job(name=name)
        if done(job):
            return job
        assert time.monotonic() < deadline, f"job stuck in {job.state.name}"
        time.sleep(POLL_SECONDS)


def wait_final(job_client, name):
    return wait_until(job_client, name, lambda job: job.state.name in FINAL)


def run_job(job_client, stack, storage_client, lines, prefix="out", **create_args):
    uri = upload(storage_client, stack["INPUT_BUCKET"], f"{prefix}/input.jsonl", lines)
    job = create(job_client, stack, [uri], f"gs://{stack['OUTPUT_BUCKET']}/{prefix}", **create_args)
    return wait_final(job_client, job.name)


def output_files(storage_client, job):
    bucket, _, folder = job.output_info.gcs_output_directory[len("gs://"):].partition("/")
    blobs = storage_client.list_blobs(bucket, prefix=folder + "/")
    return {blob.name[len(folder) + 1:]: blob.download_as_text() for blob in blobs}


def output_lines(storage_client, job):
    files = output_files(storage_client, job)
    assert files and all(re.fullmatch(r"predictions.*\.jsonl", name) for name in files)
    return [json.loads(line) for name in sorted(files) for line in files[name].splitlines()]


def text_of(line):
    return "".join(part["text"] for part in line["response"]["candidates"][0]["content"]["parts"])


def without_nulls(value):
    """The value with every null member left out (what the echo adds)."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def keys_sorted(value):
    """True when every object in the value has its keys in sorted order."""
    if isinstance(value, dict):
        return list(value) == sorted(value) and all(keys_sorted(item) for item in value.values())
    if isinstance(value, list):
        return all(keys_sorted(item) for item in value)
    return True


def strip_times(line):
    line = dict(line, processed_time=None)
    if "response" in line:
        line["response"] = dict(line["response"], createTime=None)
    return line


# ---- the whole job --------------------------------------------------------------------------


def test_job_runs_to_success_with_the_real_output_format(job_client, stack, storage_client):
    lines = [input_line(i) for i in range(24)]
    upload(storage_client, stack["INPUT_BUCKET"], "in/part-1.jsonl", lines[:10])
    upload(storage_client, stack["INPUT_BUCKET"], "in/part-2.jsonl", lines[10:20])
    rest = upload(storage_client, stack["INPUT_BUCKET"], "other/rest.jsonl", lines[20:])
    created = create(job_client, stack, [f"gs://{stack['INPUT_BUCKET']}/in/part-*.jsonl", rest],
                     f"gs://{stack['OUTPUT_BUCKET']}/runs/r1/")
    assert created.state.name == "JOB_STATE_QUEUED"
    assert re.fullmatch(rf"projects/{stack['GOOGLE_CLOUD_PROJECT']}/locations/us-central1/batchPredictionJobs/\d+",
                        created.name)
    job = wait_final(job_client, created.name)

    assert job.state.name == "JOB_STATE_SUCCEEDED"
    assert job.output_info.gcs_output_directory.startswith(f"gs://{stack['OUTPUT_BUCKET']}/runs/r1/prediction-model-")
    assert FOLDER.search(job.output_info.gcs_output_directory)
    stats = job.completion_stats
    assert (stats.successful_count, stats.failed_count, stats.incomplete_count) == (24, 0, 0)
    assert job.create_time <= job.start_time <= job.end_time <= job.update_time
    assert list(output_files(storage_client, job)) == ["predictions.jsonl"]

    out = output_lines(storage_client, job)
    by_key = {line["key"]: line for line in out}
    expected = {line["key"]: line for line in lines}
    assert set(by_key) == set(expected) and len(out) == 24
    for line in out:
        assert list(line) == ["status", "processed_time", "request", "response", "key", "id"]
        assert line["status"] == "" and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00", line["processed_time"])
        # The echo is the request rewritten (nulls added, keys sorted), never a copy of it.
        assert line["request"] != expected[line["key"]]["request"] and keys_sorted(line["request"])
        assert without_nulls(line["request"]) == expected[line["key"]]["request"]
        assert line["id"] == expected[line["key"]]["id"]
        response = line["response"]
        assert keys_sorted(response)
        assert response["modelVersion"] == "gemini-2.5-flash"
        candidate = response["candidates"][0]
        assert candidate["finishReason"] == "STOP" and candidate["content"]["role"] == "model"
        analysis = json.loads(text_of(line))
        assert set(analysis) == ANALYSIS_FIELDS
        usage = response["usageMetadata"]
        assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
        assert usage["candidatesTokenCount"] == pytest.approx(len(text_of(line)) / 4, abs=1)


def test_rows_come_out_of_input_order(job_client, stack, storage_client):
    lines = [input_line(i) for i in range(40)]
    job = run_job(job_client, stack, storage_client, lines)
    keys = [line["key"] for line in output_lines(storage_client, job)]
    assert sorted(keys) == [line["key"] for line in lines] and keys != sorted(keys)


def test_output_is_sharded_into_predictions_files(job_client, stack, storage_client, vertex_emulator):
    vertex_emulator.configure(rows_per_file=4)
    job = run_job(job_client, stack, storage_client, [input_line(i) for i in range(10)])
    files = output_files(storage_client, job)
    assert sorted(files) == ["predictions_00001.jsonl", "predictions_00002.jsonl", "predictions_00003.jsonl"]
    assert [len(files[name].splitlines()) for name in sorted(files)] == [4, 4, 2]


def test_unparseable_input_line_is_a_failed_row(job_client, stack, storage_client):
    job = run_job(job_client, stack, storage_client, [input_line(0), "{not json", {"key": "no-request"}])
    assert job.state.name == "JOB_STATE_PARTIALLY_SUCCEEDED"
    assert (job.completion_stats.successful_count, job.completion_stats.failed_count) == (1, 2)
    failed = [line for line in output_lines(storage_client, job) if "response" not in line]
    assert len(failed) == 2 and all(line["status"].startswith("Bad Request: ") for line in failed)


# ---- faults in rows -------------------------------------------------------------------------


FAULT_CHECKS = {
    "fenced": lambda line: text_of(line).startswith("```json\n") and text_of(line).endswith("\n```")
    and set(json.loads(text_of(line)[8:-4])) == ANALYSIS_FIELDS,
    "prose": lambda line: not text_of(line).startswith("{") and not text_of(line).rstrip().endswith("}")
    and set(json.loads(text_of(line)[text_of(line).index("{"):text_of(line).rindex("}") + 1])) == ANALYSIS_FIELDS,
    "trailing_comma": lambda line: text_of(line).endswith(",}")
    and set(json.loads(text_of(line)[:-2] + "}")) == ANALYSIS_FIELDS,
    "single_quotes": lambda line: '"' not in text_of(line)
    and set(json.loads(text_of(line).replace("'", '"'))) == ANALYSIS_FIELDS,
    "truncated": lambda line: line["response"]["candidates"][0]["finishReason"] == "MAX_TOKENS"
    and text_of(line).startswith('{"summary": ') and _not_json(text_of(line)),
    "no_parts": lambda line: "parts" not in line["response"]["candidates"][0]["content"]
    and line["response"]["candidates"][0]["finishReason"] in ("STOP", "OTHER")
    and "candidatesTokenCount" not in line["response"]["usageMetadata"],
    "blocked": lambda line: "candidates" not in line["response"] and line["status"] == ""
    and line["response"]["promptFeedback"]["blockReason"] in ("SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "OTHER")
    and set(line["response"]["usageMetadata"]) == {"promptTokenCount", "totalTokenCount", "trafficType"},
    "safety": lambda line: line["response"]["candidates"][0]["finishReason"] == "SAFETY"
    and "content" not in line["response"]["candidates"][0]
    and [r["blocked"] for r in line["response"]["candidates"][0]["safetyRatings"] if "blocked" in r] == [True],
    "recitation": lambda line: line["response"]["candidates"][0]["finishReason"] == "RECITATION"
    and line["response"]["candidates"][0]["content"] == {"role": "model"}
    and line["response"]["candidates"][0]["citationMetadata"]["citations"],
    "drop_extra_fields": lambda line: list(line) == ["status", "processed_time", "request", "response"]
    and set(json.loads(text_of(line))) == ANALYSIS_FIELDS,
    "split_parts": lambda line: len(line["response"]["candidates"][0]["content"]["parts"]) >= 2
    and set(json.loads(text_of(line))) == ANALYSIS_FIELDS,
}


def _not_json(text):
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return True
    return False


@pytest.mark.parametrize("fault", sorted(FAULT_CHECKS))
def test_every_row_has_the_fault_at_rate_one(job_client, stack, storage_client, vertex_emulator, fault):
    vertex_emulator.configure(**{fault: 1.0})
    job = run_job(job_client, stack, storage_client, [input_line(i) for i in range(12)])
    assert job.state.name == "JOB_STATE_SUCCEEDED"
    out = output_lines(storage_client, job)
    assert len(out) == 12 and all(FAULT_CHECKS[fault](line) for line in out)


def test_the_echo_is_rewritten_as_the_service_does(job_client, stack, storage_client):
    """Google's sample output: every part gets file_data and text (null when absent), fileData comes
    back as file_data with snake_case members, keys sorted at every depth; extras after response."""
    line = {"key": "k-1", "request": {
        "contents": [{"role": "user", "parts": [
            {"text": "List objects in this image."},
            {"fileData": {"fileUri": "gs://bucket/tools.jpeg", "mimeType": "image/jpeg"}}]}],
        "generationConfig": {"temperature": 0.4, "maxOutputTokens": 256},
        "labels": {"row_id": "a1-s00000-r000001"}}}
    job = run_job(job_client, stack, storage_client, [line])
    raw = next(iter(output_files(storage_client, job).values()))
    assert raw.startswith('{"status": "", "processed_time": ')
    [out] = output_lines(storage_client, job)
    assert out["request"] == {
        "contents": [{"parts": [{"file_data": None, "text": "List objects in this image."},
                                {"file_data": {"file_uri": "gs://bucket/tools.jpeg", "mime_type": "image/jpeg"},
                                 "text": None}],
                      "role": "user"}],
        "generationConfig": {"maxOutputTokens": 256, "temperature": 0.4},
        "labels": {"row_id": "a1-s00000-r000001"}}
    assert json.dumps(out["request"]) == json.dumps(out["request"], sort_keys=True)
    assert list(out) == ["status", "processed_time", "request", "response", "key"] and out["key"] == "k-1"


@pytest.mark.parametrize("labels, refused", [
    ({"row_id": "a1-s00000-r000001", "team": "analytics"}, False),
    ({"row_id": ""}, False),
    ({"row_id": "eyJwaG9uZV90b2tlbiI6InQxIn0="}, True),   # a base64 key: upper case and '='
    ({"row_id": "a" * 64}, True),
    ({"Row": "x"}, True),
    ({f"k{i}": "v" for i in range(65)}, True),
    ({"row_id": 7}, True),
])
def test_request_labels_follow_the_label_rules(job_client, stack, storage_client, labels, refused):
    """A request's labels are checked as the service checks them: a line that breaks a rule fails
    with 400 in its status, the others are answered."""
    line = input_line(0)
    line["request"]["labels"] = labels
    job = run_job(job_client, stack, storage_client, [line, input_line(1)])
    by_key = {out["key"]: out for out in output_lines(storage_client, job)}
    assert "response" in by_key["key-0001"]
    out = by_key["key-0000"]
    if refused:
        assert "response" not in out and out["status"].startswith("Bad Request: ")
        assert "label" in json.loads(ROW_STATUS.match(out["status"]).group(2))["error"]["message"]
        assert job.completion_stats.failed_count == 1
    else:
        assert out["status"] == "" and out["request"]["labels"] == dict(sorted(labels.items()))


def test_failed_rows_carry_google_errors_in_status(job_client, stack, storage_client, vertex_emulator):
    vertex_emulator.configure(row_error=1.0)
    job = run_job(job_client, stack, storage_client, [input_line(i) for i in range(30)])
    assert job.state.name == "JOB_STATE_PARTIALLY_SUCCEEDED"
    assert (job.completion_stats.successful_count, job.completion_stats.failed_count) == (0, 30)
    codes = set()
    for line in output_lines(storage_client, job):
        assert "response" not in line and line["request"] and line["key"] and line["processed_time"]
        error = json.loads(ROW_STATUS.match(line["status"]).group(2))["error"]
        assert {"code", "message", "status"} <= set(error)
        codes.add((error["code"], error["status"]))
    assert codes == {(400, "INVALID_ARGUMENT"), (429, "RESOURCE_EXHAUSTED"), (500, "INTERNAL")}


def test_failed_rows_state_is_configurable(job_client, stack, storage_client, vertex_emulator):
    vertex_emulator.configure(row_error=1.0, failed_rows_state="JOB_STATE_SUCCEEDED")
    job = run_job(job_client, stack, storage_client, [input_line(i) for i in range(3)])
    assert job.state.name == "JOB_STATE_SUCCEEDED" and job.completion_stats.failed_count == 3


DETECT = {
    "row_error": lambda line: "response" not in line,
    "no_parts": lambda line: "parts" not in line["response"]["candidates"][0]["content"],
    "split_parts": lambda line: len(line["response"]["candidates"][0]["content"]["parts"]) > 1,
    "truncated": lambda line: line["response"]["candidates"][0]["finishReason"] == "MAX_TOKENS",
    "fenced": lambda line: "```json" in text_of(line),
    "prose": lambda line: not text_of(line).startswith(("{", "```")),
    "single_quotes": lambda line: "{'summary'" in text_of(line),
    "trailing_comma": lambda line: ",}" in text_of(line),  # seen only where truncation left the end
}


def _fault_counts(lines):
    """How many lines show each fault; text faults are looked for only in candidates with parts."""
    counts = dict.fromkeys(DETECT, 0)
    for line in lines:
        if DETECT["row_error"](line):
            counts["row_error"] += 1
        elif DETECT["no_parts"](line):
            counts["no_parts"] += 1
        else:
            for fault in DETECT.keys() - {"row_error", "no_parts"}:
                counts[fault] += DETECT[fault](line)
    return counts


def test_seeded_rates_are_repeatable(job_client, stack, storage_client, vertex_emulator):
    rate = 0.2
    vertex_emulator.configure(seed=7, **dict.fromkeys(DETECT, rate))
    lines = [input_line(i) for i in range(150)]
    first = run_job(job_client, stack, storage_client, lines, prefix="a")
    second = run_job(job_client, stack, storage_client, lines, prefix="b")
    out_first, out_second = output_lines(storage_client, first), output_lines(storage_client, second)
    assert [strip_times(line) for line in out_first] == [strip_times(line) for line in out_second]

    counts = _fault_counts(out_first)
    answered = 150 - counts["row_error"]
    with_parts = answered - counts["no_parts"]
    expected = {"row_error": 150 * rate, "no_parts": answered * rate, "trailing_comma": with_parts * rate * (1 - rate)}
    for fault in DETECT:
        mean = expected.get(fault, with_parts * rate)
        assert abs(counts[fault] - mean) <= 3 * (mean * (1 - rate)) ** 0.5 + 1, (fault, counts)
    assert first.state.name == "JOB_STATE_PARTIALLY_SUCCEEDED"
    assert first.completion_stats.failed_count == counts["row_error"]

    vertex_emulator.configure(seed=8)
    third = run_job(job_client, stack, storage_client, lines, prefix="c")
    assert _fault_counts(output_lines(storage_client, third)) != counts


# ---- whole-job outcomes -----------------------------------------------------------------------


def test_whole_job_failure(job_client, stack, storage_client, vertex_emulator):
    vertex_emulator.configure(job_failure=1.0)
    job = run_job(job_client, stack, storage_client, [input_line(i) for i in range(5)])
    assert job.state.name == "JOB_STATE_FAILED"
    assert job.error.code == 13 and job.error.message
    assert job.end_time and not output_files(storage_client, job)


def test_job_failure_rule_narrowed_to_a_model(job_client, stack, storage_client, vertex_emulator):
    vertex_emulator.configure(job_failure_rules=[{"model": "gemini-2.5-flash", "code": 503, "count": 1}])
    uri = upload(storage_client, stack["INPUT_BUCKET"], "in.jsonl", [input_line(0)])
    prefix = f"gs://{stack['OUTPUT_BUCKET']}/out"
    primary = wait_final(job_client, create(job_client, stack, [uri], prefix).name)
    fallback = wait_final(job_client, create(job_client, stack, [uri], prefix, model_name=FALLBACK_MODEL).name)
    again = wait_final(job_client, create(job_client, stack, [uri], prefix).name)
    assert (primary.state.name, primary.error.code) == ("JOB_STATE_FAILED", 14)
    assert fallback.state.name == again.state.name == "JOB_STATE_SUCCEEDED"
    assert output_lines(storage_client, fallback)[0]["response"]["modelVersion"] == "gemini-2.5-pro"


def test_missing_input_fails_the_job(job_client, stack):
    job = create(job_client, stack, [f"gs://{stack['INPUT_BUCKET']}/missing/*.jsonl"],
                 f"gs://{stack['OUTPUT_BUCKET']}/out")
    job = wait_final(job_client, job.name)
    assert job.state.name == "JOB_STATE_FAILED" and job.error.code == 3 and "missing" in job.error.message


# ---- cancel -------------------------------------------------------------------------------


def test_cancel_keeps_the_rows_written_so_far(job_client, stack, storage_client, vertex_emulator):
    vertex_emulator.configure(rows_per_file=5, stall_after_rows=10)
    uri = upload(storage_client, stack["INPUT_BUCKET"], "in.jsonl", [input_line(i) for i in range(25)])
    job = create(job_client, stack, [uri], f"gs://{stack['OUTPUT_BUCKET']}/out")
    running = wait_until(job_client, job.name, lambda j: j.completion_stats.successful_count == 10)
    assert running.state.name == "JOB_STATE_RUNNING"
    job_client.cancel_batch_prediction_job(name=job.name)
    assert job_client.get_batch_prediction_job(name=job.name).state.name in {"JOB_STATE_CANCELLING",
                                                                            "JOB_STATE_CANCELLED"}
    job = wait_final(job_client, job.name)
    assert job.state.name == "JOB_STATE_CANCELLED"
    stats = job.completion_stats
    assert (stats.successful_count, stats.failed_count, stats.incomplete_count) == (10, 0, 15)
    assert sorted(output_files(storage_client, job)) == ["predictions_00001.jsonl", "predictions_00002.jsonl"]
    assert len(output_lines(storage_client, job)) == 10


def test_cancel_while_queued_and_after_the_end(job_client, stack, storage_client, vertex_emulator):
    vertex_emulator.configure(pace_seconds=600)  # the job waits in QUEUED until the cancel wakes it
    uri = upload(storage_client, stack["INPUT_BUCKET"], "in.jsonl", [input_line(0)])
    job = create(job_client, stack, [uri], f"gs://{stack['OUTPUT_BUCKET']}/out")
    job_client.cancel_batch_prediction_job(name=job.name)
    job = wait_final(job_client, job.name)
    assert job.state.name == "JOB_STATE_CANCELLED" and not job.output_info.gcs_output_directory
    with pytest.raises(exceptions.BadRequest, match="already in state JOB_STATE_CANCELLED"):
        job_client.cancel_batch_prediction_job(name=job.name)


# ---- list -------------------------------------------------------------------------------------


def test_list_filters_on_labels_state_and_name(job_client, stack, storage_client, vertex_emulator):
    uri = upload(storage_client, stack["INPUT_BUCKET"], "in.jsonl", [input_line(0)])
    prefix = f"gs://{stack['OUTPUT_BUCKET']}/out"
    mine = create(job_client, stack, [uri], prefix, labels={"run_id": "abc", "batch_type": "pass1"})
    other_type = create(job_client, stack, [uri], prefix, labels={"run_id": "abc", "batch_type": "pass2"})
    other_run = create(job_client, stack, [uri], prefix, labels={"run_id": "xyz", "batch_type": "pass1"})
    elsewhere = create(job_client, stack, [uri], prefix, labels={"run_id": "abc", "batch_type": "pass1"},
                       location="europe-west4")
    for job in (mine, other_type, other_run, elsewhere):
        wait_final(job_client, job.name)
    parent = f"projects/{stack['GOOGLE_CLOUD_PROJECT']}/locations/us-central1"

    def names(filter_text, page_size=0):
        pager = job_client.list_batch_prediction_jobs(
            request={"parent": parent, "filter": filter_text, "page_size": page_size})
        return {job.name for job in pager}

    assert names("labels.run_id=abc AND labels.batch_type=pass1") == {mine.name}
    assert names('labels.run_id="abc"') == {mine.name, other_type.name}
    assert names("labels.batch_type=pass2 OR labels.run_id=xyz") == {other_type.name, other_run.name}
    assert names("state=JOB_STATE_SUCCEEDED AND display_name=emulator-test", page_size=1) == {
        mine.name, other_type.name, other_run.name}
    assert names("state=JOB_STATE_RUNNING") == set()
    with pytest.raises(exceptions.BadRequest, match="Unsupported filter"):
        names("labels.run_id ~ abc")


# ---- API faults and errors --------------------------------------------------------------------


def test_api_answers_429_then_recovers(job_client, stack, storage_client, vertex_emulator):
    vertex_emulator.configure(api_faults=[{"method": "create", "code": 429, "count": 2}])
    uri = upload(storage_client, stack["INPUT_BUCKET"], "in.jsonl", [input_line(0)])
    prefix = f"gs://{stack['OUTPUT_BUCKET']}/out"
    for _ in range(2):
        with pytest.raises(exceptions.TooManyRequests) as caught:
            create(job_client, stack, [uri], prefix)
        assert caught.value.code == 429 and "Quota exceeded" in caught.value.message
    assert vertex_emulator.config()["api_faults"][0]["count"] == 0
    assert wait_final(job_client, create(job_client, stack, [uri], prefix).name).state.name == "JOB_STATE_SUCCEEDED"


def test_a_retry_policy_rides_over_503(job_client, stack, storage_client, vertex_emulator):
    uri = upload(storage_client, stack["INPUT_BUCKET"], "in.jsonl", [input_line(0)])
    job = wait_final(job_client, create(job_client, stack, [uri], f"gs://{stack['OUTPUT_BUCKET']}/out").name)
    vertex_emulator.configure(api_faults=[{"method": "get", "code": 503, "count": 3}])
    with pytest.raises(exceptions.ServiceUnavailable):
        job_client.get_batch_prediction_job(name=job.name)
    retry = Retry(predicate=if_exception_type(exceptions.ServiceUnavailable), initial=0.01, maximum=0.02, timeout=30)
    assert job_client.get_batch_prediction_job(name=job.name, retry=retry).name == job.name


def test_api_faults_narrowed_to_model_and_location(job_client, stack, storage_client, vertex_emulator):
    vertex_emulator.configure(api_faults=[{"method": "create", "model": "gemini-2.5-flash", "code": 429, "rate": 1.0},
                                          {"method": "*", "location": "us-central1", "code": 503, "count": 1}])
    uri = upload(storage_client, stack["INPUT_BUCKET"], "in.jsonl", [input_line(0)])
    prefix = f"gs://{stack['OUTPUT_BUCKET']}/out"
    with pytest.raises(exceptions.TooManyRequests):
        create(job_client, stack, [uri], prefix, location="europe-west4")
    with pytest.raises(exceptions.ServiceUnavailable):
        create(job_client, stack, [uri], prefix, model_name=FALLBACK_MODEL)
    job = create(job_client, stack, [uri], prefix, model_name=FALLBACK_MODEL)
    assert "/locations/us-central1/" in job.name


def test_api_errors_map_to_client_exceptions(job_client, stack, storage_client):
    parent = f"projects/{stack['GOOGLE_CLOUD_PROJECT']}/locations/us-central1"
    with pytest.raises(exceptions.NotFound):
        job_client.get_batch_prediction_job(name=f"{parent}/batchPredictionJobs/123")
    uri = upload(storage_client, stack["INPUT_BUCKET"], "in.jsonl", [input_line(0)])
    with pytest.raises(exceptions.BadRequest, match="Invalid label"):
        create(job_client, stack, [uri], f"gs://{stack['OUTPUT_BUCKET']}/out", labels={"run_id": "Not=Valid"})
    with pytest.raises(exceptions.BadRequest, match="gcsDestination"):
        create(job_client, stack, [uri], "/local/path")
    with pytest.raises(exceptions.Forbidden):  # REST raises the HTTP classes, not PermissionDenied
        job_client.get_batch_prediction_job(name="projects/other/locations/us-central1/batchPredictionJobs/1")


# ---- control endpoints ------------------------------------------------------------------------


def test_control_validates_and_reset_restores_defaults(vertex_emulator):
    defaults = vertex_emulator.config()
    assert vertex_emulator.configure(fenced=0.5)["fenced"] == 0.5
    with pytest.raises(EmulatorControlError, match="unknown setting"):
        vertex_emulator.configure(fencd=0.5)
    with pytest.raises(EmulatorControlError, match="within"):
        vertex_emulator.configure(prose=1.5)
    with pytest.raises(EmulatorControlError, match="count or rate"):
        vertex_emulator.configure(api_faults=[{"method": "get", "code": 429}])
    vertex_emulator.reset()
    assert vertex_emulator.config() == defaults and vertex_emulator.health()["jobs"] == 0


# ---- restart ---------------------------------------------------------------------------------


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_emulator(stack, port, state_dir):
    env = {**os.environ, **stack, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "infra.local.vertex_emulator", "--port", str(port),
                             "--project", stack["GOOGLE_CLOUD_PROJECT"], "--state-dir", str(state_dir)],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    control = EmulatorControl(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + POLL_LIMIT_SECONDS
    while True:
        try:
            control.health()
            return proc, control
        except EmulatorControlError:
            assert proc.poll() is None and time.monotonic() < deadline, "emulator did not start"
            time.sleep(0.05)


def _stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def test_restart_keeps_finished_jobs_and_resumes_running_ones(stack, storage_client, tmp_path):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform_v1 import JobServiceClient

    port = _free_port()
    client = JobServiceClient(transport="rest", credentials=AnonymousCredentials(),
                              client_options={"api_endpoint": f"http://127.0.0.1:{port}"})
    uri = upload(storage_client, stack["INPUT_BUCKET"], "in.jsonl", [input_line(i) for i in range(8)])
    prefix = f"gs://{stack['OUTPUT_BUCKET']}/out"
    proc, control = _start_emulator(stack, port, tmp_path)
    try:
        done = wait_final(client, create(client, stack, [uri], prefix).name)
        control.configure(stall_after_rows=3)
        stalled = wait_until(client, create(client, stack, [uri], prefix).name,
                             lambda j: j.completion_stats.successful_count == 3)
    finally:
        _stop(proc)
    proc, control = _start_emulator(stack, port, tmp_path)
    try:
        assert client.get_batch_prediction_job(name=done.name) == done
        resumed = wait_until(client, stalled.name, lambda j: j.completion_stats.successful_count == 3)
        assert resumed.state.name == "JOB_STATE_RUNNING"
        assert resumed.output_info.gcs_output_directory == stalled.output_info.gcs_output_directory
        client.cancel_batch_prediction_job(name=stalled.name)
        cancelled = wait_final(client, stalled.name)
        assert cancelled.state.name == "JOB_STATE_CANCELLED" and cancelled.completion_stats.incomplete_count == 5
    finally:
        _stop(proc)


# ---- the local model ------------------------------------------------------------------------


@pytest.mark.parametrize("i, intent, resolution, sentiment", [
    (0, "billing_dispute", "resolved", "positive"),
    (1, "cancellation", "escalated", "negative"),
    (2, "technical_support", "resolved", "positive"),
    (3, "plan_upgrade", "resolved", "positive"),
])
def test_model_reads_the_transcript_not_the_instructions(i, intent, resolution, sentiment):
    request = input_line(i)["request"]
    analysis = model.analyse(model.extract_transcript(request))
    assert (analysis["customer_intent"], analysis["resolution_status"], analysis["sentiment"]) == (
        intent, resolution, sentiment)
    assert 1 <= analysis["agent_performance_score"] <= 5 and analysis["topics"]
    assert str(i) in analysis["summary"]
    assert analysis == model.analyse(model.extract_transcript(json.loads(json.dumps(request))))
