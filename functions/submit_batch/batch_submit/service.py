"""submit_batch: validate, claim the run, prepare its requests, create its jobs, answer.

A table source is planned by BigQuery and submitted shard by shard within a time budget: a call that
runs out of it answers "partial" with resume: true, and the next call continues (sharded.py).

Answer (200): {"status": "submitted" | "partial" | "skipped" | "nothing_to_retry", "run_id", "batch_type",
"run_state", "attempt", "jobs": [{"name", "state", "input_uri", "output_prefix", "shard", "attempt",
"model", "location", "requests", "failover", "reattached"}], "requests", "skipped_records",
"skipped_reasons", "model", "prompt_version", "source" (dates resolved), "failover", "request_id"}
(see answers.py).
"""

from __future__ import annotations

import functools

from batch_submit import answers
from batch_submit.circuit import CircuitBreaker, FirestoreCircuitStore
from batch_submit.claim import claim_for_submit
from batch_submit.config import SubmitConfig
from batch_submit.jobs import Target
from batch_submit.prepare import PrepareStats, request_entries
from batch_submit.prompts import load_prompt
from batch_submit.request import SubmitRequest, TableSource, parse_submit
from batch_submit.sharded import submit_table
from batch_submit.sources import records
from batch_submit.submission import Deps, create_jobs, record_submitted, release, write_shards
from shared.config import Settings
from shared.errors import ValidationError
from shared.faults import crash_point
from shared.jobstate import JobState, JobStore, utcnow
from shared.layout import default_output_base
from shared.vertex import VertexJobs


@functools.lru_cache(maxsize=1)
def _settings() -> Settings:
    return Settings.from_env()


@functools.lru_cache(maxsize=1)
def _config() -> SubmitConfig:
    return SubmitConfig.from_env()


def submit_request(body: dict, ctx) -> dict:
    """The submit_batch handler (called by main.py through the JSON envelope)."""
    settings, config = _settings(), _config()
    req = parse_submit(body, settings, config)
    deps = _deps(settings, config, req, ctx.log.bind(run_id=req.run_id, batch_type=req.batch_type, mode=req.mode))
    if req.mode == "retry_failed":
        from batch_submit.retry_mode import submit_retry

        return submit_retry(deps, req, owner=ctx.request_id)
    return submit_new(deps, req, owner=ctx.request_id)


def _deps(settings: Settings, config: SubmitConfig, req: SubmitRequest, log) -> Deps:
    from shared.clients import firestore_client, storage_client

    circuits = FirestoreCircuitStore(firestore_client(), config.circuits_collection)

    @functools.lru_cache(maxsize=None)
    def breaker_for(target: Target) -> CircuitBreaker:
        return CircuitBreaker(circuits, target.model, target.location, config.circuit_threshold,
                              config.circuit_open_seconds, utcnow)

    return Deps(settings=settings, config=config, store=JobStore(collection=settings.jobs_collection),
                vertex=VertexJobs(settings.project, deadline=req.retry_deadline_seconds),
                storage=storage_client(), clock=utcnow, log=log, breaker_for=breaker_for)


def submit_new(deps: Deps, req: SubmitRequest, owner: str) -> dict:
    """A first submission, a forced resubmission, or the takeover of an abandoned one."""
    prompt = load_prompt(req.batch_type, req.prompt_version)  # an unknown version is a 400 before any write
    claim = claim_for_submit(deps.store, req.run_id, req.batch_type, owner=owner, force=req.force,
                             lease_seconds=deps.config.lease_seconds, wait_seconds=req.wait_seconds,
                             fields={}, clock=deps.clock)
    if not claim.proceed:
        deps.log.info("run already submitted; skipped", state=claim.record["state"])
        return answers.skipped(claim.record)
    attempt = int(claim.record["attempt"])
    output_base = req.output_base or default_output_base(deps.settings.output_bucket)
    model = req.model or deps.config.model
    stats = PrepareStats()
    try:
        if isinstance(req.source, TableSource):
            # Sharded by BigQuery and resumable: may answer "partial" (see sharded.py).
            status, record, stats, progress = submit_table(deps, req, owner, attempt, prompt, claim.record,
                                                           model, output_base)
            if status == "partial":
                return answers.partial(record, stats, progress.to_dict())
            jobs = progress.jobs
        else:
            entries = request_entries(records(req.source), prompt, req.max_transcript_chars, stats)
            shards = write_shards(deps, req, attempt, entries, stats)
            jobs = create_jobs(deps, req, attempt, output_base, shards, model)
        if not jobs:  # nothing to send: no shard was written, or a table's plan found no record
            raise ValidationError("the source has no transcript to send", field="source",
                                  details={"reason": "no_requests", "skipped_records": stats.skipped_records,
                                           "skipped_reasons": dict(stats.skipped)})
        crash_point("submit_jobs_created")  # jobs exist, the run does not name them yet
        extra = {"source": req.source.describe(), "model": model, "prompt_version": prompt.version,
                 "output_base": output_base.uri, "mode": "force" if claim.forced else "submit"}
        record = record_submitted(deps, req, owner, attempt, jobs, stats, {JobState.PENDING_SUBMISSION}, extra)
    except Exception as exc:
        release(deps, req, owner, exc)
        raise
    deps.log.info("run submitted", attempt=attempt, jobs=len(jobs), requests=stats.requests)
    return answers.submitted(record, stats)
