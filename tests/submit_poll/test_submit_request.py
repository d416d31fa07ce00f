"""The submit_batch request at the door (batch_submit/request.py parse_submit, then the prompt it
names), table-driven and without the stack: every refusal names its field with a 400
VALIDATION_ERROR, and a valid body resolves to the request the service works from.

The refusals are checked before submit_batch reads or writes anything (the service parses first),
so a refused body leaves no run record; test_errors.py keeps two of them over HTTP to prove the
envelope on the stack."""

from __future__ import annotations

import datetime as dt

import pytest

from batch_submit.config import SubmitConfig
from batch_submit.prompts import load_prompt
from batch_submit.request import GcsSource, TableSource, parse_submit
from shared.config import Settings
from shared.errors import ValidationError
from shared.identifiers import GcsPath, TableRef

INPUT_BUCKET, OUTPUT_BUCKET = "unit-input", "unit-output"
SETTINGS = Settings.from_env({"GOOGLE_CLOUD_PROJECT": "unit-project", "INPUT_BUCKET": INPUT_BUCKET,
                              "OUTPUT_BUCKET": OUTPUT_BUCKET})
CONFIG = SubmitConfig()
TODAY = dt.date(2024, 3, 10)


def body_with(**fields) -> dict:
    """A valid submit body with these changes (None removes a field)."""
    body = {"run_id": "err-1", "batch_type": "pass1", "source": {"uri": f"gs://{INPUT_BUCKET}/sources/errors.jsonl"}}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def validate(body: dict):
    """What submit_batch checks before any read or write: the body, then (a submission) its prompt."""
    req = parse_submit(body, SETTINGS, CONFIG, today=TODAY)
    if req.mode == "submit":
        load_prompt(req.batch_type, req.prompt_version)
    return req


# (name, changes to a valid body, the field the 400 names)
BAD_SUBMITS = [
    ("run_id not a string", {"run_id": 42}, "run_id"),
    ("run_id with a slash", {"run_id": "a/b"}, "run_id"),
    ("run_id too long", {"run_id": "r" * 64}, "run_id"),
    ("run_id missing", {"run_id": None}, "run_id"),
    ("batch_type bad format", {"batch_type": "Pass 1"}, "batch_type"),
    ("batch_type unknown", {"batch_type": "pass9"}, "batch_type"),
    ("force not a boolean", {"force": "yes"}, "force"),
    ("limit not an integer", {"max_requests_per_job": "10"}, "max_requests_per_job"),
    ("limit raised above Vertex's", {"max_requests_per_job": 200_001}, "max_requests_per_job"),
    ("mode unknown", {"mode": "again"}, "mode"),
    ("model bad format", {"model": "../../models/x"}, "model"),
    ("unknown field", {"forse": True}, "forse"),
    ("source missing", {"source": None}, "source"),
    ("source not an object", {"source": "gs://x/y"}, "source"),
    ("source both table and uri", {"source": {"table": "transcripts", "uri": "gs://a/b"}}, "source"),
    ("gs:// outside the configured buckets", {"source": {"uri": "gs://someone-elses-bucket/data.jsonl"}}, "source.uri"),
    ("not a gs:// uri", {"source": {"uri": "https://example.com/data.jsonl"}}, "source.uri"),
    ("table name injection", {"source": {"table": "transcripts`; DROP TABLE x; --"}}, "source.table"),
    ("date not a date", {"source": {"table": "transcripts", "date_from": "yesterday"}}, "source.date_from"),
    ("dates reversed", {"source": {"table": "transcripts", "date_from": "2024-03-02", "date_to": "2024-03-01"}},
     "source.date_from"),
    ("days_back not a number", {"source": {"table": "transcripts", "days_back": "1"}}, "source.days_back"),
    ("days_back and a date", {"source": {"table": "transcripts", "days_back": 1, "date_to": "2024-03-01"}},
     "source.days_back"),
    ("days_back on a gs:// source", {"source": {"uri": "gs://x/y", "days_back": 1}}, "source.days_back"),
    ("output_prefix outside the buckets", {"output_prefix": "gs://elsewhere/out"}, "output_prefix"),
    ("source with retry_failed", {"mode": "retry_failed"}, "source"),
]

# More refusals the HTTP table did not have: bounds and shapes of each remaining field.
MORE_BAD_SUBMITS = [
    ("days_back zero", {"source": {"table": "transcripts", "days_back": 0}}, "source.days_back"),
    ("days_back over a year", {"source": {"table": "transcripts", "days_back": 367}}, "source.days_back"),
    ("days_back a boolean", {"source": {"table": "transcripts", "days_back": True}}, "source.days_back"),
    ("date in another format", {"source": {"table": "transcripts", "date_to": "2024-3-1"}}, "source.date_to"),
    ("unknown source field", {"source": {"table": "transcripts", "where": "1=1"}}, "source.where"),
    ("table with four parts", {"source": {"table": "a.b.c.d"}}, "source.table"),
    ("table not a string", {"source": {"table": 7}}, "source.table"),
    ("limit zero", {"max_bytes_per_job": 0}, "max_bytes_per_job"),
    ("wait too long", {"wait_seconds": 541}, "wait_seconds"),
    ("retry deadline too short", {"retry_deadline_seconds": 0.01}, "retry_deadline_seconds"),
    ("prompt version unknown", {"prompt_version": "v99"}, "prompt_version"),
]


@pytest.mark.parametrize("changes, field", [c[1:] for c in BAD_SUBMITS + MORE_BAD_SUBMITS],
                         ids=[c[0] for c in BAD_SUBMITS + MORE_BAD_SUBMITS])
def test_a_bad_body_is_a_400_naming_its_field(changes, field):
    with pytest.raises(ValidationError) as refused:
        validate(body_with(**changes))
    err = refused.value
    assert (err.http_status, err.code) == (400, "VALIDATION_ERROR")
    assert isinstance(err.message, str) and err.message
    assert isinstance(err.details, dict) and err.details["field"] == field


def test_an_unknown_field_lists_the_allowed_ones():
    with pytest.raises(ValidationError) as refused:
        validate(body_with(forse=True, zzz=1))
    assert refused.value.details["field"] == "forse"
    assert "force" in refused.value.details["allowed"] and "forse" not in refused.value.details["allowed"]


def test_a_valid_body_takes_the_configured_defaults():
    req = validate(body_with())
    assert req.run_id == "err-1" and req.batch_type == "pass1" and req.mode == "submit"
    assert req.source == GcsSource(GcsPath(INPUT_BUCKET, "sources/errors.jsonl"))
    assert req.source.describe() == {"uri": f"gs://{INPUT_BUCKET}/sources/errors.jsonl"}
    assert (req.model, req.output_base, req.force, req.retry_deadline_seconds) == (None, None, False, None)
    assert req.prompt_version == "v1"
    assert (req.max_requests_per_job, req.max_bytes_per_job, req.max_transcript_chars, req.max_requests_per_run) == (
        CONFIG.max_requests_per_job, CONFIG.max_bytes_per_job, CONFIG.max_transcript_chars,
        CONFIG.max_requests_per_run)
    assert req.wait_seconds == CONFIG.wait_seconds


def test_a_request_may_lower_its_limits_and_set_the_rest():
    req = validate(body_with(max_requests_per_job=10, max_bytes_per_job=1000, max_transcript_chars=50,
                             max_requests_per_run=99, wait_seconds=0, retry_deadline_seconds=2.5, force=True,
                             model="gemini-2.0-flash-001", output_prefix=f"gs://{OUTPUT_BUCKET}/elsewhere"))
    assert (req.max_requests_per_job, req.max_bytes_per_job, req.max_transcript_chars, req.max_requests_per_run) == (
        10, 1000, 50, 99)
    assert (req.wait_seconds, req.retry_deadline_seconds, req.force) == (0.0, 2.5, True)
    assert req.model == "gemini-2.0-flash-001" and req.output_base == GcsPath(OUTPUT_BUCKET, "elsewhere")


# (name, source.table as given, the table it means)
TABLE_NAMES = [
    ("a table of the default dataset", "transcripts", TableRef("unit-project", "call_analytics", "transcripts")),
    ("dataset.table", "other_ds.calls", TableRef("unit-project", "other_ds", "calls")),
    ("project.dataset.table", "other-project.ds.calls", TableRef("other-project", "ds", "calls")),
]


@pytest.mark.parametrize("given, table", [t[1:] for t in TABLE_NAMES], ids=[t[0] for t in TABLE_NAMES])
def test_table_names_resolve_against_the_settings(given, table):
    assert validate(body_with(source={"table": given})).source == TableSource(table)


# (name, source date fields, (date_from, date_to), what a resumed call must repeat)
DATE_RANGES = [
    ("no dates", {}, (None, None), {"date_from": None, "date_to": None}),
    ("one day", {"date_from": "2024-03-01", "date_to": "2024-03-01"}, (dt.date(2024, 3, 1), dt.date(2024, 3, 1)),
     {"date_from": "2024-03-01", "date_to": "2024-03-01"}),
    ("open end", {"date_from": "2024-03-01"}, (dt.date(2024, 3, 1), None), {"date_from": "2024-03-01", "date_to": None}),
    ("yesterday", {"days_back": 1}, (dt.date(2024, 3, 9), dt.date(2024, 3, 9)), {"days_back": 1}),
    ("the last week", {"days_back": 7}, (dt.date(2024, 3, 3), dt.date(2024, 3, 9)), {"days_back": 7}),
    ("a year", {"days_back": 366}, (dt.date(2023, 3, 10), dt.date(2024, 3, 9)), {"days_back": 366}),
]


@pytest.mark.parametrize("dates, resolved, spec", [d[1:] for d in DATE_RANGES], ids=[d[0] for d in DATE_RANGES])
def test_a_table_source_resolves_its_dates_against_today(dates, resolved, spec):
    source = validate(body_with(source={"table": "transcripts", **dates})).source
    assert (source.date_from, source.date_to) == resolved
    assert source.spec() == {"table": "unit-project.call_analytics.transcripts", **spec}


def test_retry_failed_needs_no_source():
    req = validate({"run_id": "r-1", "mode": "retry_failed"})
    assert (req.mode, req.source, req.batch_type) == ("retry_failed", None, "pass1")
