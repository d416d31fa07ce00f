"""BigQuery rows for records (output table) and dead letters (dead-letter table).

The plan is built once per (output, dead letter, lookup) table set from their schemas: which output
columns the processor fills itself (system columns), which come from the lookup, and a converter for
every other column, the ones the model's answer fills. Answer fields without a column, or whose
value does not convert, go to the JSON column `extra`; never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from pass1_processor.extract import DeadLetter, Record
from pass1_processor.schema import FAIL, Converter, TableInfo, converters
from shared.errors import ValidationError

EXTRA_COLUMN = "extra"
SYSTEM_COLUMNS = frozenset({
    "composite_key", "run_id", "batch_type", "batch_job", "phone_number_token", "interaction_id",
    EXTRA_COLUMN, "lookup_status", "model_version", "finish_reason", "prompt_tokens", "candidates_tokens",
    "total_tokens", "repaired", "source_uri", "line_number", "processed_at",
})
MATCHED, UNMATCHED = "matched", "unmatched"


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

    @classmethod
    def build(cls, output: TableInfo, dead: TableInfo, lookup: TableInfo) -> "RowPlan":
        if EXTRA_COLUMN not in output.json_columns:
            raise ValidationError(f"output table {output.ref.id} has no JSON column '{EXTRA_COLUMN}' "
                                  "for answer fields without a column", field="output_table")
        lookup_columns = tuple(sorted((lookup.columns & output.columns) - SYSTEM_COLUMNS))
        response = converters(output.schema, skip=SYSTEM_COLUMNS | set(lookup_columns))
        return cls(output, dead, lookup_columns, response, SYSTEM_COLUMNS - output.columns)

    def output_row(self, record: Record, ctx: RowContext, looked_up: dict | None) -> tuple[dict, int]:
        """The output row of a record and how many answer values did not convert (kept in extra)."""
        row = {
            "composite_key": record.composite_key, "run_id": ctx.run_id, "batch_type": ctx.batch_type,
            "batch_job": ctx.batch_job, "phone_number_token": record.phone_token,
            "interaction_id": record.interaction_id,
            "lookup_status": MATCHED if looked_up is not None else UNMATCHED,
            "model_version": record.model_version, "finish_reason": record.finish_reason,
            "prompt_tokens": record.prompt_tokens, "candidates_tokens": record.candidates_tokens,
            "total_tokens": record.total_tokens, "repaired": record.repaired,
            "source_uri": ctx.source_uri, "line_number": record.line_number, "processed_at": ctx.processed_at,
        }
        if looked_up:
            row.update(looked_up)
        extra, unconverted = None, 0
        response = self.response
        for name, value in record.payload.items():
            convert = response.get(name)
            converted = FAIL if convert is None else convert(value)
            if converted is FAIL:
                if extra is None:
                    extra = {}
                extra[name] = value
                unconverted += convert is not None
            else:
                row[name] = converted
        row[EXTRA_COLUMN] = extra
        for name in self.absent_system:
            row.pop(name, None)
        return row, unconverted

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
