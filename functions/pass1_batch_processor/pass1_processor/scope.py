"""What a call works on: a run (job record in Firestore) or an ad hoc scope (output dirs only).

With run_id the run document is read: a COMPLETED run is answered from its stored totals; a run in
PENDING_PROCESSING or PROCESSING is processed (and a run the processor itself failed, when the call
says `resume_failed`); any other state is a 409. Its output directories come
from the request or from the document (`output_dirs`, `jobs[].output_dir`), and the run completes
only when every file of every one of its directories is done.

Without run_id, checkpoints live under a scope document keyed by a hash of the output directories
and the output table, and rows carry a synthetic run id derived from that hash (run_id is a required
column and the key of exactly-once).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from pass1_processor.config import OutputDir, ProcessorConfig
from shared.errors import Conflict, NotFound, ValidationError
from shared.identifiers import parse_gcs_uri
from shared.jobstate import JobState, JobStore

PROCESSABLE_STATES = frozenset({JobState.PENDING_PROCESSING, JobState.PROCESSING})
# last_error.stage of a run failed by the processor (not by Vertex AI or submission): resumable.
PROCESSING_STAGE = "processing"
SCOPES_SUFFIX = "_processor_scopes"
DEFAULT_BATCH_TYPE = "pass1"


@dataclass(frozen=True)
class Scope:
    """The unit of exactly-once: rows are unique per composite key within row_run_id."""

    key: str
    row_run_id: str
    run_id: str | None
    batch_type: str
    doc_ref: Any                       # Firestore document the file checkpoints live under
    work_dirs: tuple[OutputDir, ...]   # what this call processes
    all_dirs: tuple[OutputDir, ...]    # what must be done for the run to complete
    record: dict | None = None         # the run document, when there is a run

    @property
    def completed(self) -> bool:
        return self.record is not None and self.record.get("state") == JobState.COMPLETED


def resolve_scope(config: ProcessorConfig, firestore, store: JobStore | None) -> Scope:
    """The scope of this call; raises NotFound (unknown run, no directories) or Conflict (state)."""
    if config.run_id is None:
        return _adhoc_scope(config, firestore)
    assert store is not None  # a run's scope always comes with its store
    record = store.require(config.run_id, config.batch_type)
    state = record.get("state")
    if state != JobState.COMPLETED and state not in processable_states(config, record):
        raise Conflict(f"run '{config.run_id}' is {state}, not ready for processing",
                       details={"state": state, "last_error": record.get("last_error")})
    run_dirs = run_output_dirs(record, config.allowed_buckets)
    work = tuple(_with_jobs(config.output_dirs, run_dirs)) or run_dirs
    if not work and state != JobState.COMPLETED:
        raise NotFound(f"run '{config.run_id}' has no output directories yet",
                       details={"run_id": config.run_id, "state": state})
    all_dirs = tuple({d.path: d for d in run_dirs + work}.values())
    return Scope(f"{config.batch_type}__{config.run_id}", config.run_id, config.run_id, config.batch_type,
                 store.ref(config.run_id, config.batch_type), work, all_dirs, record)


def processable_states(config: ProcessorConfig, record: dict | None) -> frozenset[str]:
    """The states this call may process from: FAILED too when asked to resume a processing failure."""
    failed_here = record is not None and (record.get("last_error") or {}).get("stage") == PROCESSING_STAGE
    if config.resume_failed and failed_here:
        return PROCESSABLE_STATES | {JobState.FAILED}
    return PROCESSABLE_STATES


def _adhoc_scope(config: ProcessorConfig, firestore) -> Scope:
    uris = sorted(d.uri for d in config.output_dirs)
    digest = hashlib.sha256("|".join([*uris, config.output_table.id]).encode("utf-8")).hexdigest()[:32]
    ref = firestore.collection(config.jobs_collection + SCOPES_SUFFIX).document(digest)
    batch_type = config.batch_type or DEFAULT_BATCH_TYPE
    return Scope(f"adhoc__{digest}", f"adhoc-{digest[:24]}", None, batch_type, ref,
                 config.output_dirs, config.output_dirs)


def run_output_dirs(record: dict, allowed: frozenset[str]) -> tuple[OutputDir, ...]:
    """Output directories of a run: `output_dirs` (strings or {gcsOutputDirectory}) and every
    job's `output_dir`, with the job's name when the document has it."""
    jobs_by_dir = {}
    for job in record.get("jobs") or []:
        if isinstance(job, dict) and isinstance(job.get("output_dir"), str):
            jobs_by_dir[job["output_dir"].rstrip("/")] = job.get("name")
    uris = []
    for item in record.get("output_dirs") or []:
        uri = item.get("gcsOutputDirectory") if isinstance(item, dict) else item
        if isinstance(uri, str):
            uris.append(uri.rstrip("/"))
    uris.extend(jobs_by_dir)
    dirs = []
    for uri in dict.fromkeys(uris):
        try:
            path = parse_gcs_uri(uri, "output_dirs", allowed)
        except ValidationError:
            raise Conflict("the run document names an output directory outside the allowed buckets",
                           details={"output_dir": uri}) from None
        dirs.append(OutputDir(path, jobs_by_dir.get(uri)))
    return tuple(dirs)


def _with_jobs(requested: tuple[OutputDir, ...], run_dirs: tuple[OutputDir, ...]) -> list[OutputDir]:
    """The requested dirs, with the job name from the run document when the request had none."""
    known = {d.path: d.batch_job for d in run_dirs}
    return [d if d.batch_job else OutputDir(d.path, known.get(d.path)) for d in requested]
