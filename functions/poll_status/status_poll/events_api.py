"""`GET ?run_id=R&events=true&after=N&limit=M`: a page of the run's event log as JSON,
{"events": [...], "next_after": N}; call again with after=next_after for the next page.
`GET ?list=true&limit=N`: the most recently updated runs, {"runs": [...]} (the runs CLI's list)."""

from __future__ import annotations

from datetime import datetime

from shared.jobstate import JobStore
from status_poll.events_request import EventsRequest, ListRequest

RUN_FIELDS = ("run_id", "batch_type", "state", "attempt", "created_at", "updated_at", "completed_at", "requests",
              "event_seq", "last_event_at")


HEAD = ("sequence", "type", "timestamp", "run_id", "batch_type", "attempt")


def event_json(event: dict) -> dict:
    """An event document as the API and the stream show it: timestamps in RFC 3339, the common
    fields first and the event's own after them in name order (Firestore keeps no field order)."""
    names = [k for k in HEAD if k in event] + sorted(k for k in event if k not in HEAD)
    return {k: _plain(event[k]) for k in names}


def _plain(value):
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _plain(value[k]) for k in sorted(value)}
    return value


def start_after(store: JobStore, req: EventsRequest, record: dict) -> int:
    """Where reading starts: after / Last-Event-ID, else the last `tail` events, else the beginning."""
    if req.after is not None:
        return req.after
    if req.tail is not None:
        return max(0, int(record.get("event_seq") or 0) - req.tail)
    return 0


def events_answer(store: JobStore, req: EventsRequest) -> dict:
    record = store.require(req.run_id, req.batch_type)  # 404 for an unknown run
    after = start_after(store, req, record)
    events = [event_json(e) for e in store.list_events(req.run_id, req.batch_type, after, req.limit)]
    return {"run_id": req.run_id, "batch_type": req.batch_type, "state": record["state"],
            "last_sequence": int(record.get("event_seq") or 0), "events": events,
            "next_after": events[-1]["sequence"] if events else after}


def runs_answer(store: JobStore, req: ListRequest, now: datetime) -> dict:
    """Recent runs, newest update first, with their counts (no checkpoint or lease internals)."""
    runs = []
    for record in store.recent(req.limit if req.batch_type is None else min(req.limit * 5, 1000)):
        if req.batch_type and record.get("batch_type") != req.batch_type:
            continue
        processing = record.get("processing") or {}
        created = record.get("created_at")
        runs.append({**event_json({k: record.get(k) for k in RUN_FIELDS}),
                     "jobs": len(record.get("jobs") or []),
                     "age_seconds": (round((now - created).total_seconds(), 1)
                                     if isinstance(created, datetime) else None),
                     "totals": {k: processing.get(k) for k in ("processed", "inserted", "failed", "duplicates")
                                if processing.get(k) is not None}})
        if len(runs) >= req.limit:
            break
    return {"runs": runs, "limit": req.limit}
