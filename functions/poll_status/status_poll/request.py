"""The poll_status request: GET query parameters or a POST JSON body, validated at the door."""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import MethodNotAllowed, ValidationError
from shared.validation import get_bool, get_choice, get_float, get_int, run_identity
from status_poll.config import MAX_SWEEP_LIMIT, PollConfig

ACTIONS = ("status", "cancel")
FIELDS = frozenset({"run_id", "batch_type", "action", "limit", "retry_deadline_seconds", "jobs"})
NUMERIC = ("limit", "retry_deadline_seconds")
MAX_RETRY_DEADLINE_SECONDS = 300.0


@dataclass(frozen=True)
class PollRequest:
    run_id: str | None  # None: a sweep of every active run
    batch_type: str | None
    action: str
    limit: int
    retry_deadline_seconds: float
    jobs: bool = True  # False: the answer leaves out the per-job list (a run of 50+ jobs is long)


def parse_poll(body: dict, method: str, config: PollConfig) -> PollRequest:
    """Validate; query parameters arrive as text, so numbers are read from text for GET."""
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(unknown)}", field=unknown[0],
                              details={"allowed": sorted(FIELDS)})
    if method == "GET":
        body = {key: _number(key, value) if key in NUMERIC else value for key, value in body.items()}
        if "jobs" in body:
            body["jobs"] = _flag("jobs", body["jobs"])
    run_id, batch_type = run_identity(body, required=False)
    action = get_choice(body, "action", ACTIONS, default="status")
    if action == "cancel":
        if method != "POST":
            raise MethodNotAllowed("cancel changes the run: use POST", details={"allowed": ["POST"]})
        if not run_id:
            raise ValidationError("'run_id' is required to cancel", field="run_id")
    return PollRequest(
        run_id=run_id, batch_type=batch_type, action=action,
        limit=get_int(body, "limit", default=config.sweep_limit, minimum=1, maximum=MAX_SWEEP_LIMIT),
        retry_deadline_seconds=get_float(body, "retry_deadline_seconds", default=config.vertex_deadline_seconds,
                                         minimum=0.1, maximum=MAX_RETRY_DEADLINE_SECONDS),
        jobs=get_bool(body, "jobs", default=True),
    )


def _flag(field: str, value: str) -> bool:
    if value in ("true", "false"):
        return value == "true"
    raise ValidationError(f"'{field}' must be true or false", field=field)


def _number(field: str, value: str):
    try:
        return float(value) if "." in value else int(value)
    except ValueError:
        raise ValidationError(f"'{field}' must be a number", field=field) from None
