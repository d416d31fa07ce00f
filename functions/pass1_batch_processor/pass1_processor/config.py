"""The processor's request, validated at the door: body fields over the settings, which are read
once per process (shared.config.Settings for the deployment, settings.ProcessorSettings for the
processor's own). The tuning a request may override (chunk size, memory threshold, time budget,
write method, resume) is parsed apart from what names the work (parse_overrides), each error
naming its field.

Nothing here touches a service. The output directories named by the request are parsed here; those
that come from the run document (no `output_info` in the body) are resolved later, in scope.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pass1_processor.settings import MAX_CHUNK_SIZE, ProcessorSettings
from shared.config import Settings
from shared.errors import ValidationError
from shared.identifiers import GcsPath, TableRef, check_project, parse_gcs_uri
from shared.layout import is_prediction_file
from shared.validation import get_bool, get_choice, get_float, get_int, get_str, get_str_list, run_identity

WRITE_METHODS = ("load",)
# `streaming` (insertAll per chunk) was removed with the stage-then-merge write path (statements.py):
# streamed rows cannot be merged or deleted for about 30 minutes. Asked for, it is a 400 with this
# stable reason, so that a caller learns it instead of getting another write method silently.
REMOVED_WRITE_METHODS = {"streaming": "write_method_removed"}
# Bounds of the request's overrides (the settings' values are the defaults).
MIN_MEMORY_THRESHOLD_PERCENT, MAX_MEMORY_THRESHOLD_PERCENT = 1.0, 99.0
# 0 is allowed: one chunk per call (tests and step-by-step resumption).
MIN_TIME_BUDGET_SECONDS, MAX_TIME_BUDGET_SECONDS = 0.0, 3600.0


@dataclass(frozen=True)
class OutputDir:
    """An output directory of a batch job and, when known, the job's resource name."""

    path: GcsPath
    batch_job: str | None = None

    @property
    def uri(self) -> str:
        return self.path.uri

    def contains(self, file: GcsPath) -> bool:
        return file.bucket == self.path.bucket and file.name.startswith(self.path.name + "/")


@dataclass(frozen=True)
class ProcessorConfig:
    """Everything one call needs to know, validated."""

    run_id: str | None
    batch_type: str | None
    workflow_id: str | None
    output_dirs: tuple[OutputDir, ...]
    files: tuple[GcsPath, ...] | None
    output_table: TableRef
    lookup_table: TableRef
    dead_letter_table: TableRef
    chunk_size: int
    chunk_max_bytes: int
    memory_threshold_percent: float
    memory_limit_mb: int
    time_budget_seconds: float
    write_method: str
    # An operator's explicit "carry on": a run the processor failed (e.g. a table that refused a load,
    # fixed since) is processed again from its checkpoints instead of being submitted again.
    resume_failed: bool
    lease_seconds: float
    jobs_collection: str
    allowed_buckets: frozenset[str]
    input_bucket: str = ""  # the key indexes submit wrote beside the input shards (shared/layout.py)

    @classmethod
    def from_request(cls, body: dict, settings: Settings, tuning: ProcessorSettings | None = None) -> "ProcessorConfig":
        """Validate the body over the settings (tuning: the processor's, its defaults when None);
        raises ValidationError naming the first bad field."""
        tuning = tuning or ProcessorSettings()
        run_id, batch_type = run_identity(body, required=False)
        project = check_project(get_str(body, "project_id", default=settings.project), "project_id")
        dataset = get_str(body, "dataset", default=settings.dataset)
        dirs = parse_output_info(body.get("output_info"), settings.allowed_buckets)
        if not dirs and not run_id:
            raise ValidationError("'output_info' is required when no run_id is given", field="output_info")
        workflow_id = get_str(body, "workflow_id", max_len=256)
        files = _files(body, settings.allowed_buckets)
        tables = [_table(body, field, project, dataset, default) for field, default in (
            ("output_table", settings.output_table), ("lookup_table", settings.lookup_table),
            ("dead_letter_table", settings.dead_letter_table))]
        overrides = parse_overrides(body, tuning)
        return cls(
            run_id=run_id,
            batch_type=batch_type,
            workflow_id=workflow_id,
            output_dirs=dirs,
            files=files,
            output_table=tables[0],
            lookup_table=tables[1],
            dead_letter_table=tables[2],
            chunk_size=overrides.chunk_size,
            chunk_max_bytes=tuning.chunk_max_bytes,
            memory_threshold_percent=overrides.memory_threshold_percent,
            memory_limit_mb=tuning.memory_limit_mb,
            time_budget_seconds=overrides.time_budget_seconds,
            write_method=overrides.write_method,
            resume_failed=overrides.resume_failed,
            lease_seconds=tuning.lease_seconds,
            jobs_collection=settings.jobs_collection,
            allowed_buckets=settings.allowed_buckets,
            input_bucket=settings.input_bucket,
        )


@dataclass(frozen=True)
class Overrides:
    """What a request may set for itself, over the processor's settings."""

    chunk_size: int
    memory_threshold_percent: float
    time_budget_seconds: float
    write_method: str
    resume_failed: bool


def parse_overrides(body: dict, tuning: ProcessorSettings) -> Overrides:
    """The request's tuning, each absent field from `tuning`; raises ValidationError naming the
    first bad field (in this order)."""
    return Overrides(
        chunk_size=get_int(body, "chunk_size", default=tuning.chunk_size, minimum=1, maximum=MAX_CHUNK_SIZE),
        memory_threshold_percent=get_float(body, "memory_threshold_percent", default=tuning.memory_threshold_percent,
                                           minimum=MIN_MEMORY_THRESHOLD_PERCENT, maximum=MAX_MEMORY_THRESHOLD_PERCENT),
        time_budget_seconds=get_float(body, "time_budget_seconds", default=tuning.time_budget_seconds,
                                      minimum=MIN_TIME_BUDGET_SECONDS, maximum=MAX_TIME_BUDGET_SECONDS),
        write_method=_write_method(body),
        resume_failed=get_bool(body, "resume_failed", default=False),
    )


def _table(body: dict, field: str, project: str, dataset: str | None, default: str) -> TableRef:
    return TableRef.of(project, dataset or "", get_str(body, field, default=default) or "", field=field)


def _files(body: dict, allowed: frozenset[str]) -> tuple[GcsPath, ...] | None:
    uris = get_str_list(body, "files", max_items=1000)
    if uris is None:
        return None
    if not uris:
        raise ValidationError("'files' must not be empty when given", field="files")
    files = []
    for uri in uris:
        path = parse_gcs_uri(uri, "files", allowed)
        if not is_prediction_file(path.name):
            raise ValidationError("'files' may only name prediction*.jsonl files", field="files",
                                  details={"uri": uri})
        files.append(path)
    return tuple(dict.fromkeys(files))  # duplicates dropped, order kept


def parse_output_info(value: Any, allowed: frozenset[str]) -> tuple[OutputDir, ...]:
    """Output directories from `output_info`: {"gcsOutputDirectory"} (or gcs_output_directory), a
    whole Vertex job resource holding outputInfo, a gs:// string, or a list of any of these (what
    poll_status answers: [{"gcsOutputDirectory", "job", "attempt"}])."""
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if len(items) > 1000:
        raise ValidationError("'output_info' has too many entries", field="output_info")
    dirs = [_one_output_dir(item, allowed) for item in items]
    return tuple(dict.fromkeys(dirs))


def _dir_path(uri: Any, allowed: frozenset[str]) -> GcsPath:
    path = parse_gcs_uri(uri, "output_info", allowed)
    if not path.name:  # a whole bucket is never one job's output
        raise ValidationError("'output_info' must name a directory inside a bucket", field="output_info")
    return path


def _one_output_dir(item: Any, allowed: frozenset[str]) -> OutputDir:
    if isinstance(item, str):
        return OutputDir(_dir_path(item, allowed))
    if not isinstance(item, dict):
        raise ValidationError("'output_info' must be an object, a gs:// URI or a list of them",
                              field="output_info")
    job = item.get("job") if isinstance(item.get("job"), str) else None
    inner = item.get("outputInfo") or item.get("output_info")
    if isinstance(inner, dict):  # a whole job resource: its name is the job
        job = item.get("name") if isinstance(item.get("name"), str) else job
        item = inner
    uri = item.get("gcsOutputDirectory") or item.get("gcs_output_directory")
    if not uri:
        raise ValidationError("'output_info' has no gcsOutputDirectory", field="output_info")
    return OutputDir(_dir_path(uri, allowed), job)


def _write_method(body: dict) -> str:
    """The write method: `load` (stage, load, MERGE); a removed one is refused with its reason."""
    value = body.get("write_method")
    if isinstance(value, str) and value in REMOVED_WRITE_METHODS:
        raise ValidationError(f"write_method '{value}' was removed; the processor stages rows and merges them "
                              "(write_method 'load')", field="write_method",
                              details={"reason": REMOVED_WRITE_METHODS[value]})
    return get_choice(body, "write_method", WRITE_METHODS, default="load")
