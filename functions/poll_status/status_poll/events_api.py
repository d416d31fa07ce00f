"""`GET ?run_id=R&events=true&after=N&limit=M`: a page of the run's event log as JSON,
{"events": [...], "next_after": N}; call again with after=next_after for the next page."""

from __future__ import annotations

from datetime import datetime

from shared.jobstate import JobStore

from status_poll.events_request import EventsRequest


def event_json(event: dict) -> dict:
    """An event document as the API and the stream show it (timestamps in RFC 3339)."""
    return {k: (v.isoformat().replace("+00:00", "Z") if isinstance(v, datetime) else v) for k, v in event.items()}


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
