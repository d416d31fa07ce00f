"""A table source submitted shard by shard, resumably, under the run's submit lease.

The first call of an attempt builds the plan in BigQuery (batch_submit.plan) and records it in the
run document (`submission`). Every call then continues at the first unfinished shard: it writes the
shard's input and key index (rows read back from the plan table), records the shard written, creates
(or reattaches to) the shard's job and records it; each record is one Firestore transaction that
checks we still hold the lease. The plan's bucket sums also give each shard the call dates of its
rows; its key index carries them as custom metadata (shared/layout.py), for the processor's lookup
snapshot. Before starting another shard it asks its time budget: when the
next shard would end past it, the call answers "partial" with resume: true and gives the lease back,
and the next call (or one that takes over a crashed call's expired lease) goes on from there. The
last shard's call moves the run to SUBMITTED with every job.

A crash between writing a shard and recording it costs a rewrite of that shard (same names, same
rows); a crash between creating a job and recording it is healed by the label reattach (jobs.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from batch_submit import plan as planner
from batch_submit.config import MAX_SHARDS_PER_RUN
from batch_submit.jobs import JobCreator, RunAttempt, targets
from batch_submit.prepare import REQUEST_TOO_LARGE, PrepareStats, request_entries
from batch_submit.prompts import PromptSpec
from batch_submit.request import SubmitRequest
from batch_submit.shards import PlannedShardWriter, RequestEntry, Shard, request_line
from batch_submit.submission import Deps
from shared.errors import Conflict, ValidationError
from shared.faults import crash_point
from shared.identifiers import GcsPath, TableRef
from shared.jobstate import JobState
from shared.keys import encode_key
from shared.layout import attempt_prefix, key_index_dates, row_id
from shared.lease import holds


class Budget:
    """A call's time budget on a monotonic clock (injected in tests). The first shard of a call
    starts while at most half the budget is gone (waiting for the plan may have used it; a shard
    takes well under half of it); a later one only when the longest shard seen in this call would
    still end within the budget."""

    def __init__(self, seconds: float, clock):
        self._seconds = seconds
        self._clock = clock
        self._start = clock()
        self._last = None
        self.longest = 0.0

    def elapsed(self) -> float:
        return self._clock() - self._start

    def remaining(self) -> float:
        return self._seconds - self.elapsed()

    def shard_started(self) -> None:
        self._last = self._clock()

    def shard_done(self) -> None:
        self.longest = max(self.longest, self._clock() - self._last)

    def allows_shard(self) -> bool:
        if self._last is None:
            return self.elapsed() <= self._seconds / 2
        return self.elapsed() + self.longest <= self._seconds


@dataclass
class Progress:
    """The run document's `submission` map: the attempt's plan and what is done of it."""

    attempt: int
    plan_table: str
    source: dict
    params: dict
    plan_job: str
    planned: bool = False  # False: the plan job may still run (shards empty)
    shards: list[dict] = field(default_factory=list)
    written: list[dict] = field(default_factory=list)
    jobs: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"attempt": self.attempt, "plan_table": self.plan_table, "source": self.source,
                "params": self.params, "plan_job": self.plan_job, "planned": self.planned, "shards": self.shards,
                "written": self.written, "jobs": self.jobs}

    @classmethod
    def from_dict(cls, value: dict) -> "Progress":
        return cls(int(value["attempt"]), value["plan_table"], value["source"], value["params"],
                   value.get("plan_job") or "", bool(value.get("planned")), list(value.get("shards") or []),
                   list(value.get("written") or []), list(value.get("jobs") or []))

    def stats(self) -> PrepareStats:
        stats = PrepareStats(requests=sum(int(w["requests"]) for w in self.written))
        for entry in self.written:
            stats.skipped.update({k: int(v) for k, v in (entry.get("skipped") or {}).items()})
        return stats


def line_overhead(prompt: PromptSpec, attempt: int) -> int:
    """Bytes of a request line beyond its transcript and ids: the line of an empty transcript."""
    entry = RequestEntry(encode_key("", ""), "", "", prompt.request_for(""))
    return len(request_line(entry, row_id(attempt, 0, 1)))


def submission_params(req: SubmitRequest, model: str, output_base: GcsPath, prompt: PromptSpec) -> dict:
    """What a resumed call must ask again, exactly (else 409 submission_parameters_changed)."""
    return {"max_requests_per_job": req.max_requests_per_job, "max_bytes_per_job": req.max_bytes_per_job,
            "max_transcript_chars": req.max_transcript_chars, "prompt_version": prompt.version,
            "model": model, "output_base": output_base.uri}


def submit_table(deps: Deps, req: SubmitRequest, owner: str, attempt: int, prompt: PromptSpec,
                 record: dict, model: str, output_base: GcsPath) -> tuple[str, dict, PrepareStats, Progress]:
    """Continue (or start) the attempt's sharded submission. Returns ("partial" | "done", the run
    record (partial: as last written, lease given back), the run's stats so far, the progress)."""
    from shared.clients import bigquery_client

    budget = Budget(deps.config.time_budget_seconds, deps.monotonic)
    client = bigquery_client()
    params = submission_params(req, model, output_base, prompt)
    progress = _resume_or_plan(deps, req, owner, attempt, prompt, record, params, client, budget)
    if not progress.planned:
        deps.log.info("time budget reached while BigQuery plans; the next call waits for the same job")
        return "partial", _record(deps, req, owner, progress), progress.stats(), progress
    table = _table_ref(progress.plan_table)
    prefix = attempt_prefix(deps.settings.input_bucket, req.batch_type, req.run_id, attempt)
    bucket = deps.storage.bucket(deps.settings.input_bucket)
    creator = JobCreator(deps.vertex, RunAttempt(req.run_id, req.batch_type, attempt, output_base),
                         targets(model, deps.settings.location, deps.config.fallback_model,
                                 deps.config.fallback_location), deps.breaker_for, deps.log)
    for planned in progress.shards:
        index = int(planned["index"])
        written = index < len(progress.written)
        has_job = any(int(job["shard"]) == index for job in progress.jobs)
        if written and (has_job or not progress.written[index]["requests"]):
            continue
        if not budget.allows_shard():
            deps.log.info("time budget reached; submission continues in the next call",
                          shards_written=len(progress.written), shards=len(progress.shards))
            return "partial", _record(deps, req, owner, progress), progress.stats(), progress
        budget.shard_started()
        if not written:
            shard_info = _write_shard(deps, req, attempt, prompt, client, table, bucket, prefix, planned)
            progress.written.append(shard_info)
            _save(deps, req, owner, progress)
            crash_point("submit_shard_written")
        info = progress.written[index]
        if info["requests"]:
            shard = Shard(index, info["uri"], int(info["requests"]), int(info["bytes"]))
            progress.jobs.append(creator.job_for(shard))
            _save(deps, req, owner, progress)
        budget.shard_done()
    # Every shard done: the caller records the run SUBMITTED (still under our lease).
    return "done", record, progress.stats(), progress


def _resume_or_plan(deps, req, owner, attempt, prompt, record, params, client, budget) -> Progress:
    """The attempt's recorded progress (checked against this call), or its plan: started (or waited
    for, when an earlier call started it) and, once BigQuery is done, packed into shards. Not
    planned yet when the budget ends first."""
    saved = record.get("submission") or {}
    progress = None
    if saved and int(saved.get("attempt") or 0) == attempt:
        progress = Progress.from_dict(saved)
        _check_same(req, progress, params)
        if progress.planned:
            deps.log.info("submission resumed", shards_written=len(progress.written), shards=len(progress.shards))
            return progress
    table = planner.plan_table(deps.settings.project, deps.settings.dataset, req.batch_type, req.run_id, attempt)
    job = planner.running_plan(client, progress.plan_job) if progress and progress.plan_job else None
    if job is None:
        progress = Progress(attempt, table.id, req.source.spec(), params, f"{table.table}_{uuid.uuid4().hex[:12]}")
        _save(deps, req, owner, progress)  # the job id first: a call that times out leaves it to the next
        job = planner.start_plan(client, req.source, table, line_overhead(prompt, attempt), req.max_transcript_chars,
                                 progress.plan_job)
    assert progress is not None  # a running plan job is only found through the saved progress
    if not planner.wait_plan(job, budget.remaining()):
        return progress
    sums = planner.bucket_sums(client, table)
    rows = sum(s.rows for s in sums)
    if rows > req.max_requests_per_run:
        planner.drop_plan(client, table)
        raise ValidationError(f"the source holds {rows} records, more than max_requests_per_run "
                              f"({req.max_requests_per_run})", field="source",
                              details={"reason": "source_too_large", "records": rows,
                                       "max_requests_per_run": req.max_requests_per_run})
    shards = planner.pack(sums, req.max_requests_per_job, req.max_bytes_per_job)
    if len(shards) > MAX_SHARDS_PER_RUN:
        planner.drop_plan(client, table)
        raise ValidationError(f"the source would need {len(shards)} jobs, more than {MAX_SHARDS_PER_RUN}",
                              field="max_requests_per_job",
                              details={"reason": "too_many_shards", "shards": len(shards),
                                       "max_shards": MAX_SHARDS_PER_RUN, "records": rows})
    if not shards:
        raise ValidationError("the source has no transcript to send", field="source",
                              details={"reason": "no_requests", "skipped_records": 0, "skipped_reasons": {}})
    progress.planned, progress.shards = True, [s.to_dict() for s in shards]
    _save(deps, req, owner, progress)
    deps.log.info("plan built", shards=len(shards), records=rows)
    return progress


def _check_same(req: SubmitRequest, progress: Progress, params: dict) -> None:
    """A resumed call must ask what the first call asked (409 otherwise)."""
    if progress.source != req.source.spec():
        raise Conflict(f"run '{req.run_id}' is being submitted from another source; repeat the first call's source",
                       details={"reason": "source_changed", "submitted": progress.source, "asked": req.source.spec()})
    changed = sorted(k for k in params if progress.params.get(k) != params[k])
    if changed:
        raise Conflict(f"run '{req.run_id}' is being submitted with other parameters: {', '.join(changed)}",
                       details={"reason": "submission_parameters_changed", "fields": changed})


def _write_shard(deps, req, attempt, prompt, client, table, bucket, prefix, planned: dict) -> dict:
    """Write one planned shard; its entry of `submission.written` (with its skip counts)."""
    shard_range = planner.ShardRange.from_dict(planned)
    stats = PrepareStats()
    dates = key_index_dates(shard_range.date_min, shard_range.date_max, shard_range.date_nulls)
    writer = PlannedShardWriter(bucket, prefix, attempt, shard_range.index, req.max_requests_per_job,
                                req.max_bytes_per_job, dates)
    try:
        for entry in request_entries(planner.shard_records(client, table, shard_range), prompt,
                                     req.max_transcript_chars, stats):
            if not writer.write(entry):
                stats.skipped[REQUEST_TOO_LARGE] += 1
    except BaseException:
        writer.abort()
        raise
    shard = writer.close()
    deps.log.info("shard written", shard=shard.index, requests=shard.requests, skipped_records=stats.skipped_records)
    return {"index": shard.index, "uri": shard.uri, "requests": shard.requests, "bytes": shard.bytes,
            "skipped": dict(stats.skipped)}


def _owned(req: SubmitRequest, owner: str, current: dict) -> None:
    if not holds(current.get("lease"), owner):
        raise Conflict(f"run '{req.run_id}' was taken over by another call", details={"reason": "lease_lost"})
    if current["state"] != JobState.PENDING_SUBMISSION:
        raise Conflict(f"run '{req.run_id}' is {current['state']}", details={"reason": "state_changed",
                                                                              "state": current["state"]})


def _save(deps: Deps, req: SubmitRequest, owner: str, progress: Progress) -> dict:
    """Record the progress, if we still hold the lease (one transaction)."""

    def mutate(current: dict) -> dict:
        _owned(req, owner, current)
        return {"submission": progress.to_dict()}

    return deps.store.update(req.run_id, req.batch_type, mutate=mutate)


def _record(deps: Deps, req: SubmitRequest, owner: str, progress: Progress) -> dict:
    """The progress recorded and the lease given back: the next call continues at once."""

    def mutate(current: dict) -> dict:
        _owned(req, owner, current)
        stats = progress.stats()
        return {"submission": progress.to_dict(), "lease": None, "requests": stats.requests,
                "skipped_records": stats.skipped_records, "skipped_reasons": dict(stats.skipped)}

    return deps.store.update(req.run_id, req.batch_type, mutate=mutate)


def _table_ref(table_id: str) -> TableRef:
    project, dataset, table = table_id.split(".")
    return TableRef.of(project, dataset, table)
