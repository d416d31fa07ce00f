"""`make demo`: one pass1 run end to end on the local stack, through the real workflow definition.

1. starts the local stack (port base 18000, .local/) unless it is already up;
2. seeds a few thousand realistic transcripts and their lookup rows into BigQuery;
3. turns on model faults at a realistic rate in the Vertex AI emulator (fenced JSON, prose,
   trailing commas, truncation, failed rows, a 429 burst on job creation...);
4. runs infra/workflows/pass1.yaml with the local Workflows executor against the three functions,
   following the run live with `python -m tools.runs watch` (its event stream from poll_status);
5. prints the summary, dead letters by reason, a sample of landed rows, and how to query them yourself.

The stack is left running so that you can look around; `make stack-down` stops it.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from datetime import datetime, timezone

from infra.local.layout import StackLayout
from infra.local.stack import Stack

# Share of rows the emulator's model answers badly, roughly what a production Gemini batch shows
# (most answers are clean JSON; a few percent need repair; a percent or two fail outright).
DEMO_FAULTS = {
    "fenced": 0.06, "prose": 0.03, "trailing_comma": 0.02, "single_quotes": 0.01, "truncated": 0.01,
    "no_parts": 0.005, "split_parts": 0.05, "row_error": 0.02,
    "api_faults": [{"method": "create", "code": 429, "count": 2}],
}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3000, help="transcripts to seed")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pace", type=float, default=1.0, help="seconds between Vertex job states")
    parser.add_argument("--stop", action="store_true", help="stop the stack at the end")
    return parser.parse_args(argv)


def start_stack() -> Stack:
    stack = Stack(StackLayout.from_env())
    if all(stack.status().values()):
        say(f"local stack already up ({stack.layout.env_file})")
    else:
        say("starting the local stack (Storage, Firestore, BigQuery, Vertex AI emulators, 3 functions)...")
        stack.up()
    os.environ.update(stack.layout.env_vars())
    return stack


def seed_data(layout: StackLayout, rows: int, seed: int) -> None:
    from tools.sample_data import cli as sample_data_cli

    say(f"seeding {rows:,} transcripts and their lookup rows into BigQuery...")
    args = sample_data_cli.parse_args(["--rows", str(rows), "--seed", str(seed), "--bq-dataset", layout.dataset,
                                       "--replace"])
    summary = sample_data_cli.run(args)
    say(f"  {summary.rows:,} transcripts, {summary.unmatched:,} without a lookup row, "
        f"{summary.repeat_callers:,} repeat callers")


def configure_vertex(layout: StackLayout, pace: float, seed: int) -> None:
    from infra.local.vertex_emulator.control import EmulatorControl

    control = EmulatorControl(layout.env_vars()["VERTEX_AI_ENDPOINT"])
    control.reset()
    control.configure(pace_seconds=pace, seed=seed, **DEMO_FAULTS)


_LAST_STEP: list[str] = [""]


def on_event(event: dict) -> None:
    if event.get("type") == "step" and event.get("step") in WATCHED_STEPS:
        if event["step"] != _LAST_STEP[0]:  # a try step and its call report the same name
            say(f"  workflow step: {event['step']}")
        _LAST_STEP[0] = event["step"]
    elif event.get("type") == "retry":
        say(f"  workflow retry of {event.get('step')} (attempt {event.get('attempt')})")


WATCHED_STEPS = {"submit", "branch_on_status", "process_units", "record_attempt", "next_attempt", "finish"}


def run_workflow(layout: StackLayout, run_id: str) -> dict:
    from infra.local.workflows import load_workflow
    from infra.local.workflows import run_workflow as execute

    env = layout.env_vars()
    args = {"run_id": run_id, "source": {"table": layout.transcripts_table},
            "poll_initial_seconds": 1, "poll_max_seconds": 4, "deadline_seconds": 900,
            "max_retry_attempts": 1, "process_concurrency": 2}
    workflow = load_workflow("infra/workflows/pass1.yaml")
    return execute(workflow, args, env=env, on_event=on_event)


def run_and_watch(layout: StackLayout, run_id: str) -> dict:
    """The workflow in a thread, its run followed live by `python -m tools.runs watch` (the run's
    event stream); a retry batch after a first COMPLETED is watched again from where it stopped."""
    from rich.console import Console

    from tools.runs.cli import watch
    from tools.runs.client import PollClient

    box: dict = {}

    def body():
        try:
            box["result"] = run_workflow(layout, run_id)
        except BaseException as exc:  # re-raised below, in the main thread
            box["error"] = exc

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    client, console, after = PollClient(layout.env_vars()["POLL_STATUS_URL"]), Console(), None
    while thread.is_alive():
        try:
            _, view = watch(client, run_id, console, wait=120, after=after)
            after = view.last_sequence or after
        except Exception as exc:  # the live view is best effort; the workflow's outcome matters
            say(f"  (live view unavailable: {type(exc).__name__}: {exc})")
            thread.join()
        thread.join(timeout=3)
    if "error" in box:
        raise box["error"]
    return box["result"]


def report(layout: StackLayout, run_id: str, result: dict, seconds: float) -> None:
    from shared.clients import bigquery_client

    bq = bigquery_client()
    out = f"`{layout.project}.{layout.dataset}.{layout.output_table}`"
    dead = f"`{layout.project}.{layout.dataset}.{layout.dead_letter_table}`"
    say("\nSummary (from the workflow's result)")
    for key, value in result.items():
        if key == "tokens" and isinstance(value, dict):
            say(f"  {'tokens (prompt/candidates)':28} {value.get('prompt', 0):,} / {value.get('candidates', 0):,}")
        elif not isinstance(value, (dict, list)):
            say(f"  {key:28} {value}")
    landed = next(iter(bq.query(f"SELECT COUNT(*) n FROM {out} WHERE run_id = '{run_id}'").result())).n
    say(f"  {'wall time (s)':28} {seconds:.1f}")
    say(f"  {'rows per second end to end':28} {landed / seconds:.1f}")
    say("\nDead letters by reason")
    for row in bq.query(f"SELECT reason, COUNT(*) n FROM {dead} WHERE run_id = '{run_id}' "
                        "GROUP BY reason ORDER BY n DESC").result():
        say(f"  {row.reason:28} {row.n}")
    say("\nA sample of landed rows")
    sample = bq.query(f"SELECT interaction_id, sentiment, customer_intent, resolution_status, "
                      f"agent_performance_score, lookup_status, repaired, queue_name FROM {out} "
                      f"WHERE run_id = '{run_id}' ORDER BY interaction_id LIMIT 8").result()
    for row in sample:
        say("  " + "  ".join(f"{v!s:18.18}" for v in row.values()))
    say(f"\nQuery it yourself (the stack is still running; `make stack-down` stops it):\n"
        f"  set -a; . {os.path.relpath(layout.env_file)}; set +a\n"
        f"  .venv/bin/python -c \"from shared.clients import bigquery_client as c; "
        f"print([dict(r) for r in c().query('SELECT * FROM {out} LIMIT 3').result()])\"")


def say(text: str) -> None:
    print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stack = start_stack()
    layout = stack.layout
    try:
        seed_data(layout, args.rows, args.seed)
        configure_vertex(layout, args.pace, args.seed)
        run_id = "demo-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        say(f"running infra/workflows/pass1.yaml for run {run_id}...")
        started = time.monotonic()
        result = run_and_watch(layout, run_id)
        report(layout, run_id, result, time.monotonic() - started)
    finally:
        if args.stop:
            stack.down()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
