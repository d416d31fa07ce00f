"""Vertex AI batch prediction jobs, over the REST API (shared.vertex_rest), as plain dicts.

A thin wrapper used by submit_batch and poll_status: create / get / list-by-labels / cancel, each one
API call under shared.retry (transient errors only), each job answered as a plain dict (job_to_dict)
in one shape whatever the API's JSON left out. REST rather than google-cloud-aiplatform: importing
its JobServiceClient alone cost about 1 s of every cold start. The job states are kept here,
explicitly: client libraries disagree on which states are final (Vertex AI's JobState reference).

Labels carry a run's identity (run_id, batch_type, attempt, shard) so that a job orphaned by a crash
between "create" and "record" can be found again with a list filter. Label values allow only
lowercase letters, digits, '_' and '-', at most 63 characters: label_value() maps a run id onto that
alphabet deterministically, adding a hash when the mapping loses information.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from shared.retry import api_retry, run_with

# --- job states (google.cloud.aiplatform.v1.JobState names) ------------------------------------
UNSPECIFIED = "JOB_STATE_UNSPECIFIED"
QUEUED = "JOB_STATE_QUEUED"
PENDING = "JOB_STATE_PENDING"
RUNNING = "JOB_STATE_RUNNING"
SUCCEEDED = "JOB_STATE_SUCCEEDED"
FAILED = "JOB_STATE_FAILED"
CANCELLING = "JOB_STATE_CANCELLING"
CANCELLED = "JOB_STATE_CANCELLED"
PAUSED = "JOB_STATE_PAUSED"
EXPIRED = "JOB_STATE_EXPIRED"
UPDATING = "JOB_STATE_UPDATING"
PARTIALLY_SUCCEEDED = "JOB_STATE_PARTIALLY_SUCCEEDED"

ALL_JOB_STATES = frozenset({UNSPECIFIED, QUEUED, PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLING,
                            CANCELLED, PAUSED, EXPIRED, UPDATING, PARTIALLY_SUCCEEDED})
# A job in one of these never changes again.
FINAL_JOB_STATES = frozenset({SUCCEEDED, PARTIALLY_SUCCEEDED, FAILED, CANCELLED, EXPIRED})
# Final states whose output directory holds predictions worth processing. A partially succeeded
# job has failed rows in its output; the processor sets them aside for retry_failed.
SUCCEEDED_JOB_STATES = frozenset({SUCCEEDED, PARTIALLY_SUCCEEDED})
# Final states with nothing to process. EXPIRED: queued or ran past Vertex's time limits.
FAILED_JOB_STATES = frozenset({FAILED, EXPIRED})
CANCELLED_JOB_STATES = frozenset({CANCELLED})
ACTIVE_JOB_STATES = ALL_JOB_STATES - FINAL_JOB_STATES
# A job in one of these has started work (or is winding down): the run counts as RUNNING.
STARTED_JOB_STATES = frozenset({RUNNING, UPDATING, CANCELLING, PAUSED})

# How far along a job is, for "the least advanced state" of a run with several jobs. Among final
# states the least successful ranks lowest, so that a run's summary never hides a failure.
_PROGRESS_RANK = {state: rank for rank, state in enumerate((
    UNSPECIFIED, QUEUED, PENDING, PAUSED, RUNNING, UPDATING, CANCELLING,
    FAILED, EXPIRED, CANCELLED, PARTIALLY_SUCCEEDED, SUCCEEDED,
))}


def least_advanced(states: Iterable[str | None]) -> str | None:
    """The least advanced of several job states (None when there are none)."""
    known = [s for s in states if s]
    return min(known, key=lambda s: _PROGRESS_RANK.get(s, -1)) if known else None


# --- labels -----------------------------------------------------------------------------------
LABEL_VALUE_MAX = 63
_LABEL_BAD_CHARS = re.compile(r"[^a-z0-9_-]")
_LABEL_OK = re.compile(r"^[a-z0-9_-]{0,63}$")
# Hex digits of sha256 appended when a value had to be changed: 8 digits make an accidental clash
# between two run ids that map to the same prefix about one in four billion. Reattachment also
# compares the job's input URI (which holds the exact run id), so a clash cannot attach a wrong job.
_LABEL_HASH_CHARS = 8


def label_value(text: str) -> str:
    """`text` as a Vertex label value: unchanged when already valid, else lowercased, every other
    character replaced by '-', cut to fit, and suffixed with a hash of the original text, so that
    'Run.1' and 'run-1' get different labels. Deterministic."""
    if _LABEL_OK.fullmatch(text):
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:_LABEL_HASH_CHARS]
    base = _LABEL_BAD_CHARS.sub("-", text.lower())[: LABEL_VALUE_MAX - _LABEL_HASH_CHARS - 1]
    return f"{base}-{digest}"


def run_labels(run_id: str, batch_type: str, attempt: int | None = None,
               shard: int | None = None) -> dict[str, str]:
    """The labels identifying a run's job; without attempt/shard, the labels of every job of the run."""
    labels = {"pipeline": "call-analytics", "run_id": label_value(run_id),
              "batch_type": label_value(batch_type)}
    if attempt is not None:
        labels["attempt"] = str(attempt)
    if shard is not None:
        labels["shard"] = f"{shard:05d}"
    return labels


def labels_filter(labels: dict[str, str]) -> str:
    """An AIP-160 list filter matching every one of `labels` (values are label-safe, quoted anyway)."""
    return " AND ".join(f'labels.{key}="{value}"' for key, value in sorted(labels.items()))


# --- names ------------------------------------------------------------------------------------
_JOB_NAME = re.compile(r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/batchPredictionJobs/[^/]+$")


def location_of(job_name: str) -> str:
    """The region of a job resource name (Vertex endpoints are regional)."""
    match = _JOB_NAME.match(job_name or "")
    if not match:
        raise ValueError(f"not a batch prediction job name: {job_name!r}")
    return match["location"]


def model_resource(model: str) -> str:
    """publishers/google/models/<model> for a bare model id; a full resource name is kept."""
    return model if "/" in model else f"publishers/google/models/{model}"


# --- job -> dict --------------------------------------------------------------------------------
# RFC 3339 as the API renders a Timestamp: 0, 3, 6 or 9 fractional digits, "Z" (offsets accepted).
_RFC3339 = re.compile(r"^(?P<seconds>\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d{1,9}))?"
                      r"(?P<zone>[Zz]|[+-]\d{2}:\d{2})$")


def rfc3339_to_iso(text: str | None) -> str | None:
    """An API timestamp as ISO UTC with milliseconds and "Z" ('2026-01-02T03:04:05.123Z'), digits
    past the millisecond dropped, as the proto client's datetimes gave; None for a missing time."""
    if not text:
        return None
    match = _RFC3339.match(text)
    if not match:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    seconds = match["seconds"].upper()
    zone = match["zone"].upper()
    if zone not in ("Z", "+00:00", "-00:00"):
        moment = datetime.fromisoformat(seconds + zone).astimezone(timezone.utc)
        seconds = moment.strftime("%Y-%m-%dT%H:%M:%S")
    millis = ((match["fraction"] or "") + "000")[:3]
    return f"{seconds}.{millis}Z"


def _count(stats: dict, field: str) -> int:
    # int64 fields come as JSON strings; a zero count is left out altogether.
    return int(stats.get(field) or 0)


def job_to_dict(job: dict) -> dict[str, Any]:
    """A BatchPredictionJob as the REST API answers it (proto JSON, where fields at their default
    value are left out) as a plain, JSON-ready dict."""
    stats = job.get("completionStats") or {}
    error = job.get("error") or {}
    name = job.get("name") or ""
    model = job.get("model") or ""
    return {
        "name": name,
        "display_name": job.get("displayName") or "",
        "state": job.get("state") or UNSPECIFIED,
        "model": model.rsplit("/", 1)[-1] if model else None,
        "location": location_of(name) if name else None,
        "labels": dict(job.get("labels") or {}),
        "input_uris": list(((job.get("inputConfig") or {}).get("gcsSource") or {}).get("uris") or []),
        "output_prefix": ((job.get("outputConfig") or {}).get("gcsDestination") or {}).get("outputUriPrefix") or None,
        "output_dir": (job.get("outputInfo") or {}).get("gcsOutputDirectory") or None,
        "completion_stats": {"successful": _count(stats, "successfulCount"), "failed": _count(stats, "failedCount"),
                             "incomplete": _count(stats, "incompleteCount")},
        "error": {"code": int(error["code"]), "message": error.get("message") or ""} if error.get("code") else None,
        "create_time": rfc3339_to_iso(job.get("createTime")),
        "start_time": rfc3339_to_iso(job.get("startTime")),
        "end_time": rfc3339_to_iso(job.get("endTime")),
        "update_time": rfc3339_to_iso(job.get("updateTime")),
    }


def create_body(*, model: str, display_name: str, input_uris: list[str], output_prefix: str,
                labels: dict[str, str]) -> dict[str, Any]:
    """The REST body of a new job: JSONL from Cloud Storage in, JSONL to Cloud Storage out."""
    return {
        "displayName": display_name,
        "model": model_resource(model),
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": list(input_uris)}},
        "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": output_prefix}},
        "labels": dict(labels),
    }


# --- the client -------------------------------------------------------------------------------
# One HTTP call may take this long before it counts as failed (then retried): creates and lists are
# quick on Vertex; without a timeout a stuck connection would hold the function until it is killed.
REQUEST_TIMEOUT_SECONDS = 30.0
# Jobs per list page; a run has a handful of jobs, so one page is the usual case.
LIST_PAGE_SIZE = 100


class VertexJobs:
    """Batch prediction jobs of one project. `client_for(location)` returns a
    shared.vertex_rest.BatchJobsRest for that region (default: shared.clients.vertex_jobs_client,
    which honours VERTEX_AI_ENDPOINT). `deadline` bounds the retries of each call (None:
    shared.retry's default)."""

    def __init__(self, project: str, client_for: Callable[[str], Any] | None = None,
                 deadline: float | None = None):
        if client_for is None:
            from shared.clients import vertex_jobs_client

            client_for = vertex_jobs_client
        self.project = project
        self._client_for = client_for
        self._deadline = deadline

    def parent(self, location: str) -> str:
        return f"projects/{self.project}/locations/{location}"

    def _call(self, fn: Callable[[], Any], retry=None):
        """fn() under `retry` (default shared.retry.api_retry); retries running out -> 503."""
        return run_with(retry if retry is not None else api_retry(self._deadline), fn, service="vertex")

    def retry_policy(self):
        """The default policy of one call, for callers that narrow its predicate (circuit breaker)."""
        return api_retry(self._deadline)

    def create(self, *, location: str, model: str, display_name: str, input_uris: list[str],
               output_prefix: str, labels: dict[str, str], retry=None) -> dict:
        """Create a batch prediction job (JSONL in, JSONL out); returns it as a dict."""
        body = create_body(model=model, display_name=display_name, input_uris=input_uris,
                           output_prefix=output_prefix, labels=labels)
        client = self._client_for(location)
        job = self._call(lambda: client.create(self.parent(location), body, timeout=REQUEST_TIMEOUT_SECONDS),
                         retry)
        return job_to_dict(job)

    def get(self, name: str) -> dict:
        """The job named `name` (raises google.api_core.exceptions.NotFound when it does not exist)."""
        client = self._client_for(location_of(name))
        return job_to_dict(self._call(lambda: client.get(name, timeout=REQUEST_TIMEOUT_SECONDS)))

    def list_by_labels(self, location: str, labels: dict[str, str]) -> list[dict]:
        """Every job in `location` carrying all of `labels`, newest first."""
        client = self._client_for(location)

        def listing():
            # The whole listing is one retried unit: paging again from the start is harmless.
            return client.list(self.parent(location), filter=labels_filter(labels), page_size=LIST_PAGE_SIZE,
                               timeout=REQUEST_TIMEOUT_SECONDS)

        jobs = [job_to_dict(job) for job in self._call(listing)]
        return sorted(jobs, key=lambda job: job["create_time"] or "", reverse=True)

    def cancel(self, name: str) -> None:
        """Ask Vertex to cancel the job (asynchronous: it goes CANCELLING, then CANCELLED).
        A job that is already final is left as it is."""
        from google.api_core import exceptions as gexc

        client = self._client_for(location_of(name))
        try:
            self._call(lambda: client.cancel(name, timeout=REQUEST_TIMEOUT_SECONDS))
        except gexc.FailedPrecondition:
            # Vertex answers 400/FAILED_PRECONDITION for a job that already ended: nothing to cancel
            # (shared.vertex_rest.api_error raises FailedPrecondition for it, not a plain BadRequest).
            pass
