"""Parameterised BigQuery reads (the end-of-run reconcile, reconcile.py)."""

from __future__ import annotations

from typing import Iterator, Sequence

from shared.retry import call_with_retry

# Values per IN UNNEST(@list) query: a query request is limited to 1 MB of text and parameters, and
# 10,000 tokens of about 40 characters stay well below it.
MAX_PARAM_VALUES = 10_000


def batches(values: Sequence, size: int = MAX_PARAM_VALUES) -> Iterator[Sequence]:
    """values in slices of at most size."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


def query_rows(sql: str, params: list, client=None) -> list:
    """Run a read-only query with parameters and return its rows (retried whole on transient
    errors: a read can be repeated safely)."""
    from google.cloud import bigquery

    if client is None:
        from shared.clients import bigquery_client

        client = bigquery_client()
    config = bigquery.QueryJobConfig(query_parameters=params)
    # query_and_wait: one jobs.query round trip for a short query (no job polling).
    # retry/job_retry None: the client's own retries wait up to 600 s; shared.retry bounds an outage.
    return call_with_retry(lambda: list(client.query_and_wait(sql, job_config=config, retry=None, job_retry=None)))


def array_param(name: str, values: Sequence[str]):
    from google.cloud import bigquery

    return bigquery.ArrayQueryParameter(name, "STRING", list(values))


def scalar_param(name: str, kind: str, value):
    from google.cloud import bigquery

    return bigquery.ScalarQueryParameter(name, kind, value)
