"""The processor's answer to one HTTP call: resolve the scope, pick the files, work them within the
time budget, complete the run when everything is done, and say where things stand.

Counts at the top of the answer are the unit's: totals over the files the call covers (`files`),
across every call that worked on them, so that a resumed call answers the running totals. A unit that
is the whole run answers the run's totals once it completed it. `run_totals` is the run record's
totals (shared/totals.py) once the run is completed (by this call or an earlier one), else null: the
one source of a run's totals, reconciled, which the units' counts need not add up to (a key two
units both wrote counts once, as a duplicate).
"""

from __future__ import annotations

import functools
import uuid
from concurrent.futures import wait
from dataclasses import dataclass, replace

from pass1_processor.bqjobs import Jobs
from pass1_processor.checkpoint import Checkpoint, CheckpointStore
from pass1_processor.chunk import WriteTarget
from pass1_processor.config import ProcessorConfig
from pass1_processor.counts import Counts
from pass1_processor.deadletters import land_dead_letters
from pass1_processor.discovery import PredictionFile, discover
from pass1_processor.filemerge import WritePath
from pass1_processor.filework import BUSY, Budget, FileWorker
from pass1_processor.memory import MemoryWatch, memory_limit_bytes
from pass1_processor.mergelane import MergeLane
from pass1_processor.pools import pool
from pass1_processor.reconcile import RECORD_FIELD, adjusted, delete_extras, find_extras, merged
from pass1_processor.rows import RowPlan
from pass1_processor.run_events import checkpoint_store, note_files, note_started
from pass1_processor.schema import table_info
from pass1_processor.scope import PROCESSABLE_STATES, PROCESSING_STAGE, Scope, processable_states, resolve_scope
from pass1_processor.settings import ProcessorSettings
from pass1_processor.snapshot import ensure_snapshot
from pass1_processor.staging import STAGING_CLUSTERING, RunTables, ensure_table, nullable, staging_schema
from shared.config import Settings
from shared.errors import Conflict, NotFound, ValidationError, is_transient, to_pipeline_error
from shared.faults import crash_point
from shared.jobstate import JobState, JobStore, utcnow
from shared.totals import answer_counts, run_totals

# One snapshot build per call at a time, beside the call's staging.
SNAPSHOT_POOL, SNAPSHOT_WORKERS = "snapshot", 4


@dataclass
class Outcome:
    """What the files of this call look like after it worked on them."""

    files: list[PredictionFile]
    checkpoints: dict[str, Checkpoint]
    totals: Counts
    chunks: int

    @property
    def all_done(self) -> bool:
        return all(cp.done for cp in self.checkpoints.values())


@functools.lru_cache(maxsize=1)
def _settings() -> Settings:
    return Settings.from_env()


@functools.lru_cache(maxsize=1)
def _tuning() -> ProcessorSettings:
    return ProcessorSettings.from_env()


def process_request(body: dict, ctx) -> dict:
    """Entry point behind the HTTP envelope (main.py)."""
    from shared.clients import firestore_client

    config = ProcessorConfig.from_request(body, _settings(), _tuning())
    log = ctx.log.bind(run_id=config.run_id, workflow_id=config.workflow_id, batch_type=config.batch_type)
    firestore = firestore_client()
    jobs = JobStore(firestore, collection=config.jobs_collection) if config.run_id else None
    scope = resolve_scope(config, firestore, jobs)
    if scope.completed:
        log.info("run already completed; nothing written")
        return _completed_answer(config, scope, firestore, ctx)
    files = select_files(discover(scope.work_dirs), config.files, scope)
    target = _write_target(config, scope)  # table checks happen before any state changes
    _start(config, scope, jobs)
    crash_point("started")
    store = checkpoint_store(config, firestore, scope.doc_ref, f"{ctx.request_id}-{uuid.uuid4().hex[:8]}",
                             config.lease_seconds)
    try:
        try:
            target = _ready(config, scope, target, firestore, files)
            outcome, memory = _work(config, scope, files, store, target, ctx, log)
            status, completed = _finish(config, scope, jobs, store, outcome, files, target, log, firestore)
        finally:
            _record_jobs(config, jobs, target, log)
        crash_point("answer")
    except Exception as exc:
        _record_error(config, jobs, exc, log)
        raise
    log.info("call finished", status=status, chunks=outcome.chunks, elapsed=round(ctx.elapsed(), 3),
             **outcome.totals.to_dict())
    totals = outcome.totals
    if completed is not None and _whole_run(config, scope):  # the unit is the run: its reconciled totals
        totals = Counts.from_dict(completed["processing"])
    return _answer(config, scope, status, totals, [f.uri for f in files], ctx,
                   resume=status == "partial", extra={"memory": memory.report(), "chunks": outcome.chunks,
                                                      "files_done": sum(cp.done for cp in outcome.checkpoints.values()),
                                                      "run_totals": run_totals(completed),
                                                      **target.jobs.counter.report()})


def _whole_run(config: ProcessorConfig, scope: Scope) -> bool:
    """True when the call's unit is every file of the run (no `files`, every directory)."""
    return config.files is None and {d.path for d in scope.work_dirs} == {d.path for d in scope.all_dirs}


def select_files(found: list[PredictionFile], requested, scope: Scope) -> list[PredictionFile]:
    """The files this call works on: all prediction files of the scope, or the requested subset
    (each inside the scope's directories, 400 otherwise; existing, 404 otherwise)."""
    if requested is None:
        if not found:
            raise NotFound("no prediction files in the output directories",
                           details={"output_dirs": [d.uri for d in scope.work_dirs]})
        return found
    by_path = {f.path: f for f in found}
    selected = []
    for path in requested:
        if not any(d.contains(path) for d in scope.work_dirs):
            raise ValidationError("'files' names a file outside the run's output directories", field="files",
                                  details={"uri": path.uri})
        if path not in by_path:
            raise NotFound("a requested prediction file does not exist", details={"uri": path.uri})
        selected.append(by_path[path])
    return selected


def _write_target(config: ProcessorConfig, scope: Scope) -> WriteTarget:
    """The call's tables and clients (the one place that chooses how rows are written)."""
    from shared.clients import bigquery_client, storage_client

    client = bigquery_client()
    output, dead = table_info(config.output_table, client), table_info(config.dead_letter_table, client)
    plan = RowPlan.build(output, dead, table_info(config.lookup_table, client))
    return WriteTarget(plan, config.lookup_table, config.write_method, scope.key, scope.row_run_id,
                       scope.batch_type, (output.created, dead.created), storage=storage_client(),
                       jobs=Jobs(client))


def _ready(config: ProcessorConfig, scope: Scope, target: WriteTarget, firestore, files) -> WriteTarget:
    """The run's staging table and lookup snapshot (built on the run's first call, snapshot.py)."""
    tables = RunTables.of(config.output_table, scope.key)
    schema = tuple(staging_schema(target.plan.output.schema))
    created = ensure_table(target.jobs.client, tables.staging, schema, STAGING_CLUSTERING)
    dead_schema = tuple(nullable(target.plan.dead.schema))
    dead_created = ensure_table(target.jobs.client, tables.dead, dead_schema)
    whole = config.files is None and scope.all_dirs == scope.work_dirs
    everything = (lambda: files) if whole else (lambda: discover(scope.all_dirs))  # listed only to build it
    # Built on its own thread while the call thread stages the first files; the first merge waits
    # for it. Its record is a transaction on the run document, which the call's file events also
    # change: shared.retry.transact runs one process's transactions on one document one at a time.
    build = pool(SNAPSHOT_POOL, SNAPSHOT_WORKERS).submit(
        ensure_snapshot, firestore, scope.doc_ref, scope.record, everything, config.input_bucket, tables,
        config.lookup_table, target.plan.lookup_columns, target.jobs, target.storage, scope.key,
        target.plan.lookup_partition)
    return replace(target, write=WritePath(tables, created, schema, build, config.input_bucket, dead_created,
                                           dead_schema))


def _record_jobs(config: ProcessorConfig, jobs: JobStore | None, target: WriteTarget, log) -> None:
    """Add this call's BigQuery jobs and bytes to the run record (`bigquery`)."""
    report = target.jobs.counter.report()
    if jobs is None or not any(report["bigquery_jobs"].values()):
        return

    def add(record: dict) -> dict:
        current = record.get("bigquery") or {}
        kinds = {k: int((current.get("jobs") or {}).get(k) or 0) + v for k, v in report["bigquery_jobs"].items()}
        return {"bigquery": {"jobs": kinds,
                             "bytes_processed": int(current.get("bytes_processed") or 0) + report["bytes_processed"]}}

    try:
        jobs.update(config.run_id, config.batch_type, mutate=add)
    except Exception as exc:  # a figure, not a result: the call's outcome stands
        log.warning("could not record the BigQuery jobs on the run", error_type=type(exc).__name__)


def _start(config: ProcessorConfig, scope: Scope, jobs: JobStore | None) -> None:
    if jobs is not None:
        jobs.transition(config.run_id, config.batch_type, JobState.PROCESSING,
                        allowed_from=processable_states(config, scope.record))
    else:  # the ad hoc scope document says what its checkpoints are about
        from shared.retry import call_with_retry

        call_with_retry(scope.doc_ref.set, {"output_dirs": [d.uri for d in scope.all_dirs],
                                            "output_table": config.output_table.id,
                                            "row_run_id": scope.row_run_id, "updated_at": utcnow()}, merge=True)


def _file_worker(config, store, target, ctx, log) -> FileWorker:
    """The call's FileWorker, with its budget, memory watch and merge lane."""
    from shared.clients import storage_client

    memory = MemoryWatch(config.memory_threshold_percent, config.chunk_size,
                         memory_limit_bytes(config.memory_limit_mb))
    budget = Budget(config.time_budget_seconds, ctx.elapsed)
    worker = FileWorker(store, target, budget, memory, config.chunk_max_bytes, storage_client(), log,
                        input_bucket=config.input_bucket)
    # The call's merges, beside its staging (mergelane.py); the worker hands it each staged file. A
    # file waits for its batch at most a third of its lease: the lease must outlast the wait and
    # the merge, and nothing renews it meanwhile.
    worker.lane = MergeLane(worker.merge_batch, max_wait_seconds=config.lease_seconds / 3)
    return worker


def _work(config, scope, files, store, target, ctx, log) -> tuple[Outcome, MemoryWatch]:
    try:
        worker = _file_worker(config, store, target, ctx, log)
    except BaseException:
        wait([target.write.snapshot_build])  # nothing of the call runs on after its answer
        raise
    lane, budget, memory = worker.lane, worker.budget, worker.memory
    assert lane is not None
    results: dict[str, str] = {}
    try:
        for file in files:
            if not budget.may_start_chunk():
                break
            lane.raise_failure()  # a failed merge ends the call before more is staged
            note_started(config, file.uri, log)
            results[file.uri] = worker.work(file)
        results.update(lane.finish())  # every staged file merged and done (or BUSY: lease lost)
        target.write.snapshot_build.result()  # built, or its error raised, even if this call merged nothing
    except BaseException:
        for staged in lane.abandon():
            worker.release_quietly(staged.file)
        wait([target.write.snapshot_build])  # nothing of the call runs on after its answer
        raise
    finally:
        lane.close()
    checkpoints = store.read_all(f.uri for f in files)
    note_files(config, results, checkpoints, log)
    totals = Counts()
    for cp in checkpoints.values():
        totals.add(cp.counts)
    outcome = Outcome(files, checkpoints, totals, budget.chunks)
    unfinished = [uri for uri, cp in checkpoints.items() if not cp.done]
    if unfinished and budget.chunks == 0 and all(results.get(uri) == BUSY for uri in unfinished):
        raise Conflict("every unfinished file is being processed by another invocation",
                       details={"files": unfinished})
    return outcome, memory


def _finish(config, scope, jobs, store, outcome: Outcome, files, target: WriteTarget, log,
            firestore) -> tuple[str, dict | None]:
    """('success' or 'partial', the run record when this call completed the run); completes the run
    when every file of every directory is done. Dead letters land once per run, at completion (an ad
    hoc scope: at the end of each call)."""
    if jobs is None:
        land_dead_letters(target, firestore, scope.doc_ref, _with_dead(files, outcome.checkpoints))
        return ("success" if outcome.all_done else "partial"), None
    if not outcome.all_done:
        return "partial", None
    everything = files if (config.files is None and scope.all_dirs == scope.work_dirs) else discover(scope.all_dirs)
    checkpoints = store.read_all(f.uri for f in everything)
    if not all(cp.done for cp in checkpoints.values()):
        return "success", None  # this call's files are done; other files of the run are not yet
    totals = Counts()
    for cp in checkpoints.values():
        totals.add(cp.counts)
    land_dead_letters(target, firestore, scope.doc_ref, _with_dead(everything, checkpoints))
    _remove_extras(config, jobs, target, log)
    # Extras deleted by this call or by an earlier one that crashed before completing are on the run
    # document: the totals are derived from it inside the completing transaction.

    def completion(record: dict) -> dict:
        extras = record.get(RECORD_FIELD) or []
        final = adjusted(totals, extras)
        return {"processing": {**final.to_dict(), "files": [f.uri for f in everything], "completed_at": utcnow(),
                               "reconciled_extras": len(extras)}}

    crash_point("before_complete")
    try:
        record = jobs.transition(config.run_id, config.batch_type, JobState.COMPLETED,
                                 allowed_from=PROCESSABLE_STATES, updates={"last_error": None}, mutate=completion)
    except Conflict:  # new output arrived meanwhile (poll_status moved the run back): not complete
        log.warning("run changed state before completion; call again")
        return "partial", None
    log.info("run completed", files=len(everything),
             **{k: v for k, v in record["processing"].items() if k in Counts.__dataclass_fields__})
    return "success", record


def _with_dead(files, checkpoints: dict) -> list[PredictionFile]:
    """The done files that have dead letters."""
    return [f for f in files if checkpoints[f.uri].done and checkpoints[f.uri].counts.failed > 0]


def _remove_extras(config, jobs, target: WriteTarget, log) -> None:
    """Keys the run wrote twice (two calls racing on one key, see reconcile.py): recorded on the run
    first (a crash after the delete still counts them), then deleted."""
    output = target.plan.output
    found = find_extras(output.ref, target.run_id, output.columns)
    if not found:
        return
    record = jobs.update(config.run_id, config.batch_type,
                         mutate=lambda r: {RECORD_FIELD: merged(r.get(RECORD_FIELD), found)})
    extras = record[RECORD_FIELD]
    delete_extras(output.ref, target.run_id, extras)
    log.warning("removed output rows that repeated a composite key", extras=len(extras))


def _record_error(config: ProcessorConfig, jobs: JobStore | None, exc: Exception, log) -> None:
    """Keep the error on the run. A terminal server-side error fails the run; a transient one, a
    conflict or a request error leaves it resumable."""
    if jobs is None:
        return
    err = to_pipeline_error(exc)
    last_error = {"code": err.code, "message": err.message, "stage": PROCESSING_STAGE, "at": utcnow()}
    terminal = err.http_status >= 500 and not is_transient(exc) and not isinstance(exc, Conflict)
    try:
        if terminal:
            jobs.transition(config.run_id, config.batch_type, JobState.FAILED, updates={"last_error": last_error})
        else:
            jobs.update(config.run_id, config.batch_type, {"last_error": last_error})
    except Exception as inner:  # the original error is what the caller must see
        log.warning("could not record the error on the run", error_type=type(inner).__name__)


def _completed_answer(config: ProcessorConfig, scope: Scope, firestore, ctx) -> dict:
    """A completed run answers from what is stored: the run's totals for a call about the whole
    run, the unit's own file checkpoints for a unit (`files`, or some of the run's directories), so
    that a unit repeated after a lost answer gets its own totals back, not the run's."""
    stored = (scope.record or {}).get("processing") or {}
    if _whole_run(config, scope):
        totals, files = Counts.from_dict(stored), list(stored.get("files") or [])
    else:
        files = [f.uri for f in select_files(discover(scope.work_dirs), config.files, scope)]
        totals = Counts()
        for cp in CheckpointStore(firestore, scope.doc_ref, "reader", config.lease_seconds).read_all(files).values():
            totals.add(cp.counts)
    return _answer(config, scope, "success", totals, files, ctx, resume=False,
                   extra={"already_completed": True, "run_totals": run_totals(scope.record)})


def _answer(config: ProcessorConfig, scope: Scope, status: str, totals: Counts, files: list[str], ctx,
            *, resume: bool, extra: dict) -> dict:
    return {
        "status": status,
        **answer_counts(totals.to_dict()),  # the unit's
        "files": files,
        "processing_time_seconds": round(ctx.elapsed(), 3),
        "workflow_id": config.workflow_id,
        "run_id": config.run_id,
        "batch_type": scope.batch_type,
        "row_run_id": scope.row_run_id,
        "write_method": config.write_method,
        "resume": resume,
        **extra,
    }
