"""BigQuery's load-job limit as the local stack enforces it (infra/local/bigquery_limits.py): at most
10,000 source URIs in one load job, refused with 400 invalid, as BigQuery refuses it."""

from __future__ import annotations

import json

import pytest

from infra.local import bigquery_limits as limits


def _load(n: int) -> dict:
    return {"jobReference": {"jobId": "j"},
            "configuration": {"load": {"sourceUris": [f"gs://b/o-{i}-*" for i in range(n)],
                                       "destinationTable": {"projectId": "p", "datasetId": "d", "tableId": "t"}}}}


def test_a_load_of_at_most_10000_uris_passes_and_one_more_is_refused():
    assert limits.check_load("job", _load(limits.MAX_SOURCE_URIS)) is None
    refusal = limits.check_load("job", _load(limits.MAX_SOURCE_URIS + 1))
    assert refusal.status == 400
    assert json.loads(refusal.body)["error"]["errors"][0]["reason"] == "invalid"


def test_queries_and_uploads_have_no_source_uris_to_check():
    assert limits.check_load("query", {"query": "SELECT 1"}) is None
    assert limits.check_load("upload", {"configuration": {"load": {}}}) is None
    assert limits.check_load("job", {"configuration": {"query": {"query": "SELECT 1"}}}) is None


@pytest.mark.stack
def test_the_stack_refuses_a_load_of_too_many_uris(bigquery_client, layout):
    from google.api_core import exceptions
    from google.cloud import bigquery

    uris = [f"gs://{layout.output_bucket}/none-{i}.ndjson" for i in range(limits.MAX_SOURCE_URIS + 1)]
    config = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON")
    with pytest.raises(exceptions.BadRequest, match="Too many source URIs"):
        bigquery_client.load_table_from_uri(uris, f"{layout.project}.{layout.dataset}.never_made",
                                            job_config=config, retry=None).result()
