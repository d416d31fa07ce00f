"""What BigQuery refuses in a load job's data, as the local stack enforces it
(infra/local/bigquery_load_rules.py): a JSON field the schema lacks fails the job ("No such field")
unless the load sets ignoreUnknownValues."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from infra.local import bigquery_load_rules as rules


def _config(fmt="NEWLINE_DELIMITED_JSON", ignore=None, fields=("phone_number_token",), bad=None, updates=None):
    schema = SimpleNamespace(fields=[SimpleNamespace(name=n) for n in fields]) if fields else None
    return SimpleNamespace(sourceFormat=fmt, ignoreUnknownValues=ignore, schema_=schema, maxBadRecords=bad,
                           schemaUpdateOptions=updates)


def test_a_field_the_schema_lacks_is_named_unless_unknown_values_are_ignored():
    line = b'{"row_id": "a1-s00000-r000001", "Phone_Number_Token": "t"}\n'
    assert rules.unknown_field(_config(), line) == "row_id"
    assert rules.unknown_field(_config(ignore=True), line) is None
    assert rules.unknown_field(_config(), b'{"PHONE_NUMBER_TOKEN": "t"}') is None  # names are case-insensitive


def test_other_formats_no_schema_and_lines_that_are_no_object_are_not_checked():
    line = b'{"other": 1}'
    assert rules.unknown_field(_config(fmt="CSV"), line) is None
    assert rules.unknown_field(_config(fields=()), line) is None
    assert rules.unknown_field(_config(), b"[1, 2]") is None
    assert rules.unknown_field(_config(), b"not json") is None


def test_loads_that_accept_bad_rows_or_add_fields_are_not_refused():
    line = b'{"row_id": "r", "phone_number_token": "t"}'
    assert rules.unknown_field(_config(bad=1), line) is None  # BigQuery skips the row
    assert rules.unknown_field(_config(updates=["ALLOW_FIELD_ADDITION"]), line) is None  # BigQuery adds it
    assert rules.unknown_field(_config(updates=["ALLOW_FIELD_RELAXATION"]), line) == "row_id"


@pytest.mark.stack
def test_the_stack_fails_a_load_with_an_unknown_field_and_loads_it_when_told_to_ignore(
        bigquery_client, storage_client, layout):
    from google.api_core import exceptions
    from google.cloud import bigquery

    name = f"load-rules/{uuid.uuid4().hex}.ndjson"
    storage_client.bucket(layout.output_bucket).blob(name).upload_from_string(
        b'{"row_id": "r1", "phone_number_token": "t1"}\n{"row_id": "r2", "phone_number_token": "t2"}\n')
    table = bigquery.Table(f"{layout.project}.{layout.dataset}.load_rules_{uuid.uuid4().hex[:8]}",
                           schema=[bigquery.SchemaField("phone_number_token", "STRING")])
    bigquery_client.create_table(table)
    uri = f"gs://{layout.output_bucket}/{name}"
    try:
        strict = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON", schema=table.schema)
        with pytest.raises(exceptions.BadRequest, match="No such field: row_id"):
            bigquery_client.load_table_from_uri(uri, table, job_config=strict, retry=None).result()
        lenient = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON", schema=table.schema,
                                         ignore_unknown_values=True)
        bigquery_client.load_table_from_uri(uri, table, job_config=lenient, retry=None).result()
        rows = sorted(r["phone_number_token"] for r in bigquery_client.list_rows(table))
        assert rows == ["t1", "t2"]
    finally:
        bigquery_client.delete_table(table, not_found_ok=True)
