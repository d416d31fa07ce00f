"""The processor's request parsing, table-driven and without a service (pass1_processor/config.py):
every refused body names its field with the same code, message and details as the HTTP answer's
error ({"code", "message", "details"}); accepted bodies take their tuning from the request over the
processor's settings (ProcessorSettings), and the settings from the environment."""

from __future__ import annotations

import pytest

from pass1_processor.config import ProcessorConfig, parse_overrides
from pass1_processor.settings import ProcessorSettings
from shared.config import Settings
from shared.errors import InternalError, ValidationError

SETTINGS = Settings(project="local-project", output_bucket="out-bucket", input_bucket="in-bucket",
                    allowed_buckets=frozenset({"out-bucket", "in-bucket"}))
DIR = "gs://out-bucket/runs/pass1/r1/attempt-1/shard-00000/prediction-model-x"
OK = {"output_info": DIR}
TUNING = ProcessorSettings(chunk_size=250, chunk_max_bytes=1024, memory_threshold_percent=70.0, memory_limit_mb=512,
                           time_budget_seconds=30.0, lease_seconds=15.0)

# (case, body, field, message[, details besides the field]): what main.py answers with 400 VALIDATION_ERROR.
REFUSED = [
    ('no output_info and no run', {},
     'output_info', "'output_info' is required when no run_id is given"),
    ('output_info outside the buckets', {"output_info": {"gcsOutputDirectory": "gs://elsewhere/x"}},
     'output_info', "'output_info' is outside the configured buckets", {'bucket': 'elsewhere'}),
    ('output_info a whole bucket', {"output_info": {"gcsOutputDirectory": "gs://out-bucket"}},
     'output_info', "'output_info' must name a directory inside a bucket"),
    ('output_info without a directory', {"output_info": {"nothing": 1}},
     'output_info', "'output_info' has no gcsOutputDirectory"),
    ('output_info a number', {"output_info": 5},
     'output_info', "'output_info' must be an object, a gs:// URI or a list of them"),
    ('output_info not gs://', {"output_info": "http://out-bucket/x"},
     'output_info', "'output_info' must be a gs:// URI"),
    ('output_info too many', {"output_info": [DIR + f"/{i}" for i in range(1001)]},
     'output_info', "'output_info' has too many entries"),
    ('run_id bad', {**OK, "run_id": "bad id!"},
     'run_id', "'run_id' has an invalid format", {'pattern': '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'}),
    ('batch_type bad', {**OK, "run_id": "r1", "batch_type": "Pass-1"},
     'batch_type', "'batch_type' has an invalid format", {'pattern': '^[a-z][a-z0-9_]{0,30}$'}),
    ('project_id bad', {**OK, "project_id": "X"},
     'project_id', "'project_id' is not a Google Cloud project id"),
    ('dataset bad', {**OK, "dataset": "a-b"},
     'dataset', "'dataset' is not a BigQuery dataset name"),
    ('dataset not a string', {**OK, "dataset": 7},
     'dataset', "'dataset' must be a string"),
    ('workflow_id too long', {**OK, "workflow_id": "w" * 257},
     'workflow_id', "'workflow_id' is longer than 256 characters"),
    ('workflow_id not a string', {**OK, "workflow_id": ["w"]},
     'workflow_id', "'workflow_id' must be a string"),
    ('files empty', {**OK, "files": []},
     'files', "'files' must not be empty when given"),
    ('files not a list', {**OK, "files": DIR + "/predictions.jsonl"},
     'files', "'files' must be a list of strings"),
    ('files not prediction files', {**OK, "files": [DIR + "/other.json"]},
     'files', "'files' may only name prediction*.jsonl files", {"uri": DIR + "/other.json"}),
    ('files outside the buckets', {**OK, "files": ["gs://elsewhere/predictions.jsonl"]},
     'files', "'files' is outside the configured buckets", {'bucket': 'elsewhere'}),
    ('output_table bad', {**OK, "output_table": "bad table; DROP"},
     'output_table', "'output_table' is not a BigQuery table name"),
    ('lookup_table bad', {**OK, "lookup_table": "a.b"},
     'lookup_table', "'lookup_table' is not a BigQuery table name"),
    ('dead_letter_table bad', {**OK, "dead_letter_table": "x y"},
     'dead_letter_table', "'dead_letter_table' is not a BigQuery table name"),
    ('chunk_size zero', {**OK, "chunk_size": 0},
     'chunk_size', "'chunk_size' must be at least 1"),
    ('chunk_size too large', {**OK, "chunk_size": 100_001},
     'chunk_size', "'chunk_size' must be at most 100000"),
    ('chunk_size a string', {**OK, "chunk_size": "10"},
     'chunk_size', "'chunk_size' must be an integer"),
    ('chunk_size a fraction', {**OK, "chunk_size": 1.5},
     'chunk_size', "'chunk_size' must be an integer"),
    ('chunk_size a bool', {**OK, "chunk_size": True},
     'chunk_size', "'chunk_size' must be an integer"),
    ('memory_threshold_percent too high', {**OK, "memory_threshold_percent": 100},
     'memory_threshold_percent', "'memory_threshold_percent' must be at most 99.0"),
    ('memory_threshold_percent too low', {**OK, "memory_threshold_percent": 0.5},
     'memory_threshold_percent', "'memory_threshold_percent' must be at least 1.0"),
    ('memory_threshold_percent a string', {**OK, "memory_threshold_percent": "80"},
     'memory_threshold_percent', "'memory_threshold_percent' must be a number"),
    ('time_budget_seconds negative', {**OK, "time_budget_seconds": -1},
     'time_budget_seconds', "'time_budget_seconds' must be at least 0.0"),
    ('time_budget_seconds too long', {**OK, "time_budget_seconds": 3600.5},
     'time_budget_seconds', "'time_budget_seconds' must be at most 3600.0"),
    ('write_method unknown', {**OK, "write_method": "dml"},
     'write_method', "'write_method' must be one of load"),
    ('write_method removed', {**OK, "write_method": "streaming"},
     'write_method', "write_method 'streaming' was removed; the processor stages rows and merges them "
                     "(write_method 'load')", {'reason': 'write_method_removed'}),
    ('write_method not a string', {**OK, "write_method": 1},
     'write_method', "'write_method' must be a string"),
    ('resume_failed not a bool', {**OK, "resume_failed": "yes"},
     'resume_failed', "'resume_failed' must be true or false"),
    ('first bad field wins', {**OK, "chunk_size": 0, "time_budget_seconds": -1, "write_method": "dml"},
     'chunk_size', "'chunk_size' must be at least 1"),
    ('tables before tuning', {**OK, "chunk_size": 0, "lookup_table": "a.b"},
     'lookup_table', "'lookup_table' is not a BigQuery table name"),
]


@pytest.mark.parametrize("body, field, message, details",
                         [pytest.param(*row[1:4], row[4] if len(row) > 4 else {}, id=row[0]) for row in REFUSED])
def test_a_refused_body_names_its_field_with_todays_error(body, field, message, details):
    with pytest.raises(ValidationError) as err:
        ProcessorConfig.from_request(body, SETTINGS, TUNING)
    assert (err.value.code, err.value.http_status) == ("VALIDATION_ERROR", 400)
    assert (err.value.field, err.value.message, err.value.details) == (field, message, {**details, "field": field})


# (case, body, what the config holds): the request's fields over the settings.
ACCEPTED = [
    ("settings when the body says nothing", OK,
     {"chunk_size": 250, "memory_threshold_percent": 70.0, "time_budget_seconds": 30.0, "write_method": "load",
      "resume_failed": False, "chunk_max_bytes": 1024, "memory_limit_mb": 512, "lease_seconds": 15.0}),
    ("the request's tuning over the settings",
     {**OK, "chunk_size": 100_000, "memory_threshold_percent": 99, "time_budget_seconds": 0, "resume_failed": True},
     {"chunk_size": 100_000, "memory_threshold_percent": 99.0, "time_budget_seconds": 0.0, "resume_failed": True}),
    ("integral floats are integers", {**OK, "chunk_size": 10.0}, {"chunk_size": 10}),
    ("write_method load", {**OK, "write_method": "load"}, {"write_method": "load"}),
    ("the deployment's tables and run identity",
     {**OK, "run_id": "r1"},
     {"run_id": "r1", "batch_type": "pass1", "workflow_id": None, "files": None,
      "jobs_collection": "batch_jobs", "input_bucket": "in-bucket"}),
    ("a run needs no output_info", {"run_id": "r1", "batch_type": "pass2"},
     {"run_id": "r1", "batch_type": "pass2", "output_dirs": ()}),
]


@pytest.mark.parametrize("body, expected", [pytest.param(b, e, id=c) for c, b, e in ACCEPTED])
def test_an_accepted_body_over_the_settings(body, expected):
    config = ProcessorConfig.from_request(body, SETTINGS, TUNING)
    assert {name: getattr(config, name) for name in expected} == expected


@pytest.mark.parametrize("body, tables", [
    pytest.param(OK, ("local-project.call_analytics.pass1_analysis", "local-project.call_analytics.interaction_lookup",
                      "local-project.call_analytics.pass1_dead_letter"), id="the deployment's"),
    pytest.param({**OK, "project_id": "other-project", "dataset": "ds", "output_table": "o", "lookup_table": "l",
                  "dead_letter_table": "d"}, ("other-project.ds.o", "other-project.ds.l", "other-project.ds.d"),
                 id="the request's"),
])
def test_tables_come_from_the_request_over_the_deployment(body, tables):
    config = ProcessorConfig.from_request(body, SETTINGS, TUNING)
    assert (config.output_table.id, config.lookup_table.id, config.dead_letter_table.id) == tables


def test_files_keep_their_order_without_duplicates():
    files = [DIR + "/predictions_2.jsonl", DIR + "/predictions_1.jsonl", DIR + "/predictions_2.jsonl"]
    config = ProcessorConfig.from_request({**OK, "files": files}, SETTINGS, TUNING)
    assert [f.uri for f in config.files] == files[:2]


def test_overrides_are_parsed_apart_from_the_work():
    """parse_overrides needs no output_info, tables or buckets: only the tuning fields and the settings."""
    overrides = parse_overrides({"chunk_size": 7}, TUNING)
    assert (overrides.chunk_size, overrides.time_budget_seconds, overrides.write_method) == (7, 30.0, "load")
    with pytest.raises(ValidationError) as err:
        parse_overrides({"time_budget_seconds": "soon"}, TUNING)
    assert err.value.field == "time_budget_seconds"


# (environment, settings): each variable over its default; unset or empty is the default.
ENVIRONMENTS = [
    ({}, ProcessorSettings()),
    ({"PROCESSOR_CHUNK_SIZE": "", "PROCESSOR_LEASE_SECONDS": ""}, ProcessorSettings()),
    ({"PROCESSOR_CHUNK_SIZE": "100", "PROCESSOR_CHUNK_MAX_BYTES": "2048", "PROCESSOR_MEMORY_THRESHOLD_PERCENT": "60",
      "PROCESSOR_MEMORY_LIMIT_MB": "64", "PROCESSOR_TIME_BUDGET_SECONDS": "0", "PROCESSOR_LEASE_SECONDS": "2.5"},
     ProcessorSettings(chunk_size=100, chunk_max_bytes=2048, memory_threshold_percent=60.0, memory_limit_mb=64,
                       time_budget_seconds=0.0, lease_seconds=2.5)),
]


@pytest.mark.parametrize("env, settings", ENVIRONMENTS)
def test_settings_from_the_environment(monkeypatch, env, settings):
    for name in ("PROCESSOR_CHUNK_SIZE", "PROCESSOR_CHUNK_MAX_BYTES", "PROCESSOR_MEMORY_THRESHOLD_PERCENT",
                 "PROCESSOR_MEMORY_LIMIT_MB", "PROCESSOR_TIME_BUDGET_SECONDS", "PROCESSOR_LEASE_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert ProcessorSettings.from_env() == settings
    assert ProcessorSettings().chunk_size == 5000 and ProcessorSettings().time_budget_seconds == 480.0


@pytest.mark.parametrize("name, value", [("PROCESSOR_CHUNK_SIZE", "many"), ("PROCESSOR_LEASE_SECONDS", "2 min")])
def test_a_malformed_setting_is_an_internal_error_naming_its_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(InternalError) as err:
        ProcessorSettings.from_env()
    assert err.value.details == {"field": name}


def test_the_settings_are_read_once_per_process(monkeypatch):
    """service.py caches them (the stack's tests restart the processor to change them)."""
    from pass1_processor import service

    service._tuning.cache_clear()
    monkeypatch.setenv("PROCESSOR_CHUNK_SIZE", "11")
    try:
        assert service._tuning().chunk_size == 11
        monkeypatch.setenv("PROCESSOR_CHUNK_SIZE", "12")
        assert service._tuning().chunk_size == 11
    finally:
        service._tuning.cache_clear()
