"""The request at the door: output_info shapes, files, identifiers, tuning ranges."""

import pytest

from pass1_processor.config import ProcessorConfig, parse_output_info
from shared.config import Settings
from shared.errors import ValidationError
from shared.layout import is_prediction_file

SETTINGS = Settings(project="local-project", output_bucket="out-bucket", input_bucket="in-bucket",
                    allowed_buckets=frozenset({"out-bucket", "in-bucket"}))
DIR = "gs://out-bucket/runs/pass1/r1/attempt-1/shard-00000/prediction-model-x"


@pytest.mark.parametrize("value", [
    {"gcsOutputDirectory": DIR},
    {"gcs_output_directory": DIR + "/"},
    {"name": "projects/p/locations/l/batchPredictionJobs/9", "outputInfo": {"gcsOutputDirectory": DIR}},
    DIR,
    [{"gcsOutputDirectory": DIR, "job": "projects/p/locations/l/batchPredictionJobs/9", "attempt": 1}],
])
def test_output_info_shapes(value):
    (out,) = parse_output_info(value, SETTINGS.allowed_buckets)
    assert out.uri == DIR


def test_job_resource_names_the_batch_job():
    (out,) = parse_output_info({"name": "jobs/9", "outputInfo": {"gcsOutputDirectory": DIR}}, SETTINGS.allowed_buckets)
    assert out.batch_job == "jobs/9"


@pytest.mark.parametrize("body, field", [
    ({}, "output_info"),
    ({"output_info": {"gcsOutputDirectory": "gs://elsewhere/x"}}, "output_info"),
    ({"output_info": {"gcsOutputDirectory": "gs://out-bucket"}}, "output_info"),
    ({"output_info": {"nothing": 1}}, "output_info"),
    ({"output_info": 5}, "output_info"),
    ({"output_info": DIR, "output_table": "bad table; DROP"}, "output_table"),
    ({"output_info": DIR, "dataset": "a-b"}, "dataset"),
    ({"output_info": DIR, "project_id": "X"}, "project_id"),
    ({"output_info": DIR, "chunk_size": 0}, "chunk_size"),
    ({"output_info": DIR, "chunk_size": "10"}, "chunk_size"),
    ({"output_info": DIR, "memory_threshold_percent": 100}, "memory_threshold_percent"),
    ({"output_info": DIR, "time_budget_seconds": -1}, "time_budget_seconds"),
    ({"output_info": DIR, "write_method": "dml"}, "write_method"),
    ({"output_info": DIR, "files": []}, "files"),
    ({"output_info": DIR, "files": [DIR + "/other.json"]}, "files"),
    ({"output_info": DIR, "run_id": "bad id!"}, "run_id"),
])
def test_bad_fields_are_named(body, field):
    with pytest.raises(ValidationError) as err:
        ProcessorConfig.from_request(body, SETTINGS)
    assert err.value.field == field


def test_defaults_and_overrides():
    config = ProcessorConfig.from_request({"output_info": DIR, "chunk_size": 10, "write_method": "load",
                                           "output_table": "other_out", "files": [DIR + "/predictions.jsonl"]},
                                          SETTINGS)
    assert config.chunk_size == 10 and config.write_method == "load"
    assert config.output_table.id == "local-project.call_analytics.other_out"
    assert config.lookup_table.table == "interaction_lookup"
    assert [f.uri for f in config.files] == [DIR + "/predictions.jsonl"]
    assert config.run_id is None and config.time_budget_seconds > 0


@pytest.mark.parametrize("name, ok", [("a/predictions.jsonl", True), ("a/predictions_00001.jsonl", True),
                                      ("a/prediction-x.jsonl", True), ("a/retry/keys-1.jsonl", False),
                                      ("a/predictions.jsonl.tmp", False), ("predictions/x.jsonl", False)])
def test_prediction_file_names(name, ok):
    assert is_prediction_file(name) is ok


def test_the_removed_streaming_method_is_refused_with_its_reason():
    with pytest.raises(ValidationError) as err:
        ProcessorConfig.from_request({"output_info": DIR, "write_method": "streaming"}, SETTINGS)
    assert err.value.field == "write_method" and err.value.details["reason"] == "write_method_removed"
