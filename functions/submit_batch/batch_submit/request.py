"""The submit_batch request, validated at the door: every field typed, sized and checked, unknown
fields refused (a typo such as "forse" must not be silently ignored)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from batch_submit.config import SubmitConfig
from shared.config import Settings
from shared.errors import ValidationError
from shared.identifiers import GcsPath, TableRef, parse_gcs_uri
from shared.validation import get_bool, get_choice, get_float, get_int, get_str, run_identity

MODES = ("submit", "retry_failed")
FIELDS = frozenset({"run_id", "batch_type", "source", "model", "output_prefix", "force", "mode",
                    "prompt_version", "max_requests_per_job", "max_bytes_per_job", "max_transcript_chars",
                    "max_requests_per_run", "wait_seconds", "retry_deadline_seconds"})
SOURCE_FIELDS = frozenset({"table", "date_from", "date_to", "days_back", "uri"})
# days_back N: the N whole days (UTC) before today. A year bounds what one run may read.
MAX_DAYS_BACK = 366
# Publisher model ids such as gemini-2.5-flash or gemini-2.0-flash-001.
MODEL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.@_-]{0,127}$")
MAX_WAIT_SECONDS = 540.0
MAX_RETRY_DEADLINE_SECONDS = 300.0


@dataclass(frozen=True)
class TableSource:
    table: TableRef
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    days_back: int | None = None  # as asked: a resumed call after midnight continues the same run

    def spec(self) -> dict:
        """The source as the caller gave it (what a resumed call must repeat)."""
        if self.days_back is not None:
            return {"table": self.table.id, "days_back": self.days_back}
        return self.describe()

    def describe(self) -> dict:
        return {"table": self.table.id, "date_from": _iso(self.date_from), "date_to": _iso(self.date_to)}


@dataclass(frozen=True)
class GcsSource:
    path: GcsPath

    def describe(self) -> dict:
        return {"uri": self.path.uri}


@dataclass(frozen=True)
class SubmitRequest:
    run_id: str
    batch_type: str
    mode: str
    source: TableSource | GcsSource | None
    model: str | None  # None: the configured model (retry_failed: the run's model)
    output_base: GcsPath | None
    force: bool
    prompt_version: str
    max_requests_per_job: int
    max_bytes_per_job: int
    max_transcript_chars: int
    max_requests_per_run: int
    wait_seconds: float
    retry_deadline_seconds: float | None


def parse_submit(body: dict, settings: Settings, config: SubmitConfig, today: dt.date | None = None) -> SubmitRequest:
    """Validate a submit body; raises ValidationError naming the first bad field. `today` (UTC,
    default: the current date) resolves a relative source.days_back into a date range."""
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(unknown)}", field=unknown[0],
                              details={"allowed": sorted(FIELDS)})
    run_id, batch_type = run_identity(body, required=True)
    mode = get_choice(body, "mode", MODES, default="submit")
    today = today or dt.datetime.now(dt.timezone.utc).date()
    source = _source(body.get("source"), settings, today) if mode == "submit" else None
    if mode == "retry_failed" and body.get("source") is not None:
        raise ValidationError("'source' is not used with mode retry_failed", field="source")
    output_prefix = get_str(body, "output_prefix", max_len=900)
    return SubmitRequest(
        run_id=run_id, batch_type=batch_type, mode=mode, source=source,
        model=get_str(body, "model", pattern=MODEL_PATTERN, max_len=128),
        output_base=parse_gcs_uri(output_prefix, "output_prefix", settings.allowed_buckets) if output_prefix else None,
        force=get_bool(body, "force"),
        prompt_version=get_str(body, "prompt_version", default=config.prompt_version(batch_type), max_len=8),
        max_requests_per_job=_lowered(body, "max_requests_per_job", config.max_requests_per_job),
        max_bytes_per_job=_lowered(body, "max_bytes_per_job", config.max_bytes_per_job),
        max_transcript_chars=_lowered(body, "max_transcript_chars", config.max_transcript_chars),
        max_requests_per_run=_lowered(body, "max_requests_per_run", config.max_requests_per_run),
        wait_seconds=get_float(body, "wait_seconds", default=config.wait_seconds, minimum=0,
                               maximum=MAX_WAIT_SECONDS),
        retry_deadline_seconds=get_float(body, "retry_deadline_seconds", minimum=0.1,
                                         maximum=MAX_RETRY_DEADLINE_SECONDS),
    )


def _lowered(body: dict, field: str, ceiling: int) -> int:
    """A limit the request may lower, never raise."""
    return get_int(body, field, default=ceiling, minimum=1, maximum=ceiling)


def _source(value: object, settings: Settings, today: dt.date) -> TableSource | GcsSource:
    if value is None:
        raise ValidationError("'source' is required", field="source")
    if not isinstance(value, dict):
        raise ValidationError("'source' must be an object with 'table' or 'uri'", field="source")
    unknown = sorted(set(value) - SOURCE_FIELDS)
    if unknown:
        raise ValidationError(f"unknown source field(s): {', '.join(unknown)}", field=f"source.{unknown[0]}")
    if ("table" in value) == ("uri" in value):
        raise ValidationError("'source' needs exactly one of 'table' or 'uri'", field="source")
    if "uri" in value:
        dated = [key for key in ("date_from", "date_to", "days_back") if key in value]
        if dated:
            raise ValidationError(f"'{dated[0]}' applies to a table source only", field=f"source.{dated[0]}")
        return GcsSource(parse_gcs_uri(value["uri"], "source.uri", settings.allowed_buckets))
    table = _table(value["table"], settings)
    if value.get("days_back") is not None:
        return TableSource(table, *_days_back(value, today), days_back=value["days_back"])
    date_from, date_to = _date(value, "date_from"), _date(value, "date_to")
    if date_from and date_to and date_from > date_to:
        raise ValidationError("'source.date_from' is after 'source.date_to'", field="source.date_from")
    return TableSource(table, date_from, date_to)


def _table(value: object, settings: Settings) -> TableRef:
    """project.dataset.table, dataset.table or table (the default dataset), every part validated."""
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise ValidationError("'source.table' must be a table name", field="source.table")
    parts = value.split(".")
    if len(parts) > 3:
        raise ValidationError("'source.table' must be [project.][dataset.]table", field="source.table")
    project, dataset = settings.project, settings.dataset
    if len(parts) == 3:
        project, dataset = parts[0], parts[1]
    elif len(parts) == 2:
        dataset = parts[0]
    return TableRef.of(project, dataset, parts[-1], field="source.table")


def _days_back(source: dict, today: dt.date) -> tuple[dt.date, dt.date]:
    """days_back N -> (today - N, today - 1): whole days only. A nightly trigger with days_back 1
    reads yesterday; today's calls are still arriving and belong to tomorrow's run."""
    if source.get("date_from") is not None or source.get("date_to") is not None:
        raise ValidationError("give either 'days_back' or 'date_from'/'date_to'", field="source.days_back")
    days = source["days_back"]
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS_BACK:
        raise ValidationError(f"'source.days_back' must be a whole number of days from 1 to {MAX_DAYS_BACK}",
                              field="source.days_back")
    return today - dt.timedelta(days=days), today - dt.timedelta(days=1)


def _date(source: dict, field: str) -> dt.date | None:
    value = source.get(field)
    if value is None:
        return None
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"'source.{field}' must be a date YYYY-MM-DD", field=f"source.{field}") from None


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None
