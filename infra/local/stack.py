"""Start, stop and inspect the local stack: every GCP service the pipeline uses, on loopback.

    python -m infra.local.stack up | down | status | restart SERVICE

Each process runs in its own session (process group) so that stopping it also ends its children:
the Firestore emulator is a gcloud wrapper around a Java process that would otherwise keep its port.
Pids are kept under $STACK_DIR/pids; `down` is safe to run twice. `up` writes $STACK_DIR/stack.env,
plain KEY=VALUE lines that tests, the demo, scripts and a person can source.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from infra.local import provision
from infra.local.layout import REPO_ROOT, StackLayout

# How long each service may take to answer after start. The Firestore emulator (JVM) takes about 2 s
# here and the BigQuery emulator about 3 s; CI machines can be slower, hence the margin.
READY_TIMEOUT_SECONDS = 60.0
READY_POLL_SECONDS = 0.2
# How long a process group gets to stop after SIGTERM before SIGKILL.
STOP_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class Service:
    """A process of the stack: how to start it and how to tell it is ready (ready_url answers HTTP,
    or `probe` says so for a service that speaks no HTTP/1.1)."""

    name: str
    argv: Callable[[StackLayout], list[str]]
    ready_url: Callable[[StackLayout], str]
    env: Callable[[StackLayout], dict[str, str]] = lambda layout: {}
    probe: Callable[[StackLayout, float], bool] | None = None

    def answers(self, layout: StackLayout, timeout: float = 2) -> bool:
        if self.probe is not None:
            return self.probe(layout, timeout)
        return answers(self.ready_url(layout), timeout=timeout)


def _venv_bin(name: str) -> str:
    return str(REPO_ROOT / ".venv" / "bin" / name)


def _function_service(name: str, port_attr: str) -> Service:
    return Service(
        name=name,
        argv=lambda l: [
            _venv_bin("functions-framework"),
            f"--target={name}",
            f"--source={REPO_ROOT / 'functions' / name / 'main.py'}",
            "--host=127.0.0.1",
            f"--port={getattr(l, port_attr)}",
        ],
        ready_url=lambda l: f"http://127.0.0.1:{getattr(l, port_attr)}/",
        # The same allocator setting as deployed (infra/deploy.py: PROCESSOR_MALLOC_ENV).
        env=lambda l: {**l.env_vars(), "PYTHONPATH": str(REPO_ROOT), "MALLOC_ARENA_MAX": "2"},
    )


EMULATORS: tuple[Service, ...] = (
    Service(
        name="storage",
        argv=lambda l: [_venv_bin("gcp-storage-emulator"), "start", "--host=127.0.0.1",
                        f"--port={l.storage_port}", "--in-memory"],
        ready_url=lambda l: f"http://127.0.0.1:{l.storage_port}/storage/v1/b?project={l.project}",
    ),
    Service(
        name="firestore",
        argv=lambda l: ["gcloud", "emulators", "firestore", "start", "--quiet",
                        f"--host-port=127.0.0.1:{l.firestore_port}"],
        ready_url=lambda l: f"http://127.0.0.1:{l.firestore_port}/",
    ),
    Service(
        name="firestore_front",
        argv=lambda l: [sys.executable, "-m", "infra.local.firestore_front", "--port", str(l.firestore_front_port),
                        "--upstream", f"127.0.0.1:{l.firestore_port}"],
        ready_url=lambda l: f"grpc://127.0.0.1:{l.firestore_front_port}",
        env=lambda l: {"PYTHONPATH": str(REPO_ROOT)},
        probe=lambda l, timeout: _grpc_ready(f"127.0.0.1:{l.firestore_front_port}", timeout),
    ),
    # local-bigquery's own server, with BigQuery's location rules in front of its REST app
    # (infra/local/bigquery_front.py), in its Python 3.13 environment.
    Service(
        name="bigquery",
        argv=lambda l: [str(REPO_ROOT / ".venv-bigquery" / "bin" / "python"), "-m", "infra.local.bigquery_front",
                        "--location", l.bq_location, "--host", "127.0.0.1",
                        "--port", str(l.bigquery_port), "--grpc-port", str(l.bigquery_grpc_port),
                        "--project", l.project, "--data-dir", str(l.dir / "bigquery-data"),
                        "--storage-url", f"http://127.0.0.1:{l.storage_port}",
                        "--threads", os.environ.get("BIGQUERY_EMULATOR_THREADS", "1")],
        ready_url=lambda l: f"http://127.0.0.1:{l.bigquery_port}/bigquery/v2/projects/{l.project}/datasets",
        env=lambda l: {"PYTHONPATH": str(REPO_ROOT)},
    ),
    # The real Pub/Sub emulator (gcloud beta component): run notifications (shared/notify.py).
    Service(
        name="pubsub",
        argv=lambda l: ["gcloud", "beta", "emulators", "pubsub", "start", "--quiet",
                        f"--host-port=127.0.0.1:{l.pubsub_port}", f"--project={l.project}"],
        ready_url=lambda l: f"http://127.0.0.1:{l.pubsub_port}/",
    ),
    Service(
        name="vertex",
        argv=lambda l: [sys.executable, "-m", "infra.local.vertex_emulator", "--host", "127.0.0.1",
                        "--port", str(l.vertex_port), "--project", l.project,
                        "--state-dir", str(l.dir / "vertex-state")],
        ready_url=lambda l: f"http://127.0.0.1:{l.vertex_port}/emulator/health",
        env=lambda l: {**l.env_vars(), "PYTHONPATH": str(REPO_ROOT)},
    ),
)

FUNCTIONS: tuple[Service, ...] = (
    _function_service("submit_batch", "submit_port"),
    _function_service("poll_status", "poll_port"),
    _function_service("pass1_batch_processor", "process_port"),
)

SERVICES = {s.name: s for s in EMULATORS + FUNCTIONS}


class StackError(RuntimeError):
    """The stack could not be started; the message names the service and its log."""


class Stack:
    """The processes of one local stack, identified by its directory and port base."""

    def __init__(self, layout: StackLayout | None = None):
        self.layout = layout or StackLayout.from_env()

    # -- one service -----------------------------------------------------------------------------
    def _pid_file(self, name: str) -> Path:
        return self.layout.dir / "pids" / f"{name}.pid"

    def _log_file(self, name: str) -> Path:
        return self.layout.dir / "logs" / f"{name}.log"

    def start(self, name: str, extra_env: dict[str, str] | None = None) -> None:
        """Start one service in its own process group and wait until it answers. `extra_env` is
        applied last (tests: fault hooks, short leases, a function pointed at a fault proxy)."""
        service = SERVICES[name]
        for sub in ("pids", "logs"):
            (self.layout.dir / sub).mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **service.env(self.layout), **(extra_env or {})}
        with open(self._log_file(name), "ab") as log:
            proc = subprocess.Popen(service.argv(self.layout), cwd=REPO_ROOT, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self._pid_file(name).write_text(str(proc.pid))
        self._wait_ready(name, proc)

    def _wait_ready(self, name: str, proc: subprocess.Popen) -> None:
        service = SERVICES[name]
        url = service.ready_url(self.layout)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise StackError(f"{name} exited with {proc.returncode}; see {self._log_file(name)}")
            if service.answers(self.layout):
                return
            time.sleep(READY_POLL_SECONDS)
        raise StackError(f"{name} did not answer {url} within {READY_TIMEOUT_SECONDS:.0f}s; "
                         f"see {self._log_file(name)}")

    def stop(self, name: str, sig: int = signal.SIGTERM) -> bool:
        """Stop one service's whole process group. Returns False when it was not running."""
        pid_file = self._pid_file(name)
        if not pid_file.exists():
            return False
        pid = int(pid_file.read_text())
        _kill_group(pid, sig)
        pid_file.unlink(missing_ok=True)
        return True

    def kill(self, name: str) -> bool:
        """SIGKILL one service at once, as a crash would."""
        return self.stop(name, signal.SIGKILL)

    def running(self, name: str) -> bool:
        pid_file = self._pid_file(name)
        return pid_file.exists() and _alive(int(pid_file.read_text()))

    # -- the whole stack -------------------------------------------------------------------------
    def up(self) -> dict[str, str]:
        """Start everything, provision buckets, dataset and tables, and write stack.env."""
        started = time.monotonic()
        self.down(quiet=True)
        try:
            for service in EMULATORS:
                self.start(service.name)
            provision.provision(self.layout)
            self.layout.write_env_file()
            for service in FUNCTIONS:
                self.start(service.name)
        except Exception:
            self.down(quiet=True)
            raise
        print(f"stack up in {time.monotonic() - started:.1f}s; environment in {self.layout.env_file}",
              file=sys.stderr)
        return self.layout.env_vars()

    def down(self, quiet: bool = False) -> None:
        """Stop every process the stack started; safe to run twice."""
        for name in list(SERVICES)[::-1]:
            if self.stop(name) and not quiet:
                print(f"stopped {name}", file=sys.stderr)

    def status(self) -> dict[str, bool]:
        # A generous probe: on a loaded laptop a busy emulator may take seconds to answer, and a
        # false "down" makes the test session restart a stack that was fine.
        return {name: self.running(name) and s.answers(self.layout, timeout=6)
                for name, s in SERVICES.items()}


def answers(url: str, timeout: float = 2) -> bool:
    """True when something answers HTTP at url, whatever the status code."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def _grpc_ready(address: str, timeout: float) -> bool:
    from infra.local.firestore_front import ready

    return ready(address, timeout)


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while time.monotonic() < deadline and _alive(pgid):
        _reap(pgid)
        time.sleep(0.1)
    if _alive(pgid):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _reap(pgid)


def _reap(pid: int) -> None:
    """Collect our own child's exit status (tests restart services in-process): a zombie still
    counts as a member of its process group."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def main(argv: list[str]) -> int:
    stack = Stack()
    command = argv[0] if argv else "status"
    if command == "up":
        stack.up()
        print(stack.layout.env_file)
    elif command == "down":
        stack.down()
    elif command == "status":
        states = stack.status()
        for name, ok in states.items():
            print(f"{name:24} {'up' if ok else 'down'}")
        return 0 if all(states.values()) else 1
    elif command == "restart" and len(argv) == 2:
        stack.stop(argv[1])
        stack.start(argv[1])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
