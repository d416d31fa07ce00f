"""Create (and reset) the stack's buckets, BigQuery dataset and tables from the schemas in infra/schemas.

Firestore needs no set-up: the emulator serves the (default) database as soon as it runs.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from infra.local.layout import REPO_ROOT, StackLayout

SCHEMA_DIR = REPO_ROOT / "infra" / "schemas"


def table_schemas(layout: StackLayout) -> dict[str, Path]:
    """Table name -> schema file, for every table of the stack's dataset."""
    return {
        layout.transcripts_table: SCHEMA_DIR / "transcripts.json",
        layout.lookup_table: SCHEMA_DIR / "interaction_lookup.json",
        layout.output_table: SCHEMA_DIR / "pass1_analysis.json",
        layout.dead_letter_table: SCHEMA_DIR / "pass1_dead_letter.json",
    }


def load_schema(path: Path):
    """A schema file as a list of bigquery.SchemaField."""
    from google.cloud import bigquery

    return [bigquery.SchemaField.from_api_repr(field) for field in json.loads(path.read_text())]


# The scratch dataset (`<dataset>_scratch`: submit plans, batch_submit/plan.py) drops its tables after
# this long; a run's submission ends within hours. infra/deploy.py creates it the same way.
SCRATCH_TABLE_EXPIRATION_SECONDS = 3 * 24 * 3600


def table_options(path: Path) -> dict:
    """The table's options file beside its schema (transcripts.options.json), or {}."""
    options = path.with_name(path.name.removesuffix(".json") + ".options.json")
    return json.loads(options.read_text()) if options.exists() else {}


def new_table(ref: str, schema_path: Path):
    """A bigquery.Table with the schema and the options (partitioning, clustering) of its files."""
    from google.cloud import bigquery

    table = bigquery.Table(ref, schema=load_schema(schema_path))
    options = table_options(schema_path)
    if "time_partitioning" in options:
        part = options["time_partitioning"]
        table.time_partitioning = bigquery.TimePartitioning(type_=part.get("type", "DAY"), field=part["field"])
    if options.get("clustering_fields"):
        table.clustering_fields = options["clustering_fields"]
    return table


def storage_client(layout: StackLayout):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project=layout.project, credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": layout.env_vars()["STORAGE_EMULATOR_HOST"]})


def bigquery_client(layout: StackLayout):
    """A client of the stack's BigQuery with the dataset's location as its default, as
    shared.clients.bigquery_client builds it: the stack refuses a job fetched without it."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(project=layout.project, credentials=AnonymousCredentials(), location=layout.bq_location,
                           client_options={"api_endpoint": layout.env_vars()["BIGQUERY_EMULATOR_HOST"]})


def provision(layout: StackLayout) -> None:
    """Create buckets, dataset and tables; existing ones are kept."""
    gcs = storage_client(layout)
    for bucket in (layout.input_bucket, layout.output_bucket):
        if gcs.lookup_bucket(bucket) is None:
            gcs.create_bucket(bucket)
    create_tables(layout)
    create_topic(layout)


def pubsub_url(layout: StackLayout, path: str) -> str:
    return f"http://127.0.0.1:{layout.pubsub_port}/v1/projects/{layout.project}/{path}"


def create_topic(layout: StackLayout) -> None:
    """The run-events topic and the stack's subscription to it, over the emulator's REST surface
    (no client import at start-up). An existing one (409) is kept."""
    topic = f"projects/{layout.project}/topics/{layout.run_events_topic}"
    for path, body in ((f"topics/{layout.run_events_topic}", {}),
                       (f"subscriptions/{layout.run_events_subscription}", {"topic": topic})):
        request = urllib.request.Request(pubsub_url(layout, path), data=json.dumps(body).encode(), method="PUT",
                                         headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=30).close()
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise


def ensure_dataset(bq, layout: StackLayout, name: str | None = None,
                   table_expiration_seconds: int | None = None) -> None:
    """The stack's dataset (or `name`), in the stack's BigQuery location. A dataset's location cannot
    change: one left in another location by an older stack (the data directory outlives `up`) is
    dropped and created again, empty."""
    from google.api_core.exceptions import NotFound
    from google.cloud import bigquery

    ref = f"{layout.project}.{name or layout.dataset}"
    try:
        existing = bq.get_dataset(ref)
    except NotFound:
        existing = None
    if existing is not None and (existing.location or "").casefold() == layout.bq_location.casefold():
        return
    if existing is not None:
        bq.delete_dataset(ref, delete_contents=True)
    dataset = bigquery.Dataset(ref)
    dataset.location = layout.bq_location
    if table_expiration_seconds:
        dataset.default_table_expiration_ms = table_expiration_seconds * 1000
    bq.create_dataset(dataset, exists_ok=True)


def create_tables(layout: StackLayout) -> None:

    bq = bigquery_client(layout)
    ensure_dataset(bq, layout)
    ensure_dataset(bq, layout, layout.dataset + "_scratch", SCRATCH_TABLE_EXPIRATION_SECONDS)
    for table, schema_path in table_schemas(layout).items():
        ref = f"{layout.project}.{layout.dataset}.{table}"
        bq.create_table(new_table(ref, schema_path), exists_ok=True)


def reset(layout: StackLayout) -> None:
    """Empty Firestore, the buckets and the tables: the state a test starts from."""
    reset_firestore(layout)
    reset_buckets(layout)
    reset_tables(layout)


def reset_firestore(layout: StackLayout) -> None:
    url = (f"http://127.0.0.1:{layout.firestore_port}/emulator/v1/projects/{layout.project}"
           "/databases/(default)/documents")
    urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10).close()


def reset_buckets(layout: StackLayout) -> None:
    gcs = storage_client(layout)
    for bucket in (layout.input_bucket, layout.output_bucket):
        for blob in gcs.list_blobs(bucket):
            blob.delete()


def _partition_field(table) -> str | None:
    return table.time_partitioning.field if table.time_partitioning else None


def reset_tables(layout: StackLayout) -> None:
    """Drop stray tables and recreate the stack's tables that hold rows (the emulator keeps
    num_rows current on inserts and loads); untouched tables are left as they are, which keeps the
    per-test reset well under a second."""

    bq = bigquery_client(layout)
    dataset = f"{layout.project}.{layout.dataset}"
    schemas = table_schemas(layout)
    present = set()
    for item in bq.list_tables(dataset):
        present.add(item.table_id)
        if item.table_id not in schemas:
            bq.delete_table(item, not_found_ok=True)
            continue
        table = bq.get_table(item)
        wanted = new_table(table.reference, schemas[item.table_id])
        if (table.num_rows or [f.name for f in table.schema] != [f.name for f in wanted.schema]
                or _partition_field(table) != _partition_field(wanted)):
            bq.delete_table(item, not_found_ok=True)
            present.discard(item.table_id)
    for name, schema_path in schemas.items():
        if name not in present:
            bq.create_table(new_table(f"{dataset}.{name}", schema_path), exists_ok=True)
