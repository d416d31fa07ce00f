"""Table schemas, read once per call, and per-column value converters built from them.

A converter turns a model value into what the column accepts, or returns FAIL: the caller then keeps
the original value in the `extra` JSON column and counts it, so nothing is silently lost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Callable

from shared.errors import NotFound
from shared.identifiers import TableRef
from shared.retry import call_with_retry

FAIL = object()  # sentinel: the value does not fit the column
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
TRUE_WORDS = frozenset({"true", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "no", "n", "0"})

Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class TableInfo:
    """What the processor needs from a table: its schema, column facts and creation time."""

    ref: TableRef
    schema: tuple  # bigquery.SchemaField
    columns: frozenset[str]
    json_columns: frozenset[str]
    created: str | None = None
    # (column, its type) when the table is partitioned on a column (time-unit partitioning), else None
    partitioning: tuple[str, str] | None = None


def table_info(ref: TableRef, client=None) -> TableInfo:
    """The table's schema, read once per call. Not cached across calls on purpose: a table can be
    dropped and recreated under a live instance, and its creation time goes into load job ids (a
    recreated table must not be mistaken for one that already holds a chunk)."""
    from google.api_core import exceptions as gexc

    if client is None:
        from shared.clients import bigquery_client

        client = bigquery_client()
    try:
        # retry=None: the client's own retry waits up to 600 s; shared.retry bounds the outage.
        table = call_with_retry(client.get_table, ref.id, retry=None)
    except gexc.NotFound:
        raise NotFound(f"table {ref.id} does not exist", details={"table": ref.id}) from None
    return TableInfo(ref, tuple(table.schema), frozenset(f.name for f in table.schema),
                     frozenset(f.name for f in table.schema if f.field_type == "JSON"),
                     table.created.isoformat() if table.created else None, partition_column(table))


def partition_column(table) -> tuple[str, str] | None:
    """(column, type) of a table partitioned on a column by time unit; None when it is not, or by
    ingestion time (no column: _PARTITIONTIME)."""
    field = table.time_partitioning.field if table.time_partitioning else None
    types = {f.name: f.field_type for f in table.schema}
    return (str(field), str(types[field])) if field in types else None


def converters(fields, skip: frozenset[str] = frozenset()) -> dict[str, Converter]:
    """Column name -> converter for every field not in skip."""
    return {f.name: converter_for(f) for f in fields if f.name not in skip}


# Python types a column takes exactly as they are, by BigQuery type (NULLABLE and REQUIRED columns).
# The converter would return such a value unchanged; the row builder skips the call (once per
# answer field of every output line).
_UNCHANGED = {"STRING": (str,), "BOOL": (bool,), "BOOLEAN": (bool,),
              "JSON": (str, int, float, bool, list, dict)}


def unchanged_types(fields, skip: frozenset[str] = frozenset()) -> dict[str, frozenset[type]]:
    """Column name -> the value types its converter returns unchanged (None included), for every
    non-repeated field not in skip."""
    return {f.name: frozenset((type(None), *_UNCHANGED.get(f.field_type, ()))) for f in fields
            if f.name not in skip and f.mode != "REPEATED"}


def converter_for(field) -> Converter:
    """The converter of one SchemaField, honouring REPEATED and RECORD."""
    if field.field_type in ("RECORD", "STRUCT"):
        inner = converters(field.fields)
        base = lambda value: _record(value, inner)  # noqa: E731
    else:
        base = SCALARS.get(field.field_type, _string)
    if field.mode == "REPEATED":
        return lambda value: _repeated(value, base)
    return lambda value: None if value is None else base(value)


def _repeated(value: Any, base: Converter) -> Any:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]  # a lone value is a list of one
    out = []
    for item in items:
        if item is None:
            return FAIL  # BigQuery arrays cannot hold NULL
        converted = base(item)
        if converted is FAIL:
            return FAIL
        out.append(converted)
    return out


def _record(value: Any, inner: dict[str, Converter]) -> Any:
    if not isinstance(value, dict) or not set(value) <= set(inner):
        return FAIL
    out = {}
    for name, item in value.items():
        converted = inner[name](item)
        if converted is FAIL:
            return FAIL
        out[name] = converted
    return out


def _string(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return FAIL


def _integer(value: Any) -> Any:
    if type(value) is int and INT64_MIN <= value <= INT64_MAX:  # the usual case first
        return value
    if isinstance(value, bool):
        return FAIL
    if isinstance(value, float):
        if not value.is_integer():
            return FAIL
        value = int(value)
    elif isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            return FAIL
    if isinstance(value, int) and INT64_MIN <= value <= INT64_MAX:
        return value
    return FAIL


def _float(value: Any) -> Any:
    if isinstance(value, bool):
        return FAIL
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return FAIL
    else:
        return FAIL
    return number if math.isfinite(number) else FAIL  # JSON has no NaN or Infinity


def _numeric(value: Any) -> Any:
    number = _float(value)
    return FAIL if number is FAIL else (value.strip() if isinstance(value, str) else str(value))


def _boolean(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return FAIL


def _parser(parse: Callable[[str], Any]) -> Converter:
    def convert(value: Any) -> Any:
        if not isinstance(value, str):
            return FAIL
        text = value.strip()
        try:
            parse(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            return FAIL
        return text

    return convert


def _json(value: Any) -> Any:
    return value


SCALARS: dict[str, Converter] = {
    "STRING": _string,
    "INTEGER": _integer, "INT64": _integer,
    "FLOAT": _float, "FLOAT64": _float,
    "NUMERIC": _numeric, "BIGNUMERIC": _numeric,
    "BOOLEAN": _boolean, "BOOL": _boolean,
    "TIMESTAMP": _parser(datetime.fromisoformat), "DATETIME": _parser(datetime.fromisoformat),
    "DATE": _parser(date.fromisoformat), "TIME": _parser(time.fromisoformat),
    "JSON": _json,
}
