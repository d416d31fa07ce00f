"""Command line: run or check a workflow definition locally.

    python -m infra.local.workflows run infra/workflows/pass1.yaml --args '{"run_id": "2024-06-01", ...}'
    python -m infra.local.workflows run infra/workflows/pass1.yaml --env-file .local/stack.env \
        --args '{"run_id_prefix": "demo", "source": {...}}'
    python -m infra.local.workflows check infra/workflows/pass1.yaml

`--env-file` (KEY=VALUE lines, as the local stack writes them) and `--env KEY=VALUE` play the
workflow's deploy-time environment variables, read with sys.get_env (the function URLs, for one).

`run` prints progress to stderr (steps, HTTP calls, sleeps, retries, sys.log lines; `--quiet` keeps
only the log lines) and the workflow's result as JSON on stdout. A failed execution prints
`{"error": ...}` on stdout and exits 1; a definition the executor refuses exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, TextIO

from .errors import WorkflowFailed, WorkflowSyntaxError
from .executor import run_workflow
from .loader import load_workflow


def progress_printer(stream: TextIO | None = None, quiet: bool = False) -> Callable[[dict], None]:
    """An on_event hook that prints one line per event (to stderr unless `stream` is given),
    prefixed with the seconds since the start."""
    started = time.monotonic()

    def show(event: dict) -> None:
        line = _describe(event, quiet)
        if line is not None:
            where = f" [{event['branch']}]" if event.get("branch") else ""
            print(f"[{time.monotonic() - started:7.1f}s]{where} {line}", file=stream or sys.stderr, flush=True)

    return show


def _describe(event: dict, quiet: bool) -> str | None:
    kind = event["type"]
    if kind == "log":
        payload = next(event[k] for k in ("json", "text", "data") if k in event)
        text = payload if isinstance(payload, str) else json.dumps(payload, default=str)
        return f"log {event['severity']} {text}"
    if quiet:
        return None
    if kind == "step":
        return f"step {event['path']}"
    if kind == "http":
        outcome = event.get("code", event.get("error"))
        return f"http {event['method']} {event['url']} -> {outcome} ({event['seconds']:.2f}s)"
    if kind == "sleep":
        return f"sleep {event['seconds']}s ({event['reason']})"
    if kind == "retry":
        return f"retry {event['path']} #{event['attempt']} in {event['delay']}s after {event['error']}"
    if kind in ("started", "succeeded", "failed"):
        return kind + ("" if kind != "started" else f" {event['workflow']} as {event['execution_id']}")
    return None


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.local.workflows", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute a definition")
    run.add_argument("definition")
    run.add_argument("--args", default="null", help="the execution argument, as JSON (or @file.json)")
    run.add_argument("--env-file", action="append", default=[], help="KEY=VALUE lines for sys.get_env")
    run.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="one variable for sys.get_env")
    run.add_argument("--quiet", action="store_true", help="print only sys.log lines")
    check = commands.add_parser("check", help="load a definition and report what the executor refuses")
    check.add_argument("definition")
    return parser.parse_args(argv)


def _execution_args(text: str) -> Any:
    if text.startswith("@"):
        with open(text[1:], encoding="utf-8") as handle:
            return json.load(handle)
    return json.loads(text)


def _environment(files: list[str], pairs: list[str]) -> dict[str, str]:
    from infra.local.layout import parse_env_lines

    lines = [line for name in files for line in Path(name).read_text(encoding="utf-8").splitlines()] + pairs
    return parse_env_lines(lines)


def main(argv: list[str] | None = None) -> int:
    options = _parse_args(argv)
    try:
        workflow = load_workflow(options.definition)
    except WorkflowSyntaxError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    if options.command == "check":
        print(f"ok: {options.definition}", file=sys.stderr)
        return 0
    try:
        result = run_workflow(
            workflow,
            _execution_args(options.args),
            on_event=progress_printer(quiet=options.quiet),
            env=_environment(options.env_file, options.env),
        )
    except WorkflowFailed as failed:
        print(json.dumps({"error": failed.error}, indent=2, default=str))
        return 1
    except WorkflowSyntaxError as exc:  # a rule only checkable while running (e.g. shared variables)
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
