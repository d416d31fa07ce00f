"""Create a run's Vertex AI jobs, one per input shard: reattach to a job that already exists for the
shard (a crash between create and record must not make a second job), else create it on the
primary (model, location), failing over to the fallback when the primary's circuit opens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from batch_submit import naming
from batch_submit.circuit import CircuitBreaker
from batch_submit.shards import Shard
from shared import layout
from shared.errors import UpstreamUnavailable, is_transient
from shared.faults import crash_point
from shared.identifiers import GcsPath
from shared.logs import Logger
from shared.vertex import CANCELLED_JOB_STATES, FAILED_JOB_STATES, VertexJobs, run_labels


@dataclass(frozen=True)
class Target:
    """Where a job runs: a model in a region."""

    model: str
    location: str


@dataclass(frozen=True)
class RunAttempt:
    """What names a run's jobs of one attempt."""

    run_id: str
    batch_type: str
    attempt: int
    output_base: GcsPath


def targets(model: str, location: str, fallback_model: str | None, fallback_location: str | None) -> list[Target]:
    """The primary, then the fallback when it differs."""
    primary = Target(model, location)
    fallback = Target(fallback_model or model, fallback_location or location)
    return [primary] if fallback == primary else [primary, fallback]


class JobCreator:
    """Creates (or finds again) the jobs of one attempt."""

    def __init__(self, vertex: VertexJobs, run: RunAttempt, target_list: list[Target],
                 breaker_for: Callable[[Target], CircuitBreaker], log: Logger):
        self._vertex = vertex
        self._run = run
        self._targets = target_list
        self._breaker_for = breaker_for
        self._log = log
        self._existing: list[dict] | None = None

    def existing_jobs(self) -> list[dict]:
        """Jobs already labelled with this attempt, in every location we may have used, newest first."""
        if self._existing is None:
            labels = run_labels(self._run.run_id, self._run.batch_type, self._run.attempt)
            found: list[dict] = []
            for location in dict.fromkeys(t.location for t in self._targets):
                found.extend(self._vertex.list_by_labels(location, labels))
            self._existing = sorted(found, key=lambda job: job["create_time"] or "", reverse=True)
        return self._existing

    def _reattachable(self, shard: Shard) -> dict | None:
        """A live or successful job for this shard. Its input URI holds the exact run id, which also
        guards against two run ids whose labels collide. A job that ended in failure is not reused."""
        label = f"{shard.index:05d}"
        for job in self.existing_jobs():
            if (job["labels"].get("shard") == label and job["input_uris"] == [shard.uri]
                    and job["state"] not in FAILED_JOB_STATES | CANCELLED_JOB_STATES):
                return job
        return None

    def job_for(self, shard: Shard) -> dict:
        """The run-document entry of the shard's job, reattached or newly created."""
        run = self._run
        job = self._reattachable(shard)
        reattached = job is not None
        if job is None:
            prefix = layout.output_prefix(run.output_base, run.batch_type, run.run_id, run.attempt, shard.index)
            job, failover = self._create(shard, prefix)
            crash_point("submit_job_created")
        else:
            # The job keeps the output prefix it was created with, whatever this call was asked.
            prefix = job["output_prefix"]
            failover = job["model"] != self._targets[0].model
            self._log.info("reattached to an existing job", job=job["name"], shard=shard.index)
        return {"name": job["name"], "state": job["state"], "input_uri": shard.uri, "output_prefix": prefix,
                "output_dir": job.get("output_dir"), "attempt": run.attempt, "shard": shard.index,
                "model": job["model"], "location": job["location"], "requests": shard.requests,
                "bytes": shard.bytes, "failover": failover, "reattached": reattached}

    def _create(self, shard: Shard, prefix: str) -> tuple[dict, bool]:
        run = self._run
        tried = []
        for position, target in enumerate(self._targets):
            breaker = self._breaker_for(target)
            if breaker.is_open():
                tried.append({"model": target.model, "location": target.location, "circuit": "open"})
                continue
            try:
                job = self._vertex.create(
                    location=target.location, model=target.model,
                    display_name=naming.display_name(run.batch_type, run.run_id, run.attempt, shard.index),
                    input_uris=[shard.uri], output_prefix=prefix,
                    labels=run_labels(run.run_id, run.batch_type, run.attempt, shard.index),
                    retry=self._vertex.retry_policy().with_predicate(breaker.should_retry))
            except Exception as exc:
                if not is_transient(exc):
                    raise
                tried.append({"model": target.model, "location": target.location, "error": type(exc).__name__})
                self._log.warning("job creation failed; trying the next target", model=target.model,
                                  location=target.location, error_type=type(exc).__name__, shard=shard.index)
                continue
            breaker.record_success()
            if position:
                self._log.warning("job created on the fallback", model=target.model, location=target.location,
                                  shard=shard.index)
            return job, position > 0
        raise UpstreamUnavailable("Vertex AI job creation failed on every model and location",
                                  details={"tried": tried, "shard": shard.index})
