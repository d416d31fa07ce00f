"""The events request of poll_status: `events=true` (JSON pages of a run's event log) or
`follow=true` (an SSE stream), validated at the door. Query parameters arrive as text.

Fields: run_id (required), batch_type, events / follow (booleans), after (a sequence, also from the
Last-Event-ID header; the header wins when both are given, it is what a reconnecting client sends),
tail (the last N events), limit (a page of events=true), max_seconds (how long a stream stays open).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import env_float
from shared.errors import ValidationError
from shared.validation import get_float, get_int, run_identity

FIELDS = frozenset({"run_id", "batch_type", "events", "follow", "after", "tail", "limit", "max_seconds"})
LIST_FIELDS = frozenset({"list", "batch_type", "limit"})
DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT = 20, 200
TRUE, FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no", ""})
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
MAX_TAIL = 10_000
# Below the deployed function timeout (900 s, infra/deploy.py): the stream ends cleanly and the
# client reconnects with Last-Event-ID before the platform cuts it.
DEFAULT_MAX_SECONDS = 840.0
MAX_SECONDS = 3300.0
# A comment at least this often keeps proxies and load balancers from closing an idle stream.
KEEPALIVE_SECONDS = 10.0


@dataclass(frozen=True)
class EventsRequest:
    run_id: str
    batch_type: str
    follow: bool
    after: int | None
    tail: int | None
    limit: int
    max_seconds: float


def wants_events(body: dict) -> bool:
    """True when the call asks for the event log (not the status answer)."""
    return _flag(body, "events") or _flag(body, "follow")


def wants_list(body: dict) -> bool:
    """`list=true`: the most recently updated runs (the runs CLI's `list`)."""
    return _flag(body, "list")


@dataclass(frozen=True)
class ListRequest:
    batch_type: str | None
    limit: int


def parse_list(body: dict) -> ListRequest:
    unknown = sorted(set(body) - LIST_FIELDS)
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(unknown)}", field=unknown[0],
                              details={"allowed": sorted(LIST_FIELDS)})
    body = {**body, **({"limit": _number("limit", body["limit"])} if "limit" in body else {})}
    _, batch_type = run_identity(body, required=False)
    return ListRequest(batch_type=batch_type,
                       limit=get_int(body, "limit", default=DEFAULT_LIST_LIMIT, minimum=1, maximum=MAX_LIST_LIMIT))


def parse_events(body: dict, headers: dict[str, str]) -> EventsRequest:
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(unknown)}", field=unknown[0],
                              details={"allowed": sorted(FIELDS)})
    numbers = {k: _number(k, body[k]) for k in ("after", "tail", "limit", "max_seconds") if k in body}
    body = {**body, **numbers}
    run_id, batch_type = run_identity(body, required=True)
    header = {k.lower(): v for k, v in headers.items()}.get("last-event-id")
    if header not in (None, ""):
        body["after"] = _number("Last-Event-ID", header)
    after = get_int(body, "after", minimum=0)
    tail = get_int(body, "tail", minimum=0, maximum=MAX_TAIL)
    return EventsRequest(
        run_id=run_id, batch_type=batch_type, follow=_flag(body, "follow"), after=after, tail=tail,
        limit=get_int(body, "limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT),
        max_seconds=get_float(body, "max_seconds", default=env_float("STREAM_MAX_SECONDS", DEFAULT_MAX_SECONDS),
                              minimum=1, maximum=MAX_SECONDS))


def _flag(body: dict, name: str) -> bool:
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValidationError(f"'{name}' must be true or false", field=name)


def _number(field: str, value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    try:
        text = str(value).strip()
        return float(text) if "." in text else int(text)
    except ValueError:
        raise ValidationError(f"'{field}' must be a number", field=field) from None
