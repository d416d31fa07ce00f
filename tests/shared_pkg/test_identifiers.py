import pytest

from shared.errors import ValidationError
from shared.identifiers import GcsPath, TableRef, parse_gcs_uri


def test_table_ref_quotes_validated_names():
    ref = TableRef.of("my-project-1", "call_analytics", "pass1_analysis")
    assert ref.sql == "`my-project-1.call_analytics.pass1_analysis`"
    assert ref.id == "my-project-1.call_analytics.pass1_analysis"


@pytest.mark.parametrize("dataset, table, field", [
    ("ds.t; DROP TABLE x", "t", "dataset"),
    ("ds", "t`; DROP TABLE x; --", "output_table"),
    ("ds", "t\nx", "output_table"),
    ("ds", "", "output_table"),
    ("", "t", "dataset"),
])
def test_hostile_identifiers_are_refused_naming_the_field(dataset, table, field):
    with pytest.raises(ValidationError) as info:
        TableRef.of("my-project-1", dataset, table, field="output_table")
    assert info.value.details["field"] == field


def test_project_ids():
    with pytest.raises(ValidationError):
        TableRef.of("Bad_Project", "ds", "t")
    assert TableRef.of("example.com:my-proj", "ds", "t").project == "example.com:my-proj"


def test_gcs_uri_in_allowed_bucket():
    path = parse_gcs_uri("gs://out-bucket/runs/a/", "output_dir", frozenset({"out-bucket"}))
    assert path == GcsPath("out-bucket", "runs/a")
    assert path.join("retry", "x.jsonl").uri == "gs://out-bucket/runs/a/retry/x.jsonl"


@pytest.mark.parametrize("uri", ["http://x/y", "gs://other-bucket/x", "gs://UPPER/x", "gs://out-bucket/a/../b", 42])
def test_gcs_uri_refused(uri):
    with pytest.raises(ValidationError):
        parse_gcs_uri(uri, "output_dir", frozenset({"out-bucket"}))
