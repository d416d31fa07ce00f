"""BigQuery identifiers and Cloud Storage locations, validated strictly before use.

Table and dataset names cannot be query parameters, so they go into SQL text: only names that match
these patterns ever do, and they are always backquoted. Buckets are checked against the configured
allow list so that a request cannot make a function read or write someone else's data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.errors import ValidationError

# Project ids: 6-30 chars, lowercase letters, digits, hyphens; optionally domain-scoped.
PROJECT_PATTERN = re.compile(r"^(?:[a-z][a-z0-9.-]{0,62}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
# Datasets: letters, digits, underscores. Tables: we accept the same plus hyphens (no spaces,
# no unicode: stricter than BigQuery, on purpose).
DATASET_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$")
TABLE_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,1023}$")
BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
MAX_OBJECT_NAME = 1024


def check_project(value: str, field: str = "project_id") -> str:
    return _match(PROJECT_PATTERN, value, field, "a Google Cloud project id")


def check_dataset(value: str, field: str = "dataset") -> str:
    return _match(DATASET_PATTERN, value, field, "a BigQuery dataset name")


def check_table(value: str, field: str = "table") -> str:
    return _match(TABLE_PATTERN, value, field, "a BigQuery table name")


def _match(pattern: re.Pattern, value: str, field: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValidationError(f"'{field}' is not {what}", field=field)
    return value


@dataclass(frozen=True)
class TableRef:
    """A validated project.dataset.table."""

    project: str
    dataset: str
    table: str

    @classmethod
    def of(cls, project: str, dataset: str, table: str, field: str = "table") -> "TableRef":
        return cls(check_project(project, "project_id"), check_dataset(dataset, "dataset"),
                   check_table(table, field))

    @property
    def id(self) -> str:
        """project.dataset.table, as the client libraries take it."""
        return f"{self.project}.{self.dataset}.{self.table}"

    @property
    def sql(self) -> str:
        """The backquoted name for SQL text; safe because every part matched its pattern."""
        return f"`{self.project}.{self.dataset}.{self.table}`"


@dataclass(frozen=True)
class GcsPath:
    """gs://bucket/name, validated."""

    bucket: str
    name: str

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}" if self.name else f"gs://{self.bucket}"

    def join(self, *parts: str) -> "GcsPath":
        name = "/".join(p.strip("/") for p in (self.name, *parts) if p and p.strip("/"))
        return GcsPath(self.bucket, name)


def parse_gcs_uri(uri: object, field: str, allowed_buckets: tuple[str, ...] | frozenset[str] = ()) -> GcsPath:
    """Parse and check a gs:// URI; the bucket must be one of allowed_buckets when any are set."""
    if not isinstance(uri, str) or not uri.startswith("gs://"):
        raise ValidationError(f"'{field}' must be a gs:// URI", field=field)
    bucket, _, name = uri[5:].partition("/")
    if not BUCKET_PATTERN.fullmatch(bucket):
        raise ValidationError(f"'{field}' has an invalid bucket name", field=field)
    if len(name) > MAX_OBJECT_NAME or "\n" in name or "\r" in name or ".." in name.split("/"):
        raise ValidationError(f"'{field}' has an invalid object name", field=field)
    if allowed_buckets and bucket not in allowed_buckets:
        raise ValidationError(f"'{field}' is outside the configured buckets", field=field,
                              details={"bucket": bucket})
    return GcsPath(bucket, name.rstrip("/"))
