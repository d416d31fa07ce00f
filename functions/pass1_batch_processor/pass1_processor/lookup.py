"""Enrichment: the lookup table's row for each (phone token, interaction id) of a chunk.

One parameterised query per chunk (`phone_number_token IN UNNEST(@tokens)`, split when the token list
is large); rows are matched on the token and the interaction id. A token with several rows (several
calls from one number) matches only the row of its interaction; several rows for the same pair are
resolved deterministically (the smallest serialized row wins), so that reruns agree.
"""

from __future__ import annotations

import base64
import re
from datetime import date, datetime, time
from decimal import Decimal
from typing import Iterable

import orjson

from pass1_processor.bq import array_param, batches, query_rows
from shared.identifiers import TableRef

COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")
TOKEN_COLUMN = "phone_number_token"
INTERACTION_COLUMN = "interaction_id"

LookupMap = dict[tuple[str, str], dict]


def fetch_lookup(table: TableRef, tokens: Iterable[str], columns: Iterable[str], client=None) -> LookupMap:
    """(phone token, interaction id) -> {column: JSON-ready value} for the given tokens."""
    wanted = sorted({c for c in columns if c not in (TOKEN_COLUMN, INTERACTION_COLUMN)})
    for name in wanted:  # column names go into SQL text: only plain identifiers do
        if not COLUMN.fullmatch(name):
            raise ValueError(f"unsafe column name {name!r}")
    select = ", ".join(f"`{c}`" for c in (TOKEN_COLUMN, INTERACTION_COLUMN, *wanted))
    sql = f"SELECT {select} FROM {table.sql} WHERE `{TOKEN_COLUMN}` IN UNNEST(@tokens)"
    found: LookupMap = {}
    for part in batches(sorted(set(tokens))):
        for row in query_rows(sql, [array_param("tokens", part)], client):
            key = (str(row[TOKEN_COLUMN]), str(row[INTERACTION_COLUMN]))
            values = {c: json_ready(row[c]) for c in wanted}
            if key not in found or _rank(values) < _rank(found[key]):
                found[key] = values
    return found


def _rank(values: dict) -> bytes:
    return orjson.dumps(values, option=orjson.OPT_SORT_KEYS)


def json_ready(value):
    """A BigQuery result value as JSON for a load or an insert (timestamps as RFC 3339)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list):
        return [json_ready(v) for v in value]
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    return value
