"""The runs CLI: follow a run live, list recent runs, show one run.

    python -m tools.runs watch RUN_ID [--batch-type pass1] [--plain]
    python -m tools.runs list [--limit 20]
    python -m tools.runs show RUN_ID [--events 10]

It talks to poll_status only: `--url`, else POLL_STATUS_URL, else the local stack's stack.env. For a
deployed function pass `--token TOKEN` (or RUNS_ID_TOKEN), or `--gcloud-token` to use
`gcloud auth print-identity-token`. `watch` exits 0 when the run completes, 1 when it fails, 2 when
it is cancelled.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone

from tools.runs.client import CallFailed, PollClient, RunNotFound, gcloud_identity_token, stack_env_url
from tools.runs.view import RunView, duration, event_line, parse_time


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m tools.runs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="poll_status URL (default: POLL_STATUS_URL, else the stack's stack.env)")
    parser.add_argument("--token", default=os.environ.get("RUNS_ID_TOKEN"), help="identity token (deployed)")
    parser.add_argument("--gcloud-token", action="store_true", help="gcloud auth print-identity-token")
    parser.add_argument("--batch-type", default="pass1")
    commands = parser.add_subparsers(dest="command", required=True)
    watch = commands.add_parser("watch", help="follow a run live until it ends")
    watch.add_argument("run_id")
    watch.add_argument("--plain", action="store_true", help="one line per event instead of a live panel")
    watch.add_argument("--wait", type=float, default=0, help="seconds to wait for a run that does not exist yet")
    watch.add_argument("--after", type=int, default=None, help="start after this sequence (default: all)")
    listing = commands.add_parser("list", help="recent runs")
    listing.add_argument("--limit", type=int, default=20)
    show = commands.add_parser("show", help="a run's status and its last events")
    show.add_argument("run_id")
    show.add_argument("--events", type=int, default=10)
    return parser.parse_args(argv)


def make_client(args) -> PollClient:
    url = args.url or stack_env_url()
    if not url:
        raise SystemExit("no poll_status URL: pass --url, set POLL_STATUS_URL, or start the stack")
    token = gcloud_identity_token() if args.gcloud_token else args.token
    return PollClient(url, token=token, batch_type=args.batch_type)


def main(argv: list[str] | None = None, console=None) -> int:
    from rich.console import Console

    args = parse_args(argv)
    console = console or Console()
    client = make_client(args)
    try:
        if args.command == "watch":
            return watch(client, args.run_id, console, plain=args.plain, wait=args.wait, after=args.after)[0]
        if args.command == "list":
            return list_runs(client, console, args.limit)
        return show(client, args.run_id, console, args.events)
    except RunNotFound as exc:
        console.print(f"[red]{exc}[/red]")
        return 4
    except CallFailed as exc:
        console.print(f"[red]poll_status: {exc}[/red]")
        return 5


def watch(client: PollClient, run_id: str, console, *, plain: bool = False, wait: float = 0,
          after: int | None = None, max_seconds: float | None = None) -> tuple[int, RunView]:
    """Follow the run until `event: done`; returns (exit code, the final view)."""
    view = RunView(run_id, client.batch_type)
    deadline = time.monotonic() + wait
    while True:
        try:
            client.events(run_id, limit=1)
            break
        except RunNotFound:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)
    stream = client.stream(run_id, after=after, max_seconds=max_seconds)
    if plain or not console.is_terminal:
        for event in stream:
            view.apply(event)
            console.print(event_line(event) if event["type"] != "done" else _final_line(view),
                          markup=False, highlight=False, soft_wrap=True)
        return view.exit_code(), view
    from rich.live import Live

    with Live(render(view), console=console, refresh_per_second=4, transient=False) as live:
        for event in stream:
            view.apply(event)
            live.update(render(view))
    return view.exit_code(), view


def _final_line(view: RunView) -> str:
    totals = view.totals
    return (f"done: {view.state}  landed {totals.get('inserted', 0):,}  dead letters {totals.get('failed', 0):,}  "
            f"({view.last_sequence} events)")


def render(view: RunView):
    """The live panel."""
    from rich.panel import Panel
    from rich.table import Table

    colour = {"COMPLETED": "green", "FAILED": "red", "CANCELLED": "yellow"}.get(view.state, "cyan")
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    totals = view.totals
    processed, failed = totals.get("processed") or 0, totals.get("failed") or 0
    share = f" ({failed / processed:.1%})" if processed else ""
    rate = view.rate
    table.add_row("stage", f"[{colour}]{view.state}[/{colour}]  attempt {view.attempt or '-'}")
    table.add_row("jobs", f"{len(view.jobs)}  [{view.job_summary()}]  {view.total_requests:,} requests")
    table.add_row("files", f"{len(view.files_finished)} of {len(view.files_started)} started are done")
    table.add_row("rows landed", f"{totals.get('inserted', 0):,}   repaired {totals.get('repaired', 0):,}")
    table.add_row("dead letters", f"{failed:,}{share}")
    table.add_row("rate", f"{rate:,.0f} rows/s" if rate else "-")
    table.add_row("ETA", duration(view.eta_seconds))
    table.add_row("last event", f"#{view.last_sequence} {view.last_type}")
    for alert in view.alerts[-3:]:
        table.add_row("[red]alert[/red]", alert)
    return Panel(table, title=f"run {view.run_id} ({view.batch_type})", expand=False)


def list_runs(client: PollClient, console, limit: int) -> int:
    from rich.table import Table

    answer = client.runs(limit)
    table = Table(title="recent runs")
    for name in ("run", "type", "state", "attempt", "age", "jobs", "landed", "dead letters", "events"):
        table.add_column(name, no_wrap=name in ("run", "state"))
    now = datetime.now(timezone.utc)
    for run in answer["runs"]:
        created = parse_time(run.get("created_at"))
        totals = run.get("totals") or {}
        table.add_row(run["run_id"], run["batch_type"], run["state"], str(run.get("attempt") or 0),
                      duration((now - created).total_seconds()) if created else "-", str(run.get("jobs", 0)),
                      f"{totals.get('inserted', 0):,}", f"{totals.get('failed', 0):,}", str(run.get("event_seq") or 0))
    console.print(table)
    return 0


def show(client: PollClient, run_id: str, console, events: int) -> int:
    from rich.table import Table

    status = client.status(run_id)
    table = Table.grid(padding=(0, 2))
    for key in ("run_id", "batch_type", "status", "llm_status", "attempt", "created_at", "updated_at",
                "completed_at", "duration_seconds"):
        table.add_row(f"[bold]{key}[/bold]", str(status.get(key)))
    progress = status.get("progress") or {}
    table.add_row("[bold]progress[/bold]", ", ".join(f"{k} {v}" for k, v in progress.items()))
    if status.get("error"):
        table.add_row("[bold red]error[/bold red]", str(status["error"]))
    console.print(table)
    page = client.events(run_id, tail=events, limit=events)
    console.print(f"last {len(page['events'])} of {page['last_sequence']} events:")
    for event in page["events"]:
        console.print(event_line(event), markup=False, highlight=False, soft_wrap=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
