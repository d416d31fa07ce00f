"""BigQuery rows for records (output table) and dead letters (dead-letter table).

The plan is built once per (output, dead letter, lookup) table set from their schemas: which output
columns the processor fills itself (system columns), which come from the lookup, and a converter for
every other column, the ones the model's answer fills. Answer fields without a column, or whose
value does not convert, go to the JSON column `extra`; never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from pass1_processor.extract import RAW_LIMIT, DeadLetter, Record
from pass1_processor.schema import FAIL, Converter, TableInfo, converters, unchanged_types
from shared.errors import ValidationError

EXTRA_COLUMN = "extra"
SYSTEM_COLUMNS = frozenset({
    "composite_key", "run_id", "batch_type", "batch_job", "phone_number_token", "interaction_id",
    EXTRA_COLUMN, "lookup_status", "model_version", "finish_reason", "prompt_tokens", "candidates_tokens",
    "total_tokens", "repaired", "source_uri", "line_number", "processed_at",
})
MATCHED, UNMATCHED = "matched", "unmatched"
# Dead-letter reason of an answer holding a value no JSON writer can put in a row.
OUT_OF_RANGE = "number_out_of_range"


@dataclass(frozen=True)
class RowContext:
    """What every row of a chunk shares."""

    run_id: str
    batch_type: str
    batch_job: str | None
    source_uri: str
    processed_at: str


@dataclass(frozen=True)
class RowPlan:
    """How records become rows for one output table."""

    output: TableInfo
    dead: TableInfo
    lookup_columns: tuple[str, ...]
    response: dict[str, Converter]
    absent_system: frozenset[str]  # system columns this output table does not have
    unchanged: dict[str, frozenset[type]]  # per answer column: value types that need no converter
    string_lists: frozenset[str]  # REPEATED STRING answer columns: a list of str needs no converter
    lookup_partition: tuple[str, str] | None = None  # the lookup's partition column and its type

    @classmethod
    def build(cls, output: TableInfo, dead: TableInfo, lookup: TableInfo) -> "RowPlan":
        if EXTRA_COLUMN not in output.json_columns:
            raise ValidationError(f"output table {output.ref.id} has no JSON column '{EXTRA_COLUMN}' "
                                  "for answer fields without a column", field="output_table")
        lookup_columns = tuple(sorted((lookup.columns & output.columns) - SYSTEM_COLUMNS))
        skip = SYSTEM_COLUMNS | set(lookup_columns)
        string_lists = frozenset(f.name for f in output.schema if f.name not in skip and f.mode == "REPEATED"
                                 and f.field_type == "STRING")
        return cls(output, dead, lookup_columns, converters(output.schema, skip=skip),
                   SYSTEM_COLUMNS - output.columns, unchanged_types(output.schema, skip=skip), string_lists,
                   lookup.partitioning)

    def prepare(self, record: Record) -> Record | DeadLetter:
        """Serialize the record's own columns (everything but the chunk's context and the lookup)
        into record.fragment, and release its payload. Called as soon as a line is extracted, while
        its objects are still in the CPU cache: building and serializing rows later, once the whole
        chunk is in memory, costs several times more on a small cache. A value JSON cannot hold (an
        integer beyond 64 bits, from a repaired answer) dead-letters the line instead."""
        part, unconverted = self._record_columns(record)
        try:
            # Without its closing brace (row_bytes adds the rest), and a copy: a bytes object from
            # orjson keeps orjson's whole output buffer (about 8 KiB for a 1 KB row), which held
            # for a chunk's records added 35 MiB to the peak at 100 MB.
            fragment = orjson.dumps(part)[:-1]
        except TypeError as exc:  # orjson: "Integer exceeds 64-bit range"
            import json  # the standard library writes integers of any size: the dead letter keeps it

            return DeadLetter(record.line_number, OUT_OF_RANGE, str(exc), record.composite_key,
                              json.dumps(part, default=str, ensure_ascii=False)[:RAW_LIMIT])
        record.fragment, record.unconverted, record.payload = fragment, unconverted, None
        return record

    def _record_columns(self, record: Record) -> tuple[dict, int]:
        part = {
            "composite_key": record.composite_key, "phone_number_token": record.phone_token,
            "interaction_id": record.interaction_id, "model_version": record.model_version,
            "finish_reason": record.finish_reason, "prompt_tokens": record.prompt_tokens,
            "candidates_tokens": record.candidates_tokens, "total_tokens": record.total_tokens,
            "repaired": record.repaired, "line_number": record.line_number,
        }
        extra, unconverted = None, 0
        response, unchanged, string_lists = self.response, self.unchanged, self.string_lists
        for name, value in record.payload.items():
            kind = type(value)
            if kind in unchanged.get(name, ()) or (kind is list and name in string_lists
                                                   and not [v for v in value if type(v) is not str]):
                part[name] = value
                continue
            convert = response.get(name)
            converted = FAIL if convert is None else convert(value)
            if converted is FAIL:
                if extra is None:
                    extra = {}
                extra[name] = value
                unconverted += convert is not None
            else:
                part[name] = converted
        part[EXTRA_COLUMN] = extra
        for name in self.absent_system:
            part.pop(name, None)
        return part, unconverted

    # A staged row is assembled from bytes: the record's object without its closing brace
    # (record.fragment, never empty: the output table has `extra`), then context_fragment, starting
    # with its comma and closing the object. One copy per row, no dict.

    def context_fragment(self, ctx: RowContext) -> bytes:
        """The columns every row of a chunk shares and the row's closing brace, once per chunk."""
        part = {"run_id": ctx.run_id, "batch_type": ctx.batch_type, "batch_job": ctx.batch_job,
                "source_uri": ctx.source_uri, "processed_at": ctx.processed_at}
        members = orjson.dumps({k: v for k, v in part.items() if k not in self.absent_system})[1:-1]
        return b"," + members + b"}" if members else b"}"

    def staged_row(self, record: Record, context: bytes) -> bytes:
        """The staged row of a prepared record (a line of the file's load into the staging table):
        its own columns, its count of unconverted values when there are any, and the chunk's
        context. The lookup columns and lookup_status are the MERGE's (statements.merge_sql)."""
        if record.unconverted:
            return b"".join((record.fragment, b',"_unconverted":%d' % record.unconverted, context))
        return b"".join((record.fragment, context))

    def dead_row_bytes(self, dead: DeadLetter, ctx: RowContext) -> bytes:
        """dead_row serialized (a line of the file's dead-letter load)."""
        return orjson.dumps(self.dead_row(dead, ctx))

    def dead_row(self, dead: DeadLetter, ctx: RowContext) -> dict:
        """The dead-letter row of a line that did not become an output row."""
        row = {
            "composite_key": dead.composite_key, "reason": dead.reason, "detail": dead.detail,
            "source_uri": ctx.source_uri, "line_number": dead.line_number, "raw": dead.raw,
            "run_id": ctx.run_id, "batch_type": ctx.batch_type, "batch_job": ctx.batch_job,
            "processed_at": ctx.processed_at,
        }
        columns = self.dead.columns
        return {k: v for k, v in row.items() if k in columns}
