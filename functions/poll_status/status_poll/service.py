"""poll_status: GET (query parameters) or POST (JSON) {run_id, batch_type, action, limit,
retry_deadline_seconds, jobs}. jobs=false leaves the per-job list out of the answer (job_count stays).

- run_id given, action "status" (default): refresh the run from Vertex AI, answer answer.status_answer.
- action "cancel" (POST only): cancel the run's jobs, mark it CANCELLED, answer its status.
- no run_id: a Cloud Scheduler sweep: refresh up to `limit` runs in SUBMITTED or RUNNING, stalest
  first; answer {"status": "swept", "swept", "limit", "more", "runs": [status answers]}.
- list=true: the most recently updated runs (status_poll/events_api.py).
- events=true: a page of the run's event log (status_poll/events_api.py); follow=true is the SSE
  stream (main.py routes it to status_poll/stream.py).
Unknown run: 404. Vertex still failing after retries: 503, the run unchanged.

A sweep also publishes the notifications still in the outbox (shared/notify.py) and raises
run.stalled for active runs without an event for ALERT_STALLED_MINUTES.
"""

from __future__ import annotations

import functools

from shared import events as run_events
from shared import notify
from shared.clients import storage_client
from shared.config import Settings
from shared.errors import PipelineError, UpstreamUnavailable
from shared.jobstate import ACTIVE_STATES, LLM_ACTIVE_STATES, JobStore, utcnow
from shared.vertex import VertexJobs
from status_poll.answer import status_answer
from status_poll.config import PollConfig
from status_poll.events_api import events_answer, runs_answer
from status_poll.events_request import parse_events, parse_list, wants_events, wants_list
from status_poll.refresh import PollDeps, refresh_run
from status_poll.request import PollRequest, parse_poll


@functools.lru_cache(maxsize=1)
def _settings() -> Settings:
    return Settings.from_env()


@functools.lru_cache(maxsize=1)
def _config() -> PollConfig:
    return PollConfig.from_env()


def event_store() -> JobStore:
    return JobStore(collection=_settings().jobs_collection)


def poll_request(body: dict, ctx) -> dict:
    """The poll_status handler (called by main.py through the JSON envelope)."""
    settings = _settings()
    if wants_events(body):
        return events_answer(event_store(), parse_events(body, ctx.headers))
    if wants_list(body):
        return runs_answer(event_store(), parse_list(body), utcnow())
    req = parse_poll(body, ctx.method, _config())
    deps = PollDeps(store=JobStore(collection=settings.jobs_collection),
                    vertex=VertexJobs(settings.project, deadline=req.retry_deadline_seconds),
                    clock=utcnow, log=ctx.log.bind(run_id=req.run_id, batch_type=req.batch_type),
                    location=settings.location, storage=storage_client)
    if req.run_id is None:
        return sweep(deps, req)
    record = deps.store.require(req.run_id, req.batch_type)
    if req.action == "cancel":
        from status_poll.cancel import cancel_run

        record = cancel_run(deps, record)
    else:
        record = refresh_run(deps, record)
    return status_answer(record, deps.clock(), with_jobs=req.jobs)


def sweep(deps: PollDeps, req: PollRequest) -> dict:
    """Refresh the stalest active runs, at most req.limit of them. An outage stops the sweep (503);
    the runs refreshed before it keep their new state."""
    records = deps.store.list_in_states(LLM_ACTIVE_STATES, req.limit)
    if req.batch_type:
        records = [r for r in records if r["batch_type"] == req.batch_type]
    runs = []
    for record in records:
        try:
            runs.append(status_answer(refresh_run(deps, record), deps.clock(), with_jobs=req.jobs))
        except UpstreamUnavailable as exc:
            raise UpstreamUnavailable(exc.message, details={**exc.details, "refreshed": len(runs)}) from exc
        except PipelineError as exc:
            runs.append({"run_id": record["run_id"], "batch_type": record["batch_type"], "status": record["state"],
                         "error": {"code": exc.code, "message": exc.message}})
    stalled = raise_stalled(deps, req.limit)
    sent = notify.publish_pending(deps.store)  # what a function committed but could not publish
    deps.log.info("sweep done", swept=len(runs), limit=req.limit, stalled=stalled, notifications_sent=sent)
    return {"status": "swept", "swept": len(runs), "limit": req.limit, "more": len(records) >= req.limit,
            "runs": runs, "stalled": stalled, "notifications_sent": sent}


def raise_stalled(deps: PollDeps, limit: int) -> int:
    """run.stalled for each active run with no event for ALERT_STALLED_MINUTES (once per silence).
    Same query as the refresh (state in [...] by updated_at): the (state, updated_at) index serves it."""
    now, count = deps.clock(), 0
    for record in deps.store.list_in_states(ACTIVE_STATES, limit):
        event = run_events.stalled_event(record, now)
        if event is not None:
            deps.store.add_events(record["run_id"], record["batch_type"], [event])
            count += 1
    return count
