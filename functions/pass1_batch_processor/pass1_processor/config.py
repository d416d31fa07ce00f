"""The processor's request, validated at the door: body fields over Settings and environment defaults.

Nothing here touches a service. The output directories named by the request are parsed here; those
that come from the run document (no `output_info` in the body) are resolved later, in scope.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.config import Settings, env_float, env_int
from shared.errors import ValidationError
from shared.identifiers import GcsPath, TableRef, check_project, parse_gcs_uri
from shared.layout import is_prediction_file
from shared.validation import get_bool, get_choice, get_float, get_int, get_str, get_str_list, run_identity

WRITE_METHODS = ("load",)
# `streaming` (insertAll per chunk) was removed with the stage-then-merge write path (statements.py):
# streamed rows cannot be merged or deleted for about 30 minutes. Asked for, it is a 400 with this
# stable reason, so that a caller learns it instead of getting another write method silently.
REMOVED_WRITE_METHODS = {"streaming": "write_method_removed"}
# Lines per chunk: one lookup query, one dedupe query and one load job per chunk. 5,000 keeps a
# 200,000-request job at 40 load jobs per table (quota: 1,500 table modifications a day).
DEFAULT_CHUNK_SIZE = 5000
MAX_CHUNK_SIZE = 100_000
# Bytes of line data per chunk: output lines echo the request (a whole transcript), so lines alone
# do not bound memory.
DEFAULT_CHUNK_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MEMORY_THRESHOLD_PERCENT = 80.0
# 0: the memory limit is the container's cgroup limit (Cloud Run functions set it) or the machine's.
# A positive value states the instance's memory where neither tells it (a VM, a shared test host).
DEFAULT_MEMORY_LIMIT_MB = 0
# Below the 540 s function timeout, leaving room to finish a chunk and answer.
DEFAULT_TIME_BUDGET_SECONDS = 480.0
# A file's lease must outlive the longest gap between two checkpoint commits (one chunk); a crashed
# holder's files are taken over once it lapses.
DEFAULT_LEASE_SECONDS = 120.0


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
    def from_request(cls, body: dict, settings: Settings) -> "ProcessorConfig":
        """Validate the body; raises ValidationError naming the first bad field."""
        run_id, batch_type = run_identity(body, required=False)
        project = check_project(get_str(body, "project_id", default=settings.project), "project_id")
        dataset = get_str(body, "dataset", default=settings.dataset)
        dirs = parse_output_info(body.get("output_info"), settings.allowed_buckets)
        if not dirs and not run_id:
            raise ValidationError("'output_info' is required when no run_id is given", field="output_info")
        return cls(
            run_id=run_id,
            batch_type=batch_type,
            workflow_id=get_str(body, "workflow_id", max_len=256),
            output_dirs=dirs,
            files=_files(body, settings.allowed_buckets),
            output_table=_table(body, "output_table", project, dataset, settings.output_table),
            lookup_table=_table(body, "lookup_table", project, dataset, settings.lookup_table),
            dead_letter_table=_table(body, "dead_letter_table", project, dataset, settings.dead_letter_table),
            chunk_size=get_int(body, "chunk_size", default=env_int("PROCESSOR_CHUNK_SIZE", DEFAULT_CHUNK_SIZE),
                               minimum=1, maximum=MAX_CHUNK_SIZE),
            chunk_max_bytes=env_int("PROCESSOR_CHUNK_MAX_BYTES", DEFAULT_CHUNK_MAX_BYTES),
            memory_threshold_percent=get_float(
                body, "memory_threshold_percent", minimum=1.0, maximum=99.0,
                default=env_float("PROCESSOR_MEMORY_THRESHOLD_PERCENT", DEFAULT_MEMORY_THRESHOLD_PERCENT)),
            memory_limit_mb=env_int("PROCESSOR_MEMORY_LIMIT_MB", DEFAULT_MEMORY_LIMIT_MB),
            # 0 is allowed: one chunk per call (tests and step-by-step resumption).
            time_budget_seconds=get_float(
                body, "time_budget_seconds", minimum=0.0, maximum=3600.0,
                default=env_float("PROCESSOR_TIME_BUDGET_SECONDS", DEFAULT_TIME_BUDGET_SECONDS)),
            write_method=_write_method(body),
            resume_failed=get_bool(body, "resume_failed", default=False),
            lease_seconds=env_float("PROCESSOR_LEASE_SECONDS", DEFAULT_LEASE_SECONDS),
            jobs_collection=settings.jobs_collection,
            allowed_buckets=settings.allowed_buckets,
            input_bucket=settings.input_bucket,
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
