"""A run's event log: an append-only history in Firestore, `batch_jobs/{id}/events/{seq}`.

Every event is written in the same Firestore transaction as the change it records (JobStore calls
`apply` inside its transactions), and its `sequence` comes from a counter on the run record
(`event_seq`), so sequences start at 1, increase by one and are never reused, even across crashes.

Two kinds of events:
- derived: `derive(before, changes)` compares the record with the changes a transaction makes (state,
  jobs, completion): every function that changes a run through JobStore gets them for free, and a
  repeated call that changes nothing derives nothing;
- explicit: `Event(type, fields, once=..., throttle=...)` passed by a function at a stable place (a
  file started or finished, progress). `once` is a key remembered on the record: a repeated call adds
  no second event. Progress is throttled to one event per PROGRESS_MIN_SECONDS per run.

Events of NOTIFY_TYPES also get an outbox document (shared/notify.py publishes it to Pub/Sub) in the
same transaction. An event never carries a phone token, transcript or key: `scrub` refuses them.

Event document: {sequence, timestamp, type, run_id, batch_type, attempt, ...its own fields}.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

from shared.config import env_float

EVENTS_COLLECTION = "events"

RUN_CREATED = "run.created"
STATE_CHANGED = "run.state_changed"
RUN_COMPLETED = "run.completed"
RUN_FAILED = "run.failed"
RUN_CANCELLED = "run.cancelled"
RUN_RESUMED = "run.resumed"
RETRY_SUBMITTED = "retry.submitted"
JOB_CREATED = "job.created"
JOB_STATE_CHANGED = "job.state_changed"
JOB_FAILOVER = "job.failover"
FILE_STARTED = "file.started"
FILE_FINISHED = "file.finished"
FILE_RESUMED = "file.resumed"
PROGRESS = "progress"
DEAD_LETTER_RATE = "run.dead_letter_rate"
STALLED = "run.stalled"

FINAL_EVENT = {"COMPLETED": RUN_COMPLETED, "FAILED": RUN_FAILED, "CANCELLED": RUN_CANCELLED}
# What reaches Pub/Sub (RUN_EVENTS_TOPIC): one message per occurrence.
NOTIFY_TYPES = frozenset({RUN_COMPLETED, RUN_FAILED, RUN_CANCELLED, DEAD_LETTER_RATE, STALLED})

# Progress at most this often per run: a million-row run must not write an event per chunk.
PROGRESS_MIN_SECONDS = 3.0
# A dead-letter rate over so few rows says nothing (3 bad answers of 10 are no incident).
DEAD_LETTER_MIN_ROWS = 20
# Once keys remembered on the record (hashed, 12 chars each): bounded so the record stays small.
ONCE_LIMIT = 2000

# Field names that carry personal data or secrets (shared/logs.py drops the same in logs); an event
# naming one is a programming error, refused before anything is written.
FORBIDDEN_FIELDS = frozenset({
    "phone_token", "phone_number_token", "phone_number", "transcript", "text", "raw", "key", "keys",
    "composite_key", "request", "response", "content", "prompt", "token", "id_token", "access_token",
    "authorization", "password", "secret",
})
MAX_STRING = 500


@dataclass(frozen=True)
class EventConfig:
    """ALERT_DEAD_LETTER_RATE (share of processed rows, default 0.05) and ALERT_STALLED_MINUTES
    (no event for that long on an active run, default 60)."""

    dead_letter_rate: float = 0.05
    stalled_minutes: float = 60.0

    @classmethod
    def from_env(cls) -> "EventConfig":
        return cls(dead_letter_rate=env_float("ALERT_DEAD_LETTER_RATE", cls.dead_letter_rate),
                   stalled_minutes=env_float("ALERT_STALLED_MINUTES", cls.stalled_minutes))


@functools.lru_cache(maxsize=1)
def config() -> EventConfig:
    return EventConfig.from_env()


@dataclass(frozen=True)
class Event:
    """An explicit event. once: a key that makes it happen once per run; throttle: skip it when the
    run had a throttled event less than PROGRESS_MIN_SECONDS ago."""

    type: str
    fields: dict = field(default_factory=dict)
    once: str | None = None
    throttle: bool = False


class UnsafeEvent(ValueError):
    """An event field would carry personal data or a secret."""


def scrub(value: Any, path: str = "") -> Any:
    """The value, checked: no forbidden field name at any depth, strings cut to MAX_STRING."""
    if isinstance(value, dict):
        out = {}
        for name, item in value.items():
            if str(name).lower() in FORBIDDEN_FIELDS:
                raise UnsafeEvent(f"event field '{path}{name}' may carry personal data")
            out[str(name)] = scrub(item, f"{path}{name}.")
        return out
    if isinstance(value, (list, tuple)):
        return [scrub(item, path) for item in value]
    if isinstance(value, str) and len(value) > MAX_STRING:
        return value[:MAX_STRING] + "..."
    return value


def once_hash(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def outbox_collection(jobs_collection: str) -> str:
    return f"{jobs_collection}_notifications"


def outbox_id(batch_type: str, run_id: str, sequence: int) -> str:
    """Stable: a retried publish of the same event carries the same id."""
    return f"{batch_type}__{run_id}__{sequence}"


def event_doc_id(sequence: int) -> str:
    return f"{sequence:09d}"  # zero-padded: the console lists them in order


# -- derived events --------------------------------------------------------------------------------
def derive(before: dict | None, changes: dict) -> list[Event]:
    """Events for a change of the run record: state, jobs, completion. Nothing for a change that
    changes none of these."""
    events: list[Event] = []
    before = before or {}
    if not before:
        events.append(Event(RUN_CREATED, {"state": changes.get("state")}))
    old_state, new_state = before.get("state"), changes.get("state", before.get("state"))
    if "jobs" in changes:
        events.extend(_job_events(before.get("jobs") or [], changes["jobs"] or []))
    if before and new_state != old_state:
        events.append(Event(STATE_CHANGED, {"from": old_state, "to": new_state}))
        if old_state == "FAILED" and new_state == "PROCESSING":
            events.append(Event(RUN_RESUMED, {}))
        if new_state == "SUBMITTED" and old_state in ("COMPLETED", "PENDING_PROCESSING"):
            events.append(Event(RETRY_SUBMITTED, {"attempt": changes.get("attempt", before.get("attempt"))}))
        if new_state in FINAL_EVENT:
            events.append(Event(FINAL_EVENT[new_state], summary({**before, **changes})))
    return events


def _job_events(old: list[dict], new: list[dict]) -> list[Event]:
    known = {j.get("name"): j for j in old if j.get("name")}
    events = []
    for job in new:
        name = job.get("name")
        if not name:
            continue
        prior = known.get(name)
        if prior is None:
            events.append(Event(JOB_CREATED, {"job": name, **_job_fields(job)}))
            if job.get("failover"):
                events.append(Event(JOB_FAILOVER, {"job": name, "model": job.get("model"),
                                                   "location": job.get("location")}))
        elif prior.get("state") != job.get("state"):
            events.append(Event(JOB_STATE_CHANGED, {"job": name, "from": prior.get("state"), "to": job.get("state"),
                                                    "shard": job.get("shard")}))
    return events


def _job_fields(job: dict) -> dict:
    return {k: job.get(k) for k in ("state", "shard", "attempt", "model", "location", "requests", "failover")}


def summary(record: dict) -> dict:
    """A run's totals for a final event and a notification (no personal data in any of them)."""
    processing = record.get("processing") or {}
    totals = {k: processing.get(k) for k in ("processed", "inserted", "failed", "duplicates", "repaired",
                                             "retry_requests") if processing.get(k) is not None}
    error = record.get("last_error") or {}
    out = {"state": record.get("state"), "attempt": record.get("attempt"), "totals": totals,
           "completion_stats": record.get("completion_stats") or {}, "jobs": len(record.get("jobs") or [])}
    if error:
        out["error"] = {"code": error.get("code"), "message": str(error.get("message") or "")[:300],
                        "stage": error.get("stage")}
    for name in ("created_at", "completed_at"):
        if isinstance(record.get(name), datetime):
            out[name] = record[name].isoformat()
    return out


# -- progress bookkeeping ------------------------------------------------------------------------
def progress_event(uri: str, counts: dict, done: bool = False) -> Event:
    """Progress of one file (cumulative counts); the record keeps every file's latest counts and the
    event carries the run's totals too."""
    fields = {"file": uri, "done": done,
              **{k: int(counts.get(k) or 0) for k in ("processed", "inserted", "failed", "repaired", "duplicates")}}
    return Event(PROGRESS, fields, throttle=not done)


def _run_totals(files: dict) -> dict:
    totals = {"processed": 0, "inserted": 0, "failed": 0, "repaired": 0, "duplicates": 0}
    for counts in files.values():
        for name in totals:
            totals[name] += int(counts.get(name) or 0)
    return totals


# -- writing (inside a JobStore transaction) -----------------------------------------------------
def apply(transaction, ref, before: dict | None, changes: dict, explicit: Iterable[Event], now: datetime,
          outbox) -> tuple[dict, list[str]]:
    """Write the events of this change to ref's events subcollection (and the outbox) in
    `transaction`. Returns (extra record changes: counter, once keys, progress, alerts;
    outbox ids written). Only writes: the transaction has read the record already."""
    record = {**(before or {}), **changes}
    events = derive(before, changes)
    extra: dict[str, Any] = {}
    meta = dict(record.get("events_meta") or {})
    once = list(meta.get("once") or [])
    cfg = config()
    for event in explicit:
        if event.once is not None:
            digest = once_hash(event.once)
            if digest in once:
                continue
            once = (once + [digest])[-ONCE_LIMIT:]
            meta["once"] = once
        if event.type == PROGRESS:
            files = dict(meta.get("files") or {})
            files[once_hash(event.fields["file"])] = {k: event.fields[k] for k in _run_totals({}).keys()}
            meta["files"] = files
            last = meta.get("progress_at")
            if event.throttle and isinstance(last, datetime) and now - last < timedelta(seconds=PROGRESS_MIN_SECONDS):
                continue
            meta["progress_at"] = now
            event = Event(PROGRESS, {**event.fields, "run": _run_totals(files)})
        events.append(event)
    events.extend(_dead_letter_alert(record, meta, cfg))
    if not events:
        return ({"events_meta": meta} if meta != (record.get("events_meta") or {}) else {}), []
    seq = int(record.get("event_seq") or 0)
    written = []
    for event in events:
        seq += 1
        doc = {**scrub(event.fields), "sequence": seq, "timestamp": now, "type": event.type,
               "run_id": record.get("run_id"), "batch_type": record.get("batch_type"),
               "attempt": record.get("attempt")}
        transaction.set(ref.collection(EVENTS_COLLECTION).document(event_doc_id(seq)), doc)
        if event.type in NOTIFY_TYPES and outbox is not None:
            oid = outbox_id(record["batch_type"], record["run_id"], seq)
            transaction.set(outbox.document(oid), {
                "id": oid, "run_id": record.get("run_id"), "batch_type": record.get("batch_type"),
                "event": event.type, "sequence": seq, "summary": scrub(event.fields), "created_at": now,
                "sent": False})
            written.append(oid)
        if event.type == STALLED:
            meta["stalled_seq"] = seq
    extra.update({"event_seq": seq, "last_event_at": now, "events_meta": meta})
    return extra, written


def _dead_letter_alert(record: dict, meta: dict, cfg: EventConfig) -> list[Event]:
    """One run.dead_letter_rate per run once its dead-letter share passes the threshold, from the
    files' progress (every attempt's files) or the completion totals."""
    if meta.get("dead_letter_alerted"):
        return []
    totals = _run_totals(meta.get("files") or {})
    processing = record.get("processing") or {}
    if int(processing.get("processed") or 0) > totals["processed"]:
        totals = {k: int(processing.get(k) or 0) for k in totals}
    processed, failed = totals["processed"], totals["failed"]
    if processed < DEAD_LETTER_MIN_ROWS or failed / processed <= cfg.dead_letter_rate:
        return []
    meta["dead_letter_alerted"] = True
    return [Event(DEAD_LETTER_RATE, {"rate": round(failed / processed, 4), "threshold": cfg.dead_letter_rate,
                                     "processed": processed, "failed": failed, "state": record.get("state")})]


def stalled_event(record: dict, now: datetime, cfg: EventConfig | None = None) -> Event | None:
    """run.stalled when an active run had no event for ALERT_STALLED_MINUTES, once per silence (the
    alert is itself an event, remembered by its sequence: new progress makes a new occurrence)."""
    cfg = cfg or config()
    last = record.get("last_event_at") or record.get("updated_at")
    meta = record.get("events_meta") or {}
    if not isinstance(last, datetime) or now - last < timedelta(minutes=cfg.stalled_minutes):
        return None
    if meta.get("stalled_seq") is not None and meta.get("stalled_seq") == record.get("event_seq"):
        return None
    return Event(STALLED, {"state": record.get("state"), "minutes": round((now - last).total_seconds() / 60, 1),
                           "last_event_at": last.isoformat()})


def is_final_event(event: dict) -> bool:
    """The event that ends a stream: the run reached a final state."""
    return event.get("type") == STATE_CHANGED and event.get("to") in FINAL_EVENT


# -- helpers for the functions' one-line calls ---------------------------------------------------
def file_started(uri: str) -> Event:
    return Event(FILE_STARTED, {"file": uri}, once=f"{FILE_STARTED}:{uri}")


def file_progress(uri: str, counts: dict, done: bool) -> list[Event]:
    """Progress of a file after a call worked on it, and file.finished once it is done (both once
    per file when done, so a repeated call on a finished file adds nothing)."""
    progress = progress_event(uri, counts, done)
    if not done:
        return [progress]
    finished = {k: v for k, v in progress.fields.items() if k not in ("file", "done")}
    return [Event(PROGRESS, progress.fields, once=f"{PROGRESS}.done:{uri}"),
            Event(FILE_FINISHED, {"file": uri, **finished}, once=f"{FILE_FINISHED}:{uri}")]


def emit(store, run_id: str | None, batch_type: str, events: Iterable[Event], log=None) -> None:
    """Best effort explicit events: an event that cannot be written must not fail the work it
    describes (the state changes themselves are recorded with their transactions)."""
    events = list(events)
    if store is None or not run_id or not events:
        return
    try:
        store.add_events(run_id, batch_type, events)
    except UnsafeEvent:
        raise
    except Exception as exc:
        if log is not None:
            log.warning("could not record run events", error_type=type(exc).__name__, events=len(events))
