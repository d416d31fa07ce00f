"""The names of a run's objects (shared/layout.py): what submit writes, the processor finds again."""

from __future__ import annotations

import pytest

from shared import layout
from shared.identifiers import GcsPath


def test_input_shard_key_index_and_output_prefix_names():
    prefix = layout.attempt_prefix("in-bucket", "pass1", "run.1", 2)
    shard = layout.input_object(prefix, 3)
    assert shard.uri == "gs://in-bucket/runs/pass1/run.1/attempt-2/input-00003.jsonl"
    assert layout.key_index_of(shard).uri == "gs://in-bucket/runs/pass1/run.1/attempt-2/input-00003.keys.jsonl"
    assert layout.output_prefix(layout.default_output_base("out-bucket"), "pass1", "run.1", 2, 3) == \
        "gs://out-bucket/runs/pass1/run.1/attempt-2/shard-00003/"
    with pytest.raises(ValueError):
        layout.key_index_of(GcsPath("in-bucket", "runs/pass1/run.1/attempt-2/input-00003.keys.jsonl"))


@pytest.mark.parametrize("name, shard", [
    ("runs/pass1/r/attempt-1/input-00012.jsonl", 12),
    ("runs/pass1/r/attempt-1/input-00012.keys.jsonl", 12),
    ("runs/pass1/r/attempt-1/input-00012.jsonl.tmp", None),
    ("runs/pass1/r/attempt-1/other.jsonl", None),
])
def test_shard_of_input_and_key_index_objects(name, shard):
    assert layout.shard_of(name) == shard


@pytest.mark.parametrize("output, expected", [
    ("runs/pass1/run.1/attempt-2/shard-00003", "runs/pass1/run.1/attempt-2/input-00003.jsonl"),
    ("runs/pass1/run.1/attempt-2/shard-00003/prediction-model-2025-01-01T00:00:00.000000Z",
     "runs/pass1/run.1/attempt-2/input-00003.jsonl"),
    ("custom/prefix/pass1/r9/attempt-1/shard-00000/prediction-model-x/predictions_00001.jsonl",
     "runs/pass1/r9/attempt-1/input-00000.jsonl"),
    ("runs/pass1/run.1/attempt-2", None),
    ("runs/pass1/run.1/attempt-0/shard-00003", None),
    ("somewhere/else/prediction-model-x", None),
])
def test_an_output_directory_leads_back_to_its_input_shard(output, expected):
    found = layout.input_for_output(GcsPath("out-bucket", output), "in-bucket")
    assert (found.uri if found else None) == (f"gs://in-bucket/{expected}" if expected else None)


def test_row_ids_are_label_values_of_fixed_width_that_name_their_place():
    rid = layout.row_id(2, 3, 17)
    assert rid == "a2-s00003-r000017"
    assert len(layout.row_id(2, 99999, 200_000)) == len(rid)
    assert layout.row_position(rid, 2, 3) == 17
    assert layout.row_position(rid, 1, 3) is None and layout.row_position(rid, 2, 4) is None
    assert layout.row_position("A2-s00003-r000017", 2, 3) is None and layout.row_position(None, 2, 3) is None
    assert layout.attempt_and_shard(GcsPath("b", "runs/pass1/r/attempt-2/input-00003.jsonl")) == (2, 3)


@pytest.mark.parametrize("name, ok", [
    ("d/prediction-model-x/predictions.jsonl", True), ("d/predictions_00001.jsonl", True), ("prediction.jsonl", True),
    ("d/retry/keys-00000.jsonl", False), ("d/incremental.txt", False), ("d/predictions.jsonl.tmp", False),
    ("d/my-predictions.jsonl", False),
])
def test_the_prediction_file_rule_is_the_basename(name, ok):
    """One rule for the processor's discovery and request check and for poll_status's listing."""
    assert layout.is_prediction_file(name) is ok


def test_retry_keys_live_in_the_output_directorys_retry_folder():
    out = GcsPath("out-bucket", "runs/pass1/r1/attempt-1/shard-00000/prediction-model-x")
    key_file = layout.retry_keys_object(out, "abc-000000001")
    assert key_file.uri == f"{out.uri}/retry/keys-abc-000000001.jsonl"
    prefix = layout.retry_keys_prefix(out)
    assert key_file.name.startswith(prefix.name) and layout.is_retry_keys_object(key_file.name)
    assert not layout.is_prediction_file(key_file.name)


def test_key_index_dates_metadata_and_back():
    assert layout.key_index_dates("2024-03-01", "2024-03-04", 0) == {
        "call_date_min": "2024-03-01", "call_date_max": "2024-03-04", "call_date_nulls": "0"}
    assert layout.key_index_dates(None, None, 3) == {"call_date_nulls": "3"}
    assert layout.key_index_dates(None, None, None) == {}  # a plan recorded before the dates: unknown
    assert layout.dates_of_key_index(layout.key_index_dates("2024-03-01", "2024-03-04", 0)) == ("2024-03-01", "2024-03-04")


@pytest.mark.parametrize("metadata", [
    None, {},
    {"call_date_min": "2024-03-01", "call_date_max": "2024-03-04"},                            # no NULL count
    {"call_date_min": "2024-03-01", "call_date_max": "2024-03-04", "call_date_nulls": "2"},    # NULL call dates
    {"call_date_nulls": "0"},                                                                  # no dates at all
    {"call_date_min": "2024-03-05", "call_date_max": "2024-03-04", "call_date_nulls": "0"},    # out of order
    {"call_date_min": "2024-3-1", "call_date_max": "2024-03-04", "call_date_nulls": "0"},      # not ISO
])
def test_a_key_index_without_sound_dates_has_none(metadata):
    assert layout.dates_of_key_index(metadata) is None
