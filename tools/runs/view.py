"""What `watch` shows, folded from the run's events: stage, jobs, rows landed, dead letters, rate,
ETA. Pure (no I/O), so it is tested and reused by any display."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

FINAL = {"COMPLETED", "FAILED", "CANCELLED"}


def parse_time(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass
class RunView:
    run_id: str
    batch_type: str = "pass1"
    state: str = "?"
    attempt: int | None = None
    jobs: dict[str, str] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)  # job -> requests of the current attempt
    files_started: set[str] = field(default_factory=set)
    files_finished: set[str] = field(default_factory=set)
    totals: dict[str, int] = field(default_factory=dict)
    last_sequence: int = 0
    last_type: str = ""
    last_time: datetime | None = None
    progress_start: datetime | None = None
    alerts: list[str] = field(default_factory=list)
    done: bool = False

    def apply(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "done":
            self.done, self.state = True, event.get("state", self.state)
            return
        self.last_sequence, self.last_type = event.get("sequence", self.last_sequence), kind
        self.last_time = parse_time(event.get("timestamp")) or self.last_time
        if event.get("attempt") is not None:
            if self.attempt is not None and event["attempt"] != self.attempt:
                self.requests = {}  # a new attempt: its jobs carry only the retried requests
            self.attempt = event["attempt"]
        if kind == "run.state_changed":
            self.state = event.get("to", self.state)
        elif kind == "run.created":
            self.state = event.get("state") or self.state
        elif kind == "job.created":
            self.jobs[event["job"]] = event.get("state") or "?"
            self.requests[event["job"]] = int(event.get("requests") or 0)
        elif kind == "job.state_changed":
            self.jobs[event["job"]] = event.get("to") or "?"
        elif kind == "file.started":
            self.files_started.add(event["file"])
            self.progress_start = self.progress_start or self.last_time
        elif kind == "file.finished":
            self.files_finished.add(event["file"])
        elif kind == "progress":
            self.totals = dict(event.get("run") or self.totals)
            self.progress_start = self.progress_start or self.last_time
        elif kind in ("run.completed", "run.failed", "run.cancelled"):
            totals = (event.get("totals") or {})
            self.totals = {**self.totals, **{k: v for k, v in totals.items() if v is not None}}
        if kind in ("run.dead_letter_rate", "run.stalled", "job.failover", "run.failed"):
            self.alerts.append(_alert(event))

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def rate(self) -> float | None:
        """Rows per second since processing started (landed + dead-lettered + duplicates)."""
        processed = self.totals.get("processed") or 0
        if not processed or not self.progress_start or not self.last_time:
            return None
        seconds = (self.last_time - self.progress_start).total_seconds()
        return processed / seconds if seconds > 0 else None

    @property
    def eta_seconds(self) -> float | None:
        rate, total = self.rate, self.total_requests
        if not rate or not total or self.state in FINAL:
            return None
        return max(0.0, (total - (self.totals.get("processed") or 0)) / rate)

    def job_summary(self) -> str:
        counts: dict[str, int] = {}
        for state in self.jobs.values():
            short = str(state).replace("JOB_STATE_", "")
            counts[short] = counts.get(short, 0) + 1
        return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none yet"

    def exit_code(self) -> int:
        """0 completed, 1 failed, 2 cancelled, 3 not finished (the stream stopped first)."""
        return {"COMPLETED": 0, "FAILED": 1, "CANCELLED": 2}.get(self.state, 3) if self.done else 3


def _alert(event: dict) -> str:
    kind = event.get("type")
    if kind == "run.dead_letter_rate":
        return f"dead-letter rate {event.get('rate', 0):.1%} over {event.get('threshold', 0):.0%}"
    if kind == "run.stalled":
        return f"stalled: no news for {event.get('minutes')} min"
    if kind == "job.failover":
        return f"failover to {event.get('model')} in {event.get('location')}"
    error = event.get("error") or {}
    return f"failed: {error.get('code', '?')} {error.get('message', '')}".strip()


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def short_file(uri: str) -> str:
    """attempt-1/shard-00000/predictions.jsonl: which shard of which attempt, without the bucket."""
    parts = str(uri).split("/")
    keep = [p for p in parts[:-1] if p.startswith(("attempt-", "shard-"))]
    return "/".join(keep + parts[-1:])


def event_line(event: dict) -> str:
    """One plain line per event (the non-interactive display and the transcript in docs/run-events.md)."""
    when = parse_time(event.get("timestamp"))
    stamp = when.strftime("%H:%M:%S") if when else "--:--:--"
    kind = event.get("type")
    if kind == "run.state_changed":
        detail = f"{event.get('from')} -> {event.get('to')}"
    elif kind in ("job.created", "job.state_changed"):
        name = str(event.get("job", "")).rsplit("/", 1)[-1]
        detail = (f"job {name} shard {event.get('shard')} " +
                  (f"{event.get('requests')} requests, {event.get('model')}" if kind == "job.created"
                   else f"{str(event.get('from')).replace('JOB_STATE_', '')} -> "
                        f"{str(event.get('to')).replace('JOB_STATE_', '')}"))
    elif kind in ("file.started", "file.finished"):
        detail = short_file(event.get("file", ""))
        if kind == "file.finished":
            detail += f"  landed {event.get('inserted', 0):,}  dead letters {event.get('failed', 0):,}"
    elif kind == "progress":
        run = event.get("run") or {}
        detail = (f"processed {run.get('processed', 0):,}  landed {run.get('inserted', 0):,}  "
                  f"dead letters {run.get('failed', 0):,}  repaired {run.get('repaired', 0):,}")
    elif kind in ("run.completed", "run.failed", "run.cancelled"):
        totals = event.get("totals") or {}
        names = {"processed": "processed", "inserted": "landed", "failed": "dead letters",
                 "duplicates": "duplicates", "repaired": "repaired", "retry_requests": "set aside for retry"}
        detail = ("  ".join(f"{label} {totals[k]:,}" for k, label in names.items() if k in totals)
                  or (event.get("error") or {}).get("message", ""))
    elif kind in ("run.dead_letter_rate", "run.stalled", "job.failover"):
        detail = _alert(event)
    else:
        detail = ""
    return f"{stamp} #{event.get('sequence', '-'):<4} {kind:<20} {detail}".rstrip()
