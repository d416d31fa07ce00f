"""What BigQuery refuses in a load job's data and local-bigquery lets through.

- A JSON field the schema does not have: local-bigquery reads only the schema's columns and drops
  the rest; BigQuery fails the job ("No such field: …") unless the load sets `ignoreUnknownValues`.
  Checked on the first line of each source (a stand-in's check: BigQuery looks at every row; a file
  whose rows share their fields, as the functions' objects do, is caught by its first line).

Pure (standard library only, the emulator's Python 3.13 environment): bigquery_gcs.py calls it in
the emulator's process for each downloaded source, and tests call it directly.
"""

from __future__ import annotations

import json

FIRST_LINE_BYTES = 1024 * 1024  # a first line longer than this is not checked


def unknown_field(config, first_line: bytes) -> str | None:
    """The first top-level field of a NEWLINE_DELIMITED_JSON line that the load's schema lacks
    (compared case-insensitively, as BigQuery names columns), when the load does not ignore unknown
    values; None otherwise (another format, no schema given, a line that is not a JSON object, a
    load that accepts bad rows (maxBadRecords: BigQuery skips the row) or adds fields to the table
    (schemaUpdateOptions ALLOW_FIELD_ADDITION))."""
    if (getattr(config, "sourceFormat", None) or "CSV") != "NEWLINE_DELIMITED_JSON":
        return None
    if getattr(config, "ignoreUnknownValues", None) or getattr(config, "maxBadRecords", None):
        return None
    if "ALLOW_FIELD_ADDITION" in (getattr(config, "schemaUpdateOptions", None) or []):
        return None
    schema = getattr(config, "schema_", None)
    fields = (schema and schema.fields) or []
    if not fields:
        return None  # autodetect or the table's own schema: not checked here
    try:
        row = json.loads(first_line)
    except ValueError:
        return None  # a malformed line is the emulator's own error to report
    if not isinstance(row, dict):
        return None
    known = {field.name.casefold() for field in fields}
    return next((name for name in row if name.casefold() not in known), None)


def first_line(path: str) -> bytes:
    """The first line of a local file (at most FIRST_LINE_BYTES)."""
    with open(path, "rb") as source:
        return source.readline(FIRST_LINE_BYTES)


def no_such_field_message(uri: str, name: str) -> str:
    """BigQuery's words for a load row with a field the schema lacks."""
    return (f"Error while reading data, error message: JSON table encountered too many errors, giving up. "
            f"Rows: 1; errors: 1. Please look into the errors[] collection for more details. File: {uri}; "
            f"JSON parsing error in row starting at position 0: No such field: {name}.")
