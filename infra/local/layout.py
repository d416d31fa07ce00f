"""Where the local stack lives: its directory, ports, resource names and the environment it publishes.

Ports are a base plus fixed offsets so that several stacks (one per engineer, one for CI) can run on
one machine side by side: set STACK_PORT_BASE and STACK_DIR. The names (buckets, dataset, tables,
collection) are a deployment's Settings (shared/config.py) with their defaults: the stack states
none of them again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from shared.config import RUN_EVENTS_TOPIC, Settings

REPO_ROOT = Path(__file__).resolve().parents[2]

DEFAULT_PORT_BASE = 18000
LOCAL_PROJECT = "local-project"
# A single region on purpose: BigQuery then needs the location on every job call (a job fetched
# without it is "not found"), which the stack's BigQuery front enforces. A multi-region (US, EU)
# would let a call that forgets the location pass locally and fail in a regional deployment.
LOCAL_BQ_LOCATION = "europe-west4"
# What the stack deploys: a project's settings with the defaults, but for the dataset's location.
LOCAL_SETTINGS = Settings.for_project(LOCAL_PROJECT, bq_location=LOCAL_BQ_LOCATION)


@dataclass(frozen=True)
class StackLayout:
    """One local stack: a directory for its state, a port base and the settings it deploys (whose
    fields it answers as its own: layout.dataset is layout.settings.dataset)."""

    dir: Path
    port_base: int = DEFAULT_PORT_BASE
    settings: Settings = LOCAL_SETTINGS
    run_events_topic: str = RUN_EVENTS_TOPIC
    # A subscription the stack creates so that a person can pull what was published (tests make their own).
    run_events_subscription: str = "run-events-local"

    def __getattr__(self, name: str):
        # Only called for names the layout lacks: project, buckets, dataset, tables, collection.
        if name.startswith("_") or name == "settings":
            raise AttributeError(name)
        return getattr(self.settings, name)

    @classmethod
    def from_env(cls) -> "StackLayout":
        stack_dir = Path(os.environ.get("STACK_DIR", ".local"))
        if not stack_dir.is_absolute():
            stack_dir = REPO_ROOT / stack_dir
        return cls(dir=stack_dir, port_base=int(os.environ.get("STACK_PORT_BASE", DEFAULT_PORT_BASE)))

    storage_port = property(lambda self: self.port_base + 1)
    firestore_port = property(lambda self: self.port_base + 2)  # the emulator itself (and its REST control)
    firestore_front_port = property(lambda self: self.port_base + 6)  # what clients use (firestore_front.py)
    bigquery_port = property(lambda self: self.port_base + 3)
    bigquery_grpc_port = property(lambda self: self.port_base + 4)
    vertex_port = property(lambda self: self.port_base + 5)
    pubsub_port = property(lambda self: self.port_base + 7)
    submit_port = property(lambda self: self.port_base + 11)
    poll_port = property(lambda self: self.port_base + 12)
    process_port = property(lambda self: self.port_base + 13)

    @property
    def env_file(self) -> Path:
        return self.dir / "stack.env"

    def env_vars(self) -> dict[str, str]:
        """The environment every client of the stack needs, and the functions read at start."""
        host = "127.0.0.1"
        return {
            **self.settings.to_env(),
            "STORAGE_EMULATOR_HOST": f"http://{host}:{self.storage_port}",
            # The front, not the emulator: it refuses queries that need an index the deploy lacks.
            "FIRESTORE_EMULATOR_HOST": f"{host}:{self.firestore_front_port}",
            "BIGQUERY_EMULATOR_HOST": f"http://{host}:{self.bigquery_port}",
            "VERTEX_AI_ENDPOINT": f"http://{host}:{self.vertex_port}",
            "PUBSUB_EMULATOR_HOST": f"{host}:{self.pubsub_port}",
            "RUN_EVENTS_TOPIC": self.run_events_topic,
            "SUBMIT_BATCH_URL": f"http://{host}:{self.submit_port}/",
            "POLL_STATUS_URL": f"http://{host}:{self.poll_port}/",
            "PASS1_BATCH_PROCESSOR_URL": f"http://{host}:{self.process_port}/",
        }

    def write_env_file(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        lines = [f"{k}={v}" for k, v in self.env_vars().items()]
        self.env_file.write_text("\n".join(lines) + "\n")
        return self.env_file


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a stack.env file (KEY=VALUE lines, # comments)."""
    return parse_env_lines(Path(path).read_text(encoding="utf-8").splitlines())


def parse_env_lines(lines) -> dict[str, str]:
    """KEY=VALUE lines (blanks and # comments skipped; quotes around a value dropped) as a dict."""
    env = {}
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip().strip('"').strip("'")
    return env
