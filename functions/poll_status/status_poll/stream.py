"""`GET ?run_id=R&follow=true`: the run's events as Server-Sent Events (text/event-stream).

    id: <sequence>
    event: <type>
    data: <the event as JSON>

It starts after `after` / Last-Event-ID, or with the last `tail` events, or from the first; it sends
the events already stored, then follows new ones through a Firestore real-time listener
(`on_snapshot`, no polling), a `: keep-alive` comment every KEEPALIVE_SECONDS, and a final
`event: done` once the run is COMPLETED, FAILED or CANCELLED. After `max_seconds` it closes without
`done`; the client reconnects with Last-Event-ID and misses nothing (sequences are dense).

Errors (unknown run 404, bad parameters 400) are answered before the stream starts, as JSON in the
usual error shape.
"""

from __future__ import annotations

import queue
import time

import orjson

from shared import events as run_events
from shared.http import error_response, request_id_of
from shared.jobstate import FINAL_STATES, JobStore
from shared.logs import get_logger
from status_poll.events_api import event_json, start_after
from status_poll.events_request import KEEPALIVE_SECONDS, EventsRequest, parse_events

PAGE = 500


def sse_message(event: dict) -> bytes:
    data = orjson.dumps(event_json(event), default=str).decode()
    return f"id: {event['sequence']}\nevent: {event['type']}\ndata: {data}\n\n".encode()


def done_message(run_id: str, batch_type: str, state: str, last: int) -> bytes:
    data = orjson.dumps({"run_id": run_id, "batch_type": batch_type, "state": state, "last_sequence": last}).decode()
    return f"event: done\ndata: {data}\n\n".encode()


def stream_entry(request, store_factory, log_name: str = "poll_status"):
    """The functions-framework answer: a streaming Response, or a JSON error before any byte."""
    from flask import Response

    started = time.monotonic()
    request_id = request_id_of(request)
    log = get_logger(function=log_name, request_id=request_id)
    try:
        req = parse_events({k: v for k, v in request.args.items()}, dict(request.headers))
        store = store_factory()
        record = store.require(req.run_id, req.batch_type)
        after = start_after(store, req, record)
    except Exception as exc:  # same contract as shared.http.json_endpoint
        return error_response(exc, log, request_id, started)
    log.bind(run_id=req.run_id, batch_type=req.batch_type).info("stream opened", after=after)
    return Response(follow(store, req, record, after), status=200, mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Request-Id": request_id})


def follow(store: JobStore, req: EventsRequest, record: dict, after: int, keepalive: float = KEEPALIVE_SECONDS):
    """The stream's bytes. `record` was read before the stored events are listed: every event of
    its state is then among them (a sequence is committed with its change)."""
    deadline = time.monotonic() + req.max_seconds
    last = after
    final = record["state"] in FINAL_STATES
    state = record["state"]
    yield b": stream open\n\n"  # a comment: headers and a first byte go out at once
    while True:  # what is stored already, in pages
        page = store.list_events(req.run_id, req.batch_type, last, PAGE)
        for event in page:
            yield sse_message(event)
            last = event["sequence"]
            if event["type"] == run_events.STATE_CHANGED:
                state, final = event.get("to"), event.get("to") in FINAL_STATES
        if len(page) < PAGE:
            break
    if final and last >= int(record.get("event_seq") or 0):
        yield done_message(req.run_id, req.batch_type, state, last)
        return
    arrivals: queue.Queue = queue.Queue()

    def on_snapshot(_docs, changes, _read_time):
        for change in changes:
            if change.type.name == "ADDED":
                arrivals.put(change.document.to_dict())

    watch = store.events_query(req.run_id, req.batch_type, last).on_snapshot(on_snapshot)
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return  # no `done`: the client reconnects with Last-Event-ID
            try:
                batch = [arrivals.get(timeout=min(keepalive, remaining))]
            except queue.Empty:
                yield b": keep-alive\n\n"
                continue
            while not arrivals.empty():
                batch.append(arrivals.get_nowait())
            for event in sorted(batch, key=lambda e: e["sequence"]):
                if event["sequence"] <= last:
                    continue  # the listener's first snapshot may repeat what was listed
                yield sse_message(event)
                last = event["sequence"]
                if event["type"] == run_events.STATE_CHANGED:
                    state, final = event.get("to"), event.get("to") in FINAL_STATES
            if final:
                yield done_message(req.run_id, req.batch_type, state, last)
                return
    finally:
        watch.unsubscribe()
